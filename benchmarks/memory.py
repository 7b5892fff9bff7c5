"""Where the app's resident memory comes from: what each dependency adds when it is imported.

    .venv/bin/python -m benchmarks.memory [--runs 3]

Each run imports the app's dependencies one after another in a fresh process, in the order the app loads them,
and notes VmRSS (from /proc/self/status) after each; the difference is what that import added. sounddevice is
loaded as the app loads it (``audio.backend.load_sounddevice``): PortAudio starts and opens every ALSA plugin
the system's ALSA configuration names, and the app then unloads those it only probed. Writes
benchmarks/results/memory.json (medians over the runs).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
from pathlib import Path

from . import procfs

ROOT = Path(__file__).resolve().parent.parent

#: In the app's order: Qt and the window before the first paint, then the services.
STEPS = (
    ("PySide6.QtWidgets", "Qt widgets (and the app's entry module)"),
    ("voicelive_desktop.ui.main_window", "the window's own modules"),
    ("asyncio", "asyncio"),
    ("qasync", "qasync"),
    ("sounddevice", "sounddevice: PortAudio (the ALSA plugins it only probed are unloaded again)"),
    ("aiohttp", "aiohttp (the SDK's websocket)"),
    ("azure.core", "azure.core"),
    ("azure.ai.voicelive.aio", "the Voice Live SDK"),
    ("keyring", "keyring (the API key's store)"),
    ("sqlite3", "sqlite3 (history)"),
    ("voicelive_desktop.controller", "the rest of the app (controller, assistant, session, history)"),
)
#: Loaded only for a device that will not run at the session's rate (not counted in the app's total).
ON_DEMAND = (
    ("numpy", "numpy (only to resample, for a device that will not run at the session's rate)"),
    ("soxr", "soxr (the resampler)"),
)

PROBE = """
import importlib, json, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
out = [["python", rss()]]
for name in sys.argv[1:]:
    if name == "sounddevice":  # as the app loads it
        from voicelive_desktop.audio.backend import load_sounddevice
        load_sounddevice()
    else:
        importlib.import_module(name)
    if name == "PySide6.QtWidgets":  # as the app's main() does right after it: no source scan of later imports
        from voicelive_desktop.app import _skip_pyside_source_scan
        _skip_pyside_source_scan()
    out.append([name, rss()])
print(json.dumps(out))
"""


def one_run() -> list[tuple[str, int]]:
    """(module, VmRSS KiB after importing it) for one fresh process."""
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *[name for name, _ in STEPS + ON_DEMAND]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [(name, int(kib)) for name, kib in json.loads(result.stdout.strip().splitlines()[-1])]


def main() -> None:
    """Run, print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "memory.json")
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    rows = []
    for index, (name, what) in enumerate(STEPS + ON_DEMAND, start=1):
        added = [(run[index][1] - run[index - 1][1]) / 1024 for run in runs]
        rows.append({"import": name, "what": what, "added_mib": round(statistics.median(added), 1)})
    total = statistics.median(run[len(STEPS)][1] for run in runs) / 1024
    report = {
        "benchmark": "memory",
        "what": "VmRSS added by each import, in the app's order, in a fresh process (no window shown, nothing "
        "connected: the app's figure after a turn, in compare.json, adds Qt's window and the session)",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "runs": args.runs,
        "python_alone_mib": round(statistics.median(run[0][1] for run in runs) / 1024, 1),
        "steps": rows[: len(STEPS)],
        "total_mib": round(total, 1),
        "on_demand": rows[len(STEPS) :],
        "machine": procfs.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for row in rows[: len(STEPS)]:
        print(f"{row['added_mib']:6.1f} MiB  {row['what']}")
    print(f"{total:6.1f} MiB  in all (Python alone: {report['python_alone_mib']} MiB)")
    for row in rows[len(STEPS) :]:
        print(f"{row['added_mib']:6.1f} MiB  more, on demand: {row['what']}")


if __name__ == "__main__":
    main()
