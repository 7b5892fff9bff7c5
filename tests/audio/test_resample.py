"""The resampler for devices that refuse 24 kHz: nothing of an answer is held back at its end, and nothing of a
cut answer leaks into the next."""

from __future__ import annotations

import numpy as np

from voicelive_desktop.audio.resample import Resampler
from voicelive_desktop.audio.ring import as_frames
from voicelive_desktop.devtools.speech import dominant_frequency, tone


def _chunks(pcm: bytes, size: int = 4800) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def test_an_answer_comes_out_whole_at_the_new_rate_once_it_is_finished() -> None:
    resampler = Resampler(24000, 48000)
    out = [resampler.convert(as_frames(chunk)).tobytes() for chunk in _chunks(tone(440, 1.0))]
    held_back = 48000 - sum(len(b) for b in out) // 2
    assert held_back > 0, "the filter gave everything at once: the end-of-answer case is not exercised"
    tail = resampler.finish()
    assert len(tail) == held_back, f"the answer's last {held_back / 48:.0f} ms were not given back"
    played = np.frombuffer(b"".join(out) + tail.tobytes(), dtype=np.int16)
    assert abs(dominant_frequency(played, rate=48000) - 440) < 5
    assert len(resampler.finish()) == 0, "a finished answer has nothing more to give"


def test_after_a_cut_the_next_answer_starts_with_nothing_of_the_last() -> None:
    resampler = Resampler(24000, 48000)
    for chunk in _chunks(tone(440, 0.5)):
        resampler.convert(as_frames(chunk))
    resampler.reset()  # the user barged in
    out = np.frombuffer(resampler.convert(as_frames(bytes(9600))).tobytes(), dtype=np.int16)  # 200 ms of silence
    assert len(out) and int(np.abs(out).max()) <= 2, "the cut answer's end came out at the start of the next one"
