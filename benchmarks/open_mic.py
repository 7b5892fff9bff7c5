"""The cost floor of an open microphone: a process that only holds a capture stream open, doing nothing with it.

    .venv/bin/python -m benchmarks.open_mic --block-ms 40

It opens the default input as the app and the baseline client do (sounddevice's raw stream at 24 kHz mono int16,
low latency; PortAudio, ALSA's pulse plugin, libpulse) with the given block, runs an empty Python callback, prints
``ready`` and waits until its stdin closes. ``benchmarks.compare`` measures its CPU like a client's: the part of
an idle app's CPU (microphone kept open for the pre-roll) that no code of the app can remove, short of closing
the microphone or changing its block.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import sounddevice as sd


def _nothing(indata: Any, frames: int, time: Any, status: Any) -> None:
    """The emptiest callback PortAudio can call."""


def main() -> None:
    """Hold the stream open until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--block-ms", type=int, default=40, help="the stream's block, ms (default 40)")
    args = parser.parse_args()
    stream = sd.RawInputStream(
        samplerate=24000, channels=1, dtype="int16", blocksize=24 * args.block_ms, latency="low", callback=_nothing
    )
    with stream:
        print("ready", flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
