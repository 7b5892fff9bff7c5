"""One interface for "hold a key anywhere on the desktop", a Qt-free key-name parser, and the backend choice.

The window's own hold key only works while the window is active. A global hold key needs help from the
platform, and each platform offers something different: a passive key grab on X11, the GlobalShortcuts portal
on Wayland, low-level hooks on Windows and macOS (pynput). The app talks to all of them through
``GlobalHoldKey`` and shows ``why_unavailable`` in Settings when the platform cannot help.

Threading: every backend calls ``on_press``/``on_release`` on its own thread. Hop to the event loop in the
callbacks, e.g. ``start(key, lambda: loop.call_soon_threadsafe(bridge.press), ...)``; under qasync that is
a queued signal emit, cheap at the rate a person presses keys.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

Callback = Callable[[], None]
Lost = Callable[[str], None]

DEFAULT_GLOBAL_KEY = "F9"
"""Claimed by no desktop (Windows, GNOME, KDE, Xfce, macOS) and rarely by apps outside debuggers; one finger."""

NO_PORTAL = "This Wayland desktop offers no global shortcuts portal; the hold key works while the window is active."
NO_SESSION = (
    "No graphical desktop session was found (neither DISPLAY nor WAYLAND_DISPLAY is set); "
    "the hold key works while the window is active."
)
BACKEND_ENV = "VOICELIVE_HOLD_KEY_BACKEND"
"""Force a backend (x11, portal, pynput, none): for trying one out or working around a wrong guess."""


class Modifier(enum.Enum):
    """A modifier as Qt names it. On macOS Qt calls Command "Ctrl" and Control "Meta"; backends map it."""

    META = "Meta"
    CTRL = "Ctrl"
    ALT = "Alt"
    SHIFT = "Shift"


_MODIFIER_ALIASES = {
    "ctrl": Modifier.CTRL,
    "control": Modifier.CTRL,
    "alt": Modifier.ALT,
    "shift": Modifier.SHIFT,
    "meta": Modifier.META,
    "super": Modifier.META,
    "win": Modifier.META,
}

# Qt's spelling of each named key, keyed by the lower-case spellings accepted for it.
_NAMED_KEYS = {
    "space": "Space",
    "pause": "Pause",
    "print": "Print",
    "scrolllock": "ScrollLock",
    "ins": "Ins",
    "insert": "Ins",
    "home": "Home",
    "end": "End",
    "pgup": "PgUp",
    "pageup": "PgUp",
    "pgdown": "PgDown",
    "pagedown": "PgDown",
    "menu": "Menu",
}
_NAMED_KEYS.update({f"f{n}": f"F{n}" for n in range(1, 25)})
_KEYSYM_NAMES = {  # X11/xkb keysym names, as X11 grabs and the portal's trigger strings spell keys
    "Space": "space",
    "ScrollLock": "Scroll_Lock",
    "Ins": "Insert",
    "PgUp": "Prior",
    "PgDown": "Next",
}


def keysym_name(key: str) -> str:
    """The X11/xkb keysym name of a ``KeyCombo.key`` (``"A"`` -> ``"a"``, ``"PgUp"`` -> ``"Prior"``)."""
    return key.lower() if len(key) == 1 else _KEYSYM_NAMES.get(key, key)


@dataclass(frozen=True)
class KeyCombo:
    """A key plus the modifiers held with it, free of any toolkit.

    Attributes:
        modifiers: the modifiers that must be held.
        key: Qt's name for the key: ``"A"``..``"Z"``, ``"0"``..``"9"``, ``"F1"``..``"F24"``, ``"Space"``,
            ``"Pause"``, ``"Print"``, ``"ScrollLock"``, ``"Ins"``, ``"Home"``, ``"End"``, ``"PgUp"``,
            ``"PgDown"``, ``"Menu"``.
    """

    modifiers: frozenset[Modifier]
    key: str

    def __str__(self) -> str:
        """Qt's spelling (``Meta+Ctrl+Alt+Shift+X`` order), so it round-trips through QKeySequence."""
        return "+".join([m.value for m in Modifier if m in self.modifiers] + [self.key])


def parse_key_name(name: str) -> KeyCombo:
    """Parse a Qt key name such as ``F9`` or ``Ctrl+Alt+Space`` (any case).

    Raises:
        ValueError: a key a global shortcut cannot use (the message is fit for Settings).
    """
    parts = [p.strip() for p in name.split("+")]
    if name.endswith("+") or not all(parts):
        raise ValueError(f"{name!r} is not a key name")
    *mods, key = parts
    modifiers: set[Modifier] = set()
    for mod in mods:
        if mod.lower() not in _MODIFIER_ALIASES:
            raise ValueError(f"{mod!r} in {name!r} is not a modifier (Ctrl, Alt, Shift or Meta)")
        modifiers.add(_MODIFIER_ALIASES[mod.lower()])
    if len(key) == 1 and key.isascii() and key.isalnum():
        return KeyCombo(frozenset(modifiers), key.upper())
    if key.lower() in _NAMED_KEYS:
        return KeyCombo(frozenset(modifiers), _NAMED_KEYS[key.lower()])
    raise ValueError(f"{key!r} cannot be a global hold key: use a letter, a digit, F1-F24, Space or Pause")


