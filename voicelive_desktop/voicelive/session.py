"""``VoiceLiveSession``: one Voice Live connection, one reader task, one sender task, app events out.

The SDK forbids two concurrent ``recv()`` calls and its ``async for`` hides close codes, so exactly one reader
task runs a ``recv()`` loop. Every outgoing event goes through one queue drained by one sender task, which keeps
order when the socket applies back-pressure and lets callers enqueue without awaiting the network.

The session also keeps the service's rules that the rest of the program should not have to know:
- one response at a time: a ``response.create`` waits until the previous response's ``response.done`` (a
  cancelled one included) has arrived;
- a truncate never reaches past the audio received for that item;
- ``session.update`` carries only what changed, and a voice change after the assistant has spoken is refused
  here (the service refuses it too), so the caller reconnects instead;
- a malformed frame is logged and skipped; anything that ends the reader ends the connection visibly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, cast

import aiohttp
from azure.ai.voicelive.aio import ConnectionClosed, VoiceLiveConnection
from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError
from azure.ai.voicelive.aio import connect as sdk_connect
from azure.ai.voicelive.models import (
    AssistantMessageItem,
    ClientEvent,
    ClientEventConversationItemCreate,
    ClientEventConversationItemTruncate,
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
    ServerEventWarning,
    SystemMessageItem,
    UserMessageItem,
)
from azure.core.exceptions import ClientAuthenticationError

from ..tasks import finish
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
    ResponseFinished,
    ResponseStarted,
    SessionStarted,
    SpeechDetected,
    UserTextSent,
    UserTranscriptDelta,
    UserTranscriptFinal,
    UserTurnCommitted,
)
from .families import Family, family_of, fit
from .modes import Target

log = logging.getLogger(__name__)

#: The service refuses to commit less than this much audio.
MIN_COMMIT_MS = 100
#: How long a new response may wait for the previous one's ``response.done`` before the link counts as stuck.
RESPONSE_DONE_TIMEOUT_S = 8.0
#: How long the service may stay silent after ``response.create`` or ``response.cancel`` before the link counts
#: as stuck. It answers both at once (``response.created``; the cancelled response's ``response.done``), however
#: slow the model: silence means a hung service or a dead route, which the websocket's own heartbeat takes about
#: 45 s to notice.
RESPONSE_START_TIMEOUT_S = 10.0
#: Seconds without a frame from the service before the websocket pings it; no pong within half of that and the
#: link counts as broken. The SDK's default, 30, took 45 s to notice a service that hung mid-answer.
HEARTBEAT_S = 10.0
#: How long the websocket handshake may take. A host that takes the connection and never answers (a proxy or
#: firewall that swallows it, a wrong port) would otherwise keep the app "Connecting" for good.
CONNECT_TIMEOUT_S = 20.0
#: Frames in a row that fail to parse before the connection counts as broken.
MAX_MALFORMED_IN_A_ROW = 20
#: How an earlier answer is carried into a realtime model's new session: quoted in a system message (see
#: :meth:`VoiceLiveSession.add_history`).
EARLIER_ANSWER = "Earlier in this conversation, you answered: "
OUTPUT_BYTES_PER_MS = 48  # PCM16 mono at 24 kHz, the only output format used
_STOP = object()
#: ``input_audio_buffer.append`` goes out 50 times a second while the key is held: as a plain mapping (which the
#: SDK's ``send`` JSON-encodes as it is) it skips building and walking an SDK model each time.
_APPEND = "input_audio_buffer.append"
Outgoing = ClientEvent | Mapping[str, str]


class Connector(Protocol):
    """The SDK's ``connect``; injectable so a test can wrap it."""

    def __call__(self, **kwargs: Any) -> AbstractAsyncContextManager[VoiceLiveConnection]: ...


class _Phase(enum.Enum):
    """Where the one response the service allows at a time stands."""

    NONE = "none"
    REQUESTED = "requested"  # response.create sent, response.created not yet seen
    ACTIVE = "active"
    CANCELLING = "cancelling"  # response.cancel sent, waiting for its response.done


