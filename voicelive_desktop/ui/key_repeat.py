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
import logging

from PySide6.QtGui import QGuiApplication

from ..desktop import xcb

log = logging.getLogger(__name__)


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
        return xcb.ask_for_detectable_auto_repeat(connection)
    except (AttributeError, OSError, TypeError, ValueError) as exc:
        log.info("cannot ask the X server for detectable auto-repeat: %s", exc)
        return False


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
        self._lib = xcb.libraries()
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
            lib, c = self._lib.xcb, self._connection
            reply = lib.xcb_get_window_attributes_reply(c, lib.xcb_get_window_attributes(c, window), None)
            if not reply:
                return None
            try:
                attributes = _WindowAttributesReply.from_address(reply)
                self._asked_for[window] = (attributes.your_event_mask, attributes.do_not_propagate_mask)
            finally:
                self._lib.free(reply)
        return self._asked_for[window]

    def _set(self, window: int, event_mask: int, dont_propagate: int) -> None:
        lib, c = self._lib.xcb, self._connection
        masks = xcb.values(event_mask, dont_propagate)  # in the order of their bits
        lib.xcb_change_window_attributes(c, window, _CW_EVENT_MASK | _CW_DONT_PROPAGATE, masks)
        lib.xcb_flush(c)
