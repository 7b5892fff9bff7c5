"""The app's asyncio loop on Qt's: qasync's, with timers that never fire before their time.

qasync runs each ``call_later`` (every ``asyncio.sleep``) on a Qt timer of whole milliseconds, truncated, and of
Qt's default "coarse" kind, which Qt may fire up to 5 % early to group wake-ups. So ``asyncio.sleep(0.0415)``
could return after 39.5 ms: against asyncio's promise, and costly here, because the microphone's sender
sleeps until just after the next block is due, and a sleep that ends early finds no block and has to look
again (in a loaded run, more retries than blocks). Here a timer is precise and rounded up to the next whole
millisecond.

Callbacks to run soon (``call_soon``: every task step, every future's callbacks) do not each get a Qt timer
of their own, as in qasync: they wait in one queue, as in asyncio's own loop, run in order when a Qt event of
the loop comes (a timer or the queue's own zero timer), and the ones they add run in the same event. While the
key is held each microphone block then costs one Qt event (the sender's timer), not four (the timer, the
task's wake-up, the send task's wake-up, and the wake-up after the send). Qt's own events wait for at most
:data:`RUN_SOON_BUDGET_S` of them.

Imported only after the first paint (it imports asyncio and qasync).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from typing import Any

import qasync
from PySide6.QtCore import QObject, Qt, QTimerEvent

#: How long callbacks run back to back before Qt's own events (input, painting) get their turn; the rest run
#: in the next Qt event of the loop.
RUN_SOON_BUDGET_S = 0.004


class _Timers(QObject):
    """A Qt timer per delayed asyncio handle, and one queue for the handles to run soon; the same duties as
    qasync's own timer object (which the loop replaces)."""

    def __init__(self) -> None:
        super().__init__()
        self._handles: dict[int, asyncio.Handle] = {}
        self._ready: deque[asyncio.Handle] = deque()
        self._ready_timer: int | None = None  # the zero timer that runs the queue, while one is pending
        self._stopped = False

    def add_callback(self, handle: asyncio.Handle, delay: float = 0) -> asyncio.Handle:
        if self._stopped:  # a closed loop runs nothing more
            return handle
        if delay <= 0:
            self._ready.append(handle)
            self._arm()  # also while the queue runs: a callback may run a modal Qt loop
        else:
            timer_id = self.startTimer(math.ceil(delay * 1000), Qt.TimerType.PreciseTimer)
            self._handles[timer_id] = handle
        return handle

    def timerEvent(self, event: QTimerEvent) -> None:
        timer_id = event.timerId()
        self.killTimer(timer_id)
        if timer_id == self._ready_timer:
            self._ready_timer = None
        elif (handle := self._handles.pop(timer_id, None)) is not None and not self._stopped:
            self._ready.append(handle)  # due: it runs after those queued before it, as in asyncio's loop
        self._run_ready()

    def _run_ready(self) -> None:
        """Run the queue in order, with what its callbacks add, for up to :data:`RUN_SOON_BUDGET_S`; what is
        left runs at the queue's zero timer, which is pending whenever the queue is not empty: whatever a
        callback does (run a modal Qt loop, raise SystemExit), the ones after it are not stranded."""
        ready = self._ready
        deadline = time.monotonic() + RUN_SOON_BUDGET_S
        try:
            while ready and not self._stopped:
                handle = ready.popleft()
                if ready:
                    self._arm()
                if not handle.cancelled():
                    handle._run()  # asyncio's Handle reports a callback's exception to the loop's handler
                if time.monotonic() >= deadline:
                    break
        finally:
            if ready:
                self._arm()
            elif self._ready_timer is not None:  # all ran here: the pending zero timer has nothing to do
                self.killTimer(self._ready_timer)
                self._ready_timer = None

    def _arm(self) -> None:
        if self._ready_timer is None and not self._stopped:
            self._ready_timer = self.startTimer(0, Qt.TimerType.PreciseTimer)

    def stop(self) -> None:
        """The loop closes (on its own thread): every pending timer goes now. One left registered would outlive
        this object if the garbage collector freed it on another thread (Qt cannot stop timers from there), and
        Qt would then deliver it to freed memory: a crash (qasync's own timers have that flaw)."""
        self._stopped = True
        for timer_id in self._handles:
            self.killTimer(timer_id)
        self._handles.clear()
        if self._ready_timer is not None:
            self.killTimer(self._ready_timer)
            self._ready_timer = None
        self._ready.clear()

    def set_debug(self, enabled: bool) -> None:
        """qasync calls this from ``set_debug``. Its own timer then warned of slow callbacks; this one does not
        (the app never runs the loop in debug mode)."""


class QtEventLoop(qasync.QEventLoop):  # type: ignore[misc]  # qasync has no type information
    """qasync's ``QEventLoop`` (same construction, same use) whose timers keep asyncio's promise."""

    def __init__(self, app: Any, **qasync_options: Any) -> None:
        super().__init__(app, **qasync_options)
        self._timer = _Timers()  # qasync schedules every call_later/call_soon through this attribute
