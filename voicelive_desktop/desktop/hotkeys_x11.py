"""The X11 global hold key: a passive key grab on the root window, with XKB detectable auto-repeat.

Why a grab and not a keyboard snoop (X RECORD, as pynput uses): a grab delivers the key to us *instead of*
the focused window, so holding F9 does not also type into the editor the person is looking at, and the X
server tells us at once (BadAccess) when another program already owns the key.

Why detectable auto-repeat: by default X turns a held key into press/release pairs every 25-40 ms, which a
push-to-talk key must not see as the person letting go. With XkbSetDetectableAutoRepeat on our connection the
server sends repeated presses and a single release instead, and ``HeldState`` drops the repeated presses, so a
hold gives exactly one press and one release without any timer.

Why libxcb through ctypes (``xcb.py``): the handful of requests this needs (a keymap, the modifier map, grabs,
one XKB request) do not justify a Python X library. The key has its own connection (``xcb_connect``), not
Qt's: its event thread can then block on it without touching Qt, and detectable auto-repeat set here stays a
matter of this connection.

A crash cannot leave the key stolen: the X server drops every grab of a client when its connection closes,
and the kernel closes the connection when the process dies, however it dies (tested with ``kill -9``).
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import os
import select
import struct
import threading
from typing import NamedTuple

from .hotkeys import Callback, HeldState, KeyCombo, Lost, Modifier, keysym_name, parse_key_name
from .xcb import ask_for_detectable_auto_repeat, libraries

log = logging.getLogger(__name__)

_SHIFT, _LOCK, _CONTROL, _MOD1, _MOD2, _MOD3, _MOD4, _MOD5 = (1 << bit for bit in range(8))  # the core modifier bits
_MODIFIER_KEYSYMS = {Modifier.ALT: ("Alt_L", "Alt_R"), Modifier.META: ("Super_L", "Super_R")}
_KEY_PRESS, _KEY_RELEASE = 2, 3
_BAD_ACCESS = 10
_GRAB_MODE_ASYNC = 1
_KEYSYMS = {  # from X11/keysymdef.h; letters, digits and F1-F35 are computed in ``keysym``
    "space": 0x20, "Pause": 0xFF13, "Scroll_Lock": 0xFF14, "Home": 0xFF50, "Prior": 0xFF55, "Next": 0xFF56,
    "End": 0xFF57, "Print": 0xFF61, "Insert": 0xFF63, "Menu": 0xFF67, "Num_Lock": 0xFF7F,
    "Alt_L": 0xFFE9, "Alt_R": 0xFFEA, "Super_L": 0xFFEB, "Super_R": 0xFFEC,
}  # fmt: skip
_CONNECTION_ERRORS = {1: "the connection failed or was closed", 5: "no valid display name", 6: "no such screen"}


def keysym(name: str) -> int:
    """The keysym of an X11 keysym name as ``keysym_name`` spells it; 0 for a name this module does not know.

    Letters and digits are their Latin-1 code points ("a" is 0x61), F1-F35 run from 0xFFBE; the few other
    names the Settings accept, and the modifier keys, are in a table (no libX11 or libxcb-keysyms needed).
    """
    if len(name) == 1 and name.isascii() and name.isalnum():
        return ord(name)
    if name.startswith("F") and name[1:].isdigit() and 1 <= int(name[1:]) <= 35:
        return 0xFFBE + int(name[1:]) - 1
    return _KEYSYMS.get(name, 0)


class _ConnectionFailed(Exception):
    """The X connection could not be opened, or broke: the server went away, or xcb shut the connection down."""


class _KeyEvent(NamedTuple):
    press: bool  # else a release
    keycode: int
    time: int  # the server's milliseconds: a pre-XKB repeat's release and press share it


class _Connection:
    """One xcb connection and the few requests the hold key sends on it; replies and events come back as bytes."""

    def __init__(self, display_name: str | None) -> None:
        """Connect; raises ``_ConnectionFailed`` with the reason when there is no usable display."""
        self.lib = libraries()
        self.xcb = self.lib.xcb
        screen = ctypes.c_int(0)
        self.c: int = self.xcb.xcb_connect(display_name.encode() if display_name else None, ctypes.byref(screen))
        try:
            self.check()  # xcb_connect never returns NULL: a failed connection carries an error code
        except _ConnectionFailed:
            self.close()
            raise
        self.fileno: int = self.xcb.xcb_get_file_descriptor(self.c)
        setup = self.xcb.xcb_get_setup(self.c)  # the server's greeting, owned by the connection
        self.min_keycode, self.max_keycode = ctypes.string_at(setup, 36)[34:36]  # xcb_setup_t's two keycode bytes
        roots = self.xcb.xcb_setup_roots_iterator(setup)
        for _ in range(screen.value):
            self.xcb.xcb_screen_next(ctypes.byref(roots))
        self.root: int = ctypes.c_uint32.from_address(roots.data).value  # xcb_screen_t starts with its root

    def check(self) -> None:
        """Raise ``_ConnectionFailed`` if the connection failed or has broken."""
        code = int(self.xcb.xcb_connection_has_error(self.c))
        if code:
            raise _ConnectionFailed(f"xcb error {code}: {_CONNECTION_ERRORS.get(code, 'the connection broke')}")

    def close(self) -> None:
        """Close the connection (the server then drops its grabs); also frees a connection that failed."""
        self.xcb.xcb_disconnect(self.c)

    def reply(self, library: ctypes.CDLL, request: str, *args: int) -> bytes | None:
        """Send ``request`` and wait for its whole reply (32 bytes and ``length`` words); None for an X error."""
        error = ctypes.c_void_p()
        cookie = getattr(library, request)(self.c, *args)
        reply = getattr(library, f"{request}_reply")(self.c, cookie, ctypes.byref(error))
        self.lib.free(error.value)
        if not reply:
            self.check()
            return None
        try:
            return ctypes.string_at(reply, 32 + 4 * ctypes.c_uint32.from_address(reply + 4).value)
        finally:
            self.lib.free(reply)

    def round_trip(self) -> None:
        """One cheap request and its reply: everything the server sent before it has been read afterwards."""
        self.reply(self.xcb, "xcb_get_input_focus")

    def keyboard_mapping(self) -> tuple[int, list[int]]:
        """Keysyms per keycode, and the keysyms of every keycode from ``min_keycode`` on, row after row."""
        count = self.max_keycode - self.min_keycode + 1
        reply = self.reply(self.xcb, "xcb_get_keyboard_mapping", self.min_keycode, count) or bytes(32)
        return reply[1], list(struct.unpack_from(f"={(len(reply) - 32) // 4}I", reply, 32))

    def modifier_mapping(self) -> list[list[int]]:
        """The keycodes of Shift, Lock, Control, Mod1..Mod5, in that order."""
        reply = self.reply(self.xcb, "xcb_get_modifier_mapping") or bytes(32)
        per = reply[1]
        return [list(reply[32 + n * per : 32 + (n + 1) * per]) for n in range(8)]

    def grab_key(self, keycode: int, modifier_sets: list[int]) -> int:
        """Grab the key on the root window with each set of modifiers; the first X error code, or 0."""
        cookies = [
            self.xcb.xcb_grab_key_checked(self.c, 0, self.root, mods, keycode, _GRAB_MODE_ASYNC, _GRAB_MODE_ASYNC)
            for mods in modifier_sets
        ]
        codes = []
        for cookie in cookies:  # xcb_request_check flushes and waits for the server to have handled the grab
            error = self.xcb.xcb_request_check(self.c, cookie)
            if error:
                codes.append(ctypes.string_at(error, 2)[1])
                self.lib.free(error)
        self.check()
        return codes[0] if codes else 0

    def ungrab_key(self, keycode: int, modifier_sets: list[int]) -> None:
        for mods in modifier_sets:
            self.xcb.xcb_ungrab_key(self.c, keycode, self.root, mods)
        self.round_trip()

    def detectable_auto_repeat(self) -> bool:
        """XkbSetDetectableAutoRepeat(True) on this connection only; False if the server lacks XKB or refuses."""
        xkb = self.lib.xkb
        if xkb is None:
            return False
        # Check first: xcb shuts the whole connection down when a request names an extension the server lacks.
        extension = self.xcb.xcb_get_extension_data(self.c, self.lib.xkb_id)  # the connection owns this reply
        if not extension or not ctypes.string_at(extension, 9)[8]:  # xcb_query_extension_reply_t.present
            return False
        # The server refuses other XKB requests from a client that has not sent XkbUseExtension.
        use = self.reply(xkb, "xcb_xkb_use_extension", 1, 0)
        if use is None or not use[1]:  # .supported
            return False
        granted = ask_for_detectable_auto_repeat(self.c)
        if not granted:
            self.check()  # refused, or the connection broke meanwhile
        return granted

    def next_key_event(self) -> _KeyEvent | None:
        """The next key event already read or readable without blocking; None when there is none yet."""
        while event := self.xcb.xcb_poll_for_event(self.c):
            kind, keycode, _, time = struct.unpack("=BBHI", ctypes.string_at(event, 8))
            self.lib.free(event)
            if kind & 0x7F in (_KEY_PRESS, _KEY_RELEASE):  # the top bit marks events sent by SendEvent
                return _KeyEvent(kind & 0x7F == _KEY_PRESS, keycode, time)
        self.check()  # xcb_poll_for_event also returns NULL once the connection has broken
        return None


class X11HoldKey:
    """Global hold key for an X11 session (see the module docstring for why a grab)."""

    def __init__(self, display_name: str | None = None, *, detectable_auto_repeat: bool = True) -> None:
        """Nothing touches the X server until ``start``.

        Args:
            display_name: the X display (``":0"``); None means ``$DISPLAY``.
            detectable_auto_repeat: False skips XKB and drops repeats the pre-XKB way (a release and a press
                with the same timestamp): for servers without XKB, and for testing that path.
        """
        self.display_name = display_name
        self.available = True
        self.why_unavailable = ""
        self._xkb = detectable_auto_repeat
        self._connection: _Connection | None = None
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1
        self._grabs: list[int] = []
        self._keycode = 0
        self._held: HeldState | None = None

    def start(
        self, key_name: str, on_press: Callback, on_release: Callback, *, on_unavailable: Lost | None = None
    ) -> None:
        """Grab ``key_name`` on the root window with every lock-key variant and start the event thread."""
        self.stop()
        try:
            combo = parse_key_name(key_name)
        except ValueError as exc:
            self._unavailable(str(exc))
            return
        try:
            self._connection = _Connection(self.display_name)
        except (_ConnectionFailed, OSError) as exc:  # OSError: libxcb itself is missing
            self._unavailable(f"Cannot reach the X display {self.display_name or os.environ.get('DISPLAY')}: {exc}")
            return
        try:
            if self._xkb and not self._connection.detectable_auto_repeat():
                log.info("no XKB detectable auto-repeat; dropping repeats by timestamp")
                self._xkb = False
            problem = self._grab(self._connection, combo)
        except _ConnectionFailed as exc:
            problem = _lost(exc)
        if problem:
            self._close_connection()
            self._unavailable(problem)
            return
        self.available, self.why_unavailable = True, ""
        self._held = HeldState(on_press, on_release)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, args=(on_unavailable,), name="x11-hold-key", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Wake the event thread, which ungrabs and closes its connection; wait for it; end a hold in progress."""
        thread, self._thread = self._thread, None
        if thread is not None:
            os.write(self._wake_w, b"x")
            thread.join(timeout=5)
            if thread.is_alive():
                log.warning("the X11 hold key thread did not stop")
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
            self._wake_r = self._wake_w = -1
        if self._held is not None:
            self._held.release()
            self._held = None

    def _unavailable(self, reason: str) -> None:
        log.info("global hold key unavailable: %s", reason)
        self.available, self.why_unavailable = False, reason

    def _grab(self, connection: _Connection, combo: KeyCombo) -> str:
        """Grab the key on the root window; returns why it failed, or ""."""
        per_keycode, keysyms = connection.keyboard_mapping()
        keycode = _keycode_of(keysym(keysym_name(combo.key)), per_keycode, keysyms, connection.min_keycode)
        if not keycode:
            return f"No key on this keyboard produces {combo.key}; choose another hold key in Settings."
        masks = _modifier_masks(connection.modifier_mapping(), per_keycode, keysyms, connection.min_keycode)
        wanted = {Modifier.CTRL: _CONTROL, Modifier.SHIFT: _SHIFT}
        for mod, names in _MODIFIER_KEYSYMS.items():  # the usual bits when the keymap does not say
            usual = _MOD1 if mod is Modifier.ALT else _MOD4
            wanted[mod] = next((masks[n] for n in names if n in masks), usual)
        modifiers = 0
        for mod in combo.modifiers:
            modifiers |= wanted[mod]
        # The grab matches the modifier state exactly, so NumLock, CapsLock or ScrollLock being on would
        # hide the key: grab every combination of the lock bits too.
        locks = {_LOCK, masks.get("Num_Lock", 0), masks.get("Scroll_Lock", 0)} - {0, modifiers}
        variants = {sum(c) for n in range(len(locks) + 1) for c in itertools.combinations(sorted(locks), n)}
        self._grabs = [modifiers | v for v in sorted(variants)]
        error = connection.grab_key(keycode, self._grabs)
        if error:
            connection.ungrab_key(keycode, self._grabs)
            self._grabs = []
            if error == _BAD_ACCESS:
                return f"Another program already uses {combo} as a shortcut; choose another hold key in Settings."
            return f"The X server refused to grab {combo} (X error {error}); choose another hold key in Settings."
        log.debug("grabbed keycode %d with modifiers %s", keycode, self._grabs)
        self._keycode = keycode
        return ""

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _run(self, on_unavailable: Lost | None) -> None:
        """The event thread: it alone uses the connection after ``start`` has grabbed the key."""
        connection, held = self._connection, self._held
        assert connection is not None and held is not None
        try:
            while True:
                while event := connection.next_key_event():
                    self._handle(event, held, connection)
                ready, _, _ = select.select([connection.fileno, self._wake_r], [], [])
                if self._wake_r in ready:
                    break
            connection.ungrab_key(self._keycode, self._grabs)
        except (_ConnectionFailed, OSError) as exc:
            reason = _lost(exc)
            self._unavailable(reason)
            held.release()
            if on_unavailable is not None:
                on_unavailable(reason)
        finally:
            # This thread's own connection: after a stop() that gave up waiting for it, a new start() may have
            # opened another, which is not this thread's to close.
            if self._connection is connection:
                self._connection = None
            connection.close()

    def _handle(self, event: _KeyEvent, held: HeldState, connection: _Connection) -> None:
        if event.keycode != self._keycode:
            return
        if event.press:
            held.press()
            return
        following = None if self._xkb else _next_event_now(connection)
        if _is_repeat_pair(event, following):
            return  # without XKB a repeat is a release and a press with the same timestamp: drop the pair
        held.release()
        if following is not None:
            self._handle(following, held, connection)


