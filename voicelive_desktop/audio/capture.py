"""Microphone capture with pre-roll and a release tail, so that no word is clipped at either end.

The PortAudio callback copies each block into a ring, notes when it did, and returns: it allocates nothing
beyond that time stamp, logs nothing, takes no lock and does not wake the event loop (a cross-thread wake-up
releases and re-takes the GIL, which cost up to milliseconds per callback when the GUI thread was busy). While
a turn runs, the sender sleeps until the device's next block is due by the device's own clock (the time of
the last callback plus one block), so a block goes out within about a millisecond of its arrival, with one
timer per block and nothing more. Resampling and framing the turn happen there; the listener
(``on_block``) meters what it needs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

from .backend import AudioProblem
from .resample import Resampler
from .ring import FrameRing, Frames, zero_frames
from .stream import StreamEnd

#: How long before a block is due by the device's clock the sender asks to be woken. The loop's timers never
#: fire early, but late by up to 2 ms (whole milliseconds, rounded up by the loop and again by Qt's dispatcher),
#: about 1 ms on average: asked for half a millisecond early, the sender mostly wakes just after the block came,
#: and finds it not there yet for a few blocks in a hundred (it then looks again :data:`RETRY_S` later). Asked
#: for half a millisecond late, blocks reached the wire 0.5 ms later (median and p99) for no fewer wake-ups.
WAKE_LEAD_S = 0.0005
#: When a due block has not arrived yet, look again this soon (the loop's timers count whole milliseconds).
RETRY_S = 0.001
#: A device that delivers nothing for this long during the release tail has stopped: the turn ends there.
STALLED_S = 1.0


class Capture(StreamEnd):
    """The microphone, at the session rate (24 kHz mono PCM16 by default).

    Args:
        sd: the sounddevice module.
        rate: session rate (24000 or 16000).
        block_ms: PortAudio block length.
        preroll_ms: audio from before the key went down that is sent first.
        tail_ms: audio captured after the key came up (rounded to a block boundary, see :meth:`release`).
        on_block: called on the loop with each chunk of the turn (frames at the session rate, valid during the
            call only), e.g. to meter it.
        on_problem: called on the loop with audio problems.
    """

    def __init__(
        self,
        sd: ModuleType,
        *,
        rate: int = 24000,
        block_ms: int = 20,
        preroll_ms: int = 300,
        tail_ms: int = 200,
        on_block: Callable[[Frames], None] | None = None,
        on_problem: Callable[[AudioProblem], None] = lambda problem: None,
    ) -> None:
        self.block_ms = block_ms
        self.preroll_ms = preroll_ms
        self.tail_ms = tail_ms
        self.on_block = on_block
        self.stream = self._managed_stream(sd, "input", rate=rate, block_ms=block_ms, on_problem=on_problem)
        self._ring = FrameRing(rate * 4)
        self._scratch = zero_frames(rate * 4)
        self._opened_at = 0
        self._stop_at: int | None = None
        # (frames written, time.monotonic()) as of the last callback, written by the callback only: one object, so
        # that a reader on another thread gets the two from the same callback
        self._last_block: tuple[int, float] = (0, 0.0)
        self.sender_waits = 0  # times the sender slept for a block (a benchmark figure: ideally one per block)

    # ----------------------------------------------------------------- callback (PortAudio thread)
    def _callback(self, indata: Any, frames: int, _time: Any, _status: Any) -> None:
        self.stream.tick()
        self._ring.write(indata)  # exactly `frames` int16 frames (mono)
        self._last_block = (self._ring.written, time.monotonic())

    # ----------------------------------------------------------------- control (event loop)
    @property
    def last_block_at(self) -> float:
        """When the last block arrived (``time.monotonic()``)."""
        return self._last_block[1]

    @property
    def rate(self) -> int:
        """The rate the turn's audio is sent at (24000 or 16000), whatever the device runs at."""
        return self.stream.rate

    def _reset(self) -> None:
        device_rate = self.stream.device_rate
        if self._ring.capacity != device_rate * 4:
            self._ring = FrameRing(device_rate * 4)
            self._scratch = zero_frames(device_rate * 4)
            self._last_block = (0, self._last_block[1])  # the new ring counts from 0
        self._opened_at = self._ring.written

    def _ms_to_device_frames(self, ms: int) -> int:
        return self.stream.device_rate * ms // 1000

    def begin_turn(self) -> None:
        """The key went down: the turn starts ``preroll_ms`` in the past (or when the mic opened, if later)."""
        history = self._ring.written - self._opened_at
        self._ring.rewind_to(min(history, self._ms_to_device_frames(self.preroll_ms)))
        self._stop_at = None

    def resume_turn(self) -> None:
        """The device was reopened mid-turn (another device took over): go on from now, no pre-roll again."""
        self._ring.rewind_to(0)
        self._stop_at = None

    def release(self) -> None:
        """The key came up: keep capturing about ``tail_ms`` more, then the turn's stream ends.

        The tail counts from the key, not from the last block delivered: what was heard since that block (up to
        one block) is still in the device, and is part of the turn before the tail starts. It ends on the block
        boundary nearest to ``tail_ms`` after the key (within half a block of it; a tail shorter than that runs
        to the end of the key's block): the device hands audio over a whole block at a time, so ending inside a
        block would keep the turn, and the answer, waiting for the rest of that block. With no tail the turn
        ends at the key.
        """
        written, block_at = self._last_block
        since_block = min(max(time.monotonic() - block_at, 0.0), self.block_ms / 1000)
        undelivered = int(self.stream.device_rate * since_block)
        tail = self._ms_to_device_frames(self.tail_ms)
        block = self._ms_to_device_frames(self.block_ms)
        if tail and block:  # at least to the end of the block the key came up in
            self._stop_at = written + max(1, round((undelivered + tail) / block)) * block
        else:
            self._stop_at = written + undelivered

    async def turn_audio(self) -> AsyncIterator[bytes]:
        """PCM16 at the session rate, chunk by chunk, from the pre-roll to the end of the release tail.

        The last chunk may be shorter than a block: it is flushed so the last syllable reaches the service.
        """
        resampler = None
        if self.stream.device_rate != self.rate:
            resampler = Resampler(self.stream.device_rate, self.rate)
        block = self._ms_to_device_frames(self.block_ms)
        loop = asyncio.get_running_loop()
        last_written, last_progress = self._ring.written, loop.time()
        while True:
            stop_at = self._stop_at
            remaining = None if stop_at is None else stop_at - self._ring.read
            if remaining is not None and remaining <= 0:
                return
            want = block if remaining is None else min(block, remaining)
            if self._ring.available() >= want:
                n = self._ring.read_into(self._scratch, remaining)
                last = remaining is not None and n >= remaining
                chunk = self._scratch[:n]
                if resampler is not None:
                    chunk = resampler.convert(chunk, last=last)
                if len(chunk):
                    yield chunk.tobytes()  # to the wire first (the turn lets the sender write it before asking again)
                if self.on_block is not None and n:
                    self.on_block(chunk)  # then metered
                continue
            if not self.stream.is_open:
                return
            now = loop.time()
            if self._ring.written != last_written:
                last_written, last_progress = self._ring.written, now
            elif stop_at is not None and now - last_progress >= STALLED_S:
                return  # the device stopped during the tail: end with what was captured
            await self._until_next_block(now)

    async def _until_next_block(self, now: float) -> None:
        """Sleep until the device's next block is due, by the time of its last callback."""
        period = self.block_ms / 1000
        due = self.last_block_at + period - WAKE_LEAD_S - now
        if due < -period:
            due = period  # late by more than a block (stalled, or not started yet): look once a block
        self.sender_waits += 1
        await asyncio.sleep(max(due, RETRY_S))
