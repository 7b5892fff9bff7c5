"""The meter reads what a user would see: silence at the floor, a full-scale sine near -3 dBFS RMS."""

from __future__ import annotations

import numpy as np

from voicelive_desktop.audio.levels import SILENCE_DB, measure
from voicelive_desktop.audio.ring import as_frames


def test_silence_full_scale_and_half_scale() -> None:
    assert measure(as_frames(bytes(960))).rms_db == SILENCE_DB
    t = np.arange(4800) / 24000
    full = (32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    level = measure(as_frames(full.tobytes()))  # as the microphone's blocks come: int16 bytes
    assert abs(level.rms_db - (-3.01)) < 0.1
    assert abs(level.peak_db) < 0.1
    assert abs(measure(as_frames((full // 2).astype(np.int16))).peak_db - (-6.02)) < 0.1
