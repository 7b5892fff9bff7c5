"""A preallocated single-producer/single-consumer ring of int16 frames.

The producer only ever advances ``written`` and the consumer only ever advances ``read``; both are plain
Python ints whose assignment is atomic under the GIL, so neither side takes a lock. What happens when the
producer gets more than ``capacity`` frames ahead is an explicit policy:

- ``OVERWRITE_OLDEST`` (capture): the callback never waits; the consumer counts lost frames in ``dropped``
  when it next reads. This also makes pre-roll free: history stays in the ring until overwritten.
- ``DROP_NEWEST`` (playback): queued answer audio is never overwritten; what does not fit is refused and
  counted in ``dropped``.

Frames travel as ``memoryview`` objects of format ``"h"`` (native int16) over whatever buffer holds them, so
a copy in or out is one ``memmove`` and nothing here needs numpy (which the app loads only to resample).
"""

from __future__ import annotations

import enum
import mmap
import struct
from typing import Any, Literal

#: Mono int16 frames: a ``memoryview`` of format ``"h"``, one item per frame.
Frames = memoryview


def as_frames(data: Any) -> Frames:
    """``data`` (bytes, a PortAudio buffer, an int16 array...) seen as int16 frames, without a copy."""
    view = memoryview(data)
    return view if view.format == "h" else view.cast("B").cast("h")


def zeroed(count: int, item: Literal["h", "q"]) -> memoryview:
    """``count`` zeroed items of struct format ``item``, in a buffer of their own.

    The buffer is an anonymous mapping: the system hands its pages over as they are first written, so a ring
    sized for minutes of audio costs memory only for what has been queued in it.
    """
    return memoryview(mmap.mmap(-1, count * struct.calcsize(item))).cast(item)


def zero_frames(n: int) -> Frames:
    """``n`` frames of silence, in a buffer of their own (see :func:`zeroed`)."""
    return zeroed(n, "h")


class Overflow(enum.Enum):
    """What a full ring does with more frames."""

    OVERWRITE_OLDEST = "overwrite-oldest"
    DROP_NEWEST = "drop-newest"


class FrameRing:
    """Mono int16 frames in one fixed buffer (an anonymous mapping, see :func:`zero_frames`)."""

    def __init__(self, capacity: int, overflow: Overflow = Overflow.OVERWRITE_OLDEST) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.overflow = overflow
        self._buf = zero_frames(capacity)
        self.written = 0  # frames ever written (producer-owned)
        self.read = 0  # frames ever consumed or skipped (consumer-owned)
        self.dropped = 0  # frames lost to overflow

    # ----------------------------------------------------------------- producer
    def write(self, data: Any) -> int:
        """Copy ``data``'s frames in without allocating or blocking; returns how many were stored."""
        frames = as_frames(data)
        n = len(frames)
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

    def give_back_memory(self) -> bool:
        """Return the buffer's pages to the system (they read as silence again); only while nothing is unread.

        Call it only when the producer cannot write meanwhile (from its own thread, or with its stream stopped).
        Returns whether the pages were given back (False with frames unread, or with no way to on this system).
        """
        if self.written != self.read or not hasattr(mmap, "MADV_DONTNEED"):
            return False
        mapping = self._buf.obj
        assert isinstance(mapping, mmap.mmap)
        mapping.madvise(mmap.MADV_DONTNEED)
        return True

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

    def read_into(self, out: Any, limit: int | None = None) -> int:
        """Copy up to ``len(out)`` (and ``limit``) unread frames to the start of ``out``; returns how many."""
        target = as_frames(out)
        written = self.written
        if written - self.read > self.capacity:
            self.dropped += written - self.read - self.capacity
            self.read = written - self.capacity
        n = min(written - self.read, len(target), self.capacity if limit is None else limit)
        if n <= 0:
            return 0
        start = self.read % self.capacity
        first = min(n, self.capacity - start)
        target[:first] = self._buf[start : start + first]
        if first < n:
            target[first:n] = self._buf[: n - first]
        lapped = self.written - self.capacity - self.read
        self.read += n
        if lapped > 0 and self.overflow is Overflow.OVERWRITE_OLDEST:
            # The producer overwrote the head of what we copied while we copied it: discard that part (the
            # copy within ``target`` is a memmove, so the overlap is safe).
            lost = min(lapped, n)
            target[: n - lost] = target[lost:n]
            self.dropped += lost
            return n - lost
        return n
