"""The session core's fixture: real sessions on the real SDK, connected to the in-process emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.helpers import API_KEY, EventLog, key_credential
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.voicelive.config import SessionConfig
from voicelive_desktop.voicelive.modes import Mode, Target
from voicelive_desktop.voicelive.session import VoiceLiveSession


@pytest.fixture
async def open_session(emulator: Emulator) -> AsyncIterator[Callable[..., Any]]:
    """Connect a real session to the emulator; closes every session it made at teardown."""
    made: list[tuple[VoiceLiveSession, EventLog]] = []

    async def factory(
        mode: Mode = Mode.MANAGED,
        deployment: str = "gpt-realtime",
        *,
        key: str = API_KEY,
        config: SessionConfig | None = None,
        endpoint: str | None = None,
        **kwargs: Any,
    ) -> tuple[VoiceLiveSession, EventLog]:
        target = Target(endpoint or emulator.endpoint, mode, deployment)
        session = VoiceLiveSession(target, key_credential(key), config or SessionConfig(), **kwargs)
        log = EventLog(session.events())
        made.append((session, log))
        await session.connect()
        return session, log

    yield factory
    for session, log in made:
        await session.close()
        assert log.task is not None
        await asyncio.wait_for(log.task, 5)
