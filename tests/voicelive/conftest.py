"""Fixtures for the session core: an in-process emulator and a session factory on the real SDK."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from voicelive_desktop.emulator import Emulator
from voicelive_desktop.voicelive.config import SessionConfig
from voicelive_desktop.voicelive.credentials import AuthMethod, CredentialSpec, build_credential
from voicelive_desktop.voicelive.events import AppEvent
from voicelive_desktop.voicelive.modes import Mode, Target
from voicelive_desktop.voicelive.session import VoiceLiveSession

API_KEY = "k3y-Z9xQ-very-secret-value-0042"


class Recorder:
    """Collects a session's app events and lets a test wait for one."""

    def __init__(self, session: VoiceLiveSession) -> None:
        self.session = session
        self.events: list[AppEvent] = []
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        async for event in self.session.events():
            self.events.append(event)
            self._changed.set()

    def of(self, kind: type[Any]) -> list[Any]:
        """Every recorded event of one type."""
        return [e for e in self.events if isinstance(e, kind)]

    async def wait_for(self, predicate: Callable[[AppEvent], bool], timeout: float = 10.0) -> AppEvent:
        """The first event (already seen or coming) that satisfies ``predicate``."""

        async def scan() -> AppEvent:
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def wait_type(self, kind: type[Any], timeout: float = 10.0) -> Any:
        """The first event of type ``kind``."""
        return await self.wait_for(lambda e: isinstance(e, kind), timeout)


@pytest.fixture
async def emulator(start_emulator: Any) -> Emulator:
    """A running emulator that accepts the test key."""
    return await start_emulator(api_key=API_KEY)


@pytest.fixture
async def open_session(emulator: Emulator) -> AsyncIterator[Callable[..., Any]]:
    """Connect a real session to the emulator; closes every session it made at teardown."""
    made: list[tuple[VoiceLiveSession, Recorder]] = []

    async def factory(
        mode: Mode = Mode.MANAGED,
        deployment: str = "gpt-realtime",
        *,
        key: str = API_KEY,
        config: SessionConfig | None = None,
        endpoint: str | None = None,
        **kwargs: Any,
    ) -> tuple[VoiceLiveSession, Recorder]:
        target = Target(endpoint or emulator.endpoint, mode, deployment)
        credential = build_credential(CredentialSpec(AuthMethod.API_KEY, key))
        session = VoiceLiveSession(target, credential, config or SessionConfig(), **kwargs)
        recorder = Recorder(session)
        made.append((session, recorder))
        await session.connect()
        return session, recorder

    yield factory
    for session, recorder in made:
        await session.close()
        await asyncio.wait_for(recorder.task, 5)
