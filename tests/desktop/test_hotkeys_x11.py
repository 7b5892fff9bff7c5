"""The X11 hold key against a real X server: another window has the focus, keys come from xdotool (XTEST)."""

from __future__ import annotations

import signal
import string
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from Xlib import XK

from tests.desktop.xserver import FocusWindow, Xvfb, wait_for
from voicelive_desktop.desktop.hotkeys import _NAMED_KEYS, GlobalHoldKey, keysym_name, parse_key_name
from voicelive_desktop.desktop.hotkeys_x11 import _KEYSYMS, X11HoldKey, keysym

HOLD_S = 1.2  # longer than the repeat delay (200 ms): the server sends many repeats meanwhile


class Recorder:
    """The callbacks' view: what the app would see."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def press(self) -> None:
        self.events.append("press")

    def release(self) -> None:
        self.events.append("release")


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    server = Xvfb()
    yield server
    server.stop()


@pytest.fixture
def window(xvfb: Xvfb) -> Iterator[FocusWindow]:
    win = FocusWindow(xvfb)
    yield win
    win.close()


@pytest.fixture
def hold_key(xvfb: Xvfb) -> Iterator[X11HoldKey]:
    backend = X11HoldKey(xvfb.display)
    yield backend
    backend.stop()


def hold(xvfb: Xvfb, keys: str) -> None:
    xvfb.run("xdotool", "keydown", keys)
    time.sleep(HOLD_S)
    xvfb.run("xdotool", "keyup", keys)


def barrier(xvfb: Xvfb, window: FocusWindow) -> None:
    """Type a key the window gets: once it arrives, every event sent before it has been delivered."""
    seen = len(window.keys("x"))
    xvfb.run("xdotool", "key", "x")
    wait_for(lambda: len(window.keys("x")) == seen + 2, what="the barrier key")


def test_a_held_key_gives_one_press_and_one_release_while_another_window_has_the_focus(
    xvfb: Xvfb, window: FocusWindow, hold_key: X11HoldKey
) -> None:
    recorder = Recorder()
    hold_key.start("F9", recorder.press, recorder.release)
    assert isinstance(hold_key, GlobalHoldKey)
    assert hold_key.available, hold_key.why_unavailable

    hold(xvfb, "F9")
    wait_for(lambda: recorder.events == ["press", "release"], what="press and release")
    barrier(xvfb, window)

    assert recorder.events == ["press", "release"]
    assert window.keys("F9") == [], "the grabbed key leaked to the focused window"
    assert int(xvfb.run("xdotool", "getwindowfocus")) == window.window_id


def test_after_stop_the_key_reaches_the_focused_window_again(
    xvfb: Xvfb, window: FocusWindow, hold_key: X11HoldKey
) -> None:
    recorder = Recorder()
    hold_key.start("F9", recorder.press, recorder.release)
    hold_key.stop()

    xvfb.run("xdotool", "keydown", "F9")
    # The window did not ask for detectable auto-repeat: the held key arrives as repeated pairs, which also
    # shows that auto-repeat is on in this server (what the grab's one press and one release were up against).
    wait_for(lambda: window.keys("F9").count("press") >= 3, what="auto-repeated F9 in the window")
    xvfb.run("xdotool", "keyup", "F9")
    barrier(xvfb, window)

    assert window.keys("F9")[-1] == "release"
    assert recorder.events == []


def test_modifiers_with_num_lock_on_and_the_bare_key_still_types(
    xvfb: Xvfb, window: FocusWindow, hold_key: X11HoldKey
) -> None:
    recorder = Recorder()
    hold_key.start("Ctrl+Alt+Space", recorder.press, recorder.release)
    assert hold_key.available, hold_key.why_unavailable
    xvfb.run("xdotool", "key", "Num_Lock")
    try:
        hold(xvfb, "ctrl+alt+space")
        wait_for(lambda: recorder.events == ["press", "release"], what="press and release with NumLock on")
        xvfb.run("xdotool", "key", "space")
        barrier(xvfb, window)
    finally:
        xvfb.run("xdotool", "key", "Num_Lock")
    assert recorder.events == ["press", "release"]
    assert window.keys("space") == ["press", "release"], "plain Space must still reach the window"


def test_without_xkb_repeats_are_dropped_by_timestamp(xvfb: Xvfb, window: FocusWindow) -> None:
    recorder = Recorder()
    backend = X11HoldKey(xvfb.display, detectable_auto_repeat=False)
    backend.start("F9", recorder.press, recorder.release)
    try:
        hold(xvfb, "F9")
        wait_for(lambda: recorder.events == ["press", "release"], what="press and release")
        barrier(xvfb, window)
    finally:
        backend.stop()
    assert recorder.events == ["press", "release"]


def test_stop_during_a_hold_releases_once(xvfb: Xvfb, window: FocusWindow, hold_key: X11HoldKey) -> None:
    recorder = Recorder()
    hold_key.start("F9", recorder.press, recorder.release)
    xvfb.run("xdotool", "keydown", "F9")
    try:
        wait_for(lambda: recorder.events == ["press"], what="the press")
        hold_key.stop()
    finally:
        xvfb.run("xdotool", "keyup", "F9")
    assert recorder.events == ["press", "release"]


def test_a_key_another_client_holds_is_unavailable_in_plain_words(xvfb: Xvfb, hold_key: X11HoldKey) -> None:
    hold_key.start("F9", lambda: None, lambda: None)
    second = X11HoldKey(xvfb.display)
    second.start("F9", lambda: None, lambda: None)
    second.stop()
    assert not second.available
    assert "Another program already uses F9" in second.why_unavailable


GRAB_AND_WAIT = """
import sys, time
from voicelive_desktop.desktop.hotkeys_x11 import X11HoldKey
key = X11HoldKey(sys.argv[1])
key.start("F9", lambda: None, lambda: None)
print("grabbed" if key.available else key.why_unavailable, flush=True)
time.sleep(600)
"""


def test_a_killed_holder_gives_the_key_back(xvfb: Xvfb) -> None:
    holder = subprocess.Popen([sys.executable, "-c", GRAB_AND_WAIT, xvfb.display], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "grabbed"
        blocked = X11HoldKey(xvfb.display)
        blocked.start("F9", lambda: None, lambda: None)
        assert not blocked.available
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    def grab_succeeds() -> bool:
        again = X11HoldKey(xvfb.display)
        again.start("F9", lambda: None, lambda: None)
        again.stop()
        return again.available

    wait_for(grab_succeeds, what="the grab to be free after the holder died")


def test_bad_names_and_missing_displays_are_reasons_not_errors() -> None:
    backend = X11HoldKey(":4242")
    backend.start("F9", lambda: None, lambda: None)
    assert not backend.available and "Cannot reach the X display :4242" in backend.why_unavailable
    backend.start("Hyper+Q", lambda: None, lambda: None)
    assert not backend.available and "not a modifier" in backend.why_unavailable


# Every key a global hold key can be (``parse_key_name`` accepts it), as ``KeyCombo.key`` spells it.
ACCEPTED_KEYS = [*string.ascii_uppercase, *string.digits, *(f"F{n}" for n in range(1, 25))]
ACCEPTED_KEYS += ["Space", "Pause", "Print", "ScrollLock", "Ins", "Home", "End", "PgUp", "PgDown", "Menu"]
NOT_ON_XVFB = [f"F{n}" for n in range(13, 25)]  # Xvfb's default (evdev) keymap gives F13-F24's keys XF86 keysyms


def test_the_accepted_keys_are_every_key_the_parser_accepts() -> None:
    assert {parse_key_name(key).key for key in ACCEPTED_KEYS} == set(ACCEPTED_KEYS)
    assert set(_NAMED_KEYS.values()) <= set(ACCEPTED_KEYS)


@pytest.mark.parametrize("name", [keysym_name(key) for key in ACCEPTED_KEYS] + sorted(_KEYSYMS))
def test_keysym_values_agree_with_python_xlib(name: str) -> None:
    assert keysym(name) == XK.string_to_keysym(name) != 0


def test_every_accepted_key_resolves_to_a_keycode_on_xvfb() -> None:
    server = Xvfb()  # its own server: this one's keymap is changed below
    try:
        unavailable = {}
        for key in ACCEPTED_KEYS:
            backend = X11HoldKey(server.display)
            backend.start(key, lambda: None, lambda: None)
            backend.stop()
            if not backend.available:
                unavailable[key] = backend.why_unavailable
        assert sorted(unavailable) == sorted(NOT_ON_XVFB)
        assert unavailable["F13"] == "No key on this keyboard produces F13; choose another hold key in Settings."

        # On a keymap that names F13-F24 (xmodmap puts them on the keycodes Xvfb gave XF86 keysyms) they resolve.
        server.run("xmodmap", *(arg for n in range(13, 25) for arg in ("-e", f"keycode {178 + n} = F{n}")))
        for key in NOT_ON_XVFB:
            backend = X11HoldKey(server.display)
            backend.start(key, lambda: None, lambda: None)
            backend.stop()
            assert backend.available, backend.why_unavailable
    finally:
        server.stop()


def test_losing_the_x_server_reports_it_in_plain_words_and_ends_the_hold() -> None:
    server = Xvfb()  # its own server: this test kills it
    recorder, lost = Recorder(), []
    backend = X11HoldKey(server.display)
    try:
        backend.start("F9", recorder.press, recorder.release, on_unavailable=lost.append)
        assert backend.available, backend.why_unavailable
        server.run("xdotool", "keydown", "F9")
        wait_for(lambda: recorder.events == ["press"], what="the press")

        server.process.kill()
        wait_for(lambda: bool(lost), what="on_unavailable")
        assert recorder.events == ["press", "release"]
        assert lost == [backend.why_unavailable]
        assert not backend.available
        assert backend.why_unavailable.startswith("The connection to the X display was lost (xcb error 1")
        assert backend.why_unavailable.endswith("restart the app to get the hold key back.")
    finally:
        backend.stop()
        server.stop()
    assert recorder.events == ["press", "release"]
