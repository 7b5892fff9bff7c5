"""A raw websocket client for protocol-level checks of the emulator (no SDK, no app code in between)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

Event = dict[str, Any]
KEY = "demo"


class Wire:
    """One raw connection: send client events, read server events in the background, wait for some."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http, self.ws = http, ws
        self.events: list[Event] = []
        self.stamps: list[float] = []  # when each event arrived (time.monotonic)
        self.frames: list[str] = []  # every text frame as received, malformed ones included
        self.close_code: int | None = None
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self._n = 0

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(msg.data)
                try:
                    event = json.loads(msg.data)
                except json.JSONDecodeError:
                    event = None
                if isinstance(event, dict):
                    self.events.append(event)
                    self.stamps.append(time.monotonic())
            self._changed.set()
        self.close_code = self.ws.close_code
        self._changed.set()

    async def send(self, kind: str, **fields: Any) -> str:
        """Send one client event; returns its event_id."""
        self._n += 1
        event_id = f"evt_client_{self._n}"
        await self.ws.send_str(json.dumps({"type": kind, "event_id": event_id, **fields}))
        return event_id

    async def append(self, pcm: bytes, chunk: int = 4800) -> None:
        """Append audio in chunks (4800 bytes: 100 ms at 24 kHz)."""
        for i in range(0, len(pcm), chunk):
            await self.send("input_audio_buffer.append", audio=base64.b64encode(pcm[i : i + chunk]).decode())

    @property
    def closed(self) -> bool:
        """True once the connection has ended (closed or dropped)."""
        return self._reader.done()

    def of(self, kind: str) -> list[Event]:
        """Every received event of one type."""
        return [e for e in self.events if e.get("type") == kind]

    def types(self) -> list[str]:
        """The type of every received event, in order."""
        return [e["type"] for e in self.events]

    async def until(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds."""

        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                if self._reader.done() and not predicate():
                    raise AssertionError(f"connection closed ({self.close_code}) before the condition held")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

        await asyncio.wait_for(wait(), timeout)

    async def wait(self, kind: str, count: int = 1, timeout: float = 10.0) -> Event:
        """The ``count``-th event of type ``kind``."""
        await self.until(lambda: len(self.of(kind)) >= count, timeout)
        return self.of(kind)[count - 1]

    async def error_for(self, event_id: str, timeout: float = 5.0) -> Event:
        """The ``error`` event answering the client event ``event_id``."""
        await self.until(lambda: any(e["error"].get("event_id") == event_id for e in self.of("error")), timeout)
        return next(e for e in self.of("error") if e["error"].get("event_id") == event_id)

    async def update(self, **session: Any) -> Event:
        """``session.update``; returns ``session.updated`` or the ``error``."""
        before = len(self.events)
        event_id = await self.send("session.update", session=session)

        def answered() -> bool:
            return any(
                e["type"] == "session.updated" or (e["type"] == "error" and e["error"].get("event_id") == event_id)
                for e in self.events[before:]
            )

        await self.until(answered)
        return next(
            e
            for e in self.events[before:]
            if e["type"] == "session.updated" or (e["type"] == "error" and e["error"].get("event_id") == event_id)
        )

    async def close(self) -> None:
        """Close the connection and the HTTP session."""
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.http.close()


async def connect(
    endpoint: str,
    model: str = "gpt-4.1",
    *,
    profile: str | None = None,
    api_version: str = "2026-07-15",
    key: str = KEY,
) -> Wire:
    """Open a raw connection and wait for ``session.created``."""
    http = aiohttp.ClientSession()
    query = f"api-version={api_version}&model={model}" + (f"&profile={profile}" if profile else "")
    ws = await http.ws_connect(f"{endpoint}/voice-live/realtime?{query}", headers={"api-key": key})
    wire = Wire(http, ws)
    await wire.wait("session.created")
    return wire


def error_of(event: Event) -> tuple[str, str | None]:
    """(code, param) of an ``error`` event."""
    assert event["type"] == "error", event
    return event["error"]["code"], event["error"]["param"]


def tone(ms: int, rate: int = 24000, amplitude: float = 0.3) -> bytes:
    """A loud tone (speech to the VAD), PCM16 mono."""
    import numpy as np

    t = np.arange(rate * ms // 1000) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).tobytes()


def silence(ms: int, rate: int = 24000) -> bytes:
    """Silence, PCM16 mono."""
    return b"\0\0" * (rate * ms // 1000)
