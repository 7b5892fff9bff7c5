"""A preallocated single-producer/single-consumer ring of int16 frames.

The producer only ever advances ``written`` and the consumer only ever advances ``read``; both are plain
Python ints whose assignment is atomic under the GIL, so neither side takes a lock. What happens when the
producer gets more than ``capacity`` frames ahead is an explicit policy:

- ``OVERWRITE_OLDEST`` (capture): the callback never waits; the consumer counts lost frames in ``dropped``
  when it next reads. This also makes pre-roll free: history stays in the ring until overwritten.
- ``DROP_NEWEST`` (playback): queued answer audio is never overwritten; what does not fit is refused and
  counted in ``dropped``.
"""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt

Frames = npt.NDArray[np.int16]


class Overflow(enum.Enum):
    """What a full ring does with more frames."""

    OVERWRITE_OLDEST = "overwrite-oldest"
    DROP_NEWEST = "drop-newest"


class FrameRing:
    """Mono int16 frames in one fixed array."""

    def __init__(self, capacity: int, overflow: Overflow = Overflow.OVERWRITE_OLDEST) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.overflow = overflow
        self._buf: Frames = np.zeros(capacity, dtype=np.int16)
        self.written = 0  # frames ever written (producer-owned)
        self.read = 0  # frames ever consumed or skipped (consumer-owned)
        self.dropped = 0  # frames lost to overflow

    # ----------------------------------------------------------------- producer
    def write(self, frames: Frames) -> int:
        """Copy ``frames`` in without allocating or blocking; returns how many were stored."""
        n = int(frames.shape[0])
        skipped = 0
        if self.overflow is Overflow.DROP_NEWEST:
            room = self.capacity - (self.written - self.read)
            if n > room:
                self.dropped += n - room
                n = room
        elif n > self.capacity:
            skipped = n - self.capacity  # older than anything the ring can hold: the reader counts them lost
            frames = frames[skipped:]
            n = self.capacity
        if n <= 0:
            return 0
        start = (self.written + skipped) % self.capacity
        first = min(n, self.capacity - start)
        self._buf[start : start + first] = frames[:first]
        if first < n:
            self._buf[: n - first] = frames[first:n]
        self.written += skipped + n
        return n

    # ----------------------------------------------------------------- consumer
    def available(self) -> int:
        """Frames that can be read now."""
        return min(self.written - self.read, self.capacity)

    def rewind_to(self, frames_back: int) -> int:
        """Put the read position ``frames_back`` before the newest frame (pre-roll). Returns frames now unread."""
        written = self.written
        self.read = max(0, written - min(frames_back, self.capacity))
        return written - self.read

    def skip_to(self, position: int) -> None:
        """Forget everything unread before ``position`` (a value of ``written``)."""
        self.read = max(self.read, min(position, self.written))

    def read_into(self, out: Frames, limit: int | None = None) -> int:
        """Copy up to ``len(out)`` (and ``limit``) unread frames to the start of ``out``; returns how many."""
        written = self.written
        if written - self.read > self.capacity:
            self.dropped += written - self.read - self.capacity
            self.read = written - self.capacity
        n = int(min(written - self.read, out.shape[0], self.capacity if limit is None else limit))
        if n <= 0:
            return 0
        start = self.read % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self._buf[start : start + first]
        if first < n:
            out[first:n] = self._buf[: n - first]
        lapped = self.written - self.capacity - self.read
        self.read += n
        if lapped > 0 and self.overflow is Overflow.OVERWRITE_OLDEST:
            # The producer overwrote the head of what we copied while we copied it: discard that part.
            lost = min(lapped, n)
            out[: n - lost] = out[lost:n].copy()
            self.dropped += lost
            return n - lost
        return n
