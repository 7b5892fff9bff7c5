"""Noticing that the machine slept, Qt-free: after a resume, reconnect at once instead of waiting out a backoff.

While a machine sleeps, the monotonic clock stands still but the boot-time clock (``CLOCK_BOOTTIME`` on Linux)
keeps counting. A light timer compares the two every few seconds: when boot time ran ahead by more than a few
seconds, the machine slept, and the websocket it held is probably dead. Where there is no boot-time clock the
wall clock stands in (it also jumps when the clock is set; a needless reconnect is the only cost then).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .tasks import finish

log = logging.getLogger(__name__)

CHECK_EVERY_S = 5.0
#: Boot time running ahead of the monotonic clock by more than this means the machine slept.
SLEEP_GAP_S = 3.0


def _boottime() -> float:
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else time.time()


class SleepDetector:
    """Calls ``on_wake`` soon after the machine resumes from sleep.

    Args:
        on_wake: called on the event loop after a sleep was noticed.
        monotonic, boottime: the two clocks (injectable for tests).
        every_s: how often to look.
    """

    def __init__(
        self,
        on_wake: Callable[[], None],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        boottime: Callable[[], float] = _boottime,
        every_s: float = CHECK_EVERY_S,
    ) -> None:
        self._on_wake = on_wake
        self._monotonic, self._boottime = monotonic, boottime
        self._every_s = every_s
        self._task: asyncio.Task[None] | None = None

    def check(self, last: tuple[float, float]) -> tuple[float, float]:
        """Compare both clocks with ``last`` (as this returns them); wakes the app if the machine slept."""
        now = (self._monotonic(), self._boottime())
        gap = (now[1] - last[1]) - (now[0] - last[0])
        if gap > SLEEP_GAP_S:
            log.info("the machine slept for about %.0f s: reconnecting now", gap)
            self._on_wake()
        return now

    def start(self) -> None:
        """Start looking (on the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sleep-detector")

    async def _run(self) -> None:
        last = (self._monotonic(), self._boottime())
        while True:
            await asyncio.sleep(self._every_s)
            last = self.check(last)

    async def stop(self) -> None:
        """Stop looking."""
        task, self._task = self._task, None
        if task is not None:
            await finish(task, cancel=True)
