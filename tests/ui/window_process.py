"""The app's main window in a process of its own on a private Xvfb (``hold_key_window.py``), for tests/ui/*_x11.py."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from tests.desktop.xserver import Xvfb, wait_for

WINDOW_SCRIPT = Path(__file__).with_name("hold_key_window.py")
ROOT = Path(__file__).resolve().parent.parent.parent


class WindowProcess:
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

    def show_level(self, command: str) -> tuple[int, int, int, int]:
        """Send ``level <dBFS>`` or ``idle``; the meter's strip in the window (x, y, width, height) once shown."""
        self.lines[:] = [line for line in self.lines if not line.startswith("shown")]
        self.ask(command)
        wait_for(lambda: any(line.startswith("shown") for line in self.lines), what=f"the window showing {command}")
        x, y, width, height = (int(n) for n in next(ln for ln in self.lines if ln.startswith("shown")).split()[1:])
        return x, y, width, height

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
