"""How the microphone's sender should learn that a block is ready: the variants side by side, with both cores busy.

    .venv/bin/python -m benchmarks.sender_wake --seconds 60 --repeats 2

Runs ``benchmarks.audio_callbacks --loop qasync`` (the app's Qt event loop, offscreen, both cores kept busy)
once per variant and repeat, alternating the order, each in a fresh process, and writes
benchmarks/results/sender_wake.json: per variant, the process's CPU, the sender's lateness (end of the
callback that brought the newest frames to the sender having them) and the capture callback's duration and
period. ``clock`` is what the app does (audio/capture.py); ``callback`` and ``poll`` are in
benchmarks/wake_variants.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("clock", "callback", "poll")


def one(wake: str, seconds: float) -> dict[str, Any]:
    """One run of one variant in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="vl-bench-wake-") as tmp:
        out = Path(tmp) / "figures.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.audio_callbacks",
                "--seconds",
                str(seconds),
                "--loop",
                "qasync",
                "--wake",
                wake,
                "--out",
                str(out),
            ],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=seconds + 120,
        )
        data: dict[str, Any] = json.loads(out.read_text())
    cap = data["capture"]
    return {
        "process_cpu_percent": data["process_cpu_percent"],
        "sender_late_ms_p50": data["sender_late_ms"]["p50"],
        "sender_late_ms_p99": data["sender_late_ms"]["p99"],
        "sender_late_ms_max": data["sender_late_ms"]["max"],
        "capture_callback_us_p50": cap["duration_us_p50"],
        "capture_callback_us_p99": cap["duration_us_p99"],
        "capture_callback_us_max": cap["duration_us_max"],
        "capture_period_ms_p99": cap["period_ms_p99"],
        "xrun_status_flags": cap["xrun_status_flags"] + data["playback"]["xrun_status_flags"],
    }


def main() -> None:
    """Run every variant ``--repeats`` times; write the runs and their medians."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sender_wake.json")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for r in range(args.repeats):
        order = VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS))
        for wake in order:
            print(f"[sender_wake {time.strftime('%H:%M:%S')}] {wake} {r + 1}/{args.repeats}", file=sys.stderr)
            runs[wake].append(one(wake, args.seconds))
    medians = {
        wake: {key: round(statistics.median(run[key] for run in rs), 3) for key in rs[0]} for wake, rs in runs.items()
    }
    report = {
        "benchmark": "sender_wake",
        "what": "how the sender learns a microphone block is ready, on the app's qasync loop with both cores busy "
        "(24 kHz, 20 ms blocks, playback streaming too); clock: sleep until the device's next block is due "
        "(the app's); callback: loop.call_soon_threadsafe from the callback, once per block while the sender "
        "waits; poll: look once per block on a fixed timer",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seconds_per_run": args.seconds,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "system": platform.platform()},
        "medians": medians,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(medians, indent=2))


if __name__ == "__main__":
    main()
