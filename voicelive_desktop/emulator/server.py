"""The emulator's HTTP side: the websocket handshake, authentication, test knobs and the record of traffic.

The handshake is refused, before the upgrade, as the service refuses it: a missing or undocumented
api-version, a missing model, an unknown profile, a bad key or token, an unknown deployment. The control
endpoint (``/emulator/...``, see control.py) lets a person turn the fault knobs while an app is connected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from . import control
from .conversation import RealtimeConversation
from .items import Event, Pace
from .options import MALFORMED_FRAMES, EmulatorOptions
from .protocol import API_VERSIONS, AZURE_REALTIME_SINCE, PROFILES, RequestError, error_event, version_at_least
from .responses import RateLimits
from .speech import Recognizer, Synthesizer

log = logging.getLogger(__name__)

PATH = "/voice-live/realtime"

__all__ = ["PATH", "PROFILES", "ConnectionRecord", "Emulator", "EmulatorOptions", "Pace"]


@dataclass
class ConnectionRecord:
    """What one client connection carried, for tests to assert on.

    Attributes:
        malformed: the malformed frames injected (kept apart from ``sent``, which holds only events).
    """

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    received: list[Event] = field(default_factory=list)
    sent: list[Event] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    conversation: RealtimeConversation | None = None
    open: bool = True

    def received_types(self) -> list[str]:
        """The type of every client event, in order."""
        return [e.get("type", "") if isinstance(e, dict) else "" for e in self.received]


def _refuse(status: int, code: str, message: str, retry_after_s: float | None = None) -> web.Response:
    headers = {"x-ms-error-code": code}
    if retry_after_s is not None:
        headers["Retry-After"] = f"{retry_after_s:g}"
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


class _SocketLink:
    """The conversation's way out: records each event and applies the event-count fault knobs."""

    def __init__(
        self, ws: web.WebSocketResponse, request: web.Request, record: ConnectionRecord, opts: EmulatorOptions
    ):
        self.ws, self.request, self.record, self.opts = ws, request, record, opts
        self._lock = asyncio.Lock()
        self.sent_count = 0  # the event-count knobs count here: the record may not be kept

    async def send(self, event: Event) -> None:
        async with self._lock:
            if not await self._write(json.dumps(event)):
                return
            self._keep(event)
            n, opts = self.sent_count, self.opts
            if opts.inject_error_after is not None and n == opts.inject_error_after:
                injected = error_event(
                    RequestError("injected_error", "Injected test error.", kind="server_error"), None
                )
                injected["event_id"] = "event_injected"
                if await self._write(json.dumps(injected)):
                    self._keep(injected)
            if opts.warning_after is not None and n == opts.warning_after:
                warning = {"type": "warning", "event_id": "event_warning", "warning": WARNING}
                if await self._write(json.dumps(warning)):
                    self._keep(warning)
            if opts.malformed_after is not None and n == opts.malformed_after:
                await self._raw(MALFORMED_FRAMES[opts.malformed_kind])
            if opts.drop_after_events is not None and n >= opts.drop_after_events:
                self.abort()

    def _keep(self, event: Event) -> None:
        self.sent_count += 1
        if self.opts.record_traffic:
            self.record.sent.append(event)

    async def send_raw(self, text: str) -> None:
        async with self._lock:
            await self._raw(text)

    async def _raw(self, text: str) -> None:
        if await self._write(text):
            self.record.malformed.append(text)

    async def _write(self, text: str) -> bool:
        if self.ws.closed or self.request.transport is None or self.request.transport.is_closing():
            return False
        try:
            await self.ws.send_str(text)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            return False
        return True

    def abort(self) -> None:
        if self.request.transport is not None:
            self.request.transport.abort()

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=reason.encode()[:123])


WARNING = {
    "message": "Audio input is clipping; lower the microphone gain.",
    "code": "input_audio_clipping",
    "param": None,
}


