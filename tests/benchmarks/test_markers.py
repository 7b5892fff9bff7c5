"""The comparison's signal logic on synthetic audio: markers found and paired, silence found after a key."""

from __future__ import annotations

import numpy as np

from benchmarks.markers import (
    RATE,
    chirp,
    find_markers,
    marker_train,
    match_markers,
    sample_times,
    silence_after,
)
from voicelive_desktop.devtools.pulse import stamped_stream

GAPS = [200.0 + 37.0 * (k % 5) for k in range(12)]


def test_markers_are_found_where_they_were_put_even_in_noise() -> None:
    train, onsets = marker_train(GAPS)
    noise = np.random.default_rng(7).normal(0, 400, len(train) + 1000)
    signal = (noise + np.pad(train, (1000, 0)).astype(np.float64)).clip(-32768, 32767).astype(np.int16)

    found = find_markers(signal, chirp())

    assert found == [o + 1000 for o in onsets]


def test_silence_and_speech_like_noise_hold_no_markers() -> None:
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.int16)

    assert find_markers(np.zeros(RATE, dtype=np.int16), chirp()) == []
    assert find_markers(tone, chirp()) == []


def test_markers_pair_across_streams_that_start_at_different_points() -> None:
    _, onsets = marker_train(GAPS)
    seen = [o + 5000 for o in onsets[3:]]  # started later, missed the first three

    pairs = match_markers(onsets, seen)

    assert pairs == [(i + 3, i) for i in range(len(seen))]


def test_a_marker_one_interval_off_is_not_paired_with_the_wrong_one() -> None:
    _, onsets = marker_train(GAPS)
    seen = [o + 4800 for o in onsets]  # 200 ms: the shortest gap, a tempting wrong alignment

    assert match_markers(onsets, seen) == [(i, i) for i in range(len(onsets))]


def test_a_sample_takes_the_arrival_time_of_the_chunk_holding_it() -> None:
    chunks = [(10.0, b"\x00" * 960), (10.02, b"\x00" * 480), (10.05, b"\x00" * 960)]
    _, times, starts = stamped_stream(chunks)

    assert list(starts) == [0, 480, 720]
    assert list(sample_times([0, 479, 480, 719, 720, 1199], times, starts)) == [10.0, 10.0, 10.02, 10.02, 10.05, 10.05]


def _speaker(
    sound_until_chunk: int, chunks: int = 100, start: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10 ms chunks arriving every 10 ms; a tone until ``sound_until_chunk``, silence after."""
    pieces = []
    for k in range(chunks):
        level = 3000 if k < sound_until_chunk else 0
        pieces.append((start + k * 0.01, (np.full(240, level, dtype=np.int16)).tobytes()))
    return stamped_stream(pieces)


def test_silence_is_timed_from_the_key_to_the_last_audible_chunk() -> None:
    samples, times, starts = _speaker(sound_until_chunk=43)

    gone = silence_after(samples, times, starts, key_at=0.30, until=0.9)

    assert gone is not None and abs(gone - 0.12) < 1e-9  # chunk 42 arrived at 0.42 s


def test_sound_after_the_key_came_up_is_the_next_answer_and_is_ignored() -> None:
    samples, times, starts = _speaker(sound_until_chunk=100)

    gone = silence_after(samples, times, starts, key_at=0.30, until=0.5)

    assert gone is not None and abs(gone - 0.20) < 1e-9  # bounded by the key up: still sounding then


def test_nothing_sounding_at_the_key_gives_no_figure() -> None:
    samples, times, starts = _speaker(sound_until_chunk=10)

    assert silence_after(samples, times, starts, key_at=0.5, until=0.9) is None
