"""Ending tasks: a task that waits for a child it stopped must still obey its own cancellation.

When the app quits (or a test fails and its loop is torn down), every task left is cancelled. A task that
swallowed that cancellation kept reconnecting to a service nobody wanted, and the quit never finished.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import API_KEY, build_core, key_credential, target, until
from voicelive_desktop.emulator import Emulator, EmulatorOptions
from voicelive_desktop.supervisor import Backoff
from voicelive_desktop.tasks import finish
from voicelive_desktop.voicelive.config import SessionConfig
from voicelive_desktop.voicelive.events import ConnectionChanged, ConnState
from voicelive_desktop.voicelive.session import VoiceLiveSession


async def test_a_caller_cancelled_while_it_waits_for_a_child_stops_there() -> None:
    child = asyncio.create_task(asyncio.sleep(30))
    went_on: list[bool] = []

    async def stop_child() -> None:
        await finish(child, grace_s=10)
        went_on.append(True)

    caller = asyncio.create_task(stop_child())
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert went_on == [], "the caller carried on after being cancelled"
    child.cancel()


async def test_a_child_that_ignores_a_stop_is_cancelled_after_its_grace() -> None:
    child = asyncio.create_task(asyncio.sleep(30))
    await asyncio.wait_for(finish(child, grace_s=0.05), 5)
    assert child.cancelled()


async def test_a_cancelled_child_is_no_error_and_a_failed_child_is() -> None:
    await finish(asyncio.create_task(asyncio.sleep(30)), cancel=True)

    async def broken() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await finish(asyncio.create_task(broken()))


async def test_quitting_while_the_service_is_down_stops_the_reconnecting() -> None:
    core = build_core(backoff=Backoff(base=0.05, cap=0.1))
    emulator = Emulator(EmulatorOptions(api_key=API_KEY))
    await emulator.start()
    try:
        assert await core.connect(target(emulator))
        await emulator.stop()  # the service goes away: the supervisor retries every 0.1 s
        await core.events.until(lambda: sum(1 for s in core.events.of(ConnectionChanged) if s.attempt) >= 3)
        loop_task = next(t for t in asyncio.all_tasks() if t.get_name() == "connection-supervisor")
        loop_task.cancel()  # once, as the event loop's shutdown cancels what is left
        await asyncio.wait({loop_task}, timeout=5)
        assert loop_task.done(), "the supervisor swallowed its cancellation and went on reconnecting"
        states = len(core.events.of(ConnectionChanged))
        await asyncio.sleep(0.5)
        assert len(core.events.of(ConnectionChanged)) == states, "no more attempts after the quit"
        assert core.events.of(ConnectionChanged)[-1].state is not ConnState.CONNECTED
    finally:
        await core.close()
        await emulator.stop()


@pytest.mark.parametrize("steps", range(1, 7))
async def test_a_session_closing_when_the_app_quits_closes_its_socket_and_stops(emulator: Emulator, steps: int) -> None:
    session = VoiceLiveSession(target(emulator), key_credential(), SessionConfig())
    assert await session.connect()
    closing = asyncio.create_task(session.close())
    for _ in range(steps):  # the quit lands at a different point of the close each time
        await asyncio.sleep(0)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await until(lambda: emulator.open_sockets == 0, 5)


async def test_a_session_whose_sender_failed_on_a_dying_socket_still_closes(emulator: Emulator) -> None:
    session = VoiceLiveSession(target(emulator), key_credential(), SessionConfig())
    assert await session.connect()

    async def reset() -> None:
        raise ConnectionResetError("the socket was reset")

    assert session._sender is not None
    session._sender.cancel()  # the sender, as if its last send had failed on a reset socket
    session._sender = asyncio.create_task(reset())
    await session.close()
    await until(lambda: emulator.open_sockets == 0, 5)
