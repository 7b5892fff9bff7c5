"""Speech and signals to play into the virtual microphone, and measurements of what came out of the speaker."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import numpy.typing as npt

from ..emulator.speech import espeak_wav_to_pcm

RATE = 24000


def espeak_pcm(text: str, rate: int = RATE) -> bytes:
    """Speech for ``text`` from espeak-ng as PCM16 mono at ``rate``.

    Raises:
        FileNotFoundError: espeak-ng is not installed (scripts/setup.sh installs it).
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed; run scripts/setup.sh (Debian package espeak-ng)")
    wav = subprocess.run([exe, "--stdout", text], check=True, capture_output=True).stdout
    return espeak_wav_to_pcm(wav, rate)


def tone(freq: float, seconds: float, amplitude: float = 0.4, rate: int = RATE) -> bytes:
    """A sine tone, PCM16 mono."""
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16).tobytes()


def _cross_correlation(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """sum(a[k + n] * b[n]) for every lag k, by FFT: lags 0.. first, negative lags wrapped to the end."""
    size = 1 << (len(a) + len(b) - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)


def best_alignment(source: npt.NDArray[np.int16], captured: npt.NDArray[np.int16]) -> tuple[int, float]:
    """Offset of ``captured`` inside ``source`` (or vice versa, negative) and the normalized correlation there."""
    a = source.astype(np.float64)
    b = captured.astype(np.float64)
    corr = _cross_correlation(a, b)
    size = len(corr)
    lag = int(np.argmax(corr))
    if lag > size - len(b):  # indices past the last lag at which ``captured`` still overlaps: negative lags
        lag -= size
    x, y = (a[lag:], b) if lag >= 0 else (a, b[-lag:])
    m = min(len(x), len(y))
    x, y = x[:m], y[:m]
    denom = np.sqrt(np.dot(x, x) * np.dot(y, y))
    return lag, float(np.dot(x, y) / denom) if denom else 0.0


def heard_until_ms(
    source: npt.NDArray[np.int16], played: npt.NDArray[np.int16], tail_ms: int = 400, rate: int = RATE
) -> tuple[float, float]:
    """How far into ``source`` (ms) the recording ``played`` got, and how well that was matched (0..1).

    The end of what was played (its last ``tail_ms`` of sound, from after its last stretch of digital silence)
    is looked for in ``source`` by normalised cross-correlation. Unlike the time from the first to the last
    audible sample, this does not count the silence a busy machine inserts when the speaker runs dry. A glitch
    inside the tail (a piece dropped or played twice) lowers the match of the whole tail, so its last half,
    quarter... (down to 50 ms) are tried in turn until one matches well; the position found is then off by at
    most the glitch's length. A source that repeats itself exactly (the emulator's tone fallback) can match at
    the wrong repeat: use speech.
    """
    loud = np.flatnonzero(np.abs(played.astype(np.int32)) > 500)
    if loud.size == 0:
        return 0.0, 0.0
    end = int(loud[-1]) + 1
    start = max(0, end - rate * tail_ms // 1000)
    quiet = np.abs(played[start:end].astype(np.int32)) <= 8
    run = rate // 50  # 20 ms of digital silence: an underrun (or a pause) inside the tail
    silent_runs = np.flatnonzero(np.convolve(quiet, np.ones(run, dtype=np.int32), "valid") == run)
    if silent_runs.size and end - (start + int(silent_runs[-1]) + run) >= rate // 10:
        start += int(silent_runs[-1]) + run  # keep the last 100 ms or more of uninterrupted sound
    a = source.astype(np.float64)
    energy = np.concatenate(([0.0], np.cumsum(a * a)))
    best = (0.0, 0.0)
    m = end - start
    while m > 0:  # the whole tail first, then its last half, quarter... down to 50 ms: a glitch splits it
        tail = played[end - m : end].astype(np.float64)
        if len(a) >= m:
            corr = _cross_correlation(a, tail)[: len(a) - m + 1]  # the lags at which the tail lies wholly inside
            window = np.sqrt(np.maximum(energy[m:] - energy[:-m], 1e-9))
            score = corr / (window * max(float(np.sqrt(np.dot(tail, tail))), 1e-9))
            lag = int(np.argmax(score))
            found = ((lag + m) * 1000 / rate, float(score[lag]))
            if found[1] >= 0.9:
                return found
            best = max(best, found, key=lambda f: f[1])
        m = m // 2 if m >= rate // 10 else 0
    return best


def dominant_frequency(samples: npt.NDArray[np.int16], rate: int = RATE) -> float:
    """The strongest frequency in ``samples``."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def loud_ms(samples: npt.NDArray[np.int16], threshold: int = 2000, rate: int = RATE) -> float:
    """How long (ms) the signal is above ``threshold``, counted in 5 ms windows."""
    win = rate // 200
    frames = samples[: len(samples) // win * win].reshape(-1, win)
    return float(np.sum(np.abs(frames).max(axis=1) > threshold) * 5)


def matching_share(
    source: npt.NDArray[np.int16], captured: npt.NDArray[np.int16], window_ms: int = 100, rate: int = RATE
) -> float:
    """The share of ``source``'s loud windows found in ``captured`` (correlation 0.95 or more, once aligned).

    A real audio path on a busy machine can drop a block; a global correlation then falls for one glitch. This
    counts how much of what was said came through intact, which is what a listener would judge.
    """
    lag, _ = best_alignment(source, captured)
    a, b = (source[lag:], captured) if lag >= 0 else (source, captured[-lag:])
    win = rate * window_ms // 1000
    total = matched = 0
    for start in range(0, min(len(a), len(b)) - win + 1, win):
        x = a[start : start + win].astype(np.float64)
        if np.abs(x).max() < 1000:
            continue  # silence matches anything
        total += 1
        best = 0.0
        for shift in range(-win // 4, win // 4 + 1, max(1, win // 40)):  # a dropped block shifts what follows
            lo = start + shift
            if lo < 0 or lo + win > len(b):
                continue
            y = b[lo : lo + win].astype(np.float64)
            denom = np.sqrt(np.dot(x, x) * np.dot(y, y))
            best = max(best, float(np.dot(x, y) / denom) if denom else 0.0)
        matched += best >= 0.95
    return matched / total if total else 0.0
