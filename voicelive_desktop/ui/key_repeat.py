"""Telling a held key's auto-repeat from a real release, so that a release counts the moment it arrives.

By default an X server repeats a held key as release+press pairs. Qt's xcb plugin flags such a pair as
auto-repeat by looking ahead in its event queue for the press; when the press has not been read yet, the
release comes through unflagged and a turn would end while the key is still held. XKB's *detectable
auto-repeat* removes the question: the server then sends nothing but presses while a key is held, and one
release when it comes up. This asks for it on Qt's own X connection (it applies per client), through
libxcb-xkb, which Qt's xcb plugin itself links. Elsewhere (Wayland, Windows, macOS) the platform flags repeats
itself, and a release is always real.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

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


def _ask_for_detectable_auto_repeat(connection: int) -> bool:
    xkb = ctypes.CDLL("libxcb-xkb.so.1")
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.free.argtypes = [ctypes.c_void_p]
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
        libc.free(ctypes.cast(reply, ctypes.c_void_p))
    log.debug("XKB detectable auto-repeat %s", "on" if granted else "refused")
    return granted
