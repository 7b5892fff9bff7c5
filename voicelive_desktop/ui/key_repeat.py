"""Telling a held key's auto-repeat from a real release, so that a release counts the moment it arrives.

By default an X server repeats a held key as release+press pairs. Qt's xcb plugin flags such a pair as
auto-repeat by looking ahead in its event queue for the press; when the press has not been read yet, the
release comes through unflagged and a turn would end while the key is still held. XKB's *detectable
auto-repeat* removes the question: the server then sends nothing but presses while a key is held, and one
release when it comes up. This asks for it on Qt's own X connection (it applies per client), through
libxcb-xkb, which Qt's xcb plugin itself links. Elsewhere (Wayland, Windows, macOS) the platform flags repeats
itself, and a release is always real.

Even flagged, each repeat costs: Qt reads, decodes and delivers every one (X sends 25-40 a second) on its GUI
thread, about 1.5 % of a core for a window that ignores them. ``PressMute`` takes that away while the hold key is
down: the window stops asking X for key presses, so the server sends it none, repeats included, while the release
still comes. Nothing outside the window changes (an event mask is the window's own, and goes with it), and presses
are asked for again at the release, or when the window loses the keyboard.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable

from PySide6.QtGui import QGuiApplication

log = logging.getLogger(__name__)

_USE_CORE_KBD = 0x100
_DETECTABLE_AUTO_REPEAT = 1


class _Cookie(ctypes.Structure):
    _fields_ = [("sequence", ctypes.c_uint)]


class _PerClientFlagsReply(ctypes.Structure):
    _fields_ = [
        ("response_type", ctypes.c_uint8),
        ("device_id", ctypes.c_uint8),
        ("sequence", ctypes.c_uint16),
        ("length", ctypes.c_uint32),
        ("supported", ctypes.c_uint32),
        ("value", ctypes.c_uint32),
        ("auto_ctrls", ctypes.c_uint32),
        ("auto_ctrls_values", ctypes.c_uint32),
        ("pad", ctypes.c_uint8 * 8),
    ]


def releases_are_real(app: QGuiApplication) -> bool:
    """Make key releases trustworthy where that takes asking; True when every release is a real one.

    False only on X11 when the server refused detectable auto-repeat (or libxcb-xkb is missing): the caller
    then has to tell repeats from releases by itself.
    """
    if app.platformName() != "xcb":
        return True
    try:
        native = app.nativeInterface()
        connection = int(native.connection())  # type: ignore[attr-defined]  # QX11Application on xcb
        return _ask_for_detectable_auto_repeat(connection)
    except (AttributeError, OSError, TypeError, ValueError) as exc:
        log.info("cannot ask the X server for detectable auto-repeat: %s", exc)
        return False


@functools.cache
def _libc_free() -> Callable[[ctypes.c_void_p], None]:
    free = ctypes.CDLL(ctypes.util.find_library("c")).free
    free.argtypes = [ctypes.c_void_p]
    return free


def _free_reply(reply: object) -> None:
    """Give back a reply libxcb allocated (with malloc: the caller frees it)."""
    _libc_free()(ctypes.cast(reply, ctypes.c_void_p))  # type: ignore[arg-type]


def _ask_for_detectable_auto_repeat(connection: int) -> bool:
    xkb = ctypes.CDLL("libxcb-xkb.so.1")
    request = xkb.xcb_xkb_per_client_flags
    request.restype = _Cookie
    u32 = ctypes.c_uint32
    request.argtypes = [ctypes.c_void_p, ctypes.c_uint16, u32, u32, u32, u32, u32]
    reply_of = xkb.xcb_xkb_per_client_flags_reply
    reply_of.restype = ctypes.POINTER(_PerClientFlagsReply)
    reply_of.argtypes = [ctypes.c_void_p, _Cookie, ctypes.c_void_p]
    flag = _DETECTABLE_AUTO_REPEAT
    reply = reply_of(connection, request(connection, _USE_CORE_KBD, flag, flag, 0, 0, 0), None)
    if not reply:
        return False
    try:
        granted = bool(reply.contents.supported & flag and reply.contents.value & flag)
    finally:
        _free_reply(reply)
    log.debug("XKB detectable auto-repeat %s", "on" if granted else "refused")
    return granted


_KEY_PRESS = 1  # XCB_EVENT_MASK_KEY_PRESS
_CW_EVENT_MASK = 1 << 11
_CW_DONT_PROPAGATE = 1 << 12


class _WindowAttributesReply(ctypes.Structure):
    _fields_ = [
        ("response_type", ctypes.c_uint8),
        ("backing_store", ctypes.c_uint8),
        ("sequence", ctypes.c_uint16),
        ("length", ctypes.c_uint32),
        ("visual", ctypes.c_uint32),
        ("window_class", ctypes.c_uint16),
        ("bit_gravity", ctypes.c_uint8),
        ("win_gravity", ctypes.c_uint8),
        ("backing_planes", ctypes.c_uint32),
        ("backing_pixel", ctypes.c_uint32),
        ("save_under", ctypes.c_uint8),
        ("map_is_installed", ctypes.c_uint8),
        ("map_state", ctypes.c_uint8),
        ("override_redirect", ctypes.c_uint8),
        ("colormap", ctypes.c_uint32),
        ("all_event_masks", ctypes.c_uint32),
        ("your_event_mask", ctypes.c_uint32),
        ("do_not_propagate_mask", ctypes.c_uint16),
        ("pad", ctypes.c_uint8 * 2),
    ]


class PressMute:
    """Stops X sending a window key presses while the hold key is down (its auto-repeat above all), and resumes.

    Presses not asked for would go up to the window's parents instead (a window manager's frame); they are also
    kept from going there. What the window asked for is read once per X window (one round trip, at the first
    hold) and put back as it was. Only for use where releases are real (``releases_are_real``): with repeats
    sent as release+press pairs, the first repeat's release would end the hold.
    """

    def __init__(self, connection: int) -> None:
        self._connection = connection
        xcb = ctypes.CDLL("libxcb.so.1")
        self._change = xcb.xcb_change_window_attributes
        self._change.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32)]
        self._flush = xcb.xcb_flush
        self._flush.argtypes = [ctypes.c_void_p]
        self._ask = xcb.xcb_get_window_attributes
        self._ask.restype = _Cookie
        self._ask.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        self._reply_of = xcb.xcb_get_window_attributes_reply
        self._reply_of.restype = ctypes.POINTER(_WindowAttributesReply)
        self._reply_of.argtypes = [ctypes.c_void_p, _Cookie, ctypes.c_void_p]
        self._asked_for: dict[int, tuple[int, int]] = {}  # X window -> (event mask, do-not-propagate mask)
        self._muted: int | None = None  # the X window whose presses are off

    @classmethod
    def for_app(cls, app: QGuiApplication) -> PressMute | None:
        """One on the app's own X connection, or None off X11 (or without libxcb)."""
        if app.platformName() != "xcb":
            return None
        try:
            return cls(int(app.nativeInterface().connection()))  # type: ignore[attr-defined]
        except (AttributeError, OSError, TypeError, ValueError) as exc:
            log.info("cannot reach the X connection to quieten a held key: %s", exc)
            return None

    def mute(self, window: int) -> None:
        """No key presses for ``window`` (an X window id) until ``unmute``."""
        if self._muted is not None:
            return
        masks = self._masks(window)
        if masks is None:
            return
        event_mask, dont_propagate = masks
        self._set(window, event_mask & ~_KEY_PRESS, dont_propagate | _KEY_PRESS)
        self._muted = window

    def unmute(self) -> None:
        """Key presses as the window asked for them before ``mute``; nothing when none are off."""
        window, self._muted = self._muted, None
        if window is not None:
            self._set(window, *self._asked_for[window])

    def _masks(self, window: int) -> tuple[int, int] | None:
        if window not in self._asked_for:
            reply = self._reply_of(self._connection, self._ask(self._connection, window), None)
            if not reply:
                return None
            try:
                self._asked_for[window] = (reply.contents.your_event_mask, reply.contents.do_not_propagate_mask)
            finally:
                _free_reply(reply)
        return self._asked_for[window]

    def _set(self, window: int, event_mask: int, dont_propagate: int) -> None:
        values = (ctypes.c_uint32 * 2)(event_mask, dont_propagate)  # in the order of their bits
        self._change(self._connection, window, _CW_EVENT_MASK | _CW_DONT_PROPAGATE, values)
        self._flush(self._connection)
