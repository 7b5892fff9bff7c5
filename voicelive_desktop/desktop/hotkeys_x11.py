"""The X11 global hold key: a passive key grab on the root window, with XKB detectable auto-repeat.

Why a grab and not a keyboard snoop (X RECORD, as pynput uses): a grab delivers the key to us *instead of*
the focused window, so holding F9 does not also type into the editor the person is looking at, and the X
server tells us at once (BadAccess) when another program already owns the key.

Why detectable auto-repeat: by default X turns a held key into press/release pairs every 25-40 ms, which a
push-to-talk key must not see as the person letting go. With XkbSetDetectableAutoRepeat on our connection the
server sends repeated presses and a single release instead, and ``HeldState`` drops the repeated presses, so a
hold gives exactly one press and one release without any timer.

A crash cannot leave the key stolen: the X server drops every grab of a client when its connection closes,
and the kernel closes the connection when the process dies, however it dies (tested with ``kill -9``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import select
import threading
from typing import Any

from Xlib import XK, X, error
from Xlib.display import Display
from Xlib.protocol import rq

from .hotkeys import Callback, HeldState, KeyCombo, Lost, Modifier, keysym_name, parse_key_name

log = logging.getLogger(__name__)

_MODIFIER_KEYSYMS = {Modifier.ALT: ("Alt_L", "Alt_R"), Modifier.META: ("Super_L", "Super_R")}
_MASKS = (X.ShiftMask, X.LockMask, X.ControlMask, X.Mod1Mask, X.Mod2Mask, X.Mod3Mask, X.Mod4Mask, X.Mod5Mask)
_XKB_USE_CORE_KBD = 0x100
_XKB_PCF_DETECTABLE_AUTO_REPEAT = 1


class _XkbUseExtension(rq.ReplyRequest):  # type: ignore[misc]
    """XkbUseExtension: the server refuses other XKB requests from a client that has not sent it."""

    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(0),
        rq.RequestLength(),
        rq.Card16("wanted_major"),
        rq.Card16("wanted_minor"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Card8("supported"),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card16("server_major"),
        rq.Card16("server_minor"),
        rq.Pad(20),
    )


class _XkbPerClientFlags(rq.ReplyRequest):  # type: ignore[misc]
    """XkbPerClientFlags: python-xlib has no XKB module, so the one request we need is spelled out here."""

    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(21),
        rq.RequestLength(),
        rq.Card16("device_spec"),
        rq.Pad(2),
        rq.Card32("change"),
        rq.Card32("value"),
        rq.Card32("ctrls_to_change"),
        rq.Card32("auto_ctrls"),
        rq.Card32("auto_ctrl_values"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Card8("device_id"),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card32("supported"),
        rq.Card32("value"),
        rq.Card32("auto_ctrls"),
        rq.Card32("auto_ctrl_values"),
        rq.Pad(8),
    )


def set_detectable_auto_repeat(display: Display) -> bool:
    """XkbSetDetectableAutoRepeat(True) on this connection only; False if the server lacks XKB."""
    info = display.query_extension("XKEYBOARD")
    if info is None:
        return False
    opcode = info.major_opcode
    if not _XkbUseExtension(display=display.display, opcode=opcode, wanted_major=1, wanted_minor=0).supported:
        return False
    reply = _XkbPerClientFlags(
        display=display.display,
        opcode=opcode,
        device_spec=_XKB_USE_CORE_KBD,
        change=_XKB_PCF_DETECTABLE_AUTO_REPEAT,
        value=_XKB_PCF_DETECTABLE_AUTO_REPEAT,
        ctrls_to_change=0,
        auto_ctrls=0,
        auto_ctrl_values=0,
    )
    return bool(reply.value & _XKB_PCF_DETECTABLE_AUTO_REPEAT)


def _modifier_masks(display: Display) -> dict[str, int]:
    """Which ModN bit carries Alt, Super, NumLock and ScrollLock on this server (they vary by keymap)."""
    by_keysym: dict[int, int] = {}
    for mask, keycodes in zip(_MASKS, display.get_modifier_mapping(), strict=True):
        for keycode in keycodes:
            if keycode:
                by_keysym.setdefault(display.keycode_to_keysym(keycode, 0), mask)
    names = ("Alt_L", "Alt_R", "Super_L", "Super_R", "Num_Lock", "Scroll_Lock")
    return {name: by_keysym[XK.string_to_keysym(name)] for name in names if XK.string_to_keysym(name) in by_keysym}


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
        self._display: Any = None
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1
        self._grabs: list[tuple[int, int]] = []
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
            self._display = Display(self.display_name)
        except (error.DisplayError, error.ConnectionClosedError, OSError) as exc:
            self._unavailable(f"Cannot reach the X display {self.display_name or os.environ.get('DISPLAY')}: {exc}")
            return
        if self._xkb and not set_detectable_auto_repeat(self._display):
            log.info("no XKB detectable auto-repeat; dropping repeats by timestamp")
            self._xkb = False
        problem = self._grab(combo)
        if problem:
            self._close_display()
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

    def _grab(self, combo: KeyCombo) -> str:
        """Grab the key on the root window; returns why it failed, or ""."""
        display = self._display
        keysym = XK.string_to_keysym(keysym_name(combo.key))
        keycode = display.keysym_to_keycode(keysym) if keysym else 0
        if not keycode:
            return f"No key on this keyboard produces {combo.key}; choose another hold key in Settings."
        masks = _modifier_masks(display)
        wanted = {Modifier.CTRL: X.ControlMask, Modifier.SHIFT: X.ShiftMask}
        for mod, names in _MODIFIER_KEYSYMS.items():  # the usual bits when the keymap does not say
            usual = X.Mod1Mask if mod is Modifier.ALT else X.Mod4Mask
            wanted[mod] = next((masks[n] for n in names if n in masks), usual)
        modifiers = 0
        for mod in combo.modifiers:
            modifiers |= wanted[mod]
        # The grab matches the modifier state exactly, so NumLock, CapsLock or ScrollLock being on would
        # hide the key: grab every combination of the lock bits too.
        locks = {X.LockMask, masks.get("Num_Lock", 0), masks.get("Scroll_Lock", 0)} - {0, modifiers}
        variants = {sum(c) for n in range(len(locks) + 1) for c in itertools.combinations(sorted(locks), n)}
        root = display.screen().root
        catch = error.CatchError(error.BadAccess)
        self._grabs = [(keycode, modifiers | v) for v in sorted(variants)]
        for key, mods in self._grabs:
            root.grab_key(key, mods, False, X.GrabModeAsync, X.GrabModeAsync, onerror=catch)
        display.sync()
        if catch.get_error() is not None:
            self._ungrab()
            return f"Another program already uses {combo} as a shortcut; choose another hold key in Settings."
        log.debug("grabbed keycode %d with modifiers %s", keycode, [m for _, m in self._grabs])
        self._keycode = keycode
        return ""

    def _ungrab(self) -> None:
        root = self._display.screen().root
        for key, mods in self._grabs:
            root.ungrab_key(key, mods)
        self._grabs = []
        self._display.sync()

    def _close_display(self) -> None:
        display, self._display = self._display, None
        if display is not None:
            with contextlib.suppress(error.ConnectionClosedError, OSError):
                display.close()

    def _run(self, on_unavailable: Lost | None) -> None:
        """The event thread: it alone uses the connection after ``start`` has grabbed the key."""
        display, held = self._display, self._held
        assert held is not None
        try:
            while True:
                while display.pending_events():
                    self._handle(display.next_event(), held)
                ready, _, _ = select.select([display.fileno(), self._wake_r], [], [])
                if self._wake_r in ready:
                    break
            self._ungrab()
        except (error.ConnectionClosedError, OSError) as exc:
            reason = f"The connection to the X display was lost ({exc}); restart the app to get the hold key back."
            self._unavailable(reason)
            held.release()
            if on_unavailable is not None:
                on_unavailable(reason)
        finally:
            self._close_display()

    def _handle(self, event: Any, held: HeldState) -> None:
        if getattr(event, "detail", None) != self._keycode:
            return
        if event.type == X.KeyPress:
            held.press()
        elif event.type == X.KeyRelease:
            following = None if self._xkb else self._next_event_now()
            if _is_repeat_pair(event, following):
                return  # without XKB a repeat is a release and a press with the same timestamp: drop the pair
            held.release()
            if following is not None:
                self._handle(following, held)

    def _next_event_now(self) -> Any:
        """The next event if the server has sent it by now, else None (a repeat's press is sent at once)."""
        display = self._display
        if not display.pending_events():
            display.sync()  # one round trip: whatever the server queued before it has arrived afterwards
        return display.next_event() if display.pending_events() else None


def _is_repeat_pair(release: Any, following: Any) -> bool:
    return bool(
        following is not None
        and following.type == X.KeyPress
        and following.detail == release.detail
        and following.time == release.time
    )
