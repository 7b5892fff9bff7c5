"""The asyncio facade and the checkpoint policy: disk work off the loop's thread, in order, and a crash in the
middle of an answer costs at most about a second of it."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conversation.conftest import python
from tests.helpers import until
from voicelive_desktop.conversation.history import AsyncHistory, Checkpointer
from voicelive_desktop.conversation.store import HistoryStore, HistoryUnavailable, StoredMessage


async def test_the_store_runs_on_its_own_thread(db_path: Path) -> None:
    history = await AsyncHistory.open(db_path)
    seen = await history.call(lambda store: threading.get_ident())
    assert seen != threading.get_ident()
    await history.close()


async def test_reads_and_writes_keep_the_order_they_were_asked_in(db_path: Path) -> None:
    history = await AsyncHistory.open(db_path)
    cid = await history.new_conversation()
    for n in range(50):
        history.submit(HistoryStore.save_message, cid, StoredMessage(f"m{n}", "user", f"line {n}", final=True))
    history.submit(HistoryStore.save_message, cid, StoredMessage("a", "assistant", "par"))
    history.submit(HistoryStore.save_message, cid, StoredMessage("a", "assistant", "partial answer", final=True))
    messages = await history.load(cid)  # queued after the writes, so it sees all of them
    assert [m.text for m in messages] == [f"line {n}" for n in range(50)] + ["partial answer"]
    await history.close()


async def test_a_failed_write_is_reported_once_and_the_others_still_land(db_path: Path) -> None:
    problems: list[tuple[str, int]] = []
    history = await AsyncHistory.open(db_path, on_problem=lambda text: problems.append((text, threading.get_ident())))
    cid = await history.new_conversation()
    bad = StoredMessage("x", "robot", "beep")  # type: ignore[arg-type]
    history.submit(HistoryStore.save_message, cid, bad)
    history.submit(HistoryStore.save_message, cid, bad)
    history.submit(HistoryStore.save_message, cid, StoredMessage("u1", "user", "fine", final=True))
    assert [m.text for m in await history.load(cid)] == ["fine"]
    await until(lambda: bool(problems))
    [(text, thread)] = problems
    assert "robot" in text
    assert thread == threading.get_ident()  # delivered on the loop's thread, where the UI lives
    await history.close()


class FakeStore:
    """Just enough of a store to drive problem reporting."""

    problem: str | None = None
    pending_writes = 0

    def close(self, wait: float = 2.0) -> None:
        pass


async def test_a_problem_that_goes_away_and_comes_back_is_reported_again() -> None:
    problems: list[str] = []
    resolved: list[bool] = []
    history = AsyncHistory(
        asyncio.get_running_loop(),
        FakeStore,  # type: ignore[arg-type]
        on_problem=problems.append,
        on_resolved=lambda: resolved.append(True),
    )
    for problem in ("in use by another program", None, "in use by another program"):
        await history.call(setattr, "problem", problem)
    await history.close()  # the worker looks at the store's problem after each call
    await until(lambda: len(problems) == 2)
    assert problems == ["in use by another program"] * 2 and resolved == [True]


async def test_errors_of_awaited_calls_reach_the_caller(db_path: Path) -> None:
    history = await AsyncHistory.open(db_path)
    with pytest.raises(ValueError, match="robot"):
        await history.save_message("c", StoredMessage("x", "robot", "beep"))  # type: ignore[arg-type]
    await history.close()
    with pytest.raises(HistoryUnavailable):
        await history.load("c")
    history.submit(HistoryStore.save_message, "c", StoredMessage("late", "user", "too late"))  # never raises


async def test_close_saves_what_was_only_submitted(db_path: Path) -> None:
    history = await AsyncHistory.open(db_path)
    cid = await history.new_conversation()
    history.submit(HistoryStore.save_message, cid, StoredMessage("u1", "user", "last words", final=True))
    await history.close()
    assert [m.text for m in HistoryStore(db_path).load(cid)] == ["last words"]


class Recorder:
    """Stands in for AsyncHistory: records what the checkpointer submits."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.saved: list[StoredMessage] = []

    def submit(self, fn: Callable[..., Any], conversation_id: str, message: StoredMessage) -> None:
        assert fn is HistoryStore.save_message
        self.saved.append(message)


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_stream_is_written_at_most_once_per_interval_and_always_when_final() -> None:
    recorder, clock = Recorder(), ManualClock()
    checkpointer = Checkpointer(recorder, interval=1.0, clock=clock)  # type: ignore[arg-type]
    text = ""
    for n in range(1, 10):
        text += f"w{n} "
        checkpointer.update("c", StoredMessage("a", "assistant", text))
        clock.now += 0.1
    assert [m.text for m in recorder.saved] == ["w1 "]  # the first words at once, then nothing within the second
    clock.now += 0.2  # 1.1 s after the first write
    checkpointer.update("c", StoredMessage("a", "assistant", text + "w10"))
    assert recorder.saved[-1].text.endswith("w9 w10")
    checkpointer.update("c", StoredMessage("a", "assistant", text + "w10.", final=True))
    assert [m.final for m in recorder.saved] == [False, False, True]
    checkpointer.update("c", StoredMessage("a", "assistant", text + "w10.", final=True, heard_ms=900))
    assert recorder.saved[-1].heard_ms == 900  # a finished message that changes again is written again