#: Handshakes given up on (timed out, or no longer wanted) that are still running, until they end.
_ABANDONED: set[asyncio.Future[Any]] = set()


async def _handshake(stack: contextlib.AsyncExitStack, manager: AbstractAsyncContextManager[Any]) -> Any:
    """Enter ``manager`` (the SDK's handshake) on ``stack``, within :data:`CONNECT_TIMEOUT_S`.

    A handshake given up on is not cancelled but left to end in the background: the SDK closes its HTTP client
    only when the handshake fails, not when it is cancelled. What it opens by then is closed at once.

    Raises:
        TimeoutError: the service did not answer in time.
    """
    entering = asyncio.ensure_future(stack.enter_async_context(manager))
    try:
        return await asyncio.wait_for(asyncio.shield(entering), CONNECT_TIMEOUT_S)
    except BaseException:
        if not entering.done():
            _ABANDONED.add(entering)
            entering.add_done_callback(lambda done: _close_abandoned(done, stack))
        raise


def _close_abandoned(entering: asyncio.Future[Any], stack: contextlib.AsyncExitStack) -> None:
    _ABANDONED.discard(entering)
    if entering.cancelled() or entering.exception() is not None:
        return  # failed: the SDK closed what it had opened
    closing = asyncio.ensure_future(stack.aclose())
    _ABANDONED.add(closing)
    closing.add_done_callback(_closed_abandoned)


def _closed_abandoned(closing: asyncio.Future[Any]) -> None:
    _ABANDONED.discard(closing)
    if not closing.cancelled() and (error := closing.exception()) is not None:
        log.debug("closing a connection given up on failed: %s", type(error).__name__)


def abandoned_handshakes() -> set[asyncio.Future[Any]]:
    """The handshakes given up on that are still running, and the closing of what they opened: until these end,
    a connection given up on may be open at the service (and billed) beside the next one."""
    return set(_ABANDONED)


