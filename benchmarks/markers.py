"""Pure signal logic for the comparison: markers played into the microphone, found again on the wire, and the
moment the speaker goes quiet. No I/O, no clocks: arrays in, numbers out (so it is cheap to test).

Timing convention: a stream is a list of chunks, each with the ``time.monotonic()`` at which it arrived (at the
proxy, or at a recorder reading the sound server). A sample's time is the arrival time of the chunk that holds
it: the first moment anything downstream could have known about it.
"""

from __future__ import annotations

import numpy as np

RATE = 24000


def chirp(ms: float = 10.0, f0: float = 1500.0, f1: float = 7000.0, amplitude: float = 0.6) -> np.ndarray:
    """A short rising sweep under a Hann window: sharp in time, unlike anything else the clients hear."""
    n = int(RATE * ms / 1000)
    t = np.arange(n) / RATE
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * t[-1]))
    out: np.ndarray = (amplitude * 32767 * np.hanning(n) * np.sin(phase)).astype(np.int16)
    return out


def marker_train(
    intervals_ms: list[float], lead_ms: float = 100.0, tail_ms: float = 100.0
) -> tuple[np.ndarray, list[int]]:
    """Silence with a chirp at each interval: (PCM16 samples, index of each chirp's first sample).

    Uneven intervals make the pattern unambiguous when it is matched against what came out of a client.
    """
    template = chirp()
    onsets, at = [], int(RATE * lead_ms / 1000)
    for gap in intervals_ms:
        onsets.append(at)
        at += int(RATE * gap / 1000)
    total = at + len(template) + int(RATE * tail_ms / 1000)
    out = np.zeros(total, dtype=np.int16)
    for o in onsets:
        out[o : o + len(template)] = template
    return out, onsets


def find_markers(
    samples: np.ndarray, template: np.ndarray, min_gap: int = RATE // 20, min_score: float = 0.8
) -> list[int]:
    """Indices where ``template`` starts in ``samples`` (normalized cross-correlation above ``min_score``).

    Only the best index within ``min_gap`` samples of another is kept.
    """
    x = samples.astype(np.float64)
    t = template.astype(np.float64)
    n, m = len(x), len(t)
    if n < m:
        return []
    size = 1 << int(np.ceil(np.log2(n + m)))
    corr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(t, size)), size)[: n - m + 1]
    power = np.concatenate(([0.0], np.cumsum(x * x)))
    local = np.sqrt(np.maximum(power[m:] - power[: n - m + 1], 1e-9))
    score = corr / (local * np.sqrt(np.sum(t * t)))
    found: list[int] = []
    for hit in np.flatnonzero(score > min_score):
        i = int(hit)
        if found and i - found[-1] < min_gap:
            if score[i] > score[found[-1]]:
                found[-1] = i
            continue
        found.append(i)
    return found


def match_markers(ref: list[int], seen: list[int], tolerance: int = RATE // 200) -> list[tuple[int, int]]:
    """Pair markers found in two streams of the same audio that start at different points.

    The two streams share one clock (the sound server's), so a marker's index differs by one constant offset
    between them. The offset that pairs the most markers (within ``tolerance`` samples) wins.

    Returns:
        (index into ``ref``, index into ``seen``) pairs.
    """
    best: list[tuple[int, int]] = []
    for offset in {s - r for r in ref for s in seen}:
        pairs = []
        j = 0
        for i, r in enumerate(ref):
            while j < len(seen) and seen[j] < r + offset - tolerance:
                j += 1
            if j < len(seen) and abs(seen[j] - (r + offset)) <= tolerance:
                pairs.append((i, j))
        if len(pairs) > len(best):
            best = pairs
    return best


def sample_times(indices: list[int] | np.ndarray, chunk_times: np.ndarray, chunk_starts: np.ndarray) -> np.ndarray:
    """Arrival time of the chunk holding each sample index."""
    k = np.searchsorted(chunk_starts, np.asarray(indices), side="right") - 1
    return chunk_times[np.clip(k, 0, len(chunk_times) - 1)]


def silence_after(
    samples: np.ndarray,
    chunk_times: np.ndarray,
    chunk_starts: np.ndarray,
    *,
    key_at: float,
    until: float,
    threshold: int = 64,
    sounding_within_s: float = 0.15,
) -> float | None:
    """Seconds from ``key_at`` until the last audible sample arrived before ``until``.

    None if nothing was sounding at ``key_at``: no audible sample arrived in the ``sounding_within_s`` before
    it. ``until`` bounds the search (the key came up then, and a new answer may start after it); a result
    close to ``until - key_at`` means the sound had not stopped by then.
    """
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if loud.size == 0:
        return None
    times = sample_times(loud, chunk_times, chunk_starts)
    before = (times >= key_at - sounding_within_s) & (times <= key_at)
    if not before.any():
        return None
    return float(times[times <= until][-1] - key_at)
