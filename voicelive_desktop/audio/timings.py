"""Opt-in timing of the PortAudio callbacks inside the running app: ``VOICELIVE_AUDIO_TIMINGS=<file>``.

When the variable is set, each stream's callback is wrapped in a recorder that stores the start and end of
every call in preallocated arrays (the newest :data:`CAPACITY` calls; nothing is allocated or logged in the
callback), and when the stream closes, one JSON line with the figures is appended to the file: callback
duration p50/p99/max and period median/p99. Without the variable the callback is PortAudio's own and costs
nothing more. Gaps longer than :data:`GAP_BLOCKS` blocks are pauses (a suspended speaker), not periods.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from .ring import zeroed

ENV = "VOICELIVE_AUDIO_TIMINGS"
CAPACITY = 200_000  # about 33 minutes of 10 ms blocks
GAP_BLOCKS = 4


class CallbackTimings:
    """Start and end of each callback, in fixed arrays."""

    def __init__(self, path: str, kind: str, capacity: int = CAPACITY) -> None:
        self.path = path
        self.kind = kind
        # int64 slots whose memory is taken only as calls fill them (the recorder is sized for half an hour)
        self._start = zeroed(capacity, "q")
        self._end = zeroed(capacity, "q")
        self._n = 0  # calls recorded since the stream opened (the arrays keep the newest)

    @classmethod
    def from_environment(cls, kind: str) -> CallbackTimings | None:
        """A recorder when ``VOICELIVE_AUDIO_TIMINGS`` names a file, else None."""
        path = os.environ.get(ENV)
        return cls(path, kind) if path else None

    def wrap(self, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback``, timed."""
        clock = time.perf_counter_ns
        start, end, capacity = self._start, self._end, len(self._start)

        def timed(data: Any, frames: int, time_info: Any, status: Any) -> None:
            t0 = clock()
            callback(data, frames, time_info, status)
            i = self._n % capacity
            start[i] = t0
            end[i] = clock()
            self._n += 1

        return timed

    def write(self, label: str, block_frames: int, rate: int) -> None:
        """Append this stream's figures to the file and start counting afresh (called when it closes)."""
        n = min(self._n, len(self._start))
        if n >= 3:
            import statistics  # with fractions and decimal: about 1 MiB that only this report needs

            calls = sorted(zip(self._start[:n], self._end[:n], strict=True))
            duration_us = sorted((e - s) / 1000 for s, e in calls)
            period_ms = [(b[0] - a[0]) / 1e6 for a, b in pairwise(calls)]
            block_ms = 1000 * block_frames / rate
            running = sorted(p for p in period_ms if p <= GAP_BLOCKS * block_ms)
            figures: dict[str, Any] = {
                "stream": self.kind,
                "device": label,
                "block_ms": round(block_ms, 3),
                "callbacks": int(self._n),
                "duration_us_p50": round(statistics.median(duration_us), 1),
                "duration_us_p99": round(_percentile(duration_us, 99), 1),
                "duration_us_max": round(duration_us[-1], 1),
                "period_ms_median": round(statistics.median(running), 3) if running else None,
                "period_ms_p99": round(_percentile(running, 99), 3) if running else None,
                "pauses": len(period_ms) - len(running),
            }
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(figures) + "\n")
        self._n = 0


def _percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile of sorted values, interpolated between the two nearest (numpy's default)."""
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
