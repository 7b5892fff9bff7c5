"""Speaker output: a playback ring drained by the PortAudio callback, instant flush, and "ms heard".

The callback pulls what is queued and plays silence on underrun. ``flush()`` does not touch the stream: it
asks the next callback to skip everything queued, so nothing more is handed to the device. What was already
handed cannot be recalled and still sounds for the output latency, so the item is heard up to the last
frame handed over: that is the figure ``flush()`` returns for ``conversation.item.truncate``.

Between answers the stream is suspended (no callbacks, no CPU) once it has been quiet for
:data:`IDLE_SUSPEND_S`, and the queue's memory goes back to the system; the next answer's first audio starts
the stream again, in a worker thread. A speaker just opened is suspended as soon as it has called back once
(it works), unless an answer is queued by then.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .backend import AudioProblem
from .resample import Resampler
from .ring import FrameRing, Frames, Overflow, as_frames, zero_frames
from .stream import _KEEP, StreamEnd

#: Quiet for this long after the last audio was heard, the speaker's stream is suspended.
IDLE_SUSPEND_S = 2.0
#: How often a speaker just opened is looked at, until it has called back and can be suspended.
ALIVE_CHECK_S = 0.1
#: The speaker's blocks are never longer than this, whatever the microphone's. PulseAudio keeps about two
#: blocks queued, and an interruption can only silence what has not been handed over: with 10 ms blocks the
#: answer stops within about 20 ms of the key (it took about 40 ms with 20 ms blocks).
SPEAKER_BLOCK_MS = 10


class Playback(StreamEnd):
    """The assistant's voice, queued as it streams in (faster than real time) and played as PortAudio asks.

    Args:
        sd: the sounddevice module.
        rate: the rate of the audio given to :meth:`enqueue` (24 kHz PCM16 from Voice Live).
        block_ms: PortAudio block length.
        capacity_s: how much queued audio fits before new audio is refused (counted in ``dropped_frames``).
        on_drained: called on the loop when everything queued has been handed to the device.
        on_problem: called on the loop with audio problems.
    """

    def __init__(
        self,
        sd: ModuleType,
        *,
        rate: int = 24000,
        block_ms: int = 20,
        capacity_s: int = 300,
        on_drained: Callable[[], None] | None = None,
        on_problem: Callable[[AudioProblem], None] = lambda problem: None,
    ) -> None:
        self.rate = rate
        self.block_ms = block_ms
        self._capacity_s = capacity_s
        self.on_drained = on_drained
        self.stream = self._managed_stream(sd, "output", rate=rate, block_ms=block_ms, on_problem=on_problem)
        self._ring = FrameRing(rate * capacity_s, Overflow.DROP_NEWEST)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resampler: Resampler | None = None
        self._silence = zero_frames(rate)  # what an underrun plays: a second of it, never allocated in the callback
        self._item_id: str | None = None
        self._item_start = 0
        self._flush_target = 0
        self._flush_requests = 0
        self._flushes_done = 0
        self._playing = False
        self.streaming = False  # an answer is still arriving (answer_arriving/answer_complete; for underruns)
        self.underruns = 0
        self.dac_delay_s = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None

    # ----------------------------------------------------------------- callback (PortAudio thread)
    def _callback(self, outdata: Any, frames: int, time_info: Any, _status: Any) -> None:
        self.stream.tick()
        if self._flushes_done != self._flush_requests:
            self._ring.skip_to(self._flush_target)
            self._flushes_done = self._flush_requests
        out = as_frames(outdata)
        n = self._ring.read_into(out)
        if n:
            self._playing = True
        if n < frames:
            silence = self._silence
            if frames - n > len(silence):  # a device block longer than a second: grow once, outside the usual path
                silence = self._silence = zero_frames(frames)
            out[n:frames] = silence[: frames - n]
            if self._playing and self.streaming:
                self.underruns += 1  # more audio is on its way but has not arrived in time
            elif self._playing:
                self._playing = False
                loop = self._loop
                if loop is not None and not loop.is_closed():  # to tell on_drained, and to suspend when idle
                    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody to tell
                        loop.call_soon_threadsafe(self._drained_later)
        delay = time_info.outputBufferDacTime - time_info.currentTime
        if 0 < delay < 1:
            self.dac_delay_s = delay

    # ----------------------------------------------------------------- control (event loop)
    @property
    def is_playing(self) -> bool:
        """True while queued audio remains or the device is still sounding it."""
        return self._ring.available() > 0 or self._playing

    def open(self, device_name: str | None = _KEEP) -> bool:
        """Open the speaker (None: follow the system default); "drained" is reported on this loop."""
        self._loop = asyncio.get_running_loop()
        ok = super().open(device_name)
        self._suspend_once_alive()
        return ok

    async def open_async(self, device_name: str | None = _KEEP) -> bool:
        """:meth:`open` without blocking the event loop."""
        self._loop = asyncio.get_running_loop()
        ok = await super().open_async(device_name)
        self._suspend_once_alive()
        return ok

    def close(self) -> None:
        """Stop and close the stream."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        super().close()

    @property
    def output_latency_s(self) -> float:
        """How long audio handed to the device takes to be heard (measured while playing, else the device's)."""
        return self.dac_delay_s or self.stream.latency_s

    def _device_block_ms(self, block_ms: int) -> int:
        return min(block_ms, SPEAKER_BLOCK_MS)

    def _reset(self) -> None:
        device_rate = self.stream.device_rate
        if self._ring.capacity != device_rate * self._capacity_s:
            self._ring = FrameRing(device_rate * self._capacity_s, Overflow.DROP_NEWEST)
        self._resampler = None
        if device_rate != self.rate:
            self._resampler = Resampler(self.rate, device_rate)

    def _gone(self) -> None:
        """The speaker stopped working and could not be reopened: what was queued will never sound. It is dropped,
        and the queue counts as drained, so the conversation does not wait for an answer nobody can hear."""
        self._ring.skip_to(self._ring.written)
        self._playing = self.streaming = False
        if self._resampler is not None:
            self._resampler.reset()
        loop = self._loop
        if loop is not None and self.on_drained is not None:
            loop.call_soon(self.on_drained)

    def answer_arriving(self) -> None:
        """An answer's audio is arriving: a queue that runs dry now is an underrun, not the answer's end."""
        self.streaming = True

    def answer_complete(self) -> None:
        """The answer's audio has all arrived: the queue may now run dry.

        Resampled, the answer's last few tens of milliseconds are still in the resampler's filter: they are
        queued now, before the queue may count as drained.
        """
        if self._resampler is not None and self.stream.is_open:
            self._queue(self._resampler.finish())
        self.streaming = False

    def enqueue(self, item_id: str, pcm16: bytes) -> None:
        """Queue assistant audio; a new ``item_id`` starts a new item for :meth:`heard_ms`."""
        if not self.stream.is_open:
            return
        if item_id != self._item_id:
            self._item_id = item_id
            self._item_start = self._ring.written
        frames = as_frames(pcm16)
        if self._resampler is not None:
            frames = self._resampler.convert(frames)
        self._queue(frames)

    def _queue(self, frames: Frames) -> None:
        if not len(frames):
            return
        self._ring.write(frames)
        if self.stream.suspended:
            self.stream.resume()

    def _handed_frames(self) -> int:
        return max(0, min(self._ring.read, self._ring.written) - self._item_start)

    def flush(self) -> int | None:
        """Hand nothing more to the device. Returns the ms of the cut item the listener will have heard.

        None when nothing was playing (so there is nothing to truncate).
        """
        if self._item_id is None:
            return None
        heard = self._handed_frames() * 1000 // self.stream.device_rate if self.is_playing else None
        self._flush_target = self._ring.written
        self._flush_requests += 1
        if self._resampler is not None:
            self._resampler.reset()  # the cut answer's end must not open the next one
        self._item_id = None
        self.streaming = False
        return heard

    def _drained_later(self) -> None:
        # The callback saw the queue run dry; the device still sounds what it holds for its latency.
        loop = self._loop
        if loop is not None and self.on_drained is not None:
            loop.call_later(self.output_latency_s, self.on_drained)
        self._suspend_when_idle()

    def _suspend_when_idle(self) -> None:
        """Suspend the stream if nothing is queued :data:`IDLE_SUSPEND_S` from now."""
        loop = self._loop
        if loop is None or not self.stream.is_open:
            return
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = loop.call_later(self.output_latency_s + IDLE_SUSPEND_S, self._suspend_if_idle)

    def _suspend_once_alive(self) -> None:
        """Just opened: suspend the stream once it has called back (the device works), if nothing is queued then.

        Until the first answer it would only play silence: each callback costs CPU, and a connection that stays
        idle would pay for :data:`IDLE_SUSPEND_S` of them at every connect. A stream that never calls back is the
        watchdog's to reopen; this keeps looking until a callback comes or the stream is closed.
        """
        loop = self._loop
        if loop is None or not self.stream.is_open:
            return
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        since = self.stream.callbacks

        def look() -> None:
            self._idle_timer = None
            if not self.stream.is_open:
                return
            if self.stream.callbacks == since:
                self._idle_timer = loop.call_later(ALIVE_CHECK_S, look)
            else:
                self._suspend_if_idle()

        self._idle_timer = loop.call_later(ALIVE_CHECK_S, look)

    def _suspend_if_idle(self) -> None:
        self._idle_timer = None
        if self.stream.is_open and not self.is_playing and not self.streaming:
            self.stream.suspend()
            # Answers are written here, on the loop, and the callback reads nothing from an empty queue: the
            # queue's pages (up to 14 MiB after a long answer) can go back to the system until the next one.
            self._ring.give_back_memory()
