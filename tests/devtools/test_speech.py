"""The measuring tools the audio tests rely on tell the truth about a known signal."""

from __future__ import annotations

import numpy as np

from voicelive_desktop.devtools.speech import RATE, heard_until_ms


def test_where_playback_stopped_is_found_despite_a_gap_of_silence() -> None:
    source = (np.random.default_rng(7).standard_normal(RATE * 3) * 6000).astype(np.int16)  # 3 s, no repeats
    heard = source[: RATE * 18 // 10]  # the first 1.8 s came out of the speaker...
    gap = np.zeros(RATE // 2, dtype=np.int16)  # ...with half a second of underrun silence half way
    played = np.concatenate([gap, heard[: RATE // 2], gap, heard[RATE // 2 :], gap])
    assert abs(heard_until_ms(source, played) - 1800) <= 1
    assert heard_until_ms(source, np.zeros(RATE, dtype=np.int16)) == 0.0
