"""The app against a baseline client in the official quickstart's pattern: same machine, same run, same audio.

    .venv/bin/python -m benchmarks.compare [--runs 3] [--window 10]

Each client talks to its own emulator process (``python -m voicelive_desktop.emulator``) through its own
timestamping websocket proxy (benchmarks/wire_proxy.py), with the private PulseAudio's virtual microphone and
speaker (benchmarks/sound.py); the app runs in a real X window on a private Xvfb and is driven with xdotool,
the baseline (benchmarks/baseline_client.py) through its stdin. Runs alternate which client goes first.

One session per client per run:
1. launch; wait until its ``session.update`` is on the wire; settle.
2. idle CPU: mic open, connected, nothing happening, over ``--window`` seconds (from /proc/<pid>/stat).
3. key down; a train of chirps plays into the microphone; streaming CPU over ``--window`` seconds; then, still
   holding, the GUI ping probe starts (app only); key up. Each chirp is found in the audio appended on the
   wire and in a reference recording of the microphone: the difference is "microphone to wire".
4. key up to ``input_audio_buffer.commit`` at the proxy.
5. while the answer plays, key down again (barge-in), hold, let go, ``--barge-ins`` times: key down to the
   last audible sample recorded from the speaker.
6. once the last answer has finished playing, VmRSS.
Then, per run, one more app session with the pre-roll off (the microphone closes between turns): idle CPU only;
and, as the floor under both idle figures, a process that only holds the microphone open (benchmarks/open_mic.py)
at each client's block; and, as the floor under the app's held-key figure, an empty Qt window with Space held in
it (benchmarks/qt_window.py: X repeats the held key, and any Qt window pays for reading the repeats).
Each CPU window also records every thread's share and wake-ups ("threads" in the report).
The app's launch to first paint comes from benchmarks/startup.py. Everything goes to
benchmarks/results/compare.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from voicelive_desktop.devtools.pulse import PrivatePulse, StampedRecording, stamped_stream
from voicelive_desktop.settings import AudioSettings

from . import procfs
from .clients import AppClient, BaselineClient, Client, OpenMicClient, QtWindowClient, Xvfb
from .markers import chirp, find_markers, marker_train, match_markers, sample_times, silence_after
from .wire_proxy import WireEvent, WireProxy

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "voicelive-desktop",
    "azure-ai-voicelive",
    "aiohttp",
    "PySide6-Essentials",
    "qasync",
    "sounddevice",
    "numpy",
    "soxr",
    "pocketsphinx",
)
NOTE = (
    "Measured on a machine with 2 shared, noisy cores (other work may run at the same time): absolute values "
    "move from run to run, the app/baseline ratios much less. Both clients ran in the same run, alternating, "
    "each against its own emulator process. Every figure is measured from outside the client process "
    "(/proc, the wire proxy, recordings of the sound server, X11 pings), except the baseline's audio "
    "callback timings, which it records itself. p99 over a handful of samples is close to the maximum."
)


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[compare {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """One emulator process and the proxy in front of it."""

    def __init__(self, sound_env: dict[str, str]) -> None:
        port = _free_port()
        self.emulator = subprocess.Popen(
            [sys.executable, "-m", "voicelive_desktop.emulator", "--port", str(port), "--api-key", "demo"],
            cwd=ROOT,
            env=sound_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.emulator.stdout is not None
        line = self.emulator.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.proxy = WireProxy(f"http://127.0.0.1:{port}").start()

    def stop(self) -> None:
        """Stop the proxy and the emulator process (the emulator even when the proxy does not stop in time)."""
        try:
            self.proxy.stop()
        except TimeoutError:
            log("the wire proxy did not stop within 10 s; going on")
        self.emulator.terminate()
        try:
            self.emulator.wait(10)
        except subprocess.TimeoutExpired:
            self.emulator.kill()


def _marker_intervals(seconds: float) -> list[float]:
    """Uneven gaps (200-348 ms) so the pattern cannot be matched one marker off."""
    out: list[float] = []
    k = 0
    while sum(out) < seconds * 1000:
        out.append(200.0 + 37.0 * (k % 5))
        k += 1
    return out


def _barge_in_feed(hold_s: float) -> Any:
    """Chirps for a barge-in turn's hold (nothing is looked for in them; the turn just must not be silent)."""
    feed, _ = marker_train(_marker_intervals(max(0.3, hold_s - 0.4)), lead_ms=20, tail_ms=20)
    return feed


