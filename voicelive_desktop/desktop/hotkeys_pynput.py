"""The Windows and macOS global hold key: pynput's keyboard listener (a low-level hook / a Quartz event tap).

pynput is imported only in ``start`` (it loads platform frameworks at import) and only these two platforms
depend on it. The listener observes keys without swallowing them, so the key also reaches the focused app:
that is why the recommended key is one apps leave alone (F9 outside debuggers).

Qt's names differ on macOS: "Ctrl" there is Command and "Meta" is Control. The key names the app stores are
Qt's, so this module maps them the way Qt does on each platform.

macOS only lets a process watch the keyboard once the person has allowed it in System Settings > Privacy &
Security > Accessibility (and Input Monitoring); until then the listener is "not trusted" and sees nothing,
which ``why_unavailable`` says in those words.
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType
from typing import Any

from .hotkeys import Callback, HeldState, KeyCombo, Lost, Modifier, parse_key_name

log = logging.getLogger(__name__)

MAC_NOT_TRUSTED = (
    "macOS has not allowed Voice Live to see the keyboard outside its window. Open System Settings > "
    "Privacy & Security > Accessibility (and Input Monitoring), switch Voice Live on, then restart it. "
    "Until then the hold key works while the window is active."
)
_PYNPUT_NAMES = {  # Qt name -> pynput Key attribute, for the named keys
    "Space": "space",
    "Pause": "pause",
    "Print": "print_screen",
    "ScrollLock": "scroll_lock",
    "Ins": "insert",
    "Home": "home",
    "End": "end",
    "PgUp": "page_up",
    "PgDown": "page_down",
    "Menu": "menu",
}


class PynputHoldKey:
    """Global hold key on Windows and macOS (and X11, where the grab backend is preferred)."""

    def __init__(self, platform: str = sys.platform, keyboard: ModuleType | None = None) -> None:
        """Nothing is imported or started until ``start``.

        Args:
            platform: ``sys.platform``; decides how Qt's Ctrl and Meta map to keys.
            keyboard: ``pynput.keyboard`` or a stand-in for tests.
        """
        self.platform = platform
        self.available = True
        self.why_unavailable = ""
        self._keyboard = keyboard
        self._listener: Any = None
        self._held: HeldState | None = None

    def start(
        self, key_name: str, on_press: Callback, on_release: Callback, *, on_unavailable: Lost | None = None
    ) -> None:
        """Start a listener thread that reports ``key_name`` while the given modifiers are held."""
        self.stop()
        try:
            combo = parse_key_name(key_name)
            keyboard = self._keyboard or importlib.import_module("pynput.keyboard")
            target = self._target(keyboard, combo)
        except ValueError as exc:
            self._unavailable(str(exc))
            return
        except Exception as exc:  # pynput raises ImportError, or its platform's errors, when it cannot load
            self._unavailable(f"The global hold key needs pynput, which could not be loaded ({exc}).")
            return
        modifiers = self._modifier_keys(keyboard)
        held = HeldState(on_press, on_release)
        down: set[Modifier] = set()

        def pressed(key: Any) -> None:
            key = listener.canonical(key)
            if key in modifiers:
                down.add(modifiers[key])
            elif key == wanted and down == combo.modifiers:
                held.press()

        def released(key: Any) -> None:
            key = listener.canonical(key)
            if key in modifiers:
                down.discard(modifiers[key])
            elif key == wanted:
                held.release()

        listener = keyboard.Listener(on_press=pressed, on_release=released)
        wanted = listener.canonical(target)  # compare like with like: pynput reports F9 as a key code
        modifiers = {listener.canonical(key): mod for key, mod in modifiers.items()}
        listener.start()
        listener.wait()  # on macOS the trust check has run once the listener is ready
        if self.platform == "darwin" and not getattr(listener, "IS_TRUSTED", True):
            listener.stop()
            self._unavailable(MAC_NOT_TRUSTED)
            return
        self.available, self.why_unavailable = True, ""
        self._listener, self._held = listener, held

    def stop(self) -> None:
        """Stop the listener thread and end a hold in progress."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
            listener.join(timeout=5)
        if self._held is not None:
            self._held.release()
            self._held = None

    def _unavailable(self, reason: str) -> None:
        log.info("global hold key unavailable: %s", reason)
        self.available, self.why_unavailable = False, reason

    @staticmethod
    def _target(keyboard: ModuleType, combo: KeyCombo) -> Any:
        if len(combo.key) == 1:
            return keyboard.KeyCode.from_char(combo.key.lower())
        key = getattr(keyboard.Key, _PYNPUT_NAMES.get(combo.key, combo.key.lower()), None)
        if key is None:
            raise ValueError(f"{combo.key} is not a key this platform reports; choose another hold key in Settings.")
        return key

    def _modifier_keys(self, keyboard: ModuleType) -> dict[Any, Modifier]:
        """pynput's canonical modifier keys, named as Qt names them on this platform."""
        command, control = (
            (Modifier.CTRL, Modifier.META) if self.platform == "darwin" else (Modifier.META, Modifier.CTRL)
        )
        key = keyboard.Key
        return {key.ctrl: control, key.cmd: command, key.alt: Modifier.ALT, key.shift: Modifier.SHIFT}
