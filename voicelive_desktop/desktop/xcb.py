"""libxcb and libxcb-xkb through ctypes, loaded once, with the C types of every function the app calls. Qt-free.

Three parts of the app speak to the X server below Qt: the global hold key (``hotkeys_x11``, on a connection of
its own), and, on Qt's own connection, detectable auto-repeat with the press mute (``ui/key_repeat``) and the
level meter the server draws (``ui/x11_meter``). The libraries are the ones Qt's xcb platform plugin already
loaded, so nothing is added; a Python X library (python-xlib) cost 3.3 MiB of resident memory for the same few
requests.

Each function is declared here once: ctypes would otherwise pass and return C ints, cutting 64-bit pointers, and
two declarations of one function in two modules would be two chances to get it wrong. Replies and events come
back as addresses (the caller reads them and gives them back with ``free``: libxcb allocates them with malloc).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

P, INT, I16 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int16
U8, U16, U32 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32
_VALUES = ctypes.POINTER(ctypes.c_uint32)


class Cookie(ctypes.Structure):
    """What every xcb request returns, by value: the request's sequence number."""

    _fields_ = [("sequence", ctypes.c_uint)]


class ScreenIterator(ctypes.Structure):
    """xcb_screen_iterator_t: the screens follow the setup's variable-length parts, so xcb walks them."""

    _fields_ = [("data", P), ("rem", INT), ("index", INT)]


class Libraries(NamedTuple):
    xcb: ctypes.CDLL
    xkb: ctypes.CDLL | None  # None: libxcb-xkb is missing (detectable auto-repeat cannot be asked for)
    xkb_id: int  # the address of libxcb-xkb's xcb_extension_t (0 without it)
    free: Callable[[int | None], None]  # for replies, errors and events


def values(*numbers: int) -> ctypes.Array[ctypes.c_uint32]:
    """A request's value list (as many 32-bit values as the mask has bits, in the order of the bits)."""
    return (ctypes.c_uint32 * len(numbers))(*numbers)


@functools.cache
def libraries() -> Libraries:
    """Load libxcb (and libxcb-xkb if present) once; raises OSError without libxcb."""
    xcb = ctypes.CDLL("libxcb.so.1")
    # connections of the app's own (the global key)
    declare(xcb, "xcb_connect", P, ctypes.c_char_p, ctypes.POINTER(INT))
    declare(xcb, "xcb_connection_has_error", INT, P)
    declare(xcb, "xcb_disconnect", None, P)
    declare(xcb, "xcb_get_file_descriptor", INT, P)
    declare(xcb, "xcb_get_setup", P, P)
    declare(xcb, "xcb_setup_roots_iterator", ScreenIterator, P)
    declare(xcb, "xcb_screen_next", None, ctypes.POINTER(ScreenIterator))
    declare(xcb, "xcb_get_extension_data", P, P, P)
    declare(xcb, "xcb_poll_for_event", P, P)
    declare(xcb, "xcb_request_check", P, P, Cookie)
    declare(xcb, "xcb_flush", INT, P)
    # requests with replies
    declare(xcb, "xcb_get_keyboard_mapping", Cookie, P, U8, U8)
    declare(xcb, "xcb_get_modifier_mapping", Cookie, P)
    declare(xcb, "xcb_get_input_focus", Cookie, P)
    declare(xcb, "xcb_get_window_attributes", Cookie, P, U32)
    for request in ("keyboard_mapping", "modifier_mapping", "input_focus", "window_attributes"):
        declare(xcb, f"xcb_get_{request}_reply", P, P, Cookie, P)
    # requests without
    declare(xcb, "xcb_grab_key_checked", Cookie, P, U8, U32, U16, U8, U8, U8)
    declare(xcb, "xcb_ungrab_key", Cookie, P, U8, U32, U16)
    declare(xcb, "xcb_generate_id", U32, P)
    declare(xcb, "xcb_create_window", Cookie, P, U8, U32, U32, I16, I16, U16, U16, U16, U16, U32, U32, _VALUES)
    declare(xcb, "xcb_configure_window", Cookie, P, U32, U16, _VALUES)
    declare(xcb, "xcb_change_window_attributes", Cookie, P, U32, U32, _VALUES)
    declare(xcb, "xcb_clear_area", Cookie, P, U8, U32, I16, I16, U16, U16)
    for request in ("map", "unmap", "destroy"):
        declare(xcb, f"xcb_{request}_window", Cookie, P, U32)
    libc = ctypes.CDLL(None)  # the process's own C library
    declare(libc, "free", None, P)
    try:
        xkb = ctypes.CDLL("libxcb-xkb.so.1")
    except OSError:
        return Libraries(xcb, None, 0, libc.free)
    declare(xkb, "xcb_xkb_use_extension", Cookie, P, U16, U16)
    declare(xkb, "xcb_xkb_per_client_flags", Cookie, P, U16, U32, U32, U32, U32, U32)
    for request in ("xcb_xkb_use_extension", "xcb_xkb_per_client_flags"):
        declare(xkb, f"{request}_reply", P, P, Cookie, P)
    return Libraries(xcb, xkb, ctypes.addressof(ctypes.c_char.in_dll(xkb, "xcb_xkb_id")), libc.free)


def declare(library: ctypes.CDLL, name: str, restype: Any, *argtypes: Any) -> None:
    """Give a C function its types."""
    function = getattr(library, name)
    function.restype, function.argtypes = restype, argtypes


_USE_CORE_KBD = 0x100
_DETECTABLE_AUTO_REPEAT = 1


class _PerClientFlagsReply(ctypes.Structure):
    _fields_ = [
        ("response_type", U8),
        ("device_id", U8),
        ("sequence", U16),
        ("length", U32),
        ("supported", U32),
        ("value", U32),
        ("auto_ctrls", U32),
        ("auto_ctrls_values", U32),
        ("pad", U8 * 8),
    ]


def ask_for_detectable_auto_repeat(connection: int) -> bool:
    """Ask the server to send a held key's repeats as presses alone, and one release when it comes up (XKB's
    detectable auto-repeat; it applies to ``connection`` alone). True when granted.

    The connection must have XKB in use already: Qt's has; one of the app's own sends XkbUseExtension first.
    """
    lib = libraries()
    if lib.xkb is None:
        return False
    flag = _DETECTABLE_AUTO_REPEAT
    cookie = lib.xkb.xcb_xkb_per_client_flags(connection, _USE_CORE_KBD, flag, flag, 0, 0, 0)
    reply = lib.xkb.xcb_xkb_per_client_flags_reply(connection, cookie, None)
    if not reply:
        return False
    try:
        flags = _PerClientFlagsReply.from_address(reply)
        return bool(flags.supported & flag and flags.value & flag)
    finally:
        lib.free(reply)
