"""The pynput backend's matching with a stand-in for pynput.keyboard, and with the real pynput on Xvfb.

The Windows hook and the macOS event tap cannot run here; the stand-in behaves as pynput documents (keys
canonicalised, one callback per event, auto-repeat as repeated presses) so the matching, the Ctrl/Command
mapping and the macOS trust message are checked on any machine.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.desktop.xserver import FocusWindow, Xvfb, wait_for
from voicelive_desktop.desktop.hotkeys_pynput import MAC_NOT_TRUSTED, PynputHoldKey


class FakeKeyCode:
    def __init__(self, char: str) -> None:
        self.char = char

    @classmethod
    def from_char(cls, char: str) -> FakeKeyCode:
        return cls(char)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeKeyCode) and other.char == self.char

    def __hash__(self) -> int:
        return hash(self.char)


class FakeListener:
    IS_TRUSTED = True
    last: FakeListener

    def __init__(self, on_press: Callable[[Any], None], on_release: Callable[[Any], None]) -> None:
        self.on_press, self.on_release = on_press, on_release
        self.running = False
        FakeListener.last = self

    def canonical(self, key: Any) -> Any:
        return FakeKeyCode(key.char.lower()) if isinstance(key, FakeKeyCode) else key

    def start(self) -> None:
        self.running = True

    def wait(self) -> None:
        pass

    def stop(self) -> None:
        self.running = False

    def join(self, timeout: float) -> None:
        pass


Key = SimpleNamespace(**{name: name for name in ("ctrl", "cmd", "alt", "shift", "space", "f9", "pause")})
keyboard: Any = SimpleNamespace(Key=Key, KeyCode=FakeKeyCode, Listener=FakeListener)


def run(backend: PynputHoldKey, name: str, *keys: tuple[str, Any]) -> list[str]:
    events: list[str] = []
    backend.start(name, lambda: events.append("press"), lambda: events.append("release"))
    for kind, key in keys:
        (FakeListener.last.on_press if kind == "down" else FakeListener.last.on_release)(key)
    return events


def test_auto_repeat_gives_one_press_and_only_the_exact_modifiers_count() -> None:
    backend = PynputHoldKey("win32", keyboard)
    assert run(backend, "F9", ("down", "f9"), ("down", "f9"), ("down", "f9"), ("up", "f9")) == ["press", "release"]
    assert run(backend, "Ctrl+A", ("down", FakeKeyCode("a")), ("up", FakeKeyCode("a"))) == []
    events = run(
        backend, "Ctrl+A", ("down", "ctrl"), ("down", FakeKeyCode("A")), ("up", "ctrl"), ("up", FakeKeyCode("a"))
    )
    assert events == ["press", "release"]
    assert run(backend, "Ctrl+A", ("down", "ctrl"), ("down", "shift"), ("down", FakeKeyCode("a"))) == []
    backend.stop()
    assert not FakeListener.last.running


def test_on_macos_qt_ctrl_is_command() -> None:
    backend = PynputHoldKey("darwin", keyboard)
    assert run(backend, "Ctrl+Space", ("down", "cmd"), ("down", "space"), ("up", "space")) == ["press", "release"]
    assert run(backend, "Meta+Space", ("down", "ctrl"), ("down", "space"), ("up", "space")) == ["press", "release"]


def test_an_untrusted_mac_listener_explains_accessibility(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeListener, "IS_TRUSTED", False)
    backend = PynputHoldKey("darwin", keyboard)
    backend.start("F9", lambda: None, lambda: None)
    assert not backend.available and backend.why_unavailable == MAC_NOT_TRUSTED
    assert "Accessibility" in MAC_NOT_TRUSTED and not FakeListener.last.running


def test_unknown_keys_and_missing_pynput_are_reasons() -> None:
    backend = PynputHoldKey("win32", keyboard)
    backend.start("F24", lambda: None, lambda: None)
    assert not backend.available and "F24 is not a key" in backend.why_unavailable
    missing = PynputHoldKey("win32")
    missing.start("F9", lambda: None, lambda: None)  # pynput may be installed or not: either way no exception
    missing.stop()


@pytest.fixture
def xvfb() -> Iterator[Xvfb]:
    server = Xvfb()
    yield server
    server.stop()


def test_real_pynput_on_x11(xvfb: Xvfb, monkeypatch: pytest.MonkeyPatch) -> None:
    """pynput is the app's dependency on Windows and macOS only; the tests install it to check it on a real X server."""
    monkeypatch.setenv("DISPLAY", xvfb.display)
    real = importlib.import_module("pynput.keyboard")  # a test dependency; it needs DISPLAY to import
    window = FocusWindow(xvfb)
    events: list[str] = []
    backend = PynputHoldKey("linux", real)
    backend.start("Ctrl+F9", lambda: events.append("press"), lambda: events.append("release"))
    try:
        assert backend.available, backend.why_unavailable
        xvfb.run("xdotool", "keydown", "ctrl+F9")
        time.sleep(1.0)
        xvfb.run("xdotool", "keyup", "ctrl+F9")
        wait_for(lambda: events == ["press", "release"], what="press and release")
    finally:
        # pynput's X11 listener notices stop() only at its next event (a quirk of its X RECORD loop, not seen
        # with the Windows hook or the macOS tap): stop on a thread and type until it has stopped.
        stopper = threading.Thread(target=backend.stop)
        stopper.start()
        while stopper.is_alive():
            xvfb.run("xdotool", "key", "x")
            stopper.join(0.1)
        window.close()
