"""The two clients under comparison, driven the same way: start, wait until configured, key down, key up, stop.

- :class:`AppClient`: the real app (``python -m voicelive_desktop``) in a real X window on the benchmark's
  Xvfb; the hold key is pressed with ``xdotool keydown/keyup space`` after focusing the window.
- :class:`BaselineClient`: ``benchmarks/baseline_client.py``; its "key" is a line on its stdin.

And two floors, processes that are neither client: :class:`OpenMicClient` (a microphone held open, nothing else)
and :class:`QtWindowClient` (an empty Qt window with Space held in it).

Each key method returns the ``time.monotonic()`` instant the key reached the client's input. For the app that
is when ``xdotool`` has returned: the X server has the key by then (it sends it just before exiting), and the
15 ms or so that spawning ``xdotool`` takes are not the app's. For the baseline it is just before the line is
written to its stdin (a write of a few bytes; the client may read it before the write call returns).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from voicelive_desktop.devtools.xserver import Xvfb

ROOT = Path(__file__).resolve().parent.parent
WINDOW_TITLE = "^Voice Live$"
__all__ = ["AppClient", "BaselineClient", "Client", "OpenMicClient", "QtWindowClient", "XWindowClient", "Xvfb"]


class Client:
    """What the harness needs from a client process."""

    name = ""
    env: dict[str, str]
    proc: subprocess.Popen[str]
    launched_at = 0.0

    @property
    def pid(self) -> int:
        """The client's own process (the CPU and memory figures are about it alone)."""
        return self.proc.pid

    def start(self) -> None:
        """Launch, and return once the client can be driven."""
        raise NotImplementedError

    def key_down(self) -> float:
        """Press the talk key."""
        raise NotImplementedError

    def key_up(self) -> float:
        """Release the talk key."""
        raise NotImplementedError

    def stop(self) -> None:
        """Ask the client to quit, and make sure it did."""
        raise NotImplementedError

    def _launch_module(self, module: str, *args: str, env: dict[str, str], what: str) -> None:
        """Start ``python -m module args`` with a stdin to command it, and wait for its ``ready`` line."""
        self.launched_at = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self._wait_exit()
            raise RuntimeError(f"{what} did not start: {line!r}")

    def _close_stdin_and_wait(self) -> None:
        """Close its stdin (the floors quit then) and wait for it to exit."""
        with contextlib.suppress(BrokenPipeError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        self._wait_exit()

    def _wait_exit(self) -> None:
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class XWindowClient(Client):
    """A client with a window on the benchmark's Xvfb: placed and focused with xdotool, Space held with it."""

    window = ""

    def _xdotool(self, *args: str) -> str:
        return subprocess.run(
            ["xdotool", *args], env=self.env, check=True, capture_output=True, text=True, timeout=10
        ).stdout

    def _place_window(self, title: str) -> str:
        """Find the window titled ``title`` (a regular expression) once mapped, place it, and focus it."""
        window = ""
        deadline = time.monotonic() + 30
        while not window:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the window {title!r} did not appear")
            time.sleep(0.1)
            with contextlib.suppress(subprocess.CalledProcessError, IndexError):  # mapped, so it can take focus
                window = self._xdotool("search", "--onlyvisible", "--name", title).split()[0]
        self._xdotool("windowmove", window, "0", "0")
        self._xdotool("windowsize", window, "1100", "760")
        deadline = time.monotonic() + 10
        while True:  # no window manager: focus it ourselves (a busy X server refuses now and then)
            try:
                self._xdotool("windowfocus", "--sync", window)
                return window
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def key_down(self) -> float:
        """``xdotool keydown space``."""
        self._xdotool("keydown", "space")
        return time.monotonic()

    def key_up(self) -> float:
        """``xdotool keyup space``."""
        self._xdotool("keyup", "space")
        return time.monotonic()


class AppClient(XWindowClient):
    """The app in a real X window, talking to ``endpoint`` with the API key ``demo`` from the environment."""

    name = "app"

    def __init__(
        self,
        endpoint: str,
        display: str,
        sound_env: dict[str, str],
        timings: Path | None = None,
        block_ms: int | None = None,
        *,
        preroll_ms: int | None = None,
    ) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="vl-bench-app-"))
        self.timings = timings
        self.block_ms = block_ms
        self.preroll_ms = preroll_ms
        self.env = {
            **sound_env,
            "DISPLAY": display,
            "AZURE_VOICELIVE_API_KEY": "demo",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "HOME": str(self._dir),
            "XDG_CONFIG_HOME": str(self._dir / "config"),
            # Its own runtime folder, so its single-instance socket never meets another app's (a user's running
            # app, or a benchmark app left over); the sound server is found through PULSE_SERVER.
            "XDG_RUNTIME_DIR": str(self._dir / "runtime"),
        }
        (self._dir / "runtime").mkdir(mode=0o700)
        self.env.pop("QT_QPA_PLATFORM", None)  # a real X window, not offscreen
        if timings is not None:
            self.env["VOICELIVE_AUDIO_TIMINGS"] = str(timings)  # the app's opt-in callback timings
        self.endpoint = endpoint

    def start(self) -> None:
        """Launch; returns once the window is shown, placed and focused (not yet connected)."""
        audio = {"block_ms": self.block_ms, "preroll_ms": self.preroll_ms}
        lines = [f"{key} = {value}\n" for key, value in audio.items() if value is not None]
        if lines:
            (self._dir / "settings.toml").write_text("[audio]\n" + "".join(lines))
        self.launched_at = time.monotonic()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voicelive_desktop",
                "--endpoint",
                self.endpoint,
                "--model",
                "gpt-realtime",
                "--settings",
                str(self._dir / "settings.toml"),
                "--history",  # a history of its own: no earlier conversation is restored and carried
                str(self._dir / "history.sqlite3"),
            ],
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self._dir / "app.log", "w"),  # noqa: SIM115 - the child owns it
            text=True,
        )
        try:
            self._place_app_window()
        except BaseException:
            self.stop()  # an app left running would also take the next launch over through its single instance
            raise

    def _place_app_window(self) -> None:
        try:
            self.window = self._place_window(WINDOW_TITLE)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; log: {self.log_tail()}") from None
        # Click into the chat, away from the text field, where Space would type instead of talk.
        self._xdotool("mousemove", "--window", self.window, "550", "300", "click", "1")

    def log_tail(self) -> str:
        """The end of the app's log (for error messages)."""
        return (self._dir / "app.log").read_text()[-2000:]

    def stop(self) -> None:
        """SIGTERM closes the window, which shuts the app down cleanly; then its temporary folder goes."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self._wait_exit()
        shutil.rmtree(self._dir, ignore_errors=True)


class BaselineClient(Client):
    """``python -m benchmarks.baseline_client``, commanded through its stdin."""

    name = "baseline"

    def __init__(self, endpoint: str, sound_env: dict[str, str], timings: Path) -> None:
        self.env = {**sound_env, "AZURE_VOICELIVE_API_KEY": "demo"}
        self.endpoint = endpoint
        self.timings = timings

    def start(self) -> None:
        """Launch; returns once it says its session is configured."""
        args = ("--endpoint", self.endpoint, "--model", "gpt-realtime", "--timings", str(self.timings))
        self._launch_module("benchmarks.baseline_client", *args, env=self.env, what="the baseline client")

    def _say(self, command: str) -> float:
        assert self.proc.stdin is not None
        at = time.monotonic()
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return at

    def key_down(self) -> float:
        """``down`` on stdin."""
        return self._say("down")

    def key_up(self) -> float:
        """``up`` on stdin."""
        return self._say("up")

    def stop(self) -> None:
        """``quit`` on stdin (it then writes its callback timings)."""
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError):
                self._say("quit")
        self._wait_exit()


class OpenMicClient(Client):
    """``python -m benchmarks.open_mic``: no client at all, only a microphone held open (the idle CPU's floor)."""

    name = "open-mic"

    def __init__(self, sound_env: dict[str, str], block_ms: int) -> None:
        self.env = dict(sound_env)
        self.block_ms = block_ms

    def start(self) -> None:
        """Launch; returns once the stream is open."""
        self._launch_module(
            "benchmarks.open_mic", "--block-ms", str(self.block_ms), env=self.env, what="the open microphone"
        )

    def stop(self) -> None:
        """Close its stdin: it closes the stream and exits."""
        self._close_stdin_and_wait()


class QtWindowClient(XWindowClient):
    """``python -m benchmarks.qt_window``: an empty Qt window with Space held in it (the held key's floor)."""

    name = "qt-window"

    def __init__(self, display: str) -> None:
        self.env = {**os.environ, "DISPLAY": display}
        self.env.pop("QT_QPA_PLATFORM", None)  # a real X window, as the app's

    def start(self) -> None:
        """Launch; returns once the window is shown, placed and focused."""
        self._launch_module("benchmarks.qt_window", env=self.env, what="the empty Qt window")
        self.window = self._place_window("^Qt floor$")

    def stop(self) -> None:
        """Close its stdin: it quits."""
        self._close_stdin_and_wait()
