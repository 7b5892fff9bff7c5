"""Key names, the one-press-one-release rule, and which backend each kind of session gets."""

from __future__ import annotations

import pytest

from voicelive_desktop.desktop.hotkeys import (
    BACKEND_ENV,
    DEFAULT_GLOBAL_KEY,
    NO_PORTAL,
    NO_SESSION,
    GlobalHoldKey,
    HeldState,
    KeyCombo,
    Modifier,
    NoHoldKey,
    choose_backend,
    keysym_name,
    parse_key_name,
)
from voicelive_desktop.desktop.hotkeys_portal import PortalHoldKey
from voicelive_desktop.desktop.hotkeys_pynput import PynputHoldKey
from voicelive_desktop.desktop.hotkeys_x11 import X11HoldKey


@pytest.mark.parametrize(
    ("name", "modifiers", "key"),
    [
        ("F9", set(), "F9"),
        ("f24", set(), "F24"),
        ("Ctrl+Alt+Space", {Modifier.CTRL, Modifier.ALT}, "Space"),
        ("meta+shift+q", {Modifier.META, Modifier.SHIFT}, "Q"),
        ("Ctrl+5", {Modifier.CTRL}, "5"),
        ("Pause", set(), "Pause"),
        ("PageUp", set(), "PgUp"),
    ],
)
def test_parse(name: str, modifiers: set[Modifier], key: str) -> None:
    assert parse_key_name(name) == KeyCombo(frozenset(modifiers), key)


@pytest.mark.parametrize("name", ["", "F25", "Ctrl+", "Hyper+A", "Ctrl++", "Esc", "é", "Ctrl+Alt"])
def test_parse_refuses_what_a_global_key_cannot_be(name: str) -> None:
    with pytest.raises(ValueError):
        parse_key_name(name)


@pytest.mark.parametrize(
    "name", ["F9", "Ctrl+Alt+Space", "Alt+Ctrl+Shift+Meta+A", "Shift+Pause", "Ins", "PgDown", "ScrollLock", "Meta+7"]
)
def test_names_round_trip_as_qt_spells_them(name: str) -> None:
    from PySide6.QtGui import QKeySequence

    qt = QKeySequence.fromString(name).toString()
    assert str(parse_key_name(name)) == qt
    assert parse_key_name(qt) == parse_key_name(name)


def test_keysym_names() -> None:
    assert [keysym_name(k) for k in ("A", "7", "F9", "Space", "PgUp", "Pause")] == [
        "a",
        "7",
        "F9",
        "space",
        "Prior",
        "Pause",
    ]
    assert parse_key_name(DEFAULT_GLOBAL_KEY).modifiers == frozenset()


def test_held_state_gives_one_press_and_one_release_and_survives_a_failing_callback() -> None:
    events: list[str] = []

    def press() -> None:
        events.append("press")
        raise RuntimeError("a bug in the app")

    held = HeldState(press, lambda: events.append("release"))
    for _ in range(5):
        held.press()
    held.release()
    held.release()
    assert events == ["press", "release"]


def no_portal(env: object) -> str:
    return "no GlobalShortcuts portal"


def portal(env: object) -> str:
    return ""


@pytest.mark.parametrize(
    ("env", "platform", "kind"),
    [
        ({"DISPLAY": ":0"}, "linux", X11HoldKey),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux", PortalHoldKey),
        ({"XDG_SESSION_TYPE": "wayland"}, "linux", PortalHoldKey),
        ({}, "win32", PynputHoldKey),
        ({}, "darwin", PynputHoldKey),
        ({"DISPLAY": ":0", BACKEND_ENV: "portal"}, "linux", PortalHoldKey),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w", BACKEND_ENV: "x11"}, "linux", X11HoldKey),
    ],
)
def test_choose_backend(env: dict[str, str], platform: str, kind: type) -> None:
    backend = choose_backend(env, platform, portal_probe=portal)
    assert isinstance(backend, kind)
    assert isinstance(backend, GlobalHoldKey)


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, NO_PORTAL),
        ({}, NO_SESSION),
        ({"DISPLAY": ":0", BACKEND_ENV: "none"}, "turned off"),
        ({"DISPLAY": ":0", BACKEND_ENV: "bogus"}, "not a backend"),
    ],
)
def test_no_backend_says_why(env: dict[str, str], reason: str) -> None:
    backend = choose_backend(env, "linux", portal_probe=no_portal)
    assert isinstance(backend, NoHoldKey)
    assert not backend.available and reason in backend.why_unavailable
    backend.start("F9", lambda: None, lambda: None)
    backend.stop()
