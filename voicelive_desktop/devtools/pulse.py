"""A private PulseAudio with a virtual microphone and speaker, for tests that need real audio.

- ``micfeed``: a null sink; what is played into it comes out of its monitor, the default source, so it is
  what the app's microphone hears.
- ``speaker``: the default sink; its monitor records what the app played.

Only what this object started is stopped. Idle null sinks render in 2 s blocks, so each monitor is kept
clocked by a background ``pacat`` recording to nowhere. Recordings can stamp each piece with the moment it
arrived, so a benchmark can tell when a sound was heard.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 24000
_PACAT_FORMAT = ["--raw", f"--rate={RATE}", "--channels=1", "--format=s16le"]
CONFIG = """\
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name=speaker rate=24000 channels=1 sink_properties=device.description=Virtual-Speaker
load-module module-null-sink sink_name=micfeed rate=24000 channels=1 sink_properties=device.description=Virtual-Mic
set-default-sink speaker
set-default-source micfeed.monitor
"""


class PrivatePulse:
    """Start with :meth:`start`, stop with :meth:`stop`; ``env`` is what a client process needs."""

    def __init__(self, prefix: str = "vl-pulse-") -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.runtime = self.root / "run"
        self.env = {"XDG_RUNTIME_DIR": str(self.runtime), "PULSE_SERVER": f"unix:{self.runtime}/pulse/native"}
        self._clocks: list[subprocess.Popen[bytes]] = []
        self._pid: int | None = None

    def run_env(self) -> dict[str, str]:
        """The environment for a process that talks to this server."""
        return {**os.environ, **self.env, "HOME": str(self.root)}

    def start(self) -> None:
        """Start the daemon and wait until its sinks are clocked."""
        exe = shutil.which("pulseaudio")
        if exe is None:
            raise RuntimeError("pulseaudio is not installed; run scripts/setup.sh")
        self.runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
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
                # Audio goes through POSIX shared memory, not memfd: with memfd, PulseAudio 16 aborted now and
                # then ("Cannot send block reference with non-registered memfd ID", then an assertion in
                # memblock_replace_import; upstream issue 824), the daemon or, through libpulse, the client.
                "--enable-memfd=no",
                f"--log-target=file:{self.root}/pulse.log",
            ],
            env=self.run_env(),
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

    def alive(self) -> bool:
        """Whether the daemon this object started still runs."""
        if self._pid is None:
            return False
        try:
            os.kill(self._pid, 0)
        except ProcessLookupError:
            return False
        return True

    def log_tail(self, lines: int = 25) -> str:
        """The end of the daemon's log (it says why it stopped, if it did)."""
        log = self.root / "pulse.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"

    def restart(self) -> None:
        """Start the daemon again after it died; clients reach it through the same environment."""
        self._stop_clocks()
        log = self.root / "pulse.log"
        if log.exists():
            log.rename(self.root / f"pulse.{time.time():.0f}.log")
        (self.runtime / "pulse" / "pid").unlink(missing_ok=True)
        self.start()

    def _keep_clocked(self, sink: str) -> None:
        """Record ``sink``'s monitor to nowhere, so the sink renders in small blocks, not 2 s ones."""
        self._clocks.append(
            subprocess.Popen(
                ["pacat", "--record", "--raw", "--latency-msec=10", "-d", f"{sink}.monitor"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=self.run_env(),
            )
        )

    def _stop_clocks(self) -> None:
        for proc in self._clocks:
            proc.terminate()
        for proc in self._clocks:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._clocks.clear()

    def stop(self) -> None:
        """Stop the clock keepers and the daemon this object started."""
        self._stop_clocks()
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGTERM)
        shutil.rmtree(self.root, ignore_errors=True)

    def pactl(self, *args: str) -> str:
        """Run pactl against this server."""
        return subprocess.run(
            ["pactl", *args], env=self.run_env(), check=True, capture_output=True, text=True, timeout=10
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

    def play(self, pcm16: bytes, device: str = "micfeed", buffer_ms: int = 300) -> subprocess.Popen[bytes]:
        """Start playing mono 24 kHz PCM16 into ``device`` (the virtual microphone by default); returns at once.

        ``wait()`` on the returned process waits until the server has played the sound to its end. The server
        holds up to ``buffer_ms`` of it ahead: a person's voice does not stop when a busy machine stalls a
        process, and with too small a buffer a stalled player (or server) would put silence into the sound.
        """
        proc = subprocess.Popen(
            ["pacat", "--playback", *_PACAT_FORMAT, f"--latency-msec={buffer_ms}", "-d", device],
            stdin=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.run_env(),
        )
        stdin = proc.stdin
        assert stdin is not None

        def feed() -> None:  # pacat reads in real time: writing here would block for the whole sound
            with contextlib.suppress(BrokenPipeError):
                stdin.write(pcm16)
            stdin.close()

        threading.Thread(target=feed, name=f"play-{device}", daemon=True).start()
        return proc

    def record_stamped(self, device: str) -> StampedRecording:
        """Start recording ``device``, noting when each piece arrived (for latency figures)."""
        return StampedRecording(self.run_env(), device)

    def record(self, device: str = "speaker.monitor", latency_ms: int = 10) -> Recording:
        """Start recording ``device`` (what the app plays, by default).

        A larger ``latency_ms`` lets the server buffer more for a recorder that a busy machine starves: for a
        reference of what a device carried, where completeness matters and timing does not.
        """
        return Recording(self.run_env(), device, latency_ms)


class Recording:
    """A running recording; :meth:`stop` returns the samples."""

    def __init__(self, env: dict[str, str], device: str, latency_ms: int = 10) -> None:
        self._out = tempfile.NamedTemporaryFile(suffix=".raw", delete=False)  # noqa: SIM115 - closed in stop
        self._proc = subprocess.Popen(
            ["pacat", "--record", *_PACAT_FORMAT, f"--latency-msec={latency_ms}", "-d", device],
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


class StampedRecording:
    """A running recording whose every chunk carries the ``time.monotonic()`` of its arrival.

    A reader thread reads ``pacat``'s output as it comes (``pacat`` asks for 10 ms fragments), so a sample's
    arrival time is known to about 10 ms: the moment the sound server made it available to a client.
    """

    def __init__(self, env: dict[str, str], device: str) -> None:
        self._proc = subprocess.Popen(
            ["pacat", "--record", *_PACAT_FORMAT, "--latency-msec=10", "-d", device],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            bufsize=0,
        )
        self.chunks: list[tuple[float, bytes]] = []
        self._thread = threading.Thread(target=self._read, name=f"record-{device}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while data := os.read(fd, 65536):
            self.chunks.append((time.monotonic(), data))

    def stop(self) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Stop; returns (samples int16, arrival time of each chunk, index of each chunk's first sample)."""
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._thread.join(timeout=5)
        return stamped_stream(self.chunks)


def stamped_stream(
    chunks: list[tuple[float, bytes]],
) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Join (arrival time, PCM16 bytes) chunks: (samples, arrival times, index of each chunk's first sample).

    Chunks may split a sample between them; samples are counted over the joined bytes.
    """
    data = b"".join(c for _, c in chunks)
    samples = np.frombuffer(data[: len(data) // 2 * 2], dtype=np.int16)
    starts = np.cumsum([0] + [len(c) for _, c in chunks[:-1]]) // 2 if chunks else np.zeros(0, dtype=np.int64)
    times = np.array([t for t, _ in chunks], dtype=np.float64)
    return samples, times, np.asarray(starts, dtype=np.int64)
