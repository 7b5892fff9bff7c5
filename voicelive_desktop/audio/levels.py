"""Level metering for the UI: RMS and peak in dBFS for a block of int16 frames."""

from __future__ import annotations

import math

from .ring import Frames
from .values import SILENCE_DB, Level

FULL_SCALE = 32768.0


def measure(frames: Frames) -> Level:
    """Loudness of ``frames``; silence reads as -96 dBFS.

    It runs up to about 30 times a second while the key is held, so it reads every other frame: at 24 kHz
    that is a 12 kHz look at speech, within a fraction of a dB of the full count for the meter, and a peak
    that a sound cannot slip past (about 20 us for a 40 ms block, half of counting all of it).
    """
    if not len(frames):
        return Level(SILENCE_DB, SILENCE_DB)
    samples = frames[::2].tolist()
    rms = math.hypot(*samples) / math.sqrt(len(samples)) / FULL_SCALE
    peak = max(max(samples), -min(samples)) / FULL_SCALE  # noqa: PLW3301 (two C loops, not one of 480 args)
    return Level(_db(rms), _db(peak))


def _db(value: float) -> float:
    return SILENCE_DB if value <= 10 ** (SILENCE_DB / 20) else max(SILENCE_DB, 20 * math.log10(value))
