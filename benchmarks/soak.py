"""Soak: hundreds of turns at the emulator's fastest pace, with a reconnect every few turns; nothing may grow.

    .venv/bin/python -m benchmarks.soak [--turns 300] [--reconnect-every 25]

The app's services run as the app builds them (supervisor, turn engine, the history on its own thread),
text only so that answers need not be played in real time, against an emulator in a process of its own (its
record of the traffic would otherwise count as the app's memory) at its fastest pace.
Every ``--reconnect-every`` turns the link is dropped under the app, which reconnects and carries the
conversation on. Resident memory, open file descriptors, threads and asyncio tasks are sampled every
``--sample-every`` turns; the figures and their growth over the second half of the run go to
benchmarks/results/soak.json. Not part of CI: it takes minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _growth(samples: list[dict[str, Any]], key: str) -> float:
    """Least-squares slope of ``key`` per 100 turns over the second half (after warm-up)."""
    half = samples[len(samples) // 2 :]
    if len(half) < 2:
        return 0.0
    xs = [s["turn"] for s in half]
    ys = [s[key] for s in half]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mean_x) ** 2 for x in xs)
    return 100 * sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


async def soak(turns: int, reconnect_every: int, sample_every: int) -> dict[str, Any]:
    """Run the turns; returns the figures."""
    import aiohttp

    from voicelive_desktop.assistant_events import TurnState
    from voicelive_desktop.conversation.transcript import Role
    from voicelive_desktop.keystore import SecretStore
    from voicelive_desktop.services import build_services
    from voicelive_desktop.settings import Settings, SettingsStore

    key = "soak-key-0000"
    port = _free_port()
    service = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, "-m", "voicelive_desktop.emulator", "--port", str(port), "--api-key", key,
         "--realtime-factor", "1000", "--transcript-order", "before"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip
    assert service.stdout is not None
    service.stdout.readline()  # "listening"
    endpoint = f"http://127.0.0.1:{port}"
    folder = Path(tempfile.mkdtemp(prefix="vl-soak-"))
    settings = Settings()
    settings.connection.endpoint = endpoint
    os.environ["AZURE_VOICELIVE_API_KEY"] = key
    controller = build_services(
        lambda _event: None,
        SettingsStore(folder / "settings.toml"),
        settings.copy(),
        settings,
        demo=False,
        secrets=SecretStore(),
        with_audio=False,
        history_path=folder / "history.sqlite3",
    )
    await controller.start()
    assistant = controller.assistant
    samples: list[dict[str, Any]] = []
    reconnects = 0
    started = time.monotonic()
    turn_times: list[float] = []
    try:
        for turn in range(1, turns + 1):
            if reconnect_every and turn % reconnect_every == 0:
                async with aiohttp.ClientSession() as http:
                    await http.post(f"{endpoint}/emulator/actions", json={"action": "drop"})
                reconnects += 1
                while controller.supervisor.connected:
                    await asyncio.sleep(0.005)
            while not controller.supervisor.connected:
                await asyncio.sleep(0.01)
            answers = sum(m.role is Role.ASSISTANT for m in assistant.conversation.messages)
            began = time.monotonic()
            assistant.send_text(f"turn {turn}")
            while not (
                sum(m.role is Role.ASSISTANT and m.final for m in assistant.conversation.messages) > answers
                and assistant.turn is TurnState.IDLE
            ):
                await asyncio.sleep(0.002)
            turn_times.append(time.monotonic() - began)
            if turn % sample_every == 0 or turn == 1:
                gc.collect()
                samples.append(
                    {
                        "turn": turn,
                        "rss_mib": round(_rss_mib(), 2),
                        "open_fds": _fds(),
                        "threads": threading.active_count(),
                        "asyncio_tasks": len(asyncio.all_tasks()),
                        "seconds": round(time.monotonic() - started, 2),
                    }
                )
    finally:
        await controller.close()
        async with aiohttp.ClientSession() as http:
            state = await (await http.get(f"{endpoint}/emulator/state")).json()
        service.terminate()
        service.wait(10)
    return {
        "turns": turns,
        "reconnects": reconnects,
        "connections_opened": len(state["connections"]),
        "seconds": round(time.monotonic() - started, 1),
        "turn_seconds_median": round(statistics.median(turn_times), 4),
        "samples": samples,
        "growth_per_100_turns_second_half": {
            key: round(_growth(samples, key), 3) for key in ("rss_mib", "open_fds", "threads", "asyncio_tasks")
        },
        "messages_in_conversation": len(assistant.conversation.messages),
    }


def main() -> None:
    """Parse flags, run, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--reconnect-every", type=int, default=25)
    parser.add_argument("--sample-every", type=int, default=25)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "soak.json")
    args = parser.parse_args()
    figures = asyncio.run(soak(args.turns, args.reconnect_every, args.sample_every))
    result = {
        "benchmark": "soak",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "git_commit": _commit(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
        "note": "text-only turns (answers are not played); growth is a least-squares slope over the second half",
        **figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("turns", "reconnects", "seconds", "growth_per_100_turns_second_half")}))


if __name__ == "__main__":
    main()
