"""A separate X client window that holds the keyboard focus on a private Xvfb, for the desktop tests.

Each test module gets its own X server on a display number the server picks itself (``-displayfd``), so two
runs never collide and nothing outside the test is touched; only the processes started here are stopped.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from voicelive_desktop.devtools.xserver import Xvfb as _Xvfb

WINDOW_SCRIPT = Path(__file__).with_name("focus_window.py")


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` every 20 ms until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class Xvfb(_Xvfb):
    """The devtools Xvfb, failing the test (not raising) when it cannot start."""

    def __init__(self) -> None:
        try:
            super().__init__("800x600x24")
        except RuntimeError as exc:
            pytest.fail(str(exc))


class FocusWindow:
    """Another X client: a window that takes the focus and reports every key it receives."""

    def __init__(self, xvfb: Xvfb) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, str(WINDOW_SCRIPT)],
            env=xvfb.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(lambda: any(line.startswith("ready") for line in self.lines), what="the focus window")
        self.window_id = int(self.lines[0].split()[1])
        wait_for(lambda: int(xvfb.run("xdotool", "getwindowfocus")) == self.window_id, what="the window's focus")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def keys(self, name: str) -> list[str]:
        """The presses and releases of keysym ``name`` this window has received, in order."""
        return [line.split()[0] for line in self.lines if line.endswith(f" {name}")]

    def close(self) -> None:
        """Stop the window's process."""
        self.process.terminate()
        self.process.wait(timeout=10)