def _next_event_now(connection: _Connection) -> _KeyEvent | None:
    """The next key event if the server has sent it by now, else None (a repeat's press is sent at once)."""
    event = connection.next_key_event()
    if event is None:
        connection.round_trip()  # whatever the server queued before the reply has been read afterwards
        event = connection.next_key_event()
    return event


def _keycode_of(wanted: int, per_keycode: int, keysyms: list[int], min_keycode: int) -> int:
    """The keycode that produces ``wanted``, preferring a key's first (unshifted) keysym; 0 if none does."""
    if not wanted or not per_keycode:
        return 0
    for column in range(per_keycode):
        for row in range(len(keysyms) // per_keycode):
            if keysyms[row * per_keycode + column] == wanted:
                return min_keycode + row
    return 0


def _modifier_masks(
    modifiers: list[list[int]], per_keycode: int, keysyms: list[int], min_keycode: int
) -> dict[str, int]:
    """Which ModN bit carries Alt, Super, NumLock and ScrollLock on this server (they vary by keymap)."""
    by_keysym: dict[int, int] = {}
    for bit, keycodes in enumerate(modifiers):
        for keycode in keycodes:
            if keycode and per_keycode:
                by_keysym.setdefault(keysyms[(keycode - min_keycode) * per_keycode], 1 << bit)
    names = ("Alt_L", "Alt_R", "Super_L", "Super_R", "Num_Lock", "Scroll_Lock")
    return {name: by_keysym[keysym(name)] for name in names if keysym(name) in by_keysym}


def _lost(exc: Exception) -> str:
    return f"The connection to the X display was lost ({exc}); restart the app to get the hold key back."


def _is_repeat_pair(release: _KeyEvent, following: _KeyEvent | None) -> bool:
    return bool(
        following is not None
        and following.press
        and following.keycode == release.keycode
        and following.time == release.time
    )
