"""A private Xvfb, and a separate X client window that holds the keyboard focus, for the desktop tests.

Each test module gets its own X server on a display number the server picks itself (``-displayfd``), so two
runs never collide and nothing outside the test is touched; only the processes started here are stopped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

WINDOW_SCRIPT = Path(__file__).with_name("focus_window.py")


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` every 20 ms until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class Xvfb:
    """An Xvfb on a free display, with key auto-repeat on."""

    def __init__(self) -> None:
        for tool in ("Xvfb", "xdotool", "xset"):
            if shutil.which(tool) is None:
                pytest.fail(f"{tool} is missing: run scripts/setup.sh (it installs xvfb, xdotool, x11-xserver-utils)")
        read_fd, write_fd = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0", "800x600x24"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.process.kill()
            self.process.wait()
            pytest.fail("Xvfb did not start")
        self.display = f":{number}"
        self.env = {**os.environ, "DISPLAY": self.display}
        self.env.pop("WAYLAND_DISPLAY", None)
        # A held key repeats (as on a real desktop), quickly, so a one-second hold brings many repeats.
        self.run("xset", "r", "on")
        self.run("xset", "r", "rate", "200", "40")

    def run(self, *argv: str) -> str:
        """Run an X client (xdotool, xset...) against this server; returns its output."""
        return subprocess.run(argv, env=self.env, check=True, capture_output=True, text=True, timeout=30).stdout

    def stop(self) -> None:
        """Stop this server only."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


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
