"""The held-key floor: an empty Qt window that has the keyboard focus, and wakes for each of X's repeats."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from benchmarks import procfs
from benchmarks.clients import QtWindowClient
from voicelive_desktop.devtools.xserver import Xvfb


@pytest.fixture
def xvfb() -> Iterator[Xvfb]:
    server = Xvfb()
    yield server
    server.stop()


def _gui_wakeups(pid: int, seconds: float) -> float:
    window = procfs.ThreadWindow(pid).start()
    time.sleep(seconds)
    return window.stop().get("main", {}).get("switches_per_s", 0.0)


def test_the_empty_window_has_the_focus_and_gets_the_held_keys_repeats(xvfb: Xvfb) -> None:
    client = QtWindowClient(xvfb.display)
    client.start()
    try:
        assert client._xdotool("getwindowfocus").strip() == client.window, "the held key goes to it"
        quiet = _gui_wakeups(client.pid, 1.0)
        client.key_down()
        try:
            held, deadline = 0.0, time.monotonic() + 5
            while held < 15 and time.monotonic() < deadline:  # X's auto-repeat starts after its delay
                held = _gui_wakeups(client.pid, 0.5)
        finally:
            client.key_up()
    finally:
        client.stop()
    assert client.proc.returncode == 0, "it quits when its stdin closes"
    # X repeats a held key 25-40 times a second; the idle window sleeps
    assert held >= 15 and held > 5 * max(quiet, 1.0), f"GUI thread woke {held}/s held, {quiet}/s idle"
