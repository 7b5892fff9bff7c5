"""The push-to-talk assistant: where the session, the audio and the conversation meet. No Qt.

Key down: flush local playback, interrupt the answer at the ms actually heard, start sending (pre-roll
first). Key up: keep the release tail, commit, ask for an answer. Answer audio goes to playback; transcripts
go to the conversation; everything the UI shows leaves through one listener as frozen events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .assistant_events import (
    AudioStatus,
    LatencyMeasured,
    LevelChanged,
    MessageChanged,
    MessageView,
    UiEvent,
)
from .audio.backend import AudioProblem
from .audio.capture import Capture
from .audio.levels import Level
from .audio.playback import Playback
from .conversation.transcript import Conversation
from .voicelive.config import SessionConfig, TurnMode
from .voicelive.credentials import Credential
from .voicelive.events import (
    AppEvent,
    AssistantAudio,
    ConnectionChanged,
    ConnState,
    ErrorCategory,
    ErrorRaised,
    LatencyMark,
    ResponseFinished,
    SpeechDetected,
    TurnChanged,
    TurnState,
)
from .voicelive.modes import Target
from .voicelive.session import VoiceLiveSession

log = logging.getLogger(__name__)

RECONNECT_DELAYS_S = (1.0, 3.0, 8.0)
TOKEN_REFRESH_MARGIN_S = 120.0


SessionFactory = Callable[[Target, Credential, SessionConfig], VoiceLiveSession]


@dataclass
class AudioOptions:
    """Device choice and capture behaviour."""

    input_device: str | None = None
    output_device: str | None = None
    keep_mic_open: bool = True


class Assistant:
    """Runs conversations; the UI calls :meth:`press`, :meth:`release`, :meth:`send_text`, :meth:`connect`..."""

    def __init__(
        self,
        listener: Callable[[UiEvent], None],
        *,
        session_factory: SessionFactory = VoiceLiveSession,
        capture: Capture | None = None,
        playback: Playback | None = None,
        audio: AudioOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._listener = listener
        self._session_factory = session_factory
        self.capture = capture
        self.playback = playback
        if capture is not None:
            capture.on_level = self.on_level
            capture.stream.on_problem = self._audio_problem
        if playback is not None:
            playback.on_drained = self.on_playback_drained
            playback.stream.on_problem = self._audio_problem
        self.audio = audio or AudioOptions()
        self._clock = clock
        self.conversation = Conversation()
        self.session: VoiceLiveSession | None = None
        self.turn = TurnState.IDLE
        self._params: tuple[Target, Credential, SessionConfig] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pump: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._pressed = False
        self._response_active = False
        self._key_up_at: float | None = None
        self._was_connected = False
        self._reconnecting = False
        self._hands_free = False
        self._turn_started = asyncio.Event()  # set once the microphone is open and the turn has begun
        self._idle = asyncio.Event()
        self._idle.set()

    # ----------------------------------------------------------------- helpers
    def _emit(self, event: UiEvent) -> None:
        try:
            self._listener(event)
        except Exception:  # a broken view must not break the conversation
            log.exception("UI listener failed on %s", type(event).__name__)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _set_turn(self, state: TurnState) -> None:
        if state is TurnState.IDLE:
            self._idle.set()
        else:
            self._idle.clear()
        if state is not self.turn:
            self.turn = state
            self._emit(TurnChanged(state))

    def _audio_problem(self, problem: AudioProblem) -> None:
        self._emit(ErrorRaised(ErrorCategory.AUDIO, problem.message))
        self._emit_audio_status()

    def _emit_audio_status(self) -> None:
        cap, play = self.capture, self.playback
        self._emit(
            AudioStatus(
                cap.stream.label if cap and cap.is_open else ("Microphone closed" if cap else "No microphone"),
                play.stream.label if play and play.is_open else "No speaker",
                bool(cap and cap.is_open),
            )
        )

    @property
    def connected(self) -> bool:
        """True while a session is connected."""
        return self.session is not None and self.session.state is ConnState.CONNECTED

    # ----------------------------------------------------------------- audio
    async def start_audio(self) -> None:
        """Open the speaker, and the microphone when it stays open between turns (for pre-roll)."""
        if self.playback is not None and not self.playback.is_open:
            await self.playback.open_async(self.audio.output_device)
        if self.capture is not None and self.audio.keep_mic_open and not self.capture.is_open:
            await self.capture.open_async(self.audio.input_device)
        self._emit_audio_status()

    def on_level(self, level: Level) -> None:
        """Capture calls this with each chunk's level."""
        self._emit(LevelChanged(level))

    def on_playback_drained(self) -> None:
        """Playback calls this when the answer has finished sounding."""
        if not self._response_active and self.turn is TurnState.SPEAKING:
            self._set_turn(TurnState.IDLE)

    # ----------------------------------------------------------------- connection
    async def connect(self, target: Target, credential: Credential, config: SessionConfig) -> bool:
        """Connect (closing any current session); earlier conversation is carried into the new session."""
        self._params = (target, credential, config)
        await self._close_session()
        session = self._session_factory(target, credential, config)
        self.session = session
        self._was_connected = False
        self._pump = asyncio.create_task(self._pump_events(session), name="assistant-events")
        ok = await session.connect()
        if not ok:
            return False
        self._was_connected = True
        history = self.conversation.history()
        if history:
            session.add_history(history)
        if config.turn_detection.mode is not TurnMode.PUSH_TO_TALK:
            self._start_hands_free()
        self._schedule_token_refresh(session)
        return True

    async def switch(self, target: Target, credential: Credential, config: SessionConfig) -> bool:
        """Talk to another mode or deployment, keeping the conversation on screen and in the model's context."""
        if self.conversation.messages:
            divider = self.conversation.add_divider(f"Now talking to {target.deployment} ({target.mode.label})")
            self._emit(MessageChanged(MessageView.of(divider)))
        return await self.connect(target, credential, config)

    def update_config(self, config: SessionConfig) -> None:
        """Apply voice, instructions or turn detection to the live session (no reconnect)."""
        if self._params is not None:
            self._params = (self._params[0], self._params[1], config)
        if self.session is not None:
            self.session.update_config(config)
        hands_free = config.turn_detection.mode is not TurnMode.PUSH_TO_TALK
        if self._hands_free and not hands_free:
            self._stop_sender()
            self._hands_free = False
        if hands_free and self.connected:
            self._start_hands_free()

    async def disconnect(self) -> None:
        """Close the session; the conversation stays."""
        self._params = None
        await self._close_session()

    async def close(self) -> None:
        """Close everything: session, audio, every task started here."""
        self._params = None
        await self._close_session()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.capture is not None:
            self.capture.close()
        if self.playback is not None:
            self.playback.close()

    async def _close_session(self) -> None:
        self._stop_sender()
        self._pressed = False
        if self.playback is not None:
            self.playback.flush()
        session, self.session = self.session, None
        if session is not None:
            self._was_connected = False
            await session.close()
        if self._pump is not None:
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(self._pump, 2)
            self._pump = None
        self._response_active = False
        self._set_turn(TurnState.IDLE)

    def _schedule_token_refresh(self, session: VoiceLiveSession) -> None:
        left = session.token_seconds_left()
        if left is None:
            return

        async def refresh() -> None:
            await asyncio.sleep(max(0.0, left - TOKEN_REFRESH_MARGIN_S))
            await self._idle.wait()  # never reconnect mid-turn
            if self.session is session and self._params is not None:
                log.info("sign-in token expires soon: reconnecting")
                await self.connect(*self._params)

        self._spawn(refresh(), "token-refresh")

    async def _reconnect(self) -> None:
        self._reconnecting = True
        try:
            for delay in RECONNECT_DELAYS_S:
                if self._params is None:
                    return
                target = self._params[0]
                self._emit(ConnectionChanged(ConnState.RECONNECTING, target.describe()))
                await asyncio.sleep(delay)
                if self._params is None:
                    return
                if await self.connect(*self._params):
                    return
        finally:
            self._reconnecting = False

    # ----------------------------------------------------------------- push to talk
    def press(self) -> None:
        """The hold key went down: interrupt the answer at once, start listening.

        Hands-free, the microphone is always streaming: the key then only interrupts the answer.
        """
        session = self.session
        if self._pressed or session is None or not self.connected:
            return
        if self._hands_free:
            session.interrupt(self.playback.flush() if self.playback is not None else None)
            self._set_turn(TurnState.LISTENING)
            return
        self._pressed = True
        heard = self.playback.flush() if self.playback is not None else None
        self._response_active = False
        session.begin_turn(heard_ms=heard)
        if self.capture is None:
            self._emit(ErrorRaised(ErrorCategory.AUDIO, "No microphone is available. You can type a message."))
        else:
            self._turn_started.clear()
            if self.capture.is_open:
                self.capture.begin_turn()  # the pre-roll is counted back from this very moment
                self._turn_started.set()
            self._sender = asyncio.create_task(self._send_turn(session), name="turn-audio")
        self._set_turn(TurnState.LISTENING)

    async def release(self) -> None:
        """The hold key came up: capture the release tail, then commit and ask for the answer."""
        if not self._pressed:
            return
        self._pressed = False
        session = self.session
        if self.capture is not None and self._sender is not None:
            await self._turn_started.wait()  # the microphone may still be opening
            self.capture.release()
            sender, self._sender = self._sender, None
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            if not self.capture.is_open:  # the microphone could not open: that was already reported
                self._set_turn(TurnState.IDLE)
                return
        if session is None or session is not self.session:
            return
        asked = session.end_turn()
        self._key_up_at = self._clock() if asked else None
        self._set_turn(TurnState.THINKING if asked else TurnState.IDLE)
        if self.capture is not None and not self.audio.keep_mic_open:
            self.capture.close()
            self._emit_audio_status()

    def send_text(self, text: str) -> None:
        """Send a typed message (works without a microphone)."""
        text = text.strip()
        session = self.session
        if not text or session is None or not self.connected:
            return
        heard = self.playback.flush() if self.playback is not None else None
        session.interrupt(heard)
        session.send_text(text)
        self._key_up_at = self._clock()
        self._set_turn(TurnState.THINKING)

    async def _send_turn(self, session: VoiceLiveSession) -> None:
        capture = self.capture
        assert capture is not None
        if not self._turn_started.is_set():  # the microphone opens per turn: open it off the GUI thread
            opened = await capture.open_async(self.audio.input_device)
            self._emit_audio_status()
            if not opened:
                self._turn_started.set()
                return
            capture.begin_turn()
            self._turn_started.set()
        async for chunk in capture.turn_audio():
            session.append_audio(chunk)

    def _start_hands_free(self) -> None:
        if self.capture is None or self._hands_free or self.session is None:
            return
        self._stop_sender()
        self._turn_started.clear()
        if self.capture.is_open:
            self.capture.begin_turn()
            self._turn_started.set()
        self._sender = asyncio.create_task(self._send_turn(self.session), name="hands-free-audio")
        self._hands_free = True

    def _stop_sender(self) -> None:
        self._hands_free = False
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None

    # ----------------------------------------------------------------- events from the session
    async def _pump_events(self, session: VoiceLiveSession) -> None:
        async for event in session.events():
            if session is not self.session:
                continue
            self._handle(session, event)

    def _handle(self, session: VoiceLiveSession, event: AppEvent) -> None:
        changed = self.conversation.apply(event)
        if changed is not None:
            self._emit(MessageChanged(MessageView.of(changed)))
        if isinstance(event, TurnChanged):
            if event.state is TurnState.SPEAKING:
                self._set_turn(TurnState.SPEAKING)
            return  # the assistant derives the turn state the user sees
        if isinstance(event, AssistantAudio):
            self._response_active = True
            if self.playback is not None:
                self.playback.streaming = True
                self.playback.enqueue(event.item_id, event.pcm)
        elif isinstance(event, LatencyMark) and event.name == "first_audio_received" and self._key_up_at:
            output = self.playback.stream.latency_s if self.playback is not None else 0.0
            self._emit(LatencyMeasured(round((event.at - self._key_up_at + output) * 1000)))
            self._key_up_at = None
        elif isinstance(event, ResponseFinished):
            self._response_active = False
            if self.playback is not None:
                self.playback.streaming = False
            if self.turn is not TurnState.LISTENING and not (self.playback and self.playback.is_playing):
                self._set_turn(TurnState.IDLE)
        elif isinstance(event, SpeechDetected):  # hands-free: the service hears where turns start and end
            if event.started:
                if self.turn is TurnState.SPEAKING:
                    session.interrupt(self.playback.flush() if self.playback is not None else None)
                self._set_turn(TurnState.LISTENING)
            else:
                self._key_up_at = self._clock()
                self._set_turn(TurnState.THINKING)
        elif isinstance(event, ConnectionChanged) and event.state is ConnState.FAILED:
            self._stop_sender()
            self._set_turn(TurnState.IDLE)
            if self._was_connected and not self._reconnecting and self._params is not None:
                self._was_connected = False
                self._emit(event)
                self._spawn(self._reconnect(), "reconnect")
                return
        self._emit(event)
