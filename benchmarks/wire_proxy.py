"""A websocket proxy that timestamps every event between a Voice Live client and the service it talks to.

    proxy = WireProxy("http://127.0.0.1:8765").start()   # its own thread and event loop
    ...client connects to proxy.endpoint...
    proxy.client_events("input_audio_buffer.commit")      # [(monotonic time, event type, audio bytes), ...]

Each client->server event is stamped with ``time.monotonic()`` the moment the proxy has read it, before it
is forwarded; appended audio is decoded and kept, so a benchmark can find in it what was played into the
microphone. Server->client events are stamped too (type only). The proxy adds the same small delay to every
client, and what is measured happens before it forwards anything.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import WSMsgType, web

PATH = "/voice-live/realtime"


@dataclass(frozen=True)
class WireEvent:
    """One event seen on the wire."""

    at: float
    direction: str  # "up": client to server; "down": server to client
    type: str
    audio: bytes = b""


class WireProxy:
    """Forwards ``/voice-live/realtime`` to ``upstream`` and records what passes, in a thread of its own."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/").replace("http://", "ws://", 1)
        self.events: list[WireEvent] = []  # appended from the proxy thread; list.append is atomic
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="wire-proxy", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        """What a client passes as its Voice Live endpoint."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WireProxy:
        """Serve on a free local port."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Close every connection and the thread."""
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ queries (any thread)
    def since(self, t: float, direction: str | None = None, kind: str | None = None) -> list[WireEvent]:
        """Events seen at or after ``t``, optionally of one direction and type."""
        return [
            e
            for e in list(self.events)
            if e.at >= t and (direction is None or e.direction == direction) and (kind is None or e.type == kind)
        ]

    def wait_for(self, kind: str, after: float, timeout: float, direction: str | None = None) -> WireEvent | None:
        """The first event of type ``kind`` at or after ``after``, waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.since(after, direction, kind)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)

    # ------------------------------------------------------------------ forwarding (proxy thread)
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("api-key", "authorization")}
        url = f"{self.upstream}{PATH}?{request.query_string}"
        async with aiohttp.ClientSession() as http:
            try:
                upstream = await http.ws_connect(url, headers=headers, max_msg_size=64 * 1024 * 1024)
            except aiohttp.WSServerHandshakeError as exc:
                return web.Response(status=exc.status, text=exc.message)
            client = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024)
            await client.prepare(request)
            down = asyncio.create_task(self._pump_down(upstream, client))
            try:
                async for msg in client:
                    if msg.type != WSMsgType.TEXT:
                        continue
                    at = time.monotonic()
                    self.events.append(_parse_up(at, msg.data))
                    await upstream.send_str(msg.data)
            finally:
                down.cancel()
                await asyncio.gather(down, return_exceptions=True)
                await upstream.close()
        return client

    async def _pump_down(self, upstream: aiohttp.ClientWebSocketResponse, client: web.WebSocketResponse) -> None:
        async for msg in upstream:
            if msg.type != WSMsgType.TEXT:
                continue
            at = time.monotonic()
            self.events.append(WireEvent(at, "down", _type_of(msg.data)))
            if client.closed:
                return
            await client.send_str(msg.data)
        await client.close()


def _type_of(text: str) -> str:
    try:
        return str(json.loads(text).get("type", ""))
    except (ValueError, AttributeError):
        return ""


def _parse_up(at: float, text: str) -> WireEvent:
    try:
        event = json.loads(text)
    except ValueError:
        return WireEvent(at, "up", "")
    kind = str(event.get("type", ""))
    audio = b""
    if kind == "input_audio_buffer.append":
        audio = base64.b64decode(event.get("audio", ""))
    return WireEvent(at, "up", kind, audio)