def _loud(chunk: bytes, threshold: int = 64) -> bool:
    return bool(np.abs(np.frombuffer(chunk[: len(chunk) // 2 * 2], dtype=np.int16)).max(initial=0) > threshold)


def _wait_quiet(rec: StampedRecording, since: float, quiet_s: float = 0.8, timeout: float = 15.0) -> bool:
    """Wait until something was heard after ``since`` and then ``quiet_s`` of silence; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        loud = [t for t, c in list(rec.chunks) if t >= since and _loud(c)]
        if loud and time.monotonic() - loud[-1] >= quiet_s:
            return True
    return False


def _wait_sounding(rec: StampedRecording, not_before: float, span_s: float = 0.3, timeout: float = 10.0) -> bool:
    """Wait, from ``not_before`` on, for speech at the speaker: the last ``span_s`` of chunks (nearly) all loud.

    The answer has pauses between phrases (about 0.35 s); pressing in one would time nothing.
    """
    deadline = time.monotonic() + timeout
    time.sleep(max(0.0, not_before - time.monotonic()))
    while time.monotonic() < deadline:
        now = time.monotonic()
        recent = [_loud(c) for t, c in list(rec.chunks) if t >= now - span_s]
        if len(recent) >= 10 and sum(recent) >= 0.9 * len(recent) and all(recent[-3:]):
            return True
        time.sleep(0.005)
    return False


class Session:
    """One client's session in one run; fills ``figures`` (lists of samples per figure)."""

    def __init__(self, client: Client, service: Service, pulse: PrivatePulse, args: argparse.Namespace) -> None:
        self.client = client
        self.proxy = service.proxy
        self.pulse = pulse
        self.args = args
        self.figures: dict[str, Any] = {}
        self.errors: list[str] = []
        self._pinger: subprocess.Popen[str] | None = None
        self._last_up = 0.0
        self._streamed_up = float("inf")  # when the streamed turn's key came up (ends the streaming lag figure)

    def _sample(self, figure: str, value: float | None) -> None:
        if value is None:
            self.errors.append(f"{self.client.name}: no value for {figure}")
            return
        self.figures.setdefault(figure, []).append(value)

    def run(self) -> None:
        """Launch, measure, stop (the client is stopped whatever happens)."""
        client, args = self.client, self.args
        client.start()
        try:
            update = self._configured()
            self._sample("launch_to_session_update_ms", (update.at - client.launched_at) * 1000)
            time.sleep(args.settle)
            self._sample("cpu_idle_percent", self._cpu(args.window, "idle"))
            self._streaming_turn()
            self._barge_ins()
            self._sample("rss_after_turns_mib", procfs.rss_kib(client.pid) / 1024)
            self._sample(
                "peak_rss_mib", procfs.parse_status_kib(Path(f"/proc/{client.pid}/status").read_text(), "VmHWM") / 1024
            )
        finally:
            self._stop_pinger()
            client.stop()

    def run_idle_only(self) -> None:
        """Launch, wait until configured, measure idle CPU only (``cpu_idle_preroll_off_percent``), stop."""
        client = self.client
        client.start()
        try:
            self._configured()
            time.sleep(self.args.settle)
            self._sample("cpu_idle_preroll_off_percent", self._cpu(self.args.window, "idle_preroll_off"))
        finally:
            client.stop()

    def run_open_only(self) -> None:
        """Launch a client that needs no service (the open microphone), settle, measure CPU, stop."""
        self.client.start()
        try:
            time.sleep(self.args.settle)
            self._sample("cpu_open_mic_floor_percent", self._cpu(self.args.window, "open_mic_floor"))
        finally:
            self.client.stop()

    def run_held_key_only(self) -> None:
        """Launch a window that needs no service, hold the key in it, measure CPU while held, let go, stop."""
        client = self.client
        client.start()
        try:
            time.sleep(self.args.settle)
            client.key_down()
            time.sleep(1.0)  # past X's auto-repeat delay (660 ms by default): the repeats are coming
            self._sample("cpu_held_key_qt_floor_percent", self._cpu(self.args.window, "held_key_qt_floor"))
            client.key_up()
        finally:
            client.stop()

    def _configured(self) -> WireEvent:
        """The client's ``session.update`` on the wire, once the service has answered it; raises if not."""
        client, proxy = self.client, self.proxy
        update = proxy.wait_for("session.update", client.launched_at, 30, "up")
        if update is None or proxy.wait_for("session.updated", update.at, 10, "down") is None:
            raise RuntimeError(f"{client.name} did not configure its session")
        return update

    def _cpu(self, seconds: float, phase: str) -> float:
        """The process's CPU over ``seconds``; its threads' shares go to the ``threads_<phase>`` samples."""
        window = procfs.CpuWindow(self.client.pid).start()
        by_thread = procfs.ThreadWindow(self.client.pid).start()
        time.sleep(seconds)
        self.figures.setdefault(f"threads_{phase}", []).append(by_thread.stop())
        return window.stop()

    # ----------------------------------------------------------------- GUI ping probe (app only)
    def _start_pinger(self) -> None:
        if isinstance(self.client, AppClient):
            self._pinger = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.x11_ping", "--window", self.client.window, "--interval", "0.05"],
                cwd=ROOT,
                env=self.client.env,
                stdout=subprocess.PIPE,
                text=True,
            )

    def _stop_pinger(self) -> None:
        pinger, self._pinger = self._pinger, None
        if pinger is None:
            return
        pinger.send_signal(signal.SIGINT)
        out, _ = pinger.communicate(timeout=10)
        data = json.loads(out) if out else {"rtt_ms": [], "sent_at": []}
        rtts, sent = data["rtt_ms"], data.get("sent_at", [])
        self.figures.setdefault("gui_ping_ms", []).extend(r for r in rtts if r is not None)
        self.figures.setdefault("gui_ping_lost", []).append(sum(r is None for r in rtts))
        held = [r for r, at in zip(rtts, sent, strict=False) if r is not None and at < self._streamed_up]
        self.figures.setdefault("gui_lag_streaming_ms", []).extend(held)

    # ----------------------------------------------------------------- the streamed turn
    def _streaming_turn(self) -> None:
        client, proxy, args = self.client, self.proxy, self.args
        hold_s = args.window + args.ping_while_held
        feed, _ = marker_train(_marker_intervals(hold_s - 0.6), lead_ms=50, tail_ms=50)
        reference = self.pulse.record_stamped("micfeed.monitor")
        time.sleep(0.3)
        down = client.key_down()
        time.sleep(0.2)
        player = self.pulse.play(feed.tobytes())
        self._sample("cpu_streaming_percent", self._cpu(args.window, "streaming"))
        self._start_pinger()  # after the CPU window: the probe costs the app a little CPU
        player.wait(hold_s + 10)
        time.sleep(0.3)
        up = client.key_up()
        commit = proxy.wait_for("input_audio_buffer.commit", up, 10, "up")
        self._sample("key_up_to_commit_ms", None if commit is None else (commit.at - up) * 1000)
        self._last_up = self._streamed_up = up
        ref_samples, ref_times, ref_starts = reference.stop()
        if commit is None:
            return
        appends = [e for e in proxy.since(down, "up", "input_audio_buffer.append") if e.at <= commit.at]
        wire_samples, wire_times, wire_starts = stamped_stream([(e.at, e.audio) for e in appends])
        template = chirp()
        ref_found = find_markers(ref_samples, template)
        wire_found = find_markers(wire_samples, template)
        pairs = match_markers(ref_found, wire_found)
        ref_t = sample_times([ref_found[i] for i, _ in pairs], ref_times, ref_starts)
        wire_t = sample_times([wire_found[j] for _, j in pairs], wire_times, wire_starts)
        self.figures.setdefault("mic_to_wire_ms", []).extend(((wire_t - ref_t) * 1000).round(2).tolist())
        self.figures.setdefault("markers", []).append(
            {
                "played": len(_marker_intervals(hold_s - 0.6)),
                "in_reference": len(ref_found),
                "on_wire": len(wire_found),
                "matched": len(pairs),
            }
        )

    # ----------------------------------------------------------------- barge-ins
    def _barge_ins(self) -> None:
        client, proxy, args = self.client, self.proxy, self.args
        speaker = self.pulse.record_stamped("speaker.monitor")
        keys: list[tuple[float, float]] = []
        after = self._last_up
        for _ in range(args.barge_ins):
            delta = proxy.wait_for("response.audio.delta", after, 15, "down")
            if delta is None:
                self.errors.append(f"{client.name}: no answer audio to interrupt")
                break
            if not _wait_sounding(speaker, delta.at + args.barge_after):
                self.errors.append(f"{client.name}: the answer was not heard at the speaker")
                break
            down = client.key_down()
            # Something to hear while the key is held: the app sends no turn in which nothing was heard.
            player = self.pulse.play(_barge_in_feed(args.barge_hold).tobytes())
            time.sleep(args.barge_hold)
            up = client.key_up()
            player.wait(5)
            keys.append((down, up))
            commit = proxy.wait_for("input_audio_buffer.commit", up, 10, "up")
            self._sample("key_up_to_commit_ms", None if commit is None else (commit.at - up) * 1000)
            after = up
        done = proxy.wait_for("response.done", after, 15, "down")
        if done is None or not _wait_quiet(speaker, after):
            self.errors.append(f"{client.name}: the last answer did not finish playing")
        self._stop_pinger()
        samples, times, starts = speaker.stop()
        for down, up in keys:
            gone = silence_after(samples, times, starts, key_at=down, until=up)
            if gone is not None and gone > up - down - 0.05:
                self.errors.append(f"{client.name}: the answer still sounded when the barge-in key came up")
                continue
            self._sample("barge_in_to_silence_ms", None if gone is None else gone * 1000)


# --------------------------------------------------------------------- statistics and the report
def _run_session(
    session: Session, run_it: Callable[[], None], what: str, into: dict[str, list[Any]], errors: list[str]
) -> None:
    """Run one measuring session into ``into``: a failure is an error in the report, not the end of the benchmark
    (one broken session must not lose the others' figures)."""
    try:
        run_it()
    except Exception as exc:
        errors.append(f"{what}: {type(exc).__name__}: {exc}")
        log(errors[-1])
    errors.extend(session.errors)
    for key, values in session.figures.items():
        into.setdefault(key, []).extend(values)


def _stats(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    arr = np.asarray(values, dtype=np.float64)
    return {
        "median": round(float(np.median(arr)), 3),
        "p99": round(float(np.percentile(arr, 99)), 3),
        "min": round(float(arr.min()), 3),
        "max": round(float(arr.max()), 3),
        "n": len(values),
    }


THREADS_HOW = (
    "where each client's CPU went during the idle and the streaming windows above, thread by thread (from "
    "/proc/<pid>/task/*/stat and status; threads of one name summed; median over the sessions, 0 where a "
    "session had no such thread): cpu_percent of one core, and switches_per_s (voluntary + involuntary context "
    "switches: roughly, how often the thread woke). 'main' is the first thread (the app's GUI and event loop); "
    "'threaded-ml' is libpulse's thread inside ALSA's pulse plugin; PortAudio's callback thread inherits the "
    "name of the thread that opened the stream (the app opens it from a plain Python thread of its own, which "
    "the system names after the process: 'python', as the baseline's)."
)


def _thread_medians(windows: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    names = {name for window in windows for name in window}
    out = {}
    for name in names:
        rows = [window.get(name, {"cpu_percent": 0.0, "switches_per_s": 0.0}) for window in windows]
        out[name] = {key: round(float(np.median([row[key] for row in rows])), 2) for key in rows[0]}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["cpu_percent"]))


def _above_floor(figure: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any] | None:
    """The app's figure less an empty Qt window's (medians): its own share; against the baseline where it has one."""
    app, qt, baseline = figure["app"], floor["app"], figure["baseline"]
    if not app or not qt:
        return None
    above = round(float(app["median"]) - float(qt["median"]), 3)
    if baseline is None:
        return {"median": above, "how": "app median - empty Qt window median: the app's own share"}
    ratio = round(above / float(baseline["median"]), 3) if baseline.get("median") else None
    return {"median": above, "ratio_median": ratio, "how": "app median - empty Qt window median; / baseline median"}


def _ratio(app: dict[str, Any] | None, baseline: dict[str, Any] | None, key: str) -> float | None:
    if not app or not baseline or not baseline.get(key):
        return None
    return round(float(app[key]) / float(baseline[key]), 3)


HOW = {
    "cpu_streaming_percent": "key held, chirps playing into the mic; (utime+stime) from /proc/<pid>/stat over the "
    "window / wall time; % of one core; client process only (the emulator and proxy are other processes). "
    "The app renders its level meter meanwhile; the baseline renders nothing.",
    "cpu_held_key_qt_floor_percent": "neither client: benchmarks/qt_window.py, an empty PySide6 window on the "
    "same Xvfb, focused, with Space held by xdotool from 1 s before the window (X auto-repeat on, as for the "
    "app); same reading. What any Qt window pays while a key is held (Qt reads and delivers each of X's "
    "repeats on its GUI thread): the floor under the app's cpu_streaming_percent that the baseline, which has "
    "no window, does not have. In the app column.",
    "cpu_idle_percent": "connected, mic open, nothing happening; same reading over the window.",
    "cpu_idle_preroll_off_percent": "app only, one more session per run with the pre-roll set to 0 ms (the "
    "microphone then closes between turns): connected, nothing happening; same reading over the window.",
    "cpu_open_mic_floor_percent": "neither client: benchmarks/open_mic.py holds the default microphone open "
    "through the same stack (sounddevice, PortAudio, ALSA's pulse plugin) with an empty callback, at the app's "
    "microphone block (app column) and at the baseline's 50 ms (baseline column); same reading. The floor under "
    "each client's idle figure: what an open microphone costs before any of the client's own code runs.",
    "key_up_to_commit_ms": "key up (app: `xdotool keyup space` has returned, so the X server has the key; the "
    "~15 ms xdotool takes to start are left out; baseline: just before `up` is written to its stdin) to the "
    "proxy reading `input_audio_buffer.commit`. One from the streamed turn and one per barge-in turn. The app "
    "captures its 200 ms release tail (default setting, so the last syllable is not clipped) before committing, "
    "on purpose; the tail counts from the key (what the device has heard since its last block is added) and "
    "ends on the block boundary nearest to 200 ms after it (175-225 ms with 50 ms blocks), so the figure is that "
    "tail, less the input latency, plus the sender's wake-up. The baseline commits at once, with no tail.",
    "barge_in_to_silence_ms": "while the answer plays (at least 1 s after its first audio reached the proxy, "
    "and once the speaker has carried speech for the last 0.3 s, so the key never lands in a pause between "
    "phrases), key down and hold for --barge-hold s; speaker.monitor recorded with pacat (10 ms fragments, each "
    "stamped on arrival); time from the key down to the arrival of the last audible sample (|x| > 64) before "
    "the key came up. Counted only when audio was arriving in the 150 ms before the key; a barge-in whose "
    "answer still sounded at key up is listed under errors, not counted. Chirps play into the microphone while "
    "the key is held, so each barge-in is a turn with something in it (the app sends no silent turn).",
    "mic_to_wire_ms": "chirps (10 ms, 1.5-7 kHz) at uneven 200-348 ms gaps played into the virtual mic while the "
    "key is held; each is found by normalized cross-correlation both in a reference recording of the mic "
    "(pacat, 10 ms fragments) and in the base64-decoded PCM16 appended on the wire; its time in each stream is "
    "the arrival of the chunk holding its first sample (proxy read time for the wire); figure = wire - "
    "reference, pooled over all markers and runs.",
    "rss_after_turns_mib": "VmRSS from /proc/<pid>/status after the streamed turn, the barge-in turns and the "
    "last answer have finished playing.",
    "peak_rss_mib": "VmHWM at the same moment.",
    "launch_to_session_update_ms": "process launch to the proxy reading the client's `session.update` (the app "
    "under Xvfb with a real window; the baseline headless).",
    "gui_ping_ms": "app only: X11 _NET_WM_PING round trips every 50 ms, answered by Qt on its GUI thread (where "
    "the qasync asyncio loop also runs), from the end of the streaming CPU window (key still held, chirps "
    "playing, level meter moving) through the answers, barge-ins and the last answer; includes the X round trip "
    "(about 0.1 ms on an idle Qt window).",
    "gui_lag_streaming_ms": "app only: those of the gui_ping_ms round trips sent while the streamed turn's key was "
    "still held, after the streaming CPU window (--ping-while-held s): the microphone streaming to the wire and "
    "the level meter rendering; the GUI thread's lag an input event meets then.",
    "launch_to_first_paint_ms": "app only: benchmarks/startup.py's measurement (offscreen, --demo), one "
    "fresh process per run.",
    "launch_to_first_paint_qt_floor_ms": "neither client: benchmarks/qt_window.py --first-paint, an empty PySide6 "
    "window launched and timed the same way, alternating with the app's runs: Python, PySide6's import and Qt's "
    "start-up, the floor under the app's launch_to_first_paint_ms that no code of the app can remove. In the app "
    "column.",
}


NOT_MEASURED = {
    "where_the_apps_key_up_to_commit_goes": "the release tail, the input latency and the sender's wake-up cannot "
    "be told apart from outside; only their sum is on the wire.",
    "rendering_share_of_the_apps_streaming_cpu": "/proc gives one figure per process; splitting the level "
    "meter's painting from the audio path needs a hook or a variant run.",
    "baseline_gui_figures": "the baseline has no window: no first paint and no GUI-thread lag.",
}
#: The app hook this benchmark uses: VOICELIVE_AUDIO_TIMINGS=<file> (voicelive_desktop/audio/timings.py), the
#: callback figures from inside the running app. Hooks that could still be added:
HOOKS = [
    "VOICELIVE_TRACE=<file>: append one JSON line per mark, stamped with time.monotonic() (the clock the harness "
    "and proxy use): key press and release seen in MainWindow.eventFilter, talk_released emitted after the "
    "debounce (MainWindow._key_released), Assistant.press/Assistant.release entered, Capture.release() (tail "
    "starts), the tail's last chunk read in Capture.turn_audio, VoiceLiveSession.end_turn queuing the commit, "
    "Playback.flush() called, and the first Playback callback that applied the flush (stored into a preallocated "
    "slot by the callback, written from the loop), first answer audio received.",
    "No hook needed for GUI-thread lag: the X11 _NET_WM_PING probe (benchmarks/x11_ping.py) measures it from "
    "outside. Under Wayland or offscreen it cannot; there, VOICELIVE_LOOP_LAG=1 in app.py could run one asyncio "
    "task that sleeps 20 ms and records the oversleep in a preallocated array, logged at shutdown.",
]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out["pulseaudio"] = subprocess.run(
            ["pulseaudio", "--version"], check=False, capture_output=True, text=True
        ).stdout.split()[-1]
    return out


def _startup(runs: int) -> tuple[list[float], list[float]]:
    """The app's launch to first paint, and an empty PySide6 window's (the floor), alternating, ``runs`` each."""
    from .startup import alternating

    settings = Path(tempfile.mkdtemp(prefix="vl-bench-startup-")) / "settings.toml"
    try:
        return alternating(settings, runs)
    finally:
        shutil.rmtree(settings.parent, ignore_errors=True)


def _callbacks_reference() -> dict[str, Any] | None:
    path = ROOT / "benchmarks" / "results" / "audio_callbacks.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return {
        "source": "benchmarks/results/audio_callbacks.json (python -m benchmarks.audio_callbacks), last committed "
        + (_git("log", "-1", "--format=%h %cs", "--", str(path)) or "?"),
        "setting": f"{data.get('seconds')} s, {data.get('cores_busy')} cores kept busy, app Capture/Playback "
        "classes alone (no GUI, no connection), 20 ms blocks",
        "capture": data.get("capture"),
        "playback": data.get("playback"),
    }


def main() -> None:
    """Run both clients, write benchmarks/results/compare.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="sessions per client (default 3)")
    parser.add_argument("--window", type=float, default=10.0, help="CPU measuring window, s (default 10)")
    parser.add_argument("--settle", type=float, default=1.5, help="wait after connecting, s")
    parser.add_argument("--ping-while-held", type=float, default=3.0, help="key held after the CPU window, s")
    parser.add_argument("--barge-ins", type=int, default=2, help="interruptions per session")
    parser.add_argument(
        "--barge-after", type=float, default=1.0, help="interrupt no sooner than this after answer audio"
    )
    parser.add_argument("--barge-hold", type=float, default=1.0, help="hold the key this long when interrupting")
    parser.add_argument("--app-block-ms", type=int, help="the app's block size setting (default: the app's, 50)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "compare.json")
    args = parser.parse_args()

    started = time.monotonic()
    report: dict[str, Any] = {
        "benchmark": "compare",
        "note": NOTE,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        # changed files other than the benchmarks' own results (a re-run rewrites those)
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")),
        "machine": procfs.machine(),
        "python": platform.python_version(),
        "packages": _versions(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "clients": {
            "app": "python -m voicelive_desktop --endpoint <proxy> --model gpt-realtime, API key from the "
            "environment, fresh settings file (defaults: 50 ms microphone blocks, 10 ms speaker blocks, mic kept "
            "open, 300 ms pre-roll, 200 ms release tail; --app-block-ms sets the block setting), real X window on "
            "Xvfb with key auto-repeat on, Space held with xdotool, VOICELIVE_AUDIO_TIMINGS set",
            "baseline": "python -m benchmarks.baseline_client: the Voice Live quickstart's audio pattern (50 ms "
            "blocks, one run_coroutine_threadsafe(append) per block from the audio thread, queue-fed playback "
            "callback, no rendering) on sounddevice (PyAudio has no Linux wheel), push-to-talk over stdin",
        },
    }
    log("launch to first paint (benchmarks.startup) ...")
    paints, paint_floors = _startup(args.runs)

    pulse = PrivatePulse(prefix="vl-bench-pulse-")
    xvfb: Xvfb | None = None
    services: dict[str, Service] = {}
    samples: dict[str, dict[str, list[Any]]] = {"app": {}, "baseline": {}}
    errors: list[str] = []
    timings_dir = Path(tempfile.mkdtemp(prefix="vl-bench-timings-"))
    baseline_callbacks: list[dict[str, Any]] = []
    app_callbacks: list[dict[str, Any]] = []
    try:
        pulse.start()
        xvfb = Xvfb()
        services = {name: Service(pulse.run_env()) for name in ("app", "baseline")}
        for run in range(args.runs):
            order = ("app", "baseline") if run % 2 == 0 else ("baseline", "app")
            for name in order:
                log(f"run {run + 1}/{args.runs}: {name}")
                endpoint = services[name].proxy.endpoint
                client: Client
                timings = timings_dir / f"{name}-{run}.json"
                if name == "app":
                    client = AppClient(endpoint, xvfb.display, pulse.env, timings, args.app_block_ms)
                else:
                    client = BaselineClient(endpoint, pulse.env, timings)
                session = Session(client, services[name], pulse, args)
                _run_session(session, session.run, f"{name} run {run + 1}", samples[name], errors)
                if name == "baseline" and timings.exists():
                    baseline_callbacks.append(json.loads(timings.read_text()))
                elif timings.exists():
                    app_callbacks.extend(json.loads(line) for line in timings.read_text().splitlines())
            log(f"run {run + 1}/{args.runs}: app, idle with the pre-roll off")
            quiet = Session(
                AppClient(services["app"].proxy.endpoint, xvfb.display, pulse.env, preroll_ms=0),
                services["app"],
                pulse,
                args,
            )
            _run_session(quiet, quiet.run_idle_only, f"app (pre-roll off) run {run + 1}", samples["app"], errors)
            for name, block_ms in (("app", args.app_block_ms or AudioSettings().block_ms), ("baseline", 50)):
                log(f"run {run + 1}/{args.runs}: an open microphone alone, {block_ms} ms blocks ({name}'s floor)")
                floor = Session(OpenMicClient(pulse.env, block_ms), services[name], pulse, args)
                what = f"open microphone ({name}) run {run + 1}"
                _run_session(floor, floor.run_open_only, what, samples[name], errors)
            log(f"run {run + 1}/{args.runs}: an empty Qt window with the key held (the app's held-key floor)")
            window = Session(QtWindowClient(xvfb.display), services["app"], pulse, args)
            _run_session(window, window.run_held_key_only, f"empty Qt window run {run + 1}", samples["app"], errors)
    finally:
        for service in services.values():
            service.stop()
        if xvfb is not None:
            xvfb.stop()
        pulse.stop()
        shutil.rmtree(timings_dir, ignore_errors=True)

    figures: dict[str, Any] = {}
    for key, how in HOW.items():
        if key == "launch_to_first_paint_ms":
            app_stats, base_stats = _stats(paints), None
        elif key == "launch_to_first_paint_qt_floor_ms":
            app_stats, base_stats = _stats(paint_floors), None
        else:
            app_stats, base_stats = _stats(samples["app"].get(key, [])), _stats(samples["baseline"].get(key, []))
        entry: dict[str, Any] = {"app": app_stats, "baseline": base_stats}
        if base_stats is not None:
            entry["ratio_median"] = _ratio(app_stats, base_stats, "median")
            entry["ratio_p99"] = _ratio(app_stats, base_stats, "p99")
        entry["how"] = how
        figures[key] = entry
    figures["gui_ping_ms"]["pings_lost"] = sum(samples["app"].get("gui_ping_lost", []))
    figures["cpu_streaming_percent"]["app_above_its_qt_floor"] = _above_floor(
        figures["cpu_streaming_percent"], figures["cpu_held_key_qt_floor_percent"]
    )
    figures["launch_to_first_paint_ms"]["app_above_its_qt_floor"] = _above_floor(
        figures["launch_to_first_paint_ms"], figures["launch_to_first_paint_qt_floor_ms"]
    )
    figures["mic_to_wire_ms"]["markers"] = {name: samples[name].get("markers", []) for name in samples}
    report["figures"] = figures
    report["threads"] = {
        "how": THREADS_HOW,
        **{
            name: {
                phase: _thread_medians(samples[name].get(f"threads_{phase}", []))
                for phase in ("idle", "streaming", "idle_preroll_off", "open_mic_floor", "held_key_qt_floor")
                if samples[name].get(f"threads_{phase}")
            }
            for name in samples
        },
    }
    report["audio_callbacks"] = {
        "note": "each client times its own callbacks during the real sessions above (no load added): the app "
        "through VOICELIVE_AUDIO_TIMINGS (one line per stream opened; the speaker is suspended between answers, "
        "and its pauses are not counted as periods), the baseline with --timings. Block sizes differ (app: "
        "microphone 50 ms by default, speaker 10 ms; baseline: 50 ms both), so there is no ratio.",
        "app_in_sessions": app_callbacks,
        "baseline_in_sessions": baseline_callbacks,
        "app_reference": _callbacks_reference(),
    }
    report["not_measured"] = NOT_MEASURED
    report["suggested_app_hooks"] = HOOKS
    report["errors"] = errors
    report["seconds_taken"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["figures"], indent=2))
    log(f"wrote {args.out} in {report['seconds_taken']} s")


if __name__ == "__main__":
    main()
