"""The hold key on a real X server: a key held for over a second is one press and one release, at once.

The app's window runs in its own process on a private Xvfb with key auto-repeat on (``xset r on``, 25 repeats a
second after 200 ms), and the key is held with xdotool, as a person holds it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.desktop.xserver import FocusWindow, Xvfb, wait_for
from tests.ui.window_process import WindowProcess


@pytest.fixture
def xvfb() -> Iterator[Xvfb]:
    server = Xvfb()
    yield server
    server.stop()


def _focus(xvfb: Xvfb, window_id: str) -> None:
    xvfb.run("xdotool", "windowfocus", "--sync", window_id)
    wait_for(lambda: xvfb.run("xdotool", "getwindowfocus").strip() == window_id, what="the focus")


def _space_events(app: WindowProcess) -> tuple[int, bool]:
    """How many Space key events reached the window so far, and whether its releases are real."""
    app.lines[:] = [line for line in app.lines if not line.startswith("keys")]
    app.ask("count")
    wait_for(lambda: any(line.startswith("keys") for line in app.lines), what="the key count")
    _, keys, _, real = next(line for line in app.lines if line.startswith("keys")).split()
    return int(keys), real == "True"


def test_a_key_held_for_over_a_second_is_one_press_and_one_release(xvfb: Xvfb) -> None:
    assert "auto repeat:  on" in xvfb.run("xset", "q"), "the X server must repeat a held key, as a desktop does"
    app = WindowProcess(xvfb)
    try:
        _focus(xvfb, app.window_id)
        xvfb.run("xdotool", "keydown", "space")
        wait_for(lambda: app.intents() == ["press"], what="the press")
        time.sleep(1.2)  # 25 repeats a second after 200 ms: a window asking for them would get about 25
        assert app.intents() == ["press"], "auto-repeat must not end the turn while the key is held"
        xvfb.run("xdotool", "keyup", "space")
        wait_for(lambda: app.intents() == ["press", "release"], timeout=5, what="the release")
        keys, real = _space_events(app)
        assert real, "the X server should grant detectable auto-repeat, so no release is waited out"
        # The press (with Qt's shortcut check), the release, and a repeat or two already on their way: X sends no
        # more, so Qt reads no more. A window that asked for the repeats would get two events for each, over 80.
        assert keys <= 10, f"{keys} Space events reached the window: the held key's repeats were delivered"

        xvfb.run("xdotool", "keydown", "space")  # presses are asked for again: the next hold works
        wait_for(lambda: app.intents() == ["press", "release", "press"], what="the second press")
        xvfb.run("xdotool", "keyup", "space")
        wait_for(lambda: app.intents() == ["press", "release"] * 2, timeout=5, what="the second release")
    finally:
        app.close()


def test_keys_work_again_after_a_hold_that_lost_the_focus(xvfb: Xvfb) -> None:
    app = WindowProcess(xvfb)
    other: FocusWindow | None = None
    try:
        _focus(xvfb, app.window_id)
        xvfb.run("xdotool", "keydown", "space")
        wait_for(lambda: app.intents() == ["press"], what="the press")
        other = FocusWindow(xvfb)  # another window takes the keyboard mid-hold: the turn ends there
        wait_for(lambda: app.intents() == ["press", "release"], what="the release at the focus loss")
        xvfb.run("xdotool", "keyup", "space")
        other.close()
        other = None
        _focus(xvfb, app.window_id)
        xvfb.run("xdotool", "keydown", "space")
        wait_for(lambda: app.intents() == ["press", "release", "press"], what="a press after the focus came back")
        xvfb.run("xdotool", "keyup", "space")
        wait_for(lambda: app.intents() == ["press", "release"] * 2, timeout=5, what="its release")
    finally:
        if other is not None:
            other.close()
        app.close()


def test_mashing_the_key_gives_a_turn_for_each_tap_and_leaves_the_keys_working(xvfb: Xvfb) -> None:
    app = WindowProcess(xvfb)
    try:
        _focus(xvfb, app.window_id)
        taps = 20
        for _ in range(taps):  # each tap takes the window's key presses away and gives them back
            xvfb.run("xdotool", "keydown", "space", "keyup", "space")
        wait_for(lambda: app.intents() == ["press", "release"] * taps, timeout=10, what="a turn for each tap")
        xvfb.run("xdotool", "keydown", "space")
        wait_for(lambda: len(app.intents()) == 2 * taps + 1, what="the press after the taps")
        xvfb.run("xdotool", "keyup", "space")
        wait_for(lambda: app.intents() == ["press", "release"] * (taps + 1), timeout=5, what="its release")
    finally:
        app.close()
