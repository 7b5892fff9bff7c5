"""Outliving the X server: a display that goes away must end in the app's own closing down, not in exit(1).

When the X server ends (a logout, a crashed or restarted server), Qt's xcb plugin notices the broken connection
and leaves its main loop; the app then closes down without a display: the session is closed, the history
flushed, the settings saved (``app._finish_without_display``). But Qt also talks to the server through an Xlib
``Display`` on the same connection, and Xlib's reaction to a broken connection is its own: when one of those
calls is the first to meet the dead server, Xlib prints "XIO: fatal IO error" and calls ``exit(1)`` on the spot,
and none of the closing down runs. A logout whose SIGTERM and the server's end arrive together hit that now and
then.

libX11 1.7 and later let an application keep running instead: both of Xlib's handlers are replaced here, the
I/O error handler (process-wide; the default one exits by itself) with one that notes the loss and returns, and
the display's exit handler with one that returns. Xlib's calls on that display then fail quietly, and Qt's own
check of the connection ends its loop as usual. With an older libX11 nothing is changed.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtGui import QGuiApplication

log = logging.getLogger(__name__)

_IO_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_IO_EXIT_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


def _io_error(_display: int | None) -> int:
    if not sys.is_finalizing():  # Xlib may meet the dead server again as the interpreter ends
        log.warning("the connection to the X server broke: closing down without a display")
    return 0


def _io_exit(_display: int | None, _data: int | None) -> None:
    """Return instead of exiting: the Xlib call that met the broken connection fails, and Qt ends its loop."""


# Xlib calls these through C pointers for the rest of the process: they must never be freed.
_HANDLERS = (_IO_ERROR_HANDLER(_io_error), _IO_EXIT_HANDLER(_io_exit))


def outlive_the_x_server(app: QGuiApplication) -> bool:
    """On X11, keep Xlib from exiting the process when the server goes away; True when that is in place."""
    if app.platformName() != "xcb":
        return False
    try:
        xlib = ctypes.CDLL("libX11.so.6")
        set_exit_handler = xlib.XSetIOErrorExitHandler  # libX11 1.7 (2020) and later
        display = int(app.nativeInterface().display())  # type: ignore[attr-defined]  # QX11Application on xcb
    except (AttributeError, OSError, TypeError, ValueError) as exc:
        log.info("Xlib's exit on a lost X server stays as it is: %s", exc)
        return False
    if not display:
        return False
    io_error, io_exit = _HANDLERS
    xlib.XSetIOErrorHandler.argtypes = [_IO_ERROR_HANDLER]
    xlib.XSetIOErrorHandler.restype = ctypes.c_void_p
    xlib.XSetIOErrorHandler(io_error)
    set_exit_handler.argtypes = [ctypes.c_void_p, _IO_EXIT_HANDLER, ctypes.c_void_p]
    set_exit_handler.restype = None
    set_exit_handler(display, io_exit, None)
    return True