@runtime_checkable
class GlobalHoldKey(Protocol):
    """A key the person can hold anywhere on the desktop: one press, one release, no auto-repeat.

    ``start`` never raises for platform trouble: it sets ``available`` and ``why_unavailable`` instead, so
    Settings can say in plain words why the key only works inside the window. Trouble that shows only later
    (the person dismissed the portal's dialog, the X server went away) also calls ``on_unavailable(reason)``
    on the backend's thread. Call ``start`` again to use
    another key (it stops the old one first), and ``stop`` before quitting. If the key is held when ``stop``
    runs, ``on_release`` is called once, so the caller never stays stuck talking.
    """

    available: bool
    why_unavailable: str

    def start(
        self, key_name: str, on_press: Callback, on_release: Callback, *, on_unavailable: Lost | None = None
    ) -> None:
        """Listen for ``key_name`` (a Qt key name); the callbacks run on the backend's thread."""
        ...

    def stop(self) -> None:
        """Stop listening and give the key back to the other applications."""
        ...


class NoHoldKey:
    """The backend for a desktop that offers no global key: it only explains why."""

    def __init__(self, reason: str) -> None:
        self.available = False
        self.why_unavailable = reason

    def start(
        self, key_name: str, on_press: Callback, on_release: Callback, *, on_unavailable: Lost | None = None
    ) -> None:
        """Nothing to listen to."""

    def stop(self) -> None:
        """Nothing to stop."""


class HeldState:
    """Turns a backend's raw downs and ups into exactly one press and one release per hold.

    Backends see repeated downs while a key is held (X11 with detectable auto-repeat, Windows, macOS); this
    keeps the one rule in one place and keeps a callback's exception from killing the backend's thread.
    """

    def __init__(self, on_press: Callback, on_release: Callback) -> None:
        self.on_press = on_press
        self.on_release = on_release
        self.down = False

    def press(self) -> None:
        """The key went down (again, if it repeats)."""
        if not self.down:
            self.down = True
            _call(self.on_press)

    def release(self) -> None:
        """The key came up; also used by ``stop()`` to end a hold in progress."""
        if self.down:
            self.down = False
            _call(self.on_release)


def _call(callback: Callback) -> None:
    try:
        callback()
    except Exception:
        log.exception("hold key callback failed")


def choose_backend(
    env: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    *,
    portal_probe: Callable[[Mapping[str, str]], str] | None = None,
) -> GlobalHoldKey:
    """The best global hold key this session offers, or a ``NoHoldKey`` that says why there is none.

    On Wayland this asks the session bus whether the GlobalShortcuts portal exists (one D-Bus round trip,
    at most a second): call it once at startup, not per key press.

    Args:
        env: the environment that tells X11 from Wayland (``DISPLAY``, ``WAYLAND_DISPLAY``,
            ``XDG_SESSION_TYPE``), and ``VOICELIVE_HOLD_KEY_BACKEND`` to force one.
        platform: ``sys.platform``.
        portal_probe: returns "" when the portal is there, else why not; tests pass a fake.
    """
    forced = env.get(BACKEND_ENV, "").strip().lower()
    if forced == "none":
        return NoHoldKey(f"The global hold key is turned off ({BACKEND_ENV}=none).")
    if forced == "pynput" or (not forced and platform in ("win32", "darwin")):
        from .hotkeys_pynput import PynputHoldKey

        return PynputHoldKey(platform)
    wayland = bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE") == "wayland"
    if forced == "portal" or (not forced and wayland):
        from .hotkeys_portal import PortalHoldKey, portal_problem

        problem = (portal_probe or portal_problem)(env)
        return PortalHoldKey() if not problem else NoHoldKey(f"{NO_PORTAL} ({problem})" if forced else NO_PORTAL)
    if forced in ("x11", "") and env.get("DISPLAY"):
        from .hotkeys_x11 import X11HoldKey

        return X11HoldKey(env["DISPLAY"])
    if forced and forced not in ("x11", "portal"):
        return NoHoldKey(f"{BACKEND_ENV}={forced} is not a backend (use x11, portal, pynput or none).")
    return NoHoldKey(NO_SESSION)
