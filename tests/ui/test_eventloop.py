"""The app's event loop: qasync's, with timers that keep asyncio's promise (never early) and that never outlive
the loop, and everything else asyncio code relies on: order, errors reported and not fatal, cancelled callbacks
skipped."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from voicelive_desktop.ui.eventloop import QtEventLoop


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[Any]:
    loop = QtEventLoop(qapp)
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    loop.errors = errors
    yield loop
    loop.close()


def test_a_sleep_never_ends_before_its_time(loop: Any) -> None:
    """The microphone's sender sleeps until a block is due: waking early finds nothing and costs a retry."""

    async def main() -> list[float]:
        early_ms = []
        for delay in (0.0415, 0.0215, 0.0105, 0.0019) * 10:
            started = loop.time()
            await asyncio.sleep(delay)
            early_ms.append((delay - (loop.time() - started)) * 1000)
        return early_ms

    early_ms = loop.run_until_complete(main())
    assert max(early_ms) <= 0, f"sleeps ended up to {max(early_ms):.2f} ms early"


def test_callbacks_run_in_order_and_a_cancelled_one_does_not_run(loop: Any) -> None:
    ran: list[str] = []

    async def main() -> None:
        loop.call_later(0.02, ran.append, "later")
        loop.call_soon(ran.append, "first")
        loop.call_soon(ran.append, "cancelled").cancel()
        loop.call_soon(ran.append, "second")
        await asyncio.sleep(0.05)

    loop.run_until_complete(main())
    assert ran == ["first", "second", "later"]


def test_a_failing_callback_is_reported_and_the_loop_goes_on(loop: Any) -> None:
    ran: list[str] = []

    def fail() -> None:
        raise ValueError("broken callback")

    async def main() -> None:
        loop.call_soon(fail)
        loop.call_later(0.01, ran.append, "after")
        await asyncio.sleep(0.03)

    loop.run_until_complete(main())
    assert ran == ["after"]
    assert [type(e.get("exception")) for e in loop.errors] == [ValueError]


def test_callbacks_that_keep_adding_callbacks_leave_room_for_the_window(loop: Any) -> None:
    """Callbacks added by callbacks run in the same Qt event, but not forever: a busy chain (a flood of
    transcript deltas, say) lets Qt's own events (input, painting) through, here a zero Qt timer."""
    window_events: list[int] = []
    hops = 0

    def hop() -> None:
        nonlocal hops
        hops += 1
        if hops == 1:
            QTimer.singleShot(0, lambda: window_events.append(hops))
        if not window_events and hops < 200_000:  # about 2 s of callbacks, then the chain gives up
            loop.call_soon(hop)

    async def main() -> None:
        loop.call_soon(hop)
        while not window_events and hops < 200_000:
            await asyncio.sleep(0.01)

    loop.run_until_complete(main())
    assert window_events, "the window's event never came"
    assert window_events[0] < 200_000, "the window's event waited for the callbacks to stop"


def test_a_modal_qt_loop_inside_a_callback_lets_the_other_callbacks_run(loop: Any) -> None:
    """A dialog's ``exec()`` runs a Qt loop of its own inside one callback; asyncio work (the connection) goes
    on meanwhile, as it does with qasync's own timers."""
    ran: list[str] = []
    ended = loop.create_future()

    def modal() -> None:
        inner = QEventLoop()
        QTimer.singleShot(1000, inner.quit)  # the dialog's own way out, should nothing else end it
        loop.call_soon(lambda: (ran.append("during the modal loop"), inner.quit()))
        inner.exec()
        ran.append("modal loop ended")
        ended.set_result(None)

    async def main() -> None:
        loop.call_soon(modal)
        await ended

    loop.run_until_complete(main())
    assert ran == ["during the modal loop", "modal loop ended"]


def test_a_slow_callback_does_not_strand_the_ones_queued_after_it(loop: Any) -> None:
    """Callbacks queued from outside the loop (a Qt slot, another thread's call_soon_threadsafe) run even when
    the one before them takes longer than the loop's budget for one Qt event."""
    ran: list[str] = []
    done = loop.create_future()

    def slow() -> None:
        time.sleep(0.02)  # more than RUN_SOON_BUDGET_S
        ran.append("slow")

    def from_qt() -> None:
        queued.append(loop.time())
        loop.call_soon(slow)
        loop.call_soon(lambda: (ran.append("after"), done.set_result(loop.time())))

    queued: list[float] = []

    async def main() -> float:
        QTimer.singleShot(0, from_qt)
        return await asyncio.wait_for(done, 2)  # or only when something else wakes the loop

    after_s = loop.run_until_complete(main()) - queued[0]
    assert ran == ["slow", "after"]
    assert after_s < 0.5, f"the callback after the slow one waited {after_s:.2f} s"


def test_a_modal_qt_loop_lets_the_callbacks_queued_behind_it_run(loop: Any) -> None:
    """The dialog's callback and another were queued together: the other runs while the dialog is open."""
    ran: list[str] = []
    ended = loop.create_future()

    def modal() -> None:
        inner = QEventLoop()
        QTimer.singleShot(1000, inner.quit)  # the dialog's own way out, should nothing else end it
        waiting.append(inner)
        inner.exec()
        ran.append("modal loop ended")
        ended.set_result(None)

    def other() -> None:
        ran.append("during the modal loop")
        waiting[0].quit()

    waiting: list[QEventLoop] = []

    def from_qt() -> None:
        loop.call_soon(modal)
        loop.call_soon(other)

    async def main() -> None:
        QTimer.singleShot(0, from_qt)
        await ended

    loop.run_until_complete(main())
    assert ran == ["during the modal loop", "modal loop ended"]


_FREED_ELSEWHERE = """
import asyncio, gc, threading, time
from PySide6.QtCore import QCoreApplication, QEventLoop
from PySide6.QtWidgets import QApplication
from voicelive_desktop.ui.eventloop import QtEventLoop

app = QApplication([])
holder = [QtEventLoop(app)]
loop = holder[0]
loop.run_until_complete(asyncio.sleep(0.01))
loop.call_later(0.2, print, "a timer of a closed loop fired")
loop.close()
del loop

def free() -> None:
    holder.clear()
    gc.collect()

freeing = threading.Thread(target=free)
freeing.start()
freeing.join()
end = time.monotonic() + 0.6
while time.monotonic() < end:
    QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
print("still running")
"""


def test_a_closed_loop_freed_on_another_thread_leaves_no_timer_behind() -> None:
    """The garbage collector may free a closed loop on any thread that happens to run it; a timer still pending
    then would be delivered to freed memory (a segmentation fault, seen in a loaded test run)."""
    done = subprocess.run(
        [sys.executable, "-c", _FREED_ELSEWHERE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.split() == ["still", "running"]
