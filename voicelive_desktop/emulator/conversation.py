"""One emulated realtime conversation: the server side of the Voice Live event protocol, strict by default.

Each client event is checked as the service checks it; a refused one gets the service's ``error`` (with the
client event's ``event_id``) and changes nothing. The rules and their sources are in docs/emulator-rules.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from . import checks
from .audio_input import MIN_COMMIT_MS, InputAudio
from .item_ops import ItemOps
from .items import Event, Item, Link, item_json, new_id
from .options import EmulatorOptions
from .protocol import (
    EXPIRES_AT_SINCE,
    Family,
    RequestError,
    classify,
    error_event,
    invalid_type,
    invalid_value,
    version_at_least,
)
from .responses import RateLimits, ResponseRun
from .rules import SessionState, apply_session_update, check_response_params
from .rules_audio import RuleContext, default_turn_detection, voice_identity
from .speech import RATE, Recognizer, Synthesizer
from .transcripts import UserTurn, pick_order, transcribe

log = logging.getLogger(__name__)


class RealtimeConversation(ItemOps):
    """Speaks the documented flow over ``link`` for one websocket; ``handle`` takes each client event."""

    def __init__(
        self,
        link: Link,
        *,
        deployment: str,
        profile: str | None,
        api_version: str,
        recognizer: Recognizer,
        synthesizer: Synthesizer,
        options: EmulatorOptions,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.link = link
        self.deployment = deployment
        self.profile = profile
        self.api_version = api_version
        self.options = options
        self.recognizer = recognizer
        self.synthesizer = synthesizer
        self.family = classify(deployment, profile)
        self.context = RuleContext(self.family, api_version, deployment)
        self.session: dict[str, Any] = self._initial_session()
        self.items: list[Item] = []
        self.audio = InputAudio(RATE)
        self.active: ResponseRun | None = None
        self.assistant_audio_sent = False
        self.audio_appended = False
        self.input_audio_locked = False
        self._turns: list[UserTurn] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random(options.seed)
        self._rate_limits = rate_limits or RateLimits()
        self._armed_appends = 0
        self._speech_item = ""
        self._handlers: dict[str, Callable[[Event], Awaitable[None]]] = {
            "session.update": self._on_session_update,
            "input_audio_buffer.append": self._on_append,
            "input_audio_buffer.clear": self._on_clear,
            "input_audio_buffer.commit": self._on_commit,
            "conversation.item.create": self.on_item_create,
            "conversation.item.truncate": self.on_item_truncate,
            "conversation.item.retrieve": self.on_item_retrieve,
            "conversation.item.delete": self.on_item_delete,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
            "output_audio_buffer.clear": self._on_output_audio_clear,
        }
        self.audio.configure(self.session["turn_detection"], RATE)

    def _initial_session(self) -> dict[str, Any]:
        session: dict[str, Any] = {
            "id": new_id("sess"),
            "object": "realtime.session",
            "model": self.deployment,
            "modalities": ["text", "audio"],
            "voice": {"name": "en-US-Ava:DragonHDLatestNeural", "type": "azure-standard"},
            "instructions": "",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_sampling_rate": RATE,
            "input_audio_transcription": None,
            "turn_detection": default_turn_detection(self.api_version),
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
        }
        lifetime = self.options.session_lifetime_s
        if (
            lifetime is not None
            and self.options.announce_expiry
            and version_at_least(self.api_version, EXPIRES_AT_SINCE)
        ):
            session["expires_at"] = int(time.time() + lifetime)
        return session

    # ------------------------------------------------------------------ events out
    async def emit(self, event: Event) -> None:
        """Send one server event, stamping its event id."""
        await self.link.send({"event_id": new_id("event"), **event})

    async def refuse(self, err: RequestError, client_event_id: str | None) -> None:
        """Send the service's ``error`` for a refused client event."""
        await self.emit(error_event(err, client_event_id))

    async def start(self) -> None:
        """Greet a new connection with ``session.created``."""
        await self.emit({"type": "session.created", "session": self.session})

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task this conversation owns (cancelled by :meth:`close`)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop everything this conversation started."""
        tasks = [*self._tasks, *([self.active.task] if self.active and self.active.task else [])]
        if self.active is not None:
            self.active.cancel_reason = None  # closing: the response sends nothing more
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ events in
    async def handle(self, event: Any) -> None:
        """Act on one client event; a refused one gets an ``error`` and changes nothing."""
        if not isinstance(event, dict):
            await self.refuse(invalid_type("event", "an object", event), None)
            return
        client_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        kind = event.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        try:
            if handler is None:
                raise invalid_value("type", kind, self._handlers)
            await handler(event)
        except RequestError as err:
            await self.refuse(err, client_id)

    async def _on_session_update(self, event: Event) -> None:
        body = checks.required(event, "session", "event")
        if self.options.validate_session:
            state = SessionState(self.audio_appended, self.input_audio_locked, self.assistant_audio_sent)
            new = apply_session_update(self.session, body, self.context, state)
        else:
            new = {**self.session, **checks.obj(body, "session")}
        if "expires_at" in self.session:
            new["expires_at"] = self.session["expires_at"]  # set by the server; an update can't change it
        self.session = new
        if "input_audio_sampling_rate" in body or "input_audio_format" in body:
            self.input_audio_locked = True
        self.audio.configure(new.get("turn_detection"), int(new.get("input_audio_sampling_rate") or RATE))
        await self.emit({"type": "session.updated", "session": self.session})

    async def _on_append(self, event: Event) -> None:
        encoded = checks.string(checks.required(event, "audio", "event"), "audio")
        try:
            chunk = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise invalid_value("audio", encoded[:16] + "...", why="Expected base64-encoded audio bytes.") from None
        self.audio_appended = True
        speech = self.audio.append(chunk)
        if speech.started_at_ms is not None:
            await self._speech_started(speech.started_at_ms)
        if speech.stopped_at_ms is not None:
            await self._speech_stopped(speech.stopped_at_ms)
        self._count_append()

    def _count_append(self) -> None:
        """The ``drop_after_appends`` fault: counted from when it was armed, so it can be set mid-session."""
        limit = self.options.drop_after_appends
        if limit is None:
            self._armed_appends = 0
            return
        self._armed_appends += 1
        if self._armed_appends >= limit:
            self.options.drop_after_appends = None
            self._armed_appends = 0
            self.link.abort()

    async def _on_clear(self, _event: Event) -> None:
        self.audio.clear()
        await self.emit({"type": "input_audio_buffer.cleared"})

    async def _on_commit(self, _event: Event) -> None:
        ms = self.audio.buffered_ms
        if ms < MIN_COMMIT_MS:
            raise RequestError(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms "
                f"of audio, but buffer only has {ms:.2f}ms of audio.",
            )
        await self._commit(self.audio.take())

    async def _on_response_create(self, event: Event) -> None:
        if self.active is not None:
            raise RequestError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self.active.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        params: dict[str, Any] = {}
        if self.options.validate_session:
            params = check_response_params(event.get("response"), self.context, self.session, self.assistant_audio_sent)
        elif isinstance(event.get("response"), dict):
            params = dict(event["response"])
        await self.create_response(params)

    async def create_response(self, params: dict[str, Any]) -> None:
        """Start a response: ``response.created`` and ``rate_limits.updated`` now, the rest in its task."""
        run = ResponseRun(self, params, [t for t in self._turns if not t.answered.is_set()])
        self.active = run
        await self.emit(run.created_event())
        await self.emit(self._rate_limits.event(tokens=200))
        run.start()

    def response_finished(self, run: ResponseRun) -> None:
        """Called by the response once its ``response.done`` is out: the conversation is free again."""
        if self.active is run:
            self.active = None
        for turn in run.turns:
            turn.answered.set()

    async def _on_response_cancel(self, event: Event) -> None:
        wanted = event.get("response_id")
        if self.active is None or (wanted is not None and wanted != self.active.id):
            raise RequestError("response_cancel_not_active", "Cancellation failed: no active response found")
        self.active.cancel("client_cancelled")

    async def _on_output_audio_clear(self, _event: Event) -> None:
        await self.emit({"type": "output_audio_buffer.cleared"})

    # ------------------------------------------------------------------ turns
    async def _speech_started(self, at_ms: int) -> None:
        self._speech_item = new_id("item")
        await self.emit(
            {"type": "input_audio_buffer.speech_started", "audio_start_ms": at_ms, "item_id": self._speech_item}
        )
        td = self.session.get("turn_detection") or {}
        if self.active is not None and td.get("interrupt_response", True):
            self.active.cancel("turn_detected")

    async def _speech_stopped(self, at_ms: int) -> None:
        await self.emit(
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": at_ms, "item_id": self._speech_item}
        )
        await self._commit(self.audio.take(upto_ms=at_ms), item_id=self._speech_item)
        if (self.session.get("turn_detection") or {}).get("create_response", True) and self.active is None:
            await self.create_response({})

    async def _commit(self, audio: bytes, item_id: str | None = None) -> None:
        item = Item(item_id or new_id("item"), "user")
        previous = self.add_item(item)
        await self.emit({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item.id})
        await self.emit({"type": "conversation.item.created", "previous_item_id": previous, "item": item_json(item)})
        loop = asyncio.get_running_loop()
        turn = UserTurn(item, audio, self.audio.rate, pick_order(self.options, self._rng), loop.create_future())
        self._turns.append(turn)
        self.spawn(
            transcribe(
                turn,
                recognizer=self.recognizer,
                options=self.options,
                emit=self.emit,
                send_events=self._transcribing,
                responding=lambda: self.active is not None,
            )
        )

    @property
    def _transcribing(self) -> bool:
        """Transcripts are sent when transcription is on; azure-speech is always on for non-multimodal models."""
        return self.session.get("input_audio_transcription") is not None or self.family is Family.CHAT

    def answers_in_text_only(self) -> bool:
        """A native-audio realtime model (an OpenAI voice: the model speaks itself) that finds an assistant message
        added as text in its context answers the same way: text only, however the modalities read. OpenAI's
        realtime models do (openai/openai-realtime-api-beta#72, openai/openai-realtime-console#464,
        livekit/agents#1015); Voice Live's realtime family serves them. With an Azure voice, Voice Live speaks the
        model's text itself."""
        if self.family is not Family.REALTIME or voice_identity(self.session.get("voice"))[0] != "openai":
            return False
        return any(item.role == "assistant" and item.typed for item in self.items)

    async def latest_user_input(self) -> tuple[str | None, bool]:
        """What the "model" answers: the latest user item's words (waiting for recognition), and if typed.

        With no new user item since the last answer (a client asking again after an answer was cut), the model
        answers the latest user item again, as a model reading the conversation would.
        """
        last = next((i for i in reversed(self.items) if i.role == "user"), None)
        if last is None:
            return None, False
        turn = next((t for t in self._turns if t.item is last), None)
        if turn is not None:
            return await turn.heard, False
        return last.text, last.typed

    def last_answer(self) -> str | None:
        """The previous assistant item's text as the context holds it (after any truncation)."""
        return next((i.text for i in reversed(self.items) if i.role == "assistant" and i.text), None)
