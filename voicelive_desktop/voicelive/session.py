"""``VoiceLiveSession``: one Voice Live connection, one reader task, one sender task, app events out.

The SDK forbids two concurrent ``recv()`` calls and its ``async for`` hides close codes, so exactly one reader
task runs a ``recv()`` loop. Every outgoing event goes through one queue drained by one sender task, which keeps
order when the socket applies back-pressure and lets callers enqueue without awaiting the network.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import aiohttp
from azure.ai.voicelive.aio import ConnectionClosed, VoiceLiveConnection
from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError
from azure.ai.voicelive.aio import connect as sdk_connect
from azure.ai.voicelive.models import (
    AssistantMessageItem,
    ClientEvent,
    ClientEventConversationItemCreate,
    ClientEventConversationItemTruncate,
    ClientEventInputAudioBufferAppend,
    ClientEventInputAudioBufferClear,
    ClientEventInputAudioBufferCommit,
    ClientEventResponseCancel,
    ClientEventResponseCreate,
    ClientEventSessionUpdate,
    InputTextContentPart,
    OutputTextContentPart,
    ServerEvent,
    ServerEventConversationItemInputAudioTranscriptionCompleted,
    ServerEventConversationItemInputAudioTranscriptionDelta,
    ServerEventConversationItemInputAudioTranscriptionFailed,
    ServerEventError,
    ServerEventInputAudioBufferCommitted,
    ServerEventInputAudioBufferSpeechStarted,
    ServerEventInputAudioBufferSpeechStopped,
    ServerEventResponseAudioDelta,
    ServerEventResponseAudioTranscriptDelta,
    ServerEventResponseAudioTranscriptDone,
    ServerEventResponseCreated,
    ServerEventResponseDone,
    ServerEventResponseOutputItemAdded,
    ServerEventResponseTextDelta,
    ServerEventResponseTextDone,
    ServerEventSessionCreated,
    UserMessageItem,
)
from azure.core.exceptions import ClientAuthenticationError

from . import errors
from .config import SessionConfig
from .credentials import Credential, ExpiryTrackingCredential
from .events import (
    AppEvent,
    AssistantAudio,
    AssistantInterrupted,
    AssistantTranscriptDelta,
    AssistantTranscriptFinal,
    ConnectionChanged,
    ConnState,
    ErrorCategory,
    ErrorRaised,
    LatencyMark,
    ResponseFinished,
    SpeechDetected,
    TurnChanged,
    TurnState,
    UserTextSent,
    UserTranscriptDelta,
    UserTranscriptFinal,
    UserTurnCommitted,
)
from .modes import Target

log = logging.getLogger(__name__)

#: The service refuses to commit less than this much audio; such a turn is reported as "nothing heard".
MIN_COMMIT_MS = 100
_STOP = object()


class Connector(Protocol):
    """The SDK's ``connect``; injectable so a test can wrap it."""

    def __call__(self, **kwargs: Any) -> AbstractAsyncContextManager[VoiceLiveConnection]: ...