class VoiceLiveSession:
    """A live conversation with one deployment.

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
    ) -> None:
        self.target = target
        self.family = family_of(target.mode, target.deployment)
        self.config = fit(config, self.family).config  # never send what the model's family refuses
        self._credential = credential
        self._connector = connector
        self._events: asyncio.Queue[AppEvent | None] = asyncio.Queue()
        self._outbox: asyncio.Queue[Outgoing | object] = asyncio.Queue()
        self._stack: contextlib.AsyncExitStack | None = None
        self._conn: VoiceLiveConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._silence_timer: asyncio.TimerHandle | None = None  # from response.create to the service's next word
        self._awaited: object = None  # the request whose writing starts that timer
        self._closing = False
        self._state = ConnState.DISCONNECTED
        self._phase = _Phase.NONE
        self._response_wanted = False
        self._assistant_item: str | None = None
        self._assistant_item_audio = 0  # bytes of audio received for that item
        self.assistant_spoke = False  # any answer audio in this session: the voice is then fixed
        self.last_error: ErrorRaised | None = None  # why connect() failed
        self.session_id = ""
        self.expires_at: float | None = None
        self.region = ""  # the region the service named in its handshake response, if it did

    # ----------------------------------------------------------------- lifecycle
    @property
    def state(self) -> ConnState:
        """The connection's current state."""
        return self._state

    @property
    def response_pending(self) -> bool:
        """True while a response is asked for, running, being cancelled, or waiting to be asked for."""
        return self._phase is not _Phase.NONE or self._response_wanted

    def token_seconds_left(self) -> float | None:
        """Seconds before the Entra ID token this connection used expires; None for an API key."""
        if isinstance(self._credential, ExpiryTrackingCredential):
            return self._credential.seconds_left()
        return None

    async def connect(self) -> bool:
        """Open the connection and configure the session. A failure is emitted and kept in :attr:`last_error`.

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
                api_version=self.target.version,
                connection_options={"heartbeat": HEARTBEAT_S},
            )
            self._conn = await _handshake(stack, manager)
        except (VoiceLiveConnectionError, ClientAuthenticationError, aiohttp.ClientError, OSError) as exc:
            await stack.aclose()
            self.last_error = self._classify_connect_error(exc)
            self._emit(self.last_error)
            self._set_state(ConnState.FAILED)
            return False
        except BaseException:  # cancelled mid-handshake: leave nothing open
            await stack.aclose()
            self._set_state(ConnState.DISCONNECTED)
            raise
        self._stack = stack
        self.region = _handshake_header(self._conn, "x-ms-region")
        self._outbox = asyncio.Queue()
        self._outbox.put_nowait(ClientEventSessionUpdate(session=self.config.to_request_session()))
        self._reader = asyncio.create_task(self._read_loop(), name="voicelive-reader")
        self._sender = asyncio.create_task(self._send_loop(), name="voicelive-sender")
        self._set_state(ConnState.CONNECTED)
        return True

    async def close(self) -> None:
        """Close the connection and wait for both tasks; safe to call twice or after a failure."""
        self._closing = True
        self._cancel_stall_timer()
        self._heard_from_service()
        try:
            if self._sender is not None:
                self._outbox.put_nowait(_STOP)
                await self._finish_quietly(self._sender, grace_s=2)  # flushes what was queued; cancelled if stuck
            if self._reader is not None:
                # Stop reading before the socket closes, or the SDK sees the closing frame and logs a warning.
                await self._finish_quietly(self._reader, cancel=True)
        finally:  # also when the caller is cancelled meanwhile: the socket still closes
            for task in (self._sender, self._reader):
                if task is not None:
                    task.cancel()
            if self._stack is not None:
                stack, self._stack = self._stack, None
                try:
                    await stack.aclose()
                except Exception as exc:  # the peer may already be gone; nothing more to do about it
                    log.debug("closing the connection failed: %s", type(exc).__name__)
        self._reader = self._sender = None
        self._conn = None
        self._phase, self._response_wanted = _Phase.NONE, False
        if self._state is not ConnState.FAILED:
            self._set_state(ConnState.DISCONNECTED)
        self._events.put_nowait(None)

    @staticmethod
    async def _finish_quietly(task: asyncio.Task[None], *, grace_s: float | None = None, cancel: bool = False) -> None:
        try:
            await finish(task, grace_s=grace_s, cancel=cancel)
        except Exception as exc:  # it failed on a dying socket: closing goes on all the same
            log.debug("%s ended with %s", task.get_name(), type(exc).__name__)

    async def events(self) -> AsyncIterator[AppEvent]:
        """Every app event, in order, until the session is closed."""
        while (event := await self._events.get()) is not None:
            yield event

    # ------------------------------------------------------------ conversation
    def update_config(self, config: SessionConfig) -> bool:
        """Send what changed in ``config`` to the live session.

        Returns:
            False, sending nothing, when the change cannot be made live: the service fixes the voice once the
            assistant has spoken, and the input audio's rate and format for the whole session (they go with the
            first ``session.update``). The caller then reconnects, carrying the conversation.
        """
        config = fit(config, self.family).config
        changed = config.changed(self.config)
        if ("voice" in changed and self.assistant_spoke) or "input_audio_sampling_rate" in changed:
            return False
        self.config = config
        if changed:
            self._send(ClientEventSessionUpdate(session=config.to_request_session(changed)))
        return True

    def begin_turn(self, heard_ms: int | None = None) -> None:
        """The key went down: interrupt the assistant if it is talking, then start a clean input buffer."""
        self.interrupt(heard_ms)
        self._send(ClientEventInputAudioBufferClear())

    def append_audio(self, pcm16: bytes) -> None:
        """Queue microphone audio (PCM16 mono at the configured input rate)."""
        if pcm16:
            self._send({"type": _APPEND, "audio": base64.b64encode(pcm16).decode("ascii")})

    def commit_turn(self, sent_bytes: int) -> bool:
        """The key came up: commit the ``sent_bytes`` of audio and ask for an answer.

        Returns:
            False, clearing the buffer instead, when too little audio was sent for the service to accept.
        """
        if sent_bytes * 1000 // (2 * self.config.input_sample_rate) < MIN_COMMIT_MS:
            self._send(ClientEventInputAudioBufferClear())
            return False
        self._send(ClientEventInputAudioBufferCommit())
        self.request_response()
        return True

    def commit_audio_only(self, sent_bytes: int) -> bool:
        """Commit the audio sent as a user turn without asking for an answer (carrying an untranscribed turn).

        Returns:
            False, clearing the buffer, when it is too short for the service to accept.
        """
        if sent_bytes * 1000 // (2 * self.config.input_sample_rate) < MIN_COMMIT_MS:
            self._send(ClientEventInputAudioBufferClear())
            return False
        self._send(ClientEventInputAudioBufferCommit())
        return True

    def send_text(self, text: str, item_id: str | None = None, *, respond: bool = True) -> str:
        """Add a typed user message and (unless not to ``respond``) ask for an answer. Returns the item's id."""
        item_id = item_id or f"item_{uuid.uuid4().hex[:20]}"
        item = UserMessageItem(id=item_id, content=[InputTextContentPart(text=text)])
        self._send(ClientEventConversationItemCreate(item=item))
        self._emit(UserTextSent(item_id, text))
        if respond:
            self.request_response()
        return item_id

    def add_history(self, turns: Sequence[tuple[str, str]]) -> None:
        """Carry an earlier conversation into this session as text items; ``turns`` is (role, text) pairs.

        A realtime model that speaks itself (an OpenAI voice) takes an assistant message added as text for the way
        it answers, and answers in text only from then on: no sound (OpenAI's realtime models do, and Voice Live's
        realtime family serves them). So for that family an earlier answer goes in as a system message that quotes
        it, whatever the voice now (it may change to an OpenAI voice later in this session, without a new one).
        """
        for role, text in turns:
            if not text.strip():
                continue
            item: UserMessageItem | AssistantMessageItem | SystemMessageItem
            if role == "user":
                item = UserMessageItem(content=[InputTextContentPart(text=text)])
            elif self.family is Family.REALTIME:
                item = SystemMessageItem(content=[InputTextContentPart(text=f"{EARLIER_ANSWER}{text}")])
            else:
                item = AssistantMessageItem(content=[OutputTextContentPart(text=text)])
            self._send(ClientEventConversationItemCreate(item=item))

    def interrupt(self, heard_ms: int | None, *, cancel: bool = True) -> None:
        """Stop the assistant: cancel its response and cut its item where the user stopped hearing it.

        Args:
            heard_ms: how much of the current answer the user heard; None when nothing was playing.
            cancel: False when the service cancels by itself (hands-free barge-in with ``interrupt_response``).
        """
        if cancel and self._phase in (_Phase.REQUESTED, _Phase.ACTIVE):
            self._send_awaiting_reply(ClientEventResponseCancel())
            self._phase = _Phase.CANCELLING
        item = self._assistant_item
        if heard_ms is not None and item is not None and self._assistant_item_audio:
            received_ms = self._assistant_item_audio // OUTPUT_BYTES_PER_MS
            heard_ms = max(0, min(heard_ms, received_ms))  # the service refuses a cut past the audio it sent
            self._send(ClientEventConversationItemTruncate(item_id=item, content_index=0, audio_end_ms=heard_ms))
            self._emit(AssistantInterrupted(item, heard_ms))
            self._assistant_item_audio = 0

    def request_response(self) -> None:
        """Ask for an answer now, or as soon as the previous response has ended (the service allows one)."""
        if self._phase is _Phase.NONE:
            self._ask_for_response()
            return
        self._response_wanted = True
        if self._stall_timer is None:
            loop = asyncio.get_running_loop()
            self._stall_timer = loop.call_later(RESPONSE_DONE_TIMEOUT_S, self._previous_response_stuck)

    def forget_wanted_response(self) -> None:
        """The answer asked for once the current one ends is no longer wanted (its conversation was left)."""
        self._response_wanted = False
        self._cancel_stall_timer()

    def _ask_for_response(self) -> None:
        self._send_awaiting_reply(ClientEventResponseCreate())
        self._phase = _Phase.REQUESTED

    def _send_awaiting_reply(self, event: ClientEventResponseCreate | ClientEventResponseCancel) -> None:
        """Send a request the service answers at once (``response.created``; a cancel's ``response.done`` or
        error); its silence is timed from when the request is written (see _send_loop)."""
        self._awaited = event
        self._send(event)

    def _listen_for_silence(self) -> None:
        """The request is on the wire (after the audio queued before it, however slow the uplink)."""
        self._awaited = None
        if self._silence_timer is None and not self._closing:
            self._silence_timer = asyncio.get_running_loop().call_later(RESPONSE_START_TIMEOUT_S, self._service_silent)

    def _heard_from_service(self) -> None:
        """Any event proves the link alive: the silence since ``response.create`` is over."""
        if self._silence_timer is not None:
            self._silence_timer.cancel()
            self._silence_timer = None

    def _service_silent(self) -> None:
        self._silence_timer = None
        if self._closing:
            return
        log.warning(
            "nothing from the service %g s after a response request: it counts as stuck", RESPONSE_START_TIMEOUT_S
        )
        self._fail(
            ErrorRaised(
                ErrorCategory.CONNECTION_LOST,
                f"The service has not answered for {RESPONSE_START_TIMEOUT_S:g} s. "
                "Reconnecting; your message is kept and will be sent again.",
            )
        )

    def _previous_response_stuck(self) -> None:
        self._stall_timer = None
        if not self._response_wanted or self._closing:
            return
        log.warning("no response.done within %g s; treating the connection as stuck", RESPONSE_DONE_TIMEOUT_S)
        self._fail(
            ErrorRaised(
                ErrorCategory.CONNECTION_LOST,
                f"The service did not finish the previous answer within {RESPONSE_DONE_TIMEOUT_S:g} s. "
                "Reconnecting; your message is kept and will be sent again.",
            )
        )

    def _cancel_stall_timer(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _response_ended(self) -> None:
        self._phase = _Phase.NONE
        if self._response_wanted:
            self._response_wanted = False
            self._cancel_stall_timer()
            self._ask_for_response()

    # ----------------------------------------------------------------- plumbing
    def _send(self, event: Outgoing) -> None:
        if self._conn is None or self._closing:
            log.debug("dropping %s: not connected", event.get("type"))
            return
        self._outbox.put_nowait(event)

    def _emit(self, event: AppEvent) -> None:
        self._events.put_nowait(event)

    def _set_state(self, state: ConnState, close_code: int | None = None) -> None:
        self._state = state
        self._emit(ConnectionChanged(state, self.target.describe(), close_code))

    def _fail(self, error: ErrorRaised, close_code: int | None = None) -> None:
        """End the connection visibly: the reader stops, the sender drains, the owner sees FAILED."""
        if self._state is not ConnState.CONNECTED or self._closing:
            return
        self._emit(error)
        self._set_state(ConnState.FAILED, close_code)
        self._closing = True
        self._cancel_stall_timer()
        self._heard_from_service()
        self._outbox.put_nowait(_STOP)
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()

    async def _send_loop(self) -> None:
        conn = self._conn
        assert conn is not None
        while (event := await self._outbox.get()) is not _STOP:
            try:
                await conn.send(cast(Outgoing, event))  # only _send and connect put anything else but _STOP
            except VoiceLiveConnectionError as exc:
                log.debug("send failed: %s", errors.SECRETS.scrub(str(exc)))
                return
            if event is self._awaited:
                self._listen_for_silence()

    async def _read_loop(self) -> None:
        conn = self._conn
        assert conn is not None
        malformed = 0
        try:
            while True:
                try:
                    event = await conn.recv()
                except (ConnectionClosed, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    malformed += 1
                    log.warning("skipped a malformed frame from the service (%s)", type(exc).__name__)
                    if malformed >= MAX_MALFORMED_IN_A_ROW:
                        raise
                    continue
                malformed = 0
                try:
                    self._heard_from_service()
                    self._dispatch(event)
                except _Malformed as exc:
                    log.warning("skipped a malformed %s event (%s)", event.get("type"), exc)
        except ConnectionClosed as exc:
            code = _true_close_code(conn, exc)
            if not self._closing:
                log.info("connection closed by peer: code %s", code)
            self._fail(errors.for_close(code, exc.reason if code == exc.code else ""), code)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("the connection's reader stopped: %s", type(exc).__name__)
            self._fail(
                ErrorRaised(
                    ErrorCategory.CONNECTION_LOST,
                    "The connection stopped working (the service sent data this app cannot read). Reconnecting.",
                )
            )

    def _dispatch(self, ev: ServerEvent) -> None:
        if isinstance(ev, ServerEventResponseAudioDelta):
            item_id, pcm = _need(ev, "item_id", str), _need(ev, "delta", bytes)
            if item_id != self._assistant_item:
                self._assistant_item, self._assistant_item_audio = item_id, 0
            self._assistant_item_audio += len(pcm)
            self.assistant_spoke = True
            self._emit(AssistantAudio(item_id, pcm))
        elif isinstance(ev, ServerEventResponseAudioTranscriptDelta | ServerEventResponseTextDelta):
            self._emit(AssistantTranscriptDelta(_need(ev, "item_id", str), _need(ev, "delta", str)))
        elif isinstance(ev, ServerEventResponseAudioTranscriptDone):
            self._emit(AssistantTranscriptFinal(_need(ev, "item_id", str), _need(ev, "transcript", str)))
        elif isinstance(ev, ServerEventResponseTextDone):
            self._emit(AssistantTranscriptFinal(_need(ev, "item_id", str), _need(ev, "text", str)))
        elif isinstance(ev, ServerEventResponseCreated):
            response_id = _need(ev.response, "id", str) if ev.response is not None else ""
            if self._phase is not _Phase.CANCELLING:
                self._phase = _Phase.ACTIVE
            self._emit(ResponseStarted(response_id))
        elif isinstance(ev, ServerEventResponseOutputItemAdded):
            if ev.item is not None and ev.item.id:
                self._assistant_item, self._assistant_item_audio = ev.item.id, 0
        elif isinstance(ev, ServerEventResponseDone):
            self._emit(_finished(ev))
            self._response_ended()
        elif isinstance(ev, ServerEventInputAudioBufferCommitted):
            self._emit(UserTurnCommitted(_need(ev, "item_id", str)))
        elif isinstance(ev, ServerEventConversationItemInputAudioTranscriptionDelta):
            if ev.delta:
                self._emit(UserTranscriptDelta(_need(ev, "item_id", str), ev.delta))
        elif isinstance(ev, ServerEventConversationItemInputAudioTranscriptionCompleted):
            self._emit(UserTranscriptFinal(_need(ev, "item_id", str), ev.transcript or ""))
        elif isinstance(ev, ServerEventConversationItemInputAudioTranscriptionFailed):
            self._emit(UserTranscriptFinal(_need(ev, "item_id", str), "", failed=True))
        elif isinstance(ev, ServerEventInputAudioBufferSpeechStarted | ServerEventInputAudioBufferSpeechStopped):
            self._emit(SpeechDetected(isinstance(ev, ServerEventInputAudioBufferSpeechStarted)))
        elif isinstance(ev, ServerEventError):
            self._service_error(ev)
        elif isinstance(ev, ServerEventWarning):
            warning = ev.warning
            code, message = (warning.code, warning.message) if warning is not None else (None, "")
            log.warning("service warning %s: %s", code, errors.SECRETS.scrub(message or ""))
            self._emit(errors.for_warning(code, message or ""))
        elif isinstance(ev, ServerEventSessionCreated):
            session = ev.session
            self.session_id = (session.id if session is not None else None) or ""
            expires = session.expires_at if session is not None else None
            self.expires_at = expires.timestamp() if expires is not None else None
            self._emit(SessionStarted(self.session_id, self.expires_at))
        else:
            log.debug("ignored server event %s", ev.type)

    def _service_error(self, ev: ServerEventError) -> None:
        error = ev.error
        code = (error.code if error is not None else None) or ""
        message = (error.message if error is not None else None) or "no details"
        if code == "conversation_already_has_active_response":
            # A response we did not know of (the service's own turn detection) is running: ask again after it.
            log.info("a response was already active; asking again once it ends")
            self._phase, self._response_wanted = _Phase.ACTIVE, True
            return
        if code in errors.HARMLESS_ERROR_CODES:
            log.info("harmless service error %s: %s", code, errors.SECRETS.scrub(message))
            return
        self._emit(errors.for_service_error(code or None, message))

    def _classify_connect_error(self, exc: BaseException) -> ErrorRaised:
        using_entra = isinstance(self._credential, ExpiryTrackingCredential)
        if isinstance(exc, ClientAuthenticationError):
            return ErrorRaised(
                ErrorCategory.BAD_CREDENTIALS,
                "Could not get a Microsoft Entra ID token. Sign in with `az login` (or pick another sign-in "
                f"method in Settings). Details: {errors.SECRETS.scrub(exc.message or '')}",
            )
        if isinstance(exc, TimeoutError):
            return ErrorRaised(
                ErrorCategory.UNREACHABLE,
                f"{self.target.endpoint} did not answer within {CONNECT_TIMEOUT_S:.0f} s. "
                "Check the endpoint URL, the network, and any proxy or firewall on the way.",
            )
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        if isinstance(cause, aiohttp.WSServerHandshakeError):
            headers: Any = cause.headers or {}
            return errors.for_http_status(
                cause.status,
                mode=self.target.mode,
                using_entra=using_entra,
                deployment=self.target.deployment,
                error_code=headers.get("x-ms-error-code"),
                retry_after=headers.get("Retry-After"),
            )
        return ErrorRaised(
            ErrorCategory.UNREACHABLE,
            f"Cannot reach {self.target.endpoint}. Check the endpoint URL and your network connection.",
        )


class _Malformed(ValueError):
    """A known event type arrived without a field it must have."""


def _need(obj: Any, name: str, kind: type[Any]) -> Any:
    value = getattr(obj, name, None)
    if not isinstance(value, kind):
        raise _Malformed(f"{name} is {type(value).__name__}, not {kind.__name__}")
    return value


def _finished(ev: ServerEventResponseDone) -> ResponseFinished:
    response = ev.response
    if response is None:
        raise _Malformed("no response")
    status = str(getattr(response.status, "value", response.status) or "completed")
    details = response.status_details
    reason = detail = ""
    if details is not None:
        failure = getattr(details, "error", None)
        if failure is not None:
            reason = str(_field(failure, "code") or _field(failure, "type") or "")
            detail = str(_field(failure, "message") or "")
        else:
            reason = str(getattr(details, "reason", "") or "")
    usage = response.usage
    items = tuple(str(item.id) for item in (response.output or []) if getattr(item, "id", None))
    return ResponseFinished(response.id or "", status, reason, detail, usage.output_tokens if usage else None, items)


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _handshake_header(conn: VoiceLiveConnection, name: str) -> str:
    """A header of the service's handshake response (the SDK keeps the aiohttp websocket underneath)."""
    response = getattr(getattr(conn, "_connection", None), "_response", None)
    headers = getattr(response, "headers", None)
    value = headers.get(name) if headers is not None else None
    return str(value) if value else ""


def _true_close_code(conn: VoiceLiveConnection, exc: ConnectionClosed) -> int:
    """The close code the transport saw.

    When the socket vanishes without a close frame, the SDK reports a made-up 1000 "Connection closed"; the
    aiohttp websocket underneath knows it was 1006 (abnormal closure), which is what the user must be told.
    """
    ws = getattr(conn, "_connection", None)
    code = getattr(ws, "close_code", None)
    return code if isinstance(code, int) and code != exc.code and exc.code == 1000 else exc.code
