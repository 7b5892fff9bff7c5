"""A private Xvfb: a real X display for the app's window on a machine without one.

The server picks a free display number itself (``-displayfd``), so two runs never collide; only the server
started here is stopped. Key auto-repeat is on, as on a real desktop.
"""

from __future__ import annotations

import os
import shutil
import subprocess


class Xvfb:
    """An Xvfb on a free display; ``env`` is what an X client needs to use it.

    Raises:
        RuntimeError: Xvfb or the X tools are missing (scripts/setup.sh installs them), or it did not start.
    """

    def __init__(self, size: str = "1100x760x24") -> None:
        for tool in ("Xvfb", "xdotool", "xset"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is missing: run scripts/setup.sh (xvfb, xdotool, x11-xserver-utils)")
        read_fd, write_fd = os.pipe()
        self.process = subprocess.Popen(
            # -noreset: by default the server resets when its last client leaves, forgetting the key-repeat
            # settings and refusing the clients that connect meanwhile (xset, a test's second X connection).
            ["Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp", "-noreset", "-screen", "0", size],
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
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        self.env = {**os.environ, "DISPLAY": self.display}
        self.env.pop("WAYLAND_DISPLAY", None)
        self.env.pop("QT_QPA_PLATFORM", None)  # a real X window, not offscreen
        self.run("xset", "r", "on")
        self.run("xset", "r", "rate", "200", "40")  # a held key repeats quickly: one second brings many repeats

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
