"""Audio value types with no dependencies, so that the window can name them before numpy is loaded."""

from __future__ import annotations

from dataclasses import dataclass

SILENCE_DB = -96.0


@dataclass(frozen=True)
class Level:
    """One block's loudness: ``rms_db`` and ``peak_db`` in dBFS (0 is full scale)."""

    rms_db: float
    peak_db: float