class VoiceLiveSession:
    """A live conversation with one deployment, speaking the push-to-talk protocol.

    Args:
        target: endpoint, mode and deployment.
        credential: an ``AzureKeyCredential`` or an :class:`ExpiryTrackingCredential`.
        config: what ``session.update`` carries.
        connector: the SDK's ``connect`` (tests may wrap it).
    """

    def __init__(
        self,
        target: Target,
        credential: Credential,
        config: SessionConfig,
        *,
        connector: Connector = sdk_connect,  # type: ignore[assignment]  # overloaded, same call shape
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.config = config
        self._credential = credential
        self._connector = connector
        self._clock = clock
        self._events: asyncio.Queue[AppEvent | None] = asyncio.Queue()
        self._outbox: asyncio.Queue[ClientEvent | object] = asyncio.Queue()
        self._stack: contextlib.AsyncExitStack | None = None
        self._conn: VoiceLiveConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._closing = False
        self._state = ConnState.DISCONNECTED
        self._pending_bytes = 0
        self._active_response: str | None = None
        self._assistant_item: str | None = None
        self._assistant_item_has_audio = False
        self._audio_seen_in_response = False

    # ----------------------------------------------------------------- lifecycle
    @property
    def state(self) -> ConnState:
        """The connection's current state."""
        return self._state

    def token_seconds_left(self) -> float | None:
        """Seconds before the Entra ID token this connection used expires; None for an API key."""
        if isinstance(self._credential, ExpiryTrackingCredential):
            return self._credential.seconds_left()
        return None

    async def connect(self) -> bool:
        """Open the connection and configure the session. Failures become :class:`ErrorRaised` events.

        Returns:
            True when connected.
        """
        self._set_state(ConnState.CONNECTING)
        self._closing = False
        stack = contextlib.AsyncExitStack()
        try:
            manager = self._connector(
                credential=self._credential,
                endpoint=self.target.endpoint,
                model=self.target.deployment,
                query=self.target.query,
                **({"api_version": self.target.api_version} if self.target.api_version else {}),
            )
            self._conn = await stack.enter_async_context(manager)
        except (VoiceLiveConnectionError, ClientAuthenticationError, aiohttp.ClientError, OSError) as exc:
            await stack.aclose()
            self._emit(self._classify_connect_error(exc))
            self._set_state(ConnState.FAILED)
            return False
        self._stack = stack
        self._outbox = asyncio.Queue()
        self._outbox.put_nowait(ClientEventSessionUpdate(session=self.config.to_request_session()))
        self._reader = asyncio.create_task(self._read_loop(), name="voicelive-reader")
        self._sender = asyncio.create_task(self._send_loop(), name="voicelive-sender")
        self._set_state(ConnState.CONNECTED)
        return True

    async def close(self) -> None:
        """Close the connection and wait for both tasks; safe to call twice or after a failure."""
        self._closing = True
        if self._sender is not None:
            self._outbox.put_nowait(_STOP)
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._sender, timeout=2)  # flushes what was queued; cancelled if stuck
        if self._reader is not None:
            # Stop reading before the socket closes, or the SDK sees the closing frame and logs a warning.
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._stack is not None:
            stack, self._stack = self._stack, None
            try:
                await stack.aclose()
            except Exception as exc:  # the peer may already be gone; nothing more to do about it
                log.debug("closing the connection failed: %s", type(exc).__name__)
        self._reader = self._sender = None
        self._conn = None
        self._active_response = None
        if self._state is not ConnState.FAILED:
            self._set_state(ConnState.DISCONNECTED)
        self._events.put_nowait(None)

    async def events(self) -> AsyncIterator[AppEvent]:
        """Every app event, in order, until the session is closed."""
        while (event := await self._events.get()) is not None:
            yield event

    # ------------------------------------------------------------ conversation
    def update_config(self, config: SessionConfig) -> None:
        """Apply voice, instructions or turn detection to the live session."""
        self.config = config
        self._send(ClientEventSessionUpdate(session=config.to_request_session()))

    def begin_turn(self, heard_ms: int | None = None) -> None:
        """The key went down: interrupt the assistant if it is talking, then start a clean input buffer.

        Args:
            heard_ms: how much of the current assistant item the user actually heard (from the playback
                clock), or None when nothing is playing.
        """
        self.interrupt(heard_ms)
        self._send(ClientEventInputAudioBufferClear())
        self._pending_bytes = 0
        self._emit(LatencyMark("key_down", self._clock()))
        self._emit(TurnChanged(TurnState.LISTENING))

    def append_audio(self, pcm16: bytes) -> None:
        """Queue microphone audio (PCM16 mono at the configured input rate)."""
        if not pcm16:
            return
        self._pending_bytes += len(pcm16)
        self._send(ClientEventInputAudioBufferAppend(audio=base64.b64encode(pcm16).decode("ascii")))

    def end_turn(self) -> bool:
        """The key came up: commit and ask for an answer, unless too little audio was sent.

        Returns:
            True when a response was requested; False when nothing was heard (reported as an event).
        """
        self._emit(LatencyMark("key_up", self._clock()))
        heard_ms = self._pending_bytes * 1000 // (2 * self.config.input_sample_rate)
        self._pending_bytes = 0
        if heard_ms < MIN_COMMIT_MS:
            self._send(ClientEventInputAudioBufferClear())
            self._emit(
                ErrorRaised(
                    ErrorCategory.NOTHING_HEARD,
                    "Nothing was heard. Hold the key down while you speak, and check the microphone.",
                )
            )
            self._emit(TurnChanged(TurnState.IDLE))
            return False
        self._send(ClientEventInputAudioBufferCommit())
        self._request_response()
        return True

    def send_text(self, text: str) -> str:
        """Add a typed user message and ask for an answer. Returns the new item's id."""
        self.interrupt(None)
        item_id = f"item_{uuid.uuid4().hex[:20]}"
        item = UserMessageItem(id=item_id, content=[InputTextContentPart(text=text)])
        self._send(ClientEventConversationItemCreate(item=item))
        self._emit(UserTextSent(item_id, text))
        self._emit(LatencyMark("key_up", self._clock()))
        self._request_response()
        return item_id

    def add_history(self, turns: Sequence[tuple[str, str]]) -> None:
        """Carry an earlier conversation into this session as text items; ``turns`` is (role, text) pairs."""
        for role, text in turns:
            if not text.strip():
                continue
            item: UserMessageItem | AssistantMessageItem
            if role == "user":
                item = UserMessageItem(content=[InputTextContentPart(text=text)])
            else:
                item = AssistantMessageItem(content=[OutputTextContentPart(text=text)])
            self._send(ClientEventConversationItemCreate(item=item))

    def interrupt(self, heard_ms: int | None) -> None:
        """Stop the assistant: cancel its response and cut its item where the user stopped hearing it."""
        if self._active_response is not None:
            self._send(ClientEventResponseCancel())
            self._active_response = None
        item = self._assistant_item
        if heard_ms is not None and item is not None and self._assistant_item_has_audio:
            self._send(ClientEventConversationItemTruncate(item_id=item, content_index=0, audio_end_ms=heard_ms))
            self._emit(AssistantInterrupted(item, heard_ms))
            self._assistant_item_has_audio = False

    def _request_response(self) -> None:
        self._send(ClientEventResponseCreate())
        self._emit(TurnChanged(TurnState.THINKING))

    # ----------------------------------------------------------------- plumbing
    def _send(self, event: ClientEvent) -> None:
        if self._conn is None or self._closing:
            log.debug("dropping %s: not connected", event.get("type"))
            return
        self._outbox.put_nowait(event)

    def _emit(self, event: AppEvent) -> None:
        self._events.put_nowait(event)

    def _set_state(self, state: ConnState, close_code: int | None = None) -> None:
        self._state = state
        self._emit(ConnectionChanged(state, self.target.describe(), close_code))

    async def _send_loop(self) -> None:
        conn = self._conn
        assert conn is not None
        while (event := await self._outbox.get()) is not _STOP:
            assert isinstance(event, ClientEvent)
            try:
                await conn.send(event)
            except VoiceLiveConnectionError as exc:
                log.debug("send failed: %s", errors.SECRETS.scrub(str(exc)))
                return

    async def _read_loop(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            while True:
                event = await conn.recv()
                self._dispatch(event)
        except ConnectionClosed as exc:
            if not self._closing:
                code = _true_close_code(conn, exc)
                log.info("connection closed by peer: code %s", code)
                self._emit(errors.for_close(code, exc.reason if code == exc.code else ""))
                self._set_state(ConnState.FAILED, code)
        except VoiceLiveConnectionError as exc:
            if not self._closing:
                self._emit(ErrorRaised(ErrorCategory.SERVICE, errors.SECRETS.scrub(str(exc))))
                self._set_state(ConnState.FAILED)
        finally:
            self._active_response = None
            if not self._closing and self._sender is not None:
                self._outbox.put_nowait(_STOP)

    def _dispatch(self, ev: ServerEvent) -> None:
        if isinstance(ev, ServerEventResponseAudioDelta):
            if not self._audio_seen_in_response:
                self._audio_seen_in_response = True
                self._emit(LatencyMark("first_audio_received", self._clock()))
                self._emit(TurnChanged(TurnState.SPEAKING))
            self._assistant_item_has_audio = True
            self._emit(AssistantAudio(ev.item_id, ev.delta))
        elif isinstance(ev, ServerEventResponseAudioTranscriptDelta | ServerEventResponseTextDelta):
            self._emit(AssistantTranscriptDelta(ev.item_id, ev.delta))
        elif isinstance(ev, ServerEventResponseAudioTranscriptDone):
            self._emit(AssistantTranscriptFinal(ev.item_id, ev.transcript))
        elif isinstance(ev, ServerEventResponseTextDone):
            self._emit(AssistantTranscriptFinal(ev.item_id, ev.text))
        elif isinstance(ev, ServerEventResponseCreated):
            self._active_response = ev.response.id
            self._audio_seen_in_response = False
            self._emit(LatencyMark("response_created", self._clock()))
        elif isinstance(ev, ServerEventResponseOutputItemAdded):
            if ev.item is not None and ev.item.id:
                self._assistant_item = ev.item.id
                self._assistant_item_has_audio = False
        elif isinstance(ev, ServerEventResponseDone):
            status = str(getattr(ev.response.status, "value", ev.response.status) or "completed")
            if self._active_response == ev.response.id:
                self._active_response = None
            usage = ev.response.usage
            self._emit(ResponseFinished(ev.response.id or "", status, usage.output_tokens if usage else None))
            if not self._audio_seen_in_response:
                self._emit(TurnChanged(TurnState.IDLE))
        elif isinstance(ev, ServerEventInputAudioBufferCommitted):
            self._emit(UserTurnCommitted(ev.item_id))
        elif isinstance(ev, ServerEventConversationItemInputAudioTranscriptionDelta):
            if ev.delta:
                self._emit(UserTranscriptDelta(ev.item_id, ev.delta))
        elif isinstance(ev, ServerEventConversationItemInputAudioTranscriptionCompleted):
            self._emit(UserTranscriptFinal(ev.item_id, ev.transcript))
        elif isinstance(ev, ServerEventConversationItemInputAudioTranscriptionFailed):
            self._emit(UserTranscriptFinal(ev.item_id, "", failed=True))
        elif isinstance(ev, ServerEventInputAudioBufferSpeechStarted | ServerEventInputAudioBufferSpeechStopped):
            self._emit(SpeechDetected(isinstance(ev, ServerEventInputAudioBufferSpeechStarted)))
        elif isinstance(ev, ServerEventError):
            self._emit(errors.for_service_error(ev.error.code, ev.error.message))
        elif isinstance(ev, ServerEventSessionCreated):
            log.debug("session created: %s", ev.session.id)
        else:
            log.debug("ignored server event %s", ev.type)

    def _classify_connect_error(self, exc: BaseException) -> ErrorRaised:
        using_entra = isinstance(self._credential, ExpiryTrackingCredential)
        if isinstance(exc, ClientAuthenticationError):
            return ErrorRaised(
                ErrorCategory.BAD_CREDENTIALS,
                "Could not get a Microsoft Entra ID token. Sign in with `az login` (or pick another sign-in "
                f"method in Settings). Details: {errors.SECRETS.scrub(exc.message or '')}",
            )
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        if isinstance(cause, aiohttp.WSServerHandshakeError):
            code = cause.headers.get("x-ms-error-code") if cause.headers else None
            return errors.for_http_status(
                cause.status,
                mode=self.target.mode,
                using_entra=using_entra,
                deployment=self.target.deployment,
                error_code=code,
            )
        return ErrorRaised(
            ErrorCategory.UNREACHABLE,
            f"Cannot reach {self.target.endpoint}. Check the endpoint URL and your network connection.",
        )


def _true_close_code(conn: VoiceLiveConnection, exc: ConnectionClosed) -> int:
    """The close code the transport saw.

    When the socket vanishes without a close frame, the SDK reports a made-up 1000 "Connection closed"; the
    aiohttp websocket underneath knows it was 1006 (abnormal closure), which is what the user must be told.
    """
    ws = getattr(conn, "_connection", None)
    code = getattr(ws, "close_code", None)
    return code if isinstance(code, int) and code != exc.code and exc.code == 1000 else exc.code
