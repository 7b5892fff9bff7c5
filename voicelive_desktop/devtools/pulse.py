"""A private PulseAudio with a virtual microphone and speaker, for tests that need real audio.

- ``micfeed``: a null sink; what is played into it comes out of its monitor, the default source, so it is
  what the app's microphone hears.
- ``speaker``: the default sink; its monitor records what the app played.

Only what this object started is stopped. Idle null sinks render in 2 s blocks, so each monitor is kept
clocked by a background ``pacat`` recording to nowhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 24000
CONFIG = """\
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name=speaker rate=24000 channels=1 sink_properties=device.description=Virtual-Speaker
load-module module-null-sink sink_name=micfeed rate=24000 channels=1 sink_properties=device.description=Virtual-Mic
set-default-sink speaker
set-default-source micfeed.monitor
"""


class PrivatePulse:
    """Start with :meth:`start`, stop with :meth:`stop`; ``env`` is what a client process needs."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="vl-pulse-"))
        self.runtime = self.root / "run"
        self.env = {"XDG_RUNTIME_DIR": str(self.runtime), "PULSE_SERVER": f"unix:{self.runtime}/pulse/native"}
        self._clocks: list[subprocess.Popen[bytes]] = []
        self._pid: int | None = None

    def _run_env(self) -> dict[str, str]:
        return {**os.environ, **self.env, "HOME": str(self.root)}

    def start(self) -> None:
        """Start the daemon and wait until its sinks are clocked."""
        exe = shutil.which("pulseaudio")
        if exe is None:
            raise RuntimeError("pulseaudio is not installed; run scripts/setup.sh")
        self.runtime.mkdir(mode=0o700, parents=True)
        config = self.root / "default.pa"
        config.write_text(CONFIG)
        subprocess.run(
            [
                exe,
                "--daemonize=yes",
                "-n",
                "-F",
                str(config),
                "--exit-idle-time=-1",
                "--disallow-exit=yes",
                "--use-pid-file=yes",
                f"--log-target=file:{self.root}/pulse.log",
            ],
            env=self._run_env(),
            check=True,
            timeout=20,
        )
        pid_file = self.runtime / "pulse" / "pid"
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._pid = int(pid_file.read_text().split()[0])
        for sink in ("speaker", "micfeed"):
            self._keep_clocked(sink)
        time.sleep(2.2)

    def _keep_clocked(self, sink: str) -> None:
        """Record ``sink``'s monitor to nowhere, so the sink renders in small blocks, not 2 s ones."""
        self._clocks.append(
            subprocess.Popen(
                ["pacat", "--record", "--raw", "--latency-msec=10", "-d", f"{sink}.monitor"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=self._run_env(),
            )
        )

    def stop(self) -> None:
        """Stop the clock keepers and the daemon this object started."""
        for proc in self._clocks:
            proc.terminate()
        for proc in self._clocks:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGTERM)
        shutil.rmtree(self.root, ignore_errors=True)

    def pactl(self, *args: str) -> str:
        """Run pactl against this server."""
        return subprocess.run(
            ["pactl", *args], env=self._run_env(), check=True, capture_output=True, text=True, timeout=10
        ).stdout

    def add_sink(self, name: str, description: str, rate: int = 48000) -> str:
        """Plug in another (clocked) output device; returns the module id for :meth:`unplug`."""
        module = self.pactl(
            "load-module",
            "module-null-sink",
            f"sink_name={name}",
            f"rate={rate}",
            f"sink_properties=device.description={description}",
        ).strip()
        self._keep_clocked(name)
        time.sleep(2.2)  # a new null sink renders in 2 s blocks until its clock keeper has started it
        return module

    def unplug(self, module: str) -> None:
        """Remove a device added with :meth:`add_sink`."""
        self.pactl("unload-module", module)

    def play(self, pcm16: bytes, device: str = "micfeed") -> subprocess.Popen[bytes]:
        """Start playing mono 24 kHz PCM16 into ``device`` (the virtual microphone by default)."""
        proc = subprocess.Popen(
            [
                "pacat",
                "--playback",
                "--raw",
                "--rate=24000",
                "--channels=1",
                "--format=s16le",
                "--latency-msec=20",
                "-d",
                device,
            ],
            stdin=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self._run_env(),
        )
        assert proc.stdin is not None
        proc.stdin.write(pcm16)
        proc.stdin.close()
        return proc

    def record(self, device: str = "speaker.monitor") -> Recording:
        """Start recording ``device`` (what the app plays, by default)."""
        return Recording(self._run_env(), device)


class Recording:
    """A running recording; :meth:`stop` returns the samples."""

    def __init__(self, env: dict[str, str], device: str) -> None:
        self._out = tempfile.NamedTemporaryFile(suffix=".raw", delete=False)  # noqa: SIM115 - closed in stop
        self._proc = subprocess.Popen(
            [
                "pacat",
                "--record",
                "--raw",
                "--rate=24000",
                "--channels=1",
                "--format=s16le",
                "--latency-msec=10",
                "-d",
                device,
            ],
            stdout=self._out,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    def samples(self) -> npt.NDArray[np.int16]:
        """What has been recorded so far (the recording goes on)."""
        data = Path(self._out.name).read_bytes()
        return np.frombuffer(data[: len(data) // 2 * 2], dtype=np.int16)

    def stop(self) -> npt.NDArray[np.int16]:
        """Stop and return int16 samples at 24 kHz."""
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._out.close()
        data = Path(self._out.name).read_bytes()
        os.unlink(self._out.name)
        return np.frombuffer(data[: len(data) // 2 * 2], dtype=np.int16)
