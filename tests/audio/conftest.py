"""Fixtures for tests on real PortAudio against the private PulseAudio."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

from voicelive_desktop.audio.backend import load_sounddevice


@pytest.fixture
def sd(pulse: Any) -> ModuleType:
    """The real sounddevice module, talking to the private PulseAudio."""
    return load_sounddevice()


def best_alignment(source: np.ndarray, captured: np.ndarray) -> tuple[int, float]:
    """Offset of ``captured`` inside ``source`` (or vice versa, negative) and the normalized correlation there."""
    a = source.astype(np.float64)
    b = captured.astype(np.float64)
    n = len(a) + len(b)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    lag = int(np.argmax(corr))
    if lag > size // 2:
        lag -= size
    if lag >= 0:
        x, y = a[lag:], b
    else:
        x, y = a, b[-lag:]
    m = min(len(x), len(y))
    x, y = x[:m], y[:m]
    denom = np.sqrt(np.dot(x, x) * np.dot(y, y))
    return lag, float(np.dot(x, y) / denom) if denom else 0.0


def dominant_frequency(samples: np.ndarray, rate: int = 24000) -> float:
    """The strongest frequency in ``samples``."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def loud_ms(samples: np.ndarray, threshold: int = 2000, rate: int = 24000) -> float:
    """How long (ms) the signal is above ``threshold``, counted in 5 ms windows."""
    win = rate // 200
    frames = samples[: len(samples) // win * win].reshape(-1, win)
    return float(np.sum(np.abs(frames).max(axis=1) > threshold) * 5)
