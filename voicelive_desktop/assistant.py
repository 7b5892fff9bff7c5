"""The turn engine, Qt-free: where the session, the audio and the conversation meet.

Key down: flush local playback, interrupt the answer at the ms actually heard, start sending (pre-roll first).
Key up: keep the release tail, commit, ask for an answer. Answer audio goes to playback; transcripts go to the
conversation; what the UI shows leaves through one listener as frozen events. The engine is the only source of
the turn state the user sees.

Sessions come and go under it (the :class:`~voicelive_desktop.supervisor.Supervisor` hands them over), and
nothing the user said is lost on the way: a message typed or spoken while no session is ready waits in a queue;
audio of an utterance in flight is kept and replayed into the next session; a user turn that was sent but whose
answer had not begun when the session went away is sent again; an answer cut by a lost connection is marked cut
and can be asked for again with one click. A conversation the user leaves takes its session out of use at once
(what is said next waits for a fresh one); the words that session still owes the left conversation are folded
into it (:mod:`~voicelive_desktop.conversation.left`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .assistant_events import (
    AskAgainOffered,
    ConversationReplaced,
    LatencyMeasured,
    LeftMessageChanged,
    LevelChanged,
    MessageChanged,
    MessageView,
    TurnChanged,
    TurnState,
    UiEvent,
)
from .audio.backend import AudioProblem
from .audio.capture import Capture
from .audio.levels import measure
from .audio.playback import Playback
from .audio.ring import Frames
from .conversation.left import LeftConversation
from .conversation.transcript import Conversation, Message, Role
from .microphone import Microphone
from .tasks import finish
from .voicelive import errors
from .voicelive.config import TurnMode
from .voicelive.events import (
    AppEvent,
    AssistantAudio,
    AssistantTranscriptDelta,
    ConnState,
    ErrorCategory,
    ErrorRaised,
    ResponseFinished,
    ResponseStarted,
    SpeechDetected,
    UserTurnCommitted,
)
from .voicelive.modes import Target
from .voicelive.session import MIN_COMMIT_MS, VoiceLiveSession

log = logging.getLogger(__name__)

#: A turn whose loudest moment stays below this (dBFS peak) heard nothing: below any speech, above digital
#: silence and the noise floor of a microphone at rest. It is not sent, so a tap of the key costs no answer.
SILENCE_PEAK_DB = -50.0
#: The level meter shows no more than about 30 levels a second: the rest of the blocks' levels are not sent.
LEVEL_EVERY_S = 0.03
REPLAY_CHUNK_BYTES = 24000  # half a second at 24 kHz: replayed audio goes in pieces the service accepts
_ACCEPTING = (ConnState.CONNECTING, ConnState.CONNECTED, ConnState.RECONNECTING)
MUTED = "The microphone is muted: unmute it in the tray menu (or the View menu) to talk. Typing works."
#: At quit, how long the service is given for the words of turns it already took (see ``keep_the_words``).
QUIT_WAIT_S = 3.0
#: How many turns awaiting their words are remembered (for quitting, and to hear them again after a drop).
OWED_WORDS_KEPT = 3
#: How a message reads that waited for a connection, and whose conversation the user left before one took it.
NOT_SENT = "not sent: you left this conversation before a connection took it"
NO_MICROPHONE = "No microphone: connect one, or pick one in Settings > Audio. You can type a message meanwhile."


@dataclass
class _UserTurn:
    """A user turn on its way to the service: typed text, or the audio of an utterance."""

    message_id: str  # the bubble it shows as, or will show as once the service has committed it
    text: str | None = None
    audio: bytearray = field(default_factory=bytearray)


@dataclass
class _Utterance(_UserTurn):
    """The turn being spoken: its audio so far, and which session has received how much of it."""

    sent_to: VoiceLiveSession | None = None
    sent_bytes: int = 0
    heard_sound: bool = False  # a block peaked above SILENCE_PEAK_DB: a tap with nothing said is not sent
    started: bool = False  # the microphone is open and the turn began
    released: bool = False
    task: asyncio.Task[None] | None = None


async def _reopened(capture: Capture, utterance: _Utterance, within_s: float = 3.0) -> bool:
    """Wait for a microphone being reopened (another device, or the same one after a stall). False when it is not
    back within ``within_s``, or when the key comes up first: the turn then ends with what it has."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not utterance.released:
        if capture.is_open:
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return False


