"""The app's asyncio loop on Qt's: qasync's, with timers that never fire before their time.

qasync runs each ``call_later`` (every ``asyncio.sleep``) on a Qt timer of whole milliseconds, truncated, and of
Qt's default "coarse" kind, which Qt may fire up to 5 % early to group wake-ups. So ``asyncio.sleep(0.0415)``
could return after 39.5 ms: against asyncio's promise, and costly here, because the microphone's sender
sleeps until just after the next block is due, and a sleep that ends early finds no block and has to look
again (in a loaded run, more retries than blocks). Here a timer is precise and rounded up to the next whole
millisecond.

Imported only after the first paint (it imports asyncio and qasync).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import qasync
from PySide6.QtCore import QObject, Qt, QTimerEvent


class _Timers(QObject):
    """One Qt timer per asyncio timer handle; the same duties as qasync's own (which the loop replaces)."""

    def __init__(self) -> None:
        super().__init__()
        self._handles: dict[int, asyncio.Handle] = {}
        self._stopped = False

    def add_callback(self, handle: asyncio.Handle, delay: float = 0) -> asyncio.Handle:
        if not self._stopped:  # a closed loop runs nothing more
            timer_id = self.startTimer(math.ceil(max(0.0, delay) * 1000), Qt.TimerType.PreciseTimer)
            self._handles[timer_id] = handle
        return handle

    def timerEvent(self, event: QTimerEvent) -> None:
        timer_id = event.timerId()
        self.killTimer(timer_id)
        handle = self._handles.pop(timer_id, None)
        if handle is not None and not self._stopped and not handle.cancelled():
            handle._run()  # asyncio's Handle reports a callback's exception to the loop's handler

    def stop(self) -> None:
        """The loop closes (on its own thread): every pending timer goes now. One left registered would outlive
        this object if the garbage collector freed it on another thread (Qt cannot stop timers from there), and
        Qt would then deliver it to freed memory: a crash (qasync's own timers have that flaw)."""
        self._stopped = True
        for timer_id in self._handles:
            self.killTimer(timer_id)
        self._handles.clear()

    def set_debug(self, enabled: bool) -> None:
        """qasync calls this from ``set_debug``. Its own timer then warned of slow callbacks; this one does not
        (the app never runs the loop in debug mode)."""


class QtEventLoop(qasync.QEventLoop):  # type: ignore[misc]  # qasync has no type information
    """qasync's ``QEventLoop`` (same construction, same use) whose timers keep asyncio's promise."""

    def __init__(self, app: Any, **qasync_options: Any) -> None:
        super().__init__(app, **qasync_options)
        self._timer = _Timers()  # qasync schedules every call_later/call_soon through this attribute
