"""Fixtures for the emulator's own tests: a raw connection to a fresh emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.emulator.wire import KEY, Wire, connect


@pytest.fixture
async def open_wire(
    start_emulator: Callable[..., Awaitable[Any]],
) -> AsyncIterator[Callable[..., Awaitable[tuple[Any, Wire]]]]:
    """Start an emulator (fast: tone voice, no recogniser, unless overridden) and open a raw connection to it."""
    wires: list[Wire] = []

    async def open_(
        model: str = "gpt-4.1", *, profile: str | None = None, api_version: str = "2026-07-15", **options: Any
    ) -> tuple[Any, Wire]:
        emulator = await start_emulator(**{"api_key": KEY, "use_espeak": False, "use_recognizer": False, **options})
        wire = await connect(emulator.endpoint, model, profile=profile, api_version=api_version)
        wires.append(wire)
        return emulator, wire

    yield open_
    for wire in wires:
        await wire.close()
