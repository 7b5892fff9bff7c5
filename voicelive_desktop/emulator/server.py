"""The emulator's HTTP side: the websocket handshake, authentication, test knobs and the record of traffic."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .items import Event, Pace
from .realtime import RealtimeConversation
from .speech import Recognizer, Synthesizer

log = logging.getLogger(__name__)

PATH = "/voice-live/realtime"
PROFILES = ("byom-azure-openai-realtime", "byom-azure-openai-chat-completion")


@dataclass
class EmulatorOptions:
    """How the emulated service behaves.

    Attributes:
        api_key: the accepted ``api-key`` header; None accepts any key.
        bearer_tokens: accepted ``Authorization: Bearer`` tokens; empty accepts none unless ``api_key`` is None.
        deployments: known deployment names; None accepts any.
        pace: streaming speed and delays.
        drop_after_events: abort the transport (no close frame) after sending this many events.
        close_after_s / close_code / close_reason: close the socket cleanly after this long.
        inject_error_after: send an ``error`` event after this many events.
        refuse_with: refuse every handshake with this (status, error code), e.g. (403, "PermissionDenied").
        retry_after_s: the Retry-After header sent with a refusal (a 429 or 503 says when to come back).
        use_espeak / use_recognizer: turn the optional speech parts off.
    """

    api_key: str | None = "demo"
    bearer_tokens: frozenset[str] = frozenset()
    deployments: frozenset[str] | None = None
    pace: Pace = field(default_factory=Pace)
    drop_after_events: int | None = None
    close_after_s: float | None = None
    close_code: int = 1001
    close_reason: str = "session_expired"
    inject_error_after: int | None = None
    refuse_with: tuple[int, str] | None = None
    retry_after_s: float | None = None
    use_espeak: bool = True
    use_recognizer: bool = True


@dataclass
class ConnectionRecord:
    """What one client connection carried, for tests to assert on."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    received: list[Event] = field(default_factory=list)
    sent: list[Event] = field(default_factory=list)
    conversation: RealtimeConversation | None = None

    def received_types(self) -> list[str]:
        """The type of every client event, in order."""
        return [e.get("type", "") for e in self.received]


def _refuse(status: int, code: str, message: str, retry_after_s: float | None = None) -> web.Response:
    headers = {"x-ms-error-code": code}
    if retry_after_s is not None:
        headers["Retry-After"] = f"{retry_after_s:g}"
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


class Emulator:
    """A local Voice Live service. Use ``await start()`` in-process, or ``python -m voicelive_desktop.emulator``."""

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.options = options or EmulatorOptions()
        self.connections: list[ConnectionRecord] = []
        self._recognizer = Recognizer(enabled=self.options.use_recognizer)
        self._synth = Synthesizer(use_espeak=self.options.use_espeak)
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self.peak_open = 0  # the most websockets open at once: each would be a billed session on Azure
        self.port = 0

    @property
    def endpoint(self) -> str:
        """The endpoint a client passes to the SDK."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def voice_name(self) -> str:
        """What speaks the answers (espeak-ng or tone)."""
        return self._synth.voice_name

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); returns the endpoint."""
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.port = sock.getsockname()[1]
        return self.endpoint

    async def stop(self) -> None:
        """Close every connection and stop serving."""
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def open_sockets(self) -> int:
        """Websockets open now."""
        return len(self._sockets)

    def last(self) -> ConnectionRecord:
        """The most recent connection."""
        return self.connections[-1]

    # ------------------------------------------------------------------ handshake
    def _authorized(self, headers: Any) -> bool:
        opts = self.options
        key: str | None = headers.get("api-key")
        bearer: str = headers.get("Authorization", "")
        if bearer.lower().startswith("bearer "):
            return bearer[7:] in opts.bearer_tokens
        if opts.api_key is None:
            return key is not None
        return key == opts.api_key

    def _check(self, request: web.Request) -> web.Response | None:
        q = request.query
        if not q.get("api-version"):
            return _refuse(400, "MissingApiVersion", "The api-version query parameter is required.")
        model = q.get("model", "")
        if not model:
            return _refuse(400, "MissingModel", "The model query parameter is required.")
        profile = q.get("profile")
        if profile is not None and profile not in PROFILES:
            return _refuse(400, "InvalidProfile", f"Unknown profile '{profile}'. Supported: {', '.join(PROFILES)}.")
        if self.options.refuse_with is not None:
            status, code = self.options.refuse_with
            return _refuse(status, code, f"Refused by emulator configuration ({code}).", self.options.retry_after_s)
        if not self._authorized(request.headers):
            return _refuse(401, "Unauthorized", "Access denied due to invalid subscription key or token.")
        if self.options.deployments is not None and model not in self.options.deployments:
            return _refuse(404, "DeploymentNotFound", f"The API deployment '{model}' for this resource does not exist.")
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        refusal = self._check(request)
        if refusal is not None:
            return refusal
        record = ConnectionRecord(request.path, dict(request.query), dict(request.headers))
        self.connections.append(record)
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024, heartbeat=30)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.peak_open = max(self.peak_open, len(self._sockets))
        opts = self.options
        lock = asyncio.Lock()

        async def send(event: Event) -> None:
            async with lock:
                if ws.closed:
                    return
                record.sent.append(event)
                await ws.send_str(json.dumps(event))
                n = len(record.sent)
                if opts.inject_error_after is not None and n == opts.inject_error_after:
                    injected = {
                        "type": "error",
                        "event_id": "event_injected",
                        "error": {
                            "type": "server_error",
                            "code": "injected_error",
                            "message": "Injected test error.",
                        },
                    }
                    record.sent.append(injected)
                    await ws.send_str(json.dumps(injected))
                if opts.drop_after_events is not None and n >= opts.drop_after_events and request.transport:
                    request.transport.abort()

        conversation = RealtimeConversation(
            send,
            deployment=request.query["model"],
            profile=request.query.get("profile"),
            recognizer=self._recognizer,
            synthesizer=self._synth,
            pace=opts.pace,
        )
        record.conversation = conversation
        closer = asyncio.create_task(self._close_later(ws)) if opts.close_after_s is not None else None
        try:
            await conversation.start()
            await self._serve(ws, record, conversation)
        finally:
            await conversation.close()
            if closer is not None:
                closer.cancel()
                await asyncio.gather(closer, return_exceptions=True)
            self._sockets.discard(ws)
        return ws

    async def _serve(
        self, ws: web.WebSocketResponse, record: ConnectionRecord, conversation: RealtimeConversation
    ) -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                event = json.loads(msg.data)
            except json.JSONDecodeError:
                await conversation.error("invalid_json", "Messages must be JSON.")
                continue
            record.received.append(event)
            await conversation.handle(event)

    async def _close_later(self, ws: web.WebSocketResponse) -> None:
        assert self.options.close_after_s is not None
        await asyncio.sleep(self.options.close_after_s)
        await ws.close(code=self.options.close_code, message=self.options.close_reason.encode())
