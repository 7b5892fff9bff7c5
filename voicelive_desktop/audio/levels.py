"""Level metering for the UI: RMS and peak in dBFS for a block of int16 frames."""

from __future__ import annotations

import math

import numpy as np

from .ring import Frames
from .values import SILENCE_DB, Level


def measure(frames: Frames) -> Level:
    """Loudness of ``frames``; silence reads as -96 dBFS."""
    if frames.size == 0:
        return Level(SILENCE_DB, SILENCE_DB)
    as_float = frames.astype(np.float32) / 32768.0
    rms = math.sqrt(float(np.dot(as_float, as_float)) / frames.size)
    peak = float(np.max(np.abs(as_float)))
    return Level(_db(rms), _db(peak))


def _db(value: float) -> float:
    return SILENCE_DB if value <= 10 ** (SILENCE_DB / 20) else max(SILENCE_DB, 20 * math.log10(value))
