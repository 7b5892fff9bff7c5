"""Time from launching the app to its window's first paint (demo mode).

    .venv/bin/python -m benchmarks.startup --runs 7

Launches ``python -m voicelive_desktop --demo`` offscreen (fresh process each run), reads the app's own
"first paint" log line (measured from the launch instant this script passes in), and writes
benchmarks/results/startup.json with the median and spread. Target: first paint under 1 s.

It also times the floor under that figure, an empty PySide6 window (``benchmarks.qt_window --first-paint``) launched
the same way: Python, PySide6's import and Qt's start-up, before any code of the app runs. Machines differ by a
factor of three in both; the app's time above the floor is the part its own code decides.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAINT = re.compile(r"first paint after (\d+) ms in main\(\), (\d+) ms after launch")
FLOOR_PAINT = re.compile(r"first paint after (\d+) ms after launch")


def _launch_ms(argv: list[str], pattern: re.Pattern[str], group: int) -> float:
    """Run ``argv`` offscreen with the launch instant in VOICELIVE_LAUNCHED_AT; the milliseconds its output's
    ``pattern`` reports (``group``), from standard error or output."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "VOICELIVE_LAUNCHED_AT": repr(time.time())}
    out = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    match = pattern.search(out.stderr) or pattern.search(out.stdout)
    if match is None:
        raise RuntimeError(f"no first-paint line from {argv}:\n{out.stdout[-1000:]}{out.stderr[-2000:]}")
    return float(match.group(group))


def one_run(settings: Path) -> float:
    """Milliseconds from launch to first paint, for one fresh process."""
    history = settings.with_name("history.sqlite3")
    app = ["-m", "voicelive_desktop", "--demo", "--quit-after", "1.5", "--settings", str(settings)]
    return _launch_ms([sys.executable, *app, "--history", str(history)], PAINT, 2)


def floor_run() -> float:
    """Milliseconds from launch to first paint for an empty PySide6 window, in a fresh process."""
    return _launch_ms([sys.executable, "-m", "benchmarks.qt_window", "--first-paint"], FLOOR_PAINT, 1)


def alternating(settings: Path, runs: int) -> tuple[list[float], list[float]]:
    """``runs`` launches of the app and of the empty window each, alternating so that a busy moment weighs on both
    alike, after one of each that warms the file cache (not counted)."""
    one_run(settings)
    floor_run()
    paints: list[float] = []
    floors: list[float] = []
    for _ in range(runs):
        paints.append(one_run(settings))
        floors.append(floor_run())
    return paints, floors


def main() -> None:
    """Run, print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "startup.json")
    args = parser.parse_args()
    settings = Path(tempfile.mkdtemp()) / "settings.toml"
    runs, floors = alternating(settings, args.runs)
    report = {
        "benchmark": "startup",
        "what": "launch of `python -m voicelive_desktop --demo` to the main window's first paint (offscreen)",
        "runs_ms": runs,
        "median_ms": statistics.median(runs),
        "min_ms": min(runs),
        "max_ms": max(runs),
        "target_ms": 1000,
        "median_vs_target": round(statistics.median(runs) / 1000, 3),
        "qt_floor_runs_ms": floors,
        "qt_floor_median_ms": statistics.median(floors),
        "app_above_floor_median_ms": statistics.median(runs) - statistics.median(floors),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "system": platform.platform()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
