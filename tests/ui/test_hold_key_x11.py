"""The hold key on a real X server: a key held for over a second is one press and one release, at once.

The app's window runs in its own process on a private Xvfb with key auto-repeat on (``xset r on``, 25 repeats a
second after 200 ms), and the key is held with xdotool, as a person holds it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.desktop.xserver import Xvfb, wait_for

WINDOW_SCRIPT = Path(__file__).with_name("hold_key_window.py")
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def xvfb() -> Iterator[Xvfb]:
    server = Xvfb()
    yield server
    server.stop()


class _App:
    """The window's process, and the lines it printed."""

    def __init__(self, xvfb: Xvfb) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, str(WINDOW_SCRIPT)],
            env={**xvfb.env, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        wait_for(lambda: any(line.startswith("ready") for line in self.lines), what="the window")
        self.window_id = self.lines[0].split()[1]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def intents(self) -> list[str]:
        return [line for line in self.lines if line in ("press", "release")]

    def ask(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def test_a_key_held_for_over_a_second_is_one_press_and_one_release(xvfb: Xvfb) -> None:
    app = _App(xvfb)
    try:
        xvfb.run("xdotool", "windowfocus", "--sync", app.window_id)
        wait_for(lambda: xvfb.run("xdotool", "getwindowfocus").strip() == app.window_id, what="the focus")
        xvfb.run("xdotool", "keydown", "space")
        wait_for(lambda: app.intents() == ["press"], what="the press")
        time.sleep(1.2)
        assert app.intents() == ["press"], "auto-repeat must not end the turn while the key is held"
        xvfb.run("xdotool", "keyup", "space")
        wait_for(lambda: app.intents() == ["press", "release"], timeout=5, what="the release")
        app.ask("count")
        wait_for(lambda: any(line.startswith("keys") for line in app.lines), what="the key count")
        _, keys, _, real = next(line for line in app.lines if line.startswith("keys")).split()
        assert int(keys) > 10, "the key must have auto-repeated while held (xset r on)"
        assert real == "True", "the X server should grant detectable auto-repeat, so no release is waited out"
        assert app.intents() == ["press", "release"]
    finally:
        app.close()