async def test_the_last_words_before_a_pause_are_written_by_the_timer() -> None:
    recorder = Recorder()
    checkpointer = Checkpointer(recorder, interval=0.05)  # type: ignore[arg-type]
    checkpointer.update("c", StoredMessage("a", "assistant", "Let me"))
    checkpointer.update("c", StoredMessage("a", "assistant", "Let me think"))
    checkpointer.update("c", StoredMessage("a", "assistant", "Let me think"))  # unchanged: no extra write
    assert [m.text for m in recorder.saved] == ["Let me"]
    await until(lambda: len(recorder.saved) == 2)
    assert recorder.saved[-1].text == "Let me think"
    checkpointer.update("c", StoredMessage("a", "assistant", "Let me think about it"))
    checkpointer.flush()
    assert recorder.saved[-1].text == "Let me think about it"


STREAM_THEN_DIE = """
import asyncio, sys
from pathlib import Path
from voicelive_desktop.conversation.history import AsyncHistory, Checkpointer
from voicelive_desktop.conversation.store import StoredMessage

async def main():
    history = await AsyncHistory.open(Path(sys.argv[1]))
    checkpointer = Checkpointer(history, interval=1.0)
    cid = await history.new_conversation()
    for n in range(3):
        checkpointer.update(cid, StoredMessage(f"u{n}", "user", f"question {n}", final=True))
        checkpointer.update(cid, StoredMessage(f"a{n}", "assistant", f"answer {n}", final=True))
    print(cid, flush=True)
    text = ""
    n = 0
    while True:
        text += f"word{n} "
        checkpointer.update(cid, StoredMessage("streaming", "assistant", text.strip()))
        print(n, flush=True)
        n += 1
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


def test_killed_mid_answer_keeps_every_finished_message_and_most_of_the_partial_one(db_path: Path) -> None:
    process = python(STREAM_THEN_DIE, str(db_path))
    assert process.stdout is not None
    cid = process.stdout.readline().strip()
    while (last := int(process.stdout.readline())) < 60:  # three seconds of streaming
        pass
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL

    history = HistoryStore(db_path)
    messages = history.load(cid)
    history.close()
    assert history.problem is None
    finished, streaming = messages[:-1], messages[-1]
    assert [(m.text, m.final) for m in finished] == [
        (text, True) for n in range(3) for text in (f"question {n}", f"answer {n}")
    ]
    assert streaming.message_id == "streaming" and not streaming.final
    words = streaming.text.split()
    assert words == [f"word{n}" for n in range(len(words))]  # a clean prefix of what was streamed
    assert len(words) > last - 40  # at most ~1 s (20 words) lost, with room for a slow machine
