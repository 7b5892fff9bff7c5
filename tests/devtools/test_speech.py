"""The measuring tools the audio tests rely on tell the truth about known signals."""

from __future__ import annotations

import numpy as np
import pytest

from voicelive_desktop.devtools.speech import RATE, best_alignment, espeak_pcm, heard_until_ms

ANSWER = "You wrote: please tell me a long story about the sea. Once upon a time, a small boat sailed far away."


@pytest.fixture(scope="module")
def answer() -> np.ndarray:
    return np.frombuffer(espeak_pcm(ANSWER), np.int16)


@pytest.mark.parametrize("cut_ms", [420, 780, 1150, 2600, 4100])
def test_where_playback_stopped_is_found_in_the_answer(answer: np.ndarray, cut_ms: int) -> None:
    heard = answer[: RATE * cut_ms // 1000]
    heard_ms, match = heard_until_ms(answer, heard)
    loud = np.flatnonzero(np.abs(heard.astype(np.int32)) > 500)
    expected = (int(loud[-1]) + 1) * 1000 / RATE  # the cut, less any pause it fell in
    assert match > 0.9
    assert abs(heard_ms - expected) <= 2


def test_underrun_silence_does_not_count_as_heard(answer: np.ndarray) -> None:
    cut = RATE * 2 // 1
    heard = answer[:cut]
    gap = np.zeros(RATE // 8, dtype=np.int16)  # 125 ms of underrun silence, one of them inside the tail
    late = cut - RATE // 10
    played = np.concatenate([heard[: RATE // 2], gap, heard[RATE // 2 : late], gap, heard[late:]])
    loud = np.flatnonzero(np.abs(heard.astype(np.int32)) > 500)
    heard_ms, match = heard_until_ms(answer, played)
    assert match > 0.9
    assert abs(heard_ms - (int(loud[-1]) + 1) * 1000 / RATE) <= 2


@pytest.mark.parametrize("glitch", ["dropped", "repeated", "silent"])
@pytest.mark.parametrize("before_end_ms", [60, 150, 300])
def test_a_glitch_near_the_end_still_finds_where_playback_stopped(
    answer: np.ndarray, glitch: str, before_end_ms: int
) -> None:
    cut = RATE * 2
    heard = answer[:cut]
    at, n = cut - RATE * before_end_ms // 1000, RATE * 15 // 1000  # 15 ms, as a late audio callback loses
    pieces = {
        "dropped": [heard[:at], heard[at + n :]],
        "repeated": [heard[:at], heard[at - n :]],
        "silent": [heard[:at], np.zeros(n, dtype=np.int16), heard[at:]],
    }
    heard_ms, match = heard_until_ms(answer, np.concatenate(pieces[glitch]))
    loud = np.flatnonzero(np.abs(heard.astype(np.int32)) > 500)
    assert match > 0.9
    assert abs(heard_ms - (int(loud[-1]) + 1) * 1000 / RATE) <= 15 + 2


def test_nothing_played_was_heard_nowhere(answer: np.ndarray) -> None:
    assert heard_until_ms(answer, np.zeros(RATE, dtype=np.int16)) == (0.0, 0.0)


def test_alignment_finds_late_offsets_in_a_long_source(answer: np.ndarray) -> None:
    piece = answer[-RATE // 2 :]  # the last half second of a source several seconds long
    lag, correlation = best_alignment(answer, piece)
    assert lag == len(answer) - len(piece) and correlation > 0.99