T = TypeVar("T")


def _owe_words(owed: dict[str, T], message_id: str, value: T) -> None:
    """Note a turn whose words are owed; only the last few: a session without transcription never sends them."""
    owed[message_id] = value
    while len(owed) > OWED_WORDS_KEPT:
        del owed[next(iter(owed))]


def _detects_turns(session: VoiceLiveSession) -> bool:
    """The session's service ends turns by itself (hands-free), rather than the key."""
    return session.config.turn_detection.mode is not TurnMode.PUSH_TO_TALK


class Assistant:
    """The push-to-talk state machine. The UI calls :meth:`press`, :meth:`release`, :meth:`send_text`...

    Args:
        listener: gets every :data:`UiEvent`.
        microphone: the audio side (None: text only).
        clock: monotonic seconds, for latency.
    """

    def __init__(
        self,
        listener: Callable[[UiEvent], None],
        *,
        microphone: Microphone | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._listeners = [listener]
        self.mic = microphone
        self.playback: Playback | None = None
        self.hook_audio()
        self._clock = clock
        self.conversation = Conversation()
        self.session: VoiceLiveSession | None = None
        self.turn = TurnState.IDLE
        self.link = ConnState.DISCONNECTED
        self._utterance: _Utterance | None = None
        self._queue: list[_UserTurn] = []
        self._awaiting: _UserTurn | None = None  # sent, and its answer has not finished
        self._awaiting_started = False  # the response to it began (the one before it may still be ending)
        self._unheard_audio: dict[str, bytes] = {}  # spoken turns whose words have not arrived yet
        self._service_turns: dict[str, None] = {}  # turns the service's turn detection took, words not come yet
        self._words_came = asyncio.Event()  # set when a spoken turn's words arrive, or its session goes
        self._quitting = False  # the app is closing: no answer is played any more
        self._commits: deque[str] = deque()  # the local ids of the turns committed, in order
        self._answering = False
        self._answer_visible = False  # words or audio of the current answer have arrived
        self._silenced = False  # the user cut the answer: its audio still in flight is not played
        self._ask_again = False
        self._last_target: Target | None = None
        self._continued = False  # an earlier conversation was brought back: the next session says so
        # Sessions no longer used since their conversation was left, and what each may still send about it.
        self._left: dict[VoiceLiveSession, LeftConversation] = {}
        self._key_up_at: float | None = None
        self._level_at = float("-inf")
        self._hands_free: asyncio.Task[None] | None = None
        self._hands_free_stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def hook_audio(self) -> None:
        """Listen to the microphone's devices: at construction, and again when they arrive later (a sound server
        that answered after the start limit)."""
        mic = self.mic
        self.playback = mic.playback if mic is not None else None
        if mic is not None and mic.capture is not None:
            mic.capture.on_block = self._block
        if self.playback is not None:
            self.playback.on_drained = self._drained

    # ----------------------------------------------------------------- helpers
    def add_listener(self, listener: Callable[[UiEvent], None]) -> None:
        """Another party that gets every event (the history recorder, beside the window)."""
        self._listeners.append(listener)

    def _emit(self, event: UiEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a broken view must not break the conversation
                log.exception("listener failed on %s", type(event).__name__)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _set_turn(self, state: TurnState) -> None:
        if state is not self.turn:
            self.turn = state
            self._emit(TurnChanged(state))

    def _show(self, message: Message) -> None:
        if self.session is not None and not message.deployment and message.role is not Role.DIVIDER:
            message.mode, message.deployment = self.session.target.mode.key, self.session.target.deployment
            message.voice = self.session.config.voice
        self._emit(MessageChanged(MessageView.of(message, self.conversation.index(message))))

    def _settle_turn(self) -> None:
        """The turn state once nothing is being said: thinking while an answer is due, else idle."""
        if self.turn is TurnState.LISTENING and self._utterance is not None:
            return
        if self.playback is not None and self.playback.is_playing and self.turn is TurnState.SPEAKING:
            return  # idles when playback drains
        due = self._answering or self._queue or self._awaiting or (self.session and self.session.response_pending)
        self._set_turn(TurnState.THINKING if due else TurnState.IDLE)

    def _block(self, frames: Frames) -> None:
        """A block of the turn's audio: metered when the level meter is due, and until the turn heard a sound.

        Once someone speaks, blocks that come sooner than :data:`LEVEL_EVERY_S` after the last level are not
        metered at all (with 20 ms blocks, 50 a second, that is about every other one; 40 and 50 ms blocks, the
        default, are all shown).
        """
        utterance = self._utterance
        listening = utterance is not None and not utterance.heard_sound
        now = self._clock()
        due = now - self._level_at >= LEVEL_EVERY_S
        if not (due or listening):
            return
        level = measure(frames)
        if utterance is not None and level.peak_db >= SILENCE_PEAK_DB:
            utterance.heard_sound = True
        if due:
            self._level_at = now
            self._emit(LevelChanged(level))

    def _drained(self) -> None:
        if self.turn is TurnState.SPEAKING and not self._answering:
            self._settle_turn()

    def audio_problem(self, problem: AudioProblem) -> None:
        """The microphone or speaker reported a problem (the microphone passes them on)."""
        message = problem.message
        if self._utterance is not None and problem.kind == "device-lost" and self.turn is TurnState.LISTENING:
            message += (
                " It stopped while you were speaking: what it heard is kept, so keep talking, or let go and say it "
                "again."
            )
        self._emit(ErrorRaised(ErrorCategory.AUDIO, message, recovered=problem.kind == "device-back"))

    @property
    def accepting(self) -> bool:
        """True when a message or a turn can be taken now (sent at once, or as soon as a session is ready)."""
        return self.link in _ACCEPTING

    @property
    def hands_free(self) -> bool:
        """True while the microphone streams to the service for its own turn detection."""
        return self._hands_free is not None and not self._hands_free.done()

    def at_turn_boundary(self) -> bool:
        """Nothing is being said, sent or answered: a session can be replaced without anyone noticing."""
        return (
            self._utterance is None
            and not self._queue
            and self._awaiting is None
            and not self._answering
            and not (self.session is not None and self.session.response_pending)
            and not (self.playback is not None and self.playback.is_playing)
        )

    # ----------------------------------------------------------------- sessions (from the supervisor)
    def connection_state(self, state: ConnState) -> None:
        """The supervisor's connection state: whether intents are taken."""
        self.link = state

    def attach(self, session: VoiceLiveSession) -> None:
        """A connected session: carry the conversation into it, then resume whatever was on its way."""
        self.session = session
        carried = self.conversation.history()
        switched = self._last_target is not None and session.target != self._last_target
        continued, self._continued = self._continued, False
        self._last_target = session.target
        if (switched or continued) and carried.of_total:
            amount = (
                f"{carried.of_total} earlier message{'s' if carried.of_total != 1 else ''} carried"
                if carried.all
                else f"the last {len(carried.turns)} of {carried.of_total} messages carried"
            )
            verb = "Now talking to" if switched else "Continued with"
            where = f"{session.target.deployment} ({session.target.mode.label})"
            self._show(self.conversation.add_divider(f"{verb} {where} \u00b7 {amount}"))
        untranscribed = [m.id for m in self.conversation.messages if m.id in self._unheard_audio and not m.final]
        session.add_history(carried.turns)
        for message_id in untranscribed:  # their words never arrived: the service hears them again instead
            self._send_audio(session, self._unheard_audio[message_id], message_id, respond=False)
        queue, self._queue = self._queue, []
        if queue and self._key_up_at is not None:
            self._key_up_at = self._clock()  # the answer's latency counts from here, not through the outage
        for i, turn in enumerate(queue):
            # one answer to everything said meanwhile, after the last of it: an answer to each in turn would be cut
            # by the next, or answer the last alone
            self._deliver(session, turn, respond=i == len(queue) - 1)
        utterance = self._utterance
        if utterance is not None and utterance.started and utterance.sent_to is not session:
            self._catch_up(session, utterance)
        self.sync_hands_free()
        self._settle_turn()

    def detach(self, session: VoiceLiveSession, *, lost: bool) -> None:
        """``session`` is going away: stop using it, mark a cut answer, keep what the user said."""
        left = self._left.pop(session, None)
        if left is not None and left.words_due:
            log.info("%d turns of a left conversation got no words before its session closed", len(left.words_due))
        if session is not self.session:
            return
        self.session = None
        self._words_came.set()
        self._commits.clear()  # named by that session or never: turns resent to the next one are counted again
        self._service_turns.clear()  # their audio went with the session: their words will not come
        self._stop_hands_free()
        if self.playback is not None:
            self.playback.flush()
        unfinished = [m.id for m in self.conversation.unfinished_answers()]
        for message in self.conversation.cut_answers(unfinished, "Connection lost" if lost else errors.INTERRUPTED):
            self._show(message)
        turn, self._awaiting = self._awaiting, None
        if turn is not None and not (self._awaiting_started and self._answer_visible):
            self._resend(turn)  # nothing of its answer was seen: the next session gets the turn again
        elif turn is not None:
            self._offer_ask_again(True, lost=lost)  # an answer was cut: the user chooses whether to ask again
        self._answering = self._answer_visible = False
        self._settle_turn()

    def _resend(self, turn: _UserTurn) -> None:
        """Put ``turn`` first in the queue, its bubble marked as waiting (and so not carried as history)."""
        self._queue.insert(0, turn)
        message = self.conversation.get(turn.message_id)
        if message is not None:
            message.pending = True
            self._show(message)

    def sync_hands_free(self) -> None:
        """Stream the microphone while the session's turn detection is the service's (and stop when not). Not
        while the key holds a turn of its own (pressed while no session was there): that turn streams it."""
        session = self.session
        wanted = (
            session is not None
            and _detects_turns(session)
            and self._utterance is None
            and not self._quitting
            and self.mic is not None
            and self.mic.capture is not None
            and not self.mic.muted
        )
        if wanted and not self.hands_free:
            assert session is not None
            self._hands_free_stop = asyncio.Event()
            self._hands_free = self._spawn(self._stream_hands_free(session), "hands-free-audio")
        elif not wanted:
            self._stop_hands_free()

    def _stop_hands_free(self) -> None:
        self._hands_free_stop.set()
        if self._hands_free is not None:
            self._hands_free.cancel()
            self._hands_free = None

    async def _stream_hands_free(self, session: VoiceLiveSession) -> None:
        assert self.mic is not None
        async for chunk in self.mic.stream(self._hands_free_stop):
            session.append_audio(chunk)

    # ----------------------------------------------------------------- push to talk
    def press(self) -> None:
        """The hold key went down: interrupt the answer at once, start listening.

        Hands-free, the microphone is always streaming: the key then only interrupts the answer.
        """
        if self._utterance is not None or not self.accepting:
            return
        self._interrupt()
        if self.hands_free:
            self._set_turn(TurnState.LISTENING)
            return
        mic = self.mic
        if mic is None or mic.capture is None:
            self._emit(ErrorRaised(ErrorCategory.AUDIO, NO_MICROPHONE))
            return
        if mic.muted:
            self._emit(ErrorRaised(ErrorCategory.AUDIO, MUTED))
            return
        if self.session is not None:
            self.session.begin_turn()
        utterance = _Utterance(f"local-{uuid.uuid4().hex[:12]}")
        self._utterance = utterance
        if mic.capture.is_open:
            mic.capture.begin_turn()  # the pre-roll is counted back from this very moment
            utterance.started = True
            utterance.sent_to = self.session
            self._set_turn(TurnState.LISTENING)
        utterance.task = self._spawn(self._capture(utterance), "turn-audio")

    def _interrupt(self) -> None:
        """Silence the answer now and cut it where the user stopped hearing it."""
        heard = self._silence()
        if self.session is not None:
            self.session.interrupt(heard)
        self._offer_ask_again(False)

    def _silence(self) -> int | None:
        """Stop playing the answer: what is queued goes, and what is still on its way will not play (the service
        takes a moment to act on a cancel). Returns the ms of the answer the user heard."""
        if self._answering:
            self._silenced = True
        return self.playback.flush() if self.playback is not None else None

    async def _capture(self, utterance: _Utterance) -> None:
        mic = self.mic
        assert mic is not None and mic.capture is not None
        capture = mic.capture
        if not utterance.started:  # the microphone opens per turn: in a worker thread
            if not await mic.open_for_turn():
                self._utterance = None
                self.sync_hands_free()
                self._emit(ErrorRaised(ErrorCategory.AUDIO, NO_MICROPHONE))
                self._settle_turn()
                return
            capture.begin_turn()
            utterance.started = True
            utterance.sent_to = self.session
            self._set_turn(TurnState.LISTENING)
            if utterance.released:
                capture.release()
        while True:
            async for chunk in capture.turn_audio():
                utterance.audio.extend(chunk)
                session = self.session
                if session is None:
                    continue
                if utterance.sent_to is not session:
                    self._catch_up(session, utterance)
                else:
                    session.append_audio(chunk)
                    utterance.sent_bytes += len(chunk)
                    await asyncio.sleep(0)  # the sender writes the block now, before this task meters it
            if not await _reopened(capture, utterance):
                return
            capture.resume_turn()  # another device took over mid-turn: what it hears is part of the same turn

    def _catch_up(self, session: VoiceLiveSession, utterance: _Utterance) -> None:
        """A session arrived mid-utterance: give it everything said so far."""
        session.begin_turn()
        for start in range(0, len(utterance.audio), REPLAY_CHUNK_BYTES):
            session.append_audio(bytes(utterance.audio[start : start + REPLAY_CHUNK_BYTES]))
        utterance.sent_to, utterance.sent_bytes = session, len(utterance.audio)

    async def release(self) -> None:
        """The hold key came up: capture the release tail, then commit and ask for the answer."""
        utterance = self._utterance
        if utterance is None:
            if self.hands_free and self.turn is TurnState.LISTENING:
                self._settle_turn()
            return
        utterance.released = True
        if utterance.started and self.mic is not None and self.mic.capture is not None:
            self.mic.capture.release()
        if utterance.task is not None:
            await finish(utterance.task)
        if self._utterance is not utterance:  # the microphone could not open: already reported
            return
        self._utterance = None
        if self.mic is not None:
            self.mic.after_turn()
        try:
            self._end_turn(utterance)
        finally:
            self.sync_hands_free()  # hands-free, the microphone streams again once the key's turn is over

    def _end_turn(self, utterance: _Utterance) -> None:
        """The key's turn was captured: commit it (or queue it, or say nothing was heard)."""
        session = self.session
        if session is not None and utterance.sent_to is session and _detects_turns(session):
            # Pressed while no session was there, in hands-free use: the session that came got the turn's audio
            # as it was said, and its turn detection ends the turn, as for any hands-free speech.
            self._settle_turn()
            return
        rate = session.config.input_sample_rate if session is not None else 24000
        silent = not utterance.heard_sound
        if silent or len(utterance.audio) * 1000 // (2 * rate) < MIN_COMMIT_MS:
            if session is not None:
                session.commit_turn(0)  # clears the buffer; nothing to answer
            self._emit(
                ErrorRaised(
                    ErrorCategory.NOTHING_HEARD,
                    "Nothing was heard. Hold the key down while you speak, and check the microphone.",
                )
            )
            self._settle_turn()
            return
        self._key_up_at = self._clock()
        if session is not None and utterance.sent_to is session:
            self._remember_unheard(utterance)
            self._commits.append(utterance.message_id)
            session.commit_turn(utterance.sent_bytes)
            self._await(utterance)
        elif session is not None:
            self._deliver(session, utterance)
        else:
            self._queue_turn(utterance)
        self._set_turn(TurnState.THINKING)

    def _queue_turn(self, turn: _UserTurn) -> None:
        """No session now: keep the turn, and show it is waiting."""
        self._queue.append(turn)
        if turn.text is None:
            message = self.conversation.add_user_text(turn.message_id, "", pending=True)
            message.spoken = True
            self._show(message)

    def send_text(self, text: str) -> bool:
        """Send a typed message (works without a microphone). Returns False when it cannot be taken now."""
        text = text.strip()
        if not text or not self.accepting:
            return False
        self._interrupt()
        turn = _UserTurn(f"item_{uuid.uuid4().hex[:20]}", text=text)
        self._show(self.conversation.add_user_text(turn.message_id, text, pending=True))
        self._key_up_at = self._clock()
        if self.session is not None:
            self._deliver(self.session, turn)
        else:
            self._queue.append(turn)
        self._set_turn(TurnState.THINKING)
        return True

    def _deliver(self, session: VoiceLiveSession, turn: _UserTurn, *, respond: bool = True) -> None:
        """Send ``turn``; with ``respond``, ask for the answer to it (and to what went before it unanswered)."""
        if turn.text is not None:
            session.send_text(turn.text, turn.message_id, respond=respond)
        else:
            self._send_audio(session, bytes(turn.audio), turn.message_id, respond=respond)
            self._remember_unheard(turn)
        if respond:
            self._await(turn)

    def _await(self, turn: _UserTurn) -> None:
        """``turn`` is with the service: its answer is due (after the one still ending, if any)."""
        self._awaiting, self._awaiting_started = turn, False

    def _send_audio(self, session: VoiceLiveSession, audio: bytes, message_id: str, *, respond: bool) -> None:
        session.begin_turn()
        for start in range(0, len(audio), REPLAY_CHUNK_BYTES):
            session.append_audio(audio[start : start + REPLAY_CHUNK_BYTES])
        if respond:
            if session.commit_turn(len(audio)):
                self._commits.append(message_id)
        elif session.commit_audio_only(len(audio)):
            self._commits.append(message_id)

    def _remember_unheard(self, turn: _UserTurn) -> None:
        _owe_words(self._unheard_audio, turn.message_id, bytes(turn.audio))

    def _committed(self, item_id: str) -> None:
        """The service named a committed turn ``item_id``: the bubble, the kept audio and the turn take it."""
        local = self._commits.popleft()
        message = self.conversation.get(local)
        if message is not None:  # its bubble was shown while it waited: it stays
            self.conversation.alias(local, item_id)
            if message.pending:
                message.pending = False
                self._show(message)
            return
        if local in self._unheard_audio:
            self._unheard_audio[item_id] = self._unheard_audio.pop(local)
        for turn in (self._awaiting, *self._queue):
            if turn is not None and turn.message_id == local:
                turn.message_id = item_id

    def ask_again(self) -> bool:
        """Ask for the answer that a lost connection cut off. Returns False when there is nothing to ask."""
        if not self._ask_again or self.session is None:
            return False
        self._offer_ask_again(False)
        self._key_up_at = self._clock()
        self.session.request_response()
        self._set_turn(TurnState.THINKING)
        return True

    def _offer_ask_again(self, offered: bool, *, lost: bool = True) -> None:
        if offered != self._ask_again:
            self._ask_again = offered
            self._emit(AskAgainOffered(offered, lost))

    # ----------------------------------------------------------------- events from the session
    def handle(self, session: VoiceLiveSession, event: AppEvent) -> None:
        """One event from the attached session, or from a session left with its conversation."""
        if session is not self.session:
            self._handle_left(session, event)
            return
        if isinstance(event, UserTurnCommitted):
            if self._commits:
                self._committed(event.item_id)
            else:  # hands-free: the service ended the turn; its words are owed as a key's turn's are
                _owe_words(self._service_turns, event.item_id, None)
        changed = self.conversation.apply(event)
        if changed is not None:
            if changed.final and changed.role is Role.USER:
                self._unheard_audio.pop(changed.id, None)
                self._service_turns.pop(changed.id, None)
                self._words_came.set()
            self._show(changed)
        if isinstance(event, AssistantAudio):
            self._answer_arriving()
            self._answer_audio(event)
        elif isinstance(event, AssistantTranscriptDelta):
            self._answer_arriving()
        elif isinstance(event, ResponseStarted):
            self._answering, self._answer_visible, self._silenced = True, False, False
            self._awaiting_started = self._awaiting is not None
        elif isinstance(event, ResponseFinished):
            self._response_finished(event)
        elif isinstance(event, SpeechDetected):  # hands-free: the service hears where turns start and end
            if event.started:
                session.interrupt(self._silence(), cancel=False)  # the service cancels by itself
                self._set_turn(TurnState.LISTENING)
            else:
                self._key_up_at = self._clock()
                self._set_turn(TurnState.THINKING)

    def _answer_arriving(self) -> None:
        """Words or audio of the answer arrived: it is speaking (in text too, for a user with no speaker)."""
        if self._silenced:
            return  # the rest of an answer the user cut: not the answer now due
        self._answer_visible = True
        if self.turn is TurnState.THINKING:
            self._set_turn(TurnState.SPEAKING)

    def _answer_audio(self, event: AssistantAudio) -> None:
        if self._silenced or self._quitting:
            return
        if self.playback is not None:
            self.playback.answer_arriving()
            self.playback.enqueue(event.item_id, event.pcm)
        if self._key_up_at is not None:  # key up to the first audio at the ear (or arriving, with no speaker)
            heard_after = self.playback.output_latency_s if self.playback is not None else 0.0
            ms = round((self._clock() - self._key_up_at + heard_after) * 1000)
            self._emit(LatencyMeasured(ms))
            message = self.conversation.get(event.item_id)
            if message is not None:
                message.latency_ms = ms
            self._key_up_at = None

    def _response_finished(self, event: ResponseFinished) -> None:
        self._answering = False
        if self._awaiting_started:  # this was the answer to it (not the cut one before it)
            self._awaiting, self._awaiting_started = None, False
        if self.playback is not None:
            self.playback.answer_complete()
        if event.status != "completed":
            reason = errors.describe_cut(event.status, event.reason, event.detail)
            items = [*event.item_ids, *(m.id for m in self.conversation.unfinished_answers())]
            changed = self.conversation.cut_answers(items, reason)
            if not changed and event.status in ("failed", "incomplete"):  # nothing came: say so where it would have
                changed = [self.conversation.add_answer_that_never_came(f"failed-{event.response_id}", reason)]
            for message in changed:
                self._show(message)
            if event.status in ("failed", "incomplete"):
                self._emit(ErrorRaised(ErrorCategory.ANSWER_CUT, f"The answer was cut short. {reason}.", event.reason))
        self._settle_turn()

    # ----------------------------------------------------------------- conversations
    def replace_conversation(self, conversation: Conversation) -> None:
        """Show ``conversation`` (a new one, or an earlier one to continue); the next session carries it.

        The live session holds the old context: it is used no more (what the user says next waits for the next
        session), and is kept only for what it still owes the left conversation. The caller renews the session.
        """
        answer_due = self._leave_the_answer()
        session = self.session
        if session is not None:
            # Hands-free, the microphone streams nothing while no session is in use: the next one comes at once,
            # rather than what the user says next being lost while the left session's words are awaited.
            patient = not self.hands_free
            self._left[session] = LeftConversation.of(
                self.conversation, self._commits, answer_due=answer_due, now=self._clock(), patient=patient
            )
            self.session = None
            self._stop_hands_free()
        for turn in self._queue:  # never sent: it stays in its conversation, marked so
            message = self.conversation.get(turn.message_id)
            if message is not None and message.pending:
                message.pending = False
                message.finish(cut=NOT_SENT)
                self._show(message)
        for left in self._left.values():
            if left.conversation.id == conversation.id:
                conversation = left.conversation  # reopened while still owed words: the copy they arrive in
        self.conversation = conversation
        self._queue.clear()
        self._awaiting = None
        self._unheard_audio.clear()
        self._service_turns.clear()
        self._commits.clear()
        self._last_target = None
        self._continued = bool(conversation.messages)
        self._offer_ask_again(False)
        views = tuple(MessageView.of(m, i) for i, m in enumerate(conversation.messages))
        self._emit(ConversationReplaced(conversation.id, views))
        self._settle_turn()

    def _leave_the_answer(self) -> bool:
        """The conversation on screen is being replaced while an answer to it is due or arriving: stop it where
        the user stopped hearing it, and keep it, cut, in its own conversation (saved before the switch).
        Returns whether the answer has yet to end on the session."""
        session = self.session
        playing = self.playback is not None and self.playback.is_playing  # (all of it may have arrived already)
        due = self._answering or (session is not None and session.response_pending)
        if not (due or playing):
            return False
        heard = self._silence()
        if session is not None:
            session.forget_wanted_response()  # an answer asked for after this one was for the left conversation
            session.interrupt(heard)
        answers = self.conversation.unfinished_answers()
        last = next((m for m in reversed(self.conversation.messages) if m.role is Role.ASSISTANT), None)
        if playing and last is not None and last not in answers:
            answers.append(last)  # heard only in part: cut where the user stopped hearing it
        for message in answers:
            if heard is not None:
                message.heard_ms = min(heard, message.audio_ms)
            message.finish(cut=errors.INTERRUPTED)
            self._show(message)
        self._answering = self._answer_visible = False
        return due

    def _handle_left(self, session: VoiceLiveSession, event: AppEvent) -> None:
        """What a session left with its conversation still sends: the words of turns said there are saved there."""
        left = self._left.get(session)
        if left is None:
            return
        message = left.apply(event)
        if message is None:
            return
        if left.conversation is self.conversation:  # the user went back to it
            self._show(message)
        else:
            view = MessageView.of(message, left.conversation.index(message))
            self._emit(LeftMessageChanged(left.conversation.id, view))

    def in_use(self, session: VoiceLiveSession) -> bool:
        """False for a session left with its conversation (what is said now waits for the next one)."""
        return session is self.session

    def done_with(self, session: VoiceLiveSession) -> bool:
        """True when ``session`` can be replaced unnoticed: left with its conversation and owing it nothing more
        (or kept as long as that is worth), or in use and at a turn boundary."""
        left = self._left.get(session)
        if left is not None:
            return not left.expecting(self._clock())
        return session is not self.session or self.at_turn_boundary()

    async def keep_the_words(self, timeout_s: float = QUIT_WAIT_S) -> None:
        """The app is quitting: silence the answer, and give the service up to ``timeout_s`` for the words of the
        turns it already took (transcription runs beside the answer, and often ends after it), so that they are
        saved rather than left an empty bubble for good."""
        if self.session is None or self._utterance is not None:
            return  # nothing to hear them on; or a turn still being said, which quitting drops
        self._quitting = True  # what more of the answer comes meanwhile (or starts) is saved, not played
        self._stop_hands_free()  # and no new turn is heard
        self._silence()
        deadline = self._clock() + timeout_s
        while self.session is not None and self._words_due() and (left := deadline - self._clock()) > 0:
            self._words_came.clear()  # the session's events arrive meanwhile, and are saved as they come
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._words_came.wait()

    def _words_due(self) -> bool:
        """A turn the service took has no words yet."""
        due = {m.id for m in self.conversation.messages if m.role is Role.USER and m.spoken and not m.final}
        owed = (*self._unheard_audio, *self._service_turns)
        return bool(self._commits) or any(message_id in due for message_id in owed)

    async def close(self) -> None:
        """Stop every task started here (sessions and devices belong to their owners)."""
        self._stop_hands_free()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