class Emulator:
    """A local Voice Live service. Use ``await start()`` in-process, or ``python -m voicelive_desktop.emulator``."""

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.options = options or EmulatorOptions()
        self.connections: list[ConnectionRecord] = []
        self._recognizer = Recognizer(enabled=self.options.use_recognizer)
        self._synth = Synthesizer(use_espeak=self.options.use_espeak)
        self._rate_limits = RateLimits()
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self.links: dict[int, _SocketLink] = {}  # by index in ``connections``, while open
        self.peak_open = 0  # the most websockets open at once: each would be a billed session on Azure
        self.port = 0
        self._warming: asyncio.Task[None] | None = None

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
        control.add_routes(app, self)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.port = sock.getsockname()[1]
        self._warming = asyncio.create_task(self._recognizer.warm_up())  # see Recognizer: not at the first turn
        return self.endpoint

    async def stop(self) -> None:
        """Close every connection and stop serving."""
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._warming is not None:
            await asyncio.gather(self._warming, return_exceptions=True)  # a worker thread: it cannot be cut short
            self._warming = None

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
        q, opts = request.query, self.options
        version = q.get("api-version")
        if not version:
            return _refuse(400, "MissingApiVersion", "The api-version query parameter is required.")
        if version not in API_VERSIONS and not opts.skip_api_version_check:
            return _refuse(
                400,
                "UnsupportedApiVersion",
                f"The HTTP resource that matches the request URI does not support the API version '{version}'. "
                f"Supported versions: {', '.join(API_VERSIONS)}.",
            )
        model = q.get("model", "")
        if not model:
            return _refuse(400, "MissingModel", "The model query parameter is required.")
        profile = q.get("profile")
        if profile is not None and profile not in PROFILES:
            return _refuse(400, "InvalidProfile", f"Unknown profile '{profile}'. Supported: {', '.join(PROFILES)}.")
        azure_realtime = profile is None and model.lower() == "azure-realtime"
        if azure_realtime and not version_at_least(version, AZURE_REALTIME_SINCE) and not opts.skip_api_version_check:
            return _refuse(
                400,
                "UnsupportedApiVersion",
                f"The model 'azure-realtime' requires api-version {AZURE_REALTIME_SINCE} or later ('{version}' given).",
            )
        if opts.refuse_with is not None:
            status, code = opts.refuse_with
            return _refuse(status, code, f"Refused by emulator configuration ({code}).", opts.retry_after_s)
        if not self._authorized(request.headers):
            return _refuse(401, "Unauthorized", "Access denied due to invalid subscription key or token.")
        if opts.deployments is not None and model not in opts.deployments:
            return _refuse(404, "DeploymentNotFound", f"The API deployment '{model}' for this resource does not exist.")
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        refusal = self._check(request)
        if refusal is not None:
            return refusal
        record = ConnectionRecord(request.path, dict(request.query), dict(request.headers))
        index = len(self.connections)
        self.connections.append(record)
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024, heartbeat=30)
        ws.headers["x-ms-region"] = "local-emulator"  # the service names its region in the handshake response
        await ws.prepare(request)
        self._sockets.add(ws)
        self.peak_open = max(self.peak_open, len(self._sockets))
        link = self.links[index] = _SocketLink(ws, request, record, self.options)
        conversation = RealtimeConversation(
            link,
            deployment=request.query["model"],
            profile=request.query.get("profile"),
            api_version=request.query["api-version"],
            recognizer=self._recognizer,
            synthesizer=self._synth,
            options=self.options,
            rate_limits=self._rate_limits,
        )
        record.conversation = conversation
        timers = [asyncio.create_task(t) for t in self._timers(link)]
        try:
            await conversation.start()
            await self._serve(ws, record, conversation)
        finally:
            record.open = False
            self.links.pop(index, None)
            await conversation.close()
            for timer in timers:
                timer.cancel()
            await asyncio.gather(*timers, return_exceptions=True)
            self._sockets.discard(ws)
        return ws

    def _timers(self, link: _SocketLink) -> list[Any]:
        opts, timers = self.options, []
        if opts.close_after_s is not None:
            timers.append(self._close_later(link, opts.close_after_s))
        if opts.session_lifetime_s is not None:
            timers.append(expire_later(link, opts.session_lifetime_s))
        return timers

    async def _serve(
        self, ws: web.WebSocketResponse, record: ConnectionRecord, conversation: RealtimeConversation
    ) -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                event = json.loads(msg.data)
            except json.JSONDecodeError:
                await conversation.refuse(RequestError("invalid_json", "The message is not valid JSON."), None)
                continue
            if self.options.record_traffic:
                record.received.append(event)
            await conversation.handle(event)

    async def _close_later(self, link: _SocketLink, after_s: float) -> None:
        await asyncio.sleep(after_s)
        await link.close(self.options.close_code, self.options.close_reason)


def expiry_message(lifetime_s: float) -> str:
    """The service's words for a session that ran out (minutes, as the service counts them)."""
    if lifetime_s >= 60:
        return f"Your session hit the maximum duration of {lifetime_s / 60:g} minutes."
    return f"Your session hit the maximum duration of {lifetime_s:g} seconds."


async def expire_later(link: _SocketLink, lifetime_s: float) -> None:
    """At the end of the session's life: the ``session_expired`` error, then close 1001 with the same words."""
    await asyncio.sleep(lifetime_s)
    await expire_now(link, lifetime_s)


async def expire_now(link: _SocketLink, lifetime_s: float) -> None:
    """Expire the session at once (also reachable through the control endpoint)."""
    message = expiry_message(lifetime_s)
    await link.send({"event_id": "event_expired", **error_event(RequestError("session_expired", message), None)})
    await link.close(1001, message)
