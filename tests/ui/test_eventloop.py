"""The app's event loop: qasync's, with timers that keep asyncio's promise (never early) and that never outlive
the loop, and everything else asyncio code relies on: order, errors reported and not fatal, cancelled callbacks
skipped."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
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
