"""Audio callback cost, period jitter, allocations and xruns on real PortAudio, with both cores busy.

    .venv/bin/python -m benchmarks.audio_callbacks --seconds 600

Runs a private PulseAudio (the tests' virtual microphone and speaker), opens capture and playback at 24 kHz
with 20 ms blocks, keeps a turn streaming the whole time (the sender reads the capture ring, the playback ring
is fed ahead of time), and writes benchmarks/results/audio_callbacks.json. Targets: callback p99 < 200 us,
zero xruns.
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


async def _run(seconds: float) -> dict[str, Any]:
    from voicelive_desktop.audio.backend import load_sounddevice
    from voicelive_desktop.audio.capture import Capture
    from voicelive_desktop.audio.playback import Playback

    sd = load_sounddevice()
    blocks = int(seconds * 50) + 1500
    cap_t, play_t = Timings(blocks), Timings(blocks)
    capture = Capture(sd, preroll_ms=300)
    playback = Playback(sd, capacity_s=int(seconds) + 30)
    capture._callback = cap_t.wrap(capture._callback)  # type: ignore[method-assign]
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

    async def sender() -> None:
        nonlocal sent
        async for chunk in capture.turn_audio():
            sent += len(chunk)

    task = asyncio.create_task(sender())
    warmup_s = 5.0
    await asyncio.sleep(warmup_s)
    timed_until = cap_t.n, play_t.n
    await asyncio.sleep(max(1.0, seconds - warmup_s))
    timed_until = cap_t.n, play_t.n
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
    skip = int(warmup_s * 50)
    return {
        "capture": {**cap_t.summary(skip, timed_until[0]), "ring_overflow_frames": capture.dropped_frames},
        "playback": {**play_t.summary(skip, timed_until[1]), "underruns": playback.underruns},
        "retained_bytes_in_audio_code_after_warmup": sum(max(0, s.size_diff) for s in grown),
        "retained_by_line": {str(s.traceback[0]): s.size_diff for s in grown if s.size_diff > 0},
        "sent_seconds": round(sent / 2 / 24000, 2),
    }


def main() -> None:
    """Run, print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--no-load", action="store_true", help="do not keep both cores busy")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "audio_callbacks.json")
    args = parser.parse_args()

    from benchmarks.sound import PrivatePulse

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
        figures = asyncio.run(_run(args.seconds))
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
