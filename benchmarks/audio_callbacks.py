"""Audio callback cost, period jitter, allocations and xruns on real PortAudio, with both cores busy.

    .venv/bin/python -m benchmarks.audio_callbacks --seconds 600
    .venv/bin/python -m benchmarks.audio_callbacks --seconds 60 --loop qasync --wake callback --out FILE

Runs a private PulseAudio (the tests' virtual microphone and speaker), opens capture and playback at 24 kHz
with 20 ms blocks, keeps a turn streaming the whole time (the sender reads the capture ring, the playback ring
is fed ahead of time), and writes benchmarks/results/audio_callbacks.json. Targets: callback p99 < 200 us,
zero xruns.

``--wake`` picks how the sender learns that a block is ready (``clock``: the app's; ``callback`` and ``poll``:
benchmarks/wake_variants.py), ``--loop qasync`` runs on the app's Qt event loop (offscreen) instead of plain
asyncio. Besides the callbacks, the run reports the process's CPU and the sender's lateness: from the end of
the callback that brought the newest frames to the moment the sender had them (benchmarks/sender_wake.py
compares the variants).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _burn(stop_at: float) -> None:
    x = 0
    while time.time() < stop_at:
        x += 1


class Timings:
    """Start and end of every callback, in preallocated arrays (no allocation while measuring)."""

    def __init__(self, capacity: int) -> None:
        self.start = np.zeros(capacity, dtype=np.int64)
        self.end = np.zeros(capacity, dtype=np.int64)
        self.n = 0
        self.status_flags = 0

    def wrap(self, callback: Any) -> Any:
        clock = time.perf_counter_ns

        def timed(data: Any, frames: int, time_info: Any, status: Any) -> None:
            i = self.n
            t0 = clock()
            callback(data, frames, time_info, status)
            if i < self.start.shape[0]:
                self.start[i] = t0
                self.end[i] = clock()
                self.n = i + 1
            if status:
                self.status_flags += 1

        return timed

    def summary(self, skip: int, until: int) -> dict[str, float]:
        start, end = self.start[skip:until], self.end[skip:until]
        dur_us = (end - start) / 1000
        period_ms = np.diff(start) / 1e6
        return {
            "callbacks": int(start.shape[0]),
            "duration_us_p50": round(float(np.percentile(dur_us, 50)), 1),
            "duration_us_p99": round(float(np.percentile(dur_us, 99)), 1),
            "duration_us_max": round(float(dur_us.max()), 1),
            "period_ms_median": round(float(np.median(period_ms)), 3),
            "period_ms_std": round(float(period_ms.std()), 3),
            "period_ms_p99": round(float(np.percentile(period_ms, 99)), 3),
            "xrun_status_flags": self.status_flags,
        }


def _capture_class(wake: str) -> Any:
    from voicelive_desktop.audio.capture import Capture

    from .wake_variants import CallbackWakeCapture, PollingCapture

    return {"clock": Capture, "callback": CallbackWakeCapture, "poll": PollingCapture}[wake]


def _ms_stats(values: Any) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(values, 50)), 3),
        "p99": round(float(np.percentile(values, 99)), 3),
        "max": round(float(values.max()), 3),
    }


async def _run(seconds: float, wake: str = "clock") -> dict[str, Any]:
    from voicelive_desktop.audio.backend import load_sounddevice
    from voicelive_desktop.audio.playback import Playback

    sd = load_sounddevice()
    blocks = int(seconds * 50) + 1500
    cap_t, play_t = Timings(blocks), Timings(blocks)
    capture = _capture_class(wake)(sd, preroll_ms=300)
    playback = Playback(sd, capacity_s=int(seconds) + 30)
    capture._callback = cap_t.wrap(capture._callback)
    playback._callback = play_t.wrap(playback._callback)  # type: ignore[method-assign]
    capture.stream._callback = capture._callback
    playback.stream._callback = playback._callback
    assert capture.open() and playback.open()
    t = np.arange(24000) / 24000
    second = (0.2 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).tobytes()
    playback.streaming = True
    for _ in range(int(seconds) + 20):
        playback.enqueue("bench", second)
    capture.begin_turn()
    sent = 0
    late_ns = np.zeros(blocks * 2, dtype=np.int64)
    reads = 0
    clock = time.perf_counter_ns

    async def sender() -> None:
        nonlocal sent, reads
        async for chunk in capture.turn_audio():
            n = cap_t.n
            if n and reads < late_ns.shape[0]:
                late_ns[reads] = clock() - cap_t.end[n - 1]
                reads += 1
            sent += len(chunk)

    task = asyncio.create_task(sender())
    warmup_s = 5.0
    await asyncio.sleep(warmup_s)
    timed_from = cap_t.n, play_t.n, reads
    waits0 = capture.sender_waits
    cpu0, wall0 = os.times(), time.monotonic()
    await asyncio.sleep(max(1.0, seconds - warmup_s))
    cpu1, wall1 = os.times(), time.monotonic()
    timed_until = cap_t.n, play_t.n, reads
    waits = capture.sender_waits - waits0
    # Allocation phase, after the timed one: tracemalloc slows every allocation and would skew the timings.
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    await asyncio.sleep(10.0)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    capture.release()
    await task
    capture.close()
    playback.close()
    audio_files = ("ring.py", "capture.py", "playback.py", "stream.py", "levels.py")
    grown = [s for s in after.compare_to(before, "lineno") if any(f in str(s.traceback) for f in audio_files)]
    cpu_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return {
        "wake": wake,
        "loop": type(asyncio.get_running_loop()).__name__,
        "process_cpu_percent": round(100 * cpu_s / (wall1 - wall0), 2),
        "sender_late_ms": _ms_stats(late_ns[timed_from[2] : timed_until[2]] / 1e6),
        "sender_reads_per_s": round((timed_until[2] - timed_from[2]) / (wall1 - wall0), 1),
        "sender_waits_per_read": round(waits / max(1, timed_until[2] - timed_from[2]), 2),
        "capture": {**cap_t.summary(timed_from[0], timed_until[0]), "ring_overflow_frames": capture.dropped_frames},
        "playback": {**play_t.summary(timed_from[1], timed_until[1]), "underruns": playback.underruns},
        "retained_bytes_in_audio_code_after_warmup": sum(max(0, s.size_diff) for s in grown),
        "retained_by_line": {str(s.traceback[0]): s.size_diff for s in grown if s.size_diff > 0},
        "sent_seconds": round(sent / 2 / 24000, 2),
    }


def _on_loop(kind: str, coro: Any) -> dict[str, Any]:
    if kind == "asyncio":
        result: dict[str, Any] = asyncio.run(coro)
        return result
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from voicelive_desktop.ui.eventloop import QtEventLoop

    app = QApplication.instance() or QApplication([])
    loop = QtEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        result = loop.run_until_complete(coro)
    return result


def main() -> None:
    """Run, print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--no-load", action="store_true", help="do not keep both cores busy")
    parser.add_argument("--wake", choices=("clock", "callback", "poll"), default="clock", help="sender wake-up")
    parser.add_argument("--loop", choices=("asyncio", "qasync"), default="asyncio", help="event loop to run on")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "audio_callbacks.json")
    args = parser.parse_args()

    from voicelive_desktop.devtools.pulse import PrivatePulse

    pulse = PrivatePulse()
    pulse.start()
    os.environ.update(pulse.env)
    burners: list[multiprocessing.Process] = []
    try:
        if not args.no_load:
            stop_at = time.time() + args.seconds + 20
            burners = [multiprocessing.Process(target=_burn, args=(stop_at,)) for _ in range(os.cpu_count() or 2)]
            for proc in burners:
                proc.start()
        figures = _on_loop(args.loop, _run(args.seconds, args.wake))
    finally:
        for proc in burners:
            proc.terminate()
        pulse.stop()
    report = {
        "benchmark": "audio_callbacks",
        "seconds": args.seconds,
        "cores_busy": 0 if args.no_load else os.cpu_count(),
        "block_ms": 20,
        "rate": 24000,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "system": platform.platform()},
        "targets": {"callback_p99_us": 200, "xruns": 0},
        **figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
