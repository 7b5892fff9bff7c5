"""Rate conversion for a device that will not run at the session's rate: the only part that needs numpy.

Most devices open at 24 kHz (PulseAudio, PipeWire, Core Audio and Windows' MME convert for the app), so numpy
and soxr are imported when the first resampler is made, not with the audio stack: 10-15 MiB of resident memory
(``benchmarks.memory``) that a process at the session's rate never needs.
"""

from __future__ import annotations

from typing import Any

from .ring import Frames, as_frames


class Resampler:
    """A streaming int16 rate converter (soxr's), chunk by chunk, with state kept between chunks.

    The filter holds back the newest few tens of milliseconds of what it was given until more comes, or until
    the signal ends (``last``, :meth:`finish`): an answer's last syllable is in there.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        import numpy as np
        import soxr

        self._np: Any = np
        self._stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16")
        self._holding = False  # given a signal that has not ended yet

    def convert(self, frames: Frames, last: bool = False) -> Frames:
        """``frames`` at the new rate; ``last`` ends the signal: what the filter still holds comes out too."""
        out = self._stream.resample_chunk(self._np.frombuffer(frames, dtype=self._np.int16), last=last)
        self._holding = not last
        if last:
            self._stream.clear()
        return as_frames(out)

    def finish(self) -> Frames:
        """End the signal: what the filter still holds, at the new rate; the next chunk starts a new signal."""
        if not self._holding:
            return as_frames(b"")
        return self.convert(as_frames(b""), last=True)

    def reset(self) -> None:
        """Drop what the filter holds (a cut answer's end): the next chunk starts a new signal."""
        self._stream.clear()
        self._holding = False
