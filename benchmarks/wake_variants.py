"""Other ways for the microphone's sender to learn that a block is ready, kept to measure against the app's.

The app's :class:`~voicelive_desktop.audio.capture.Capture` sleeps until the device's next block is due by the
device's own clock (the last callback's time plus one block). The alternatives, measured with
``python -m benchmarks.audio_callbacks --wake ...``:

- :class:`PollingCapture`: look once per block on a fixed timer (the app's earlier way): a block waits up to
  one block for the sender, and the release tail's end as long.
- :class:`CallbackWakeCapture`: the callback wakes the loop with ``loop.call_soon_threadsafe`` once per
  block, and only while the sender waits for it. Under qasync that call is a Qt signal emitted from the
  PortAudio thread (PySide6 6.12 on Python 3.11 leaks a reference to True with each emit: the app pins < 6.12).
"""

from __future__ import annotations

import asyncio
from typing import Any

from voicelive_desktop.audio.capture import Capture


class PollingCapture(Capture):
    """The sender looks at the ring once per block, whenever the block arrived."""

    async def _until_next_block(self, now: float) -> None:
        await asyncio.sleep(self.block_ms / 1000)


class CallbackWakeCapture(Capture):
    """The callback wakes the waiting sender: at most one cross-thread wake-up per block, none while idle."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._armed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None

    def _callback(self, indata: Any, frames: int, _time: Any, _status: Any) -> None:
        super()._callback(indata, frames, _time, _status)  # the app's own: into the ring, the block's time
        if self._armed:  # the sender waits: wake it, once
            self._armed = False
            loop = self._loop
            if loop is not None:
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _until_next_block(self, now: float) -> None:
        loop = self._loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        self._armed = True
        if self._ring.available() >= self._ms_to_device_frames(self.block_ms):  # landed while arming
            self._armed = False
            return
        fallback = loop.call_later(2 * self.block_ms / 1000, self._wake)  # a device that stopped calling back
        try:
            await waiter
        finally:
            fallback.cancel()
            self._armed = False
            self._waiter = None
