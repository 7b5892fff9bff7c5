"""The transcript: user and assistant messages, built from app events, in the order the user experienced them."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ..voicelive.errors import INTERRUPTED
from ..voicelive.events import (
    AppEvent,
    AssistantAudio,
    AssistantInterrupted,
    AssistantTranscriptDelta,
    AssistantTranscriptFinal,
    ResponseFinished,
    UserTextSent,
    UserTranscriptDelta,
    UserTranscriptFinal,
    UserTurnCommitted,
)

PCM16_BYTES_PER_MS = 48  # 24 kHz mono, 2 bytes a sample
#: What the model is told about an answer that was cut off, after the part the user heard.
CUT_MARK = " \u2026 [cut off here: the user did not hear the rest]"
#: How much earlier conversation a new session is given, in characters of text (about 6,000 tokens).
HISTORY_BUDGET_CHARS = 24_000


class Role(enum.Enum):
    """Who a message is from; a divider marks a change of model."""

    USER = "user"
    ASSISTANT = "assistant"
    DIVIDER = "divider"


@dataclass
class Message:
    """One bubble in the chat.

    ``cut`` says why an answer stopped early ("Interrupted", "Connection lost", "Stopped: content filter"...);
    ``pending`` marks a user message not yet delivered to any session (it is sent once one is ready).
    """

    id: str
    role: Role
    text: str = ""
    final: bool = False
    spoken: bool = False  # a user turn spoken (its words may come later) rather than typed
    failed: bool = False
    audio_ms: int = 0
    heard_ms: int | None = None  # where the user stopped hearing this answer, when cut
    cut: str = ""
    pending: bool = False
    at: datetime = field(default_factory=datetime.now)
    finished_at: datetime | None = None
    mode: str = ""
    deployment: str = ""
    voice: str = ""
    latency_ms: int | None = None

    @property
    def interrupted(self) -> bool:
        """True when this answer was cut short."""
        return bool(self.cut)

    def heard_text(self) -> str:
        """The part of the answer the user actually heard (all of it unless cut while it was playing).

        The cut is placed in proportion to the audio heard, at the end of a word.
        """
        if self.heard_ms is None or self.audio_ms <= 0:
            return self.text
        cut = int(len(self.text) * min(1.0, self.heard_ms / self.audio_ms))
        while 0 < cut < len(self.text) and not self.text[cut].isspace():
            cut += 1
        return self.text[:cut].rstrip()

    def finish(self, *, cut: str = "") -> None:
        """No more text will come: final, and cut with ``cut`` when it stopped early."""
        if cut and not self.cut:
            self.cut = cut
        if not self.final:
            self.final = True
            self.finished_at = datetime.now()


@dataclass(frozen=True)
class Carried:
    """What a new session is given of the earlier conversation."""

    turns: list[tuple[str, str]]
    of_total: int  # messages there were to carry

    @property
    def all(self) -> bool:
        """True when nothing had to be left out."""
        return len(self.turns) == self.of_total


class Conversation:
    """Messages in order; :meth:`apply` folds an app event in and returns the message it changed."""

    def __init__(self, messages: Iterable[Message] = (), *, conversation_id: str | None = None) -> None:
        self.id = conversation_id or uuid.uuid4().hex  # the history's name for it
        self.messages: list[Message] = []
        self._by_id: dict[str, Message] = {}
        self._dividers = 0
        for message in messages:
            self._add(message)
            if message.role is Role.DIVIDER:
                self._dividers += 1

    def _add(self, message: Message) -> Message:
        self.messages.append(message)
        self._by_id[message.id] = message
        return message

    def get(self, item_id: str) -> Message | None:
        """The message for ``item_id``."""
        return self._by_id.get(item_id)

    def ids(self) -> set[str]:
        """Every id the messages answer to: their own, and the service's item ids they took (see :meth:`alias`)."""
        return set(self._by_id)

    def alias(self, message_id: str, item_id: str) -> None:
        """Events about the service's ``item_id`` go to the message ``message_id`` (shown before the service
        named it: a turn that waited for a connection)."""
        message = self._by_id.get(message_id)
        if message is not None:
            self._by_id[item_id] = message

    def _user(self, item_id: str) -> Message:
        return self._by_id.get(item_id) or self._add(Message(item_id, Role.USER, spoken=True))

    def _assistant(self, item_id: str) -> Message:
        return self._by_id.get(item_id) or self._add(Message(item_id, Role.ASSISTANT))

    def apply(self, event: AppEvent) -> Message | None:
        """Fold ``event`` in; returns the message that changed (None if the event is not about the transcript)."""
        if isinstance(event, UserTurnCommitted):
            return self._user(event.item_id)
        if isinstance(event, UserTranscriptDelta):
            message = self._user(event.item_id)
            if not message.final:
                message.text += event.text
            return message
        if isinstance(event, UserTranscriptFinal):
            message = self._user(event.item_id)
            message.text, message.failed = event.text, event.failed
            message.finish()
            return message
        if isinstance(event, UserTextSent):
            message = self._by_id.get(event.item_id) or self._add(Message(event.item_id, Role.USER, event.text))
            message.pending = False
            message.finish()
            return message
        if isinstance(event, AssistantTranscriptDelta):
            message = self._assistant(event.item_id)
            if not message.final:
                message.text += event.text
            return message
        if isinstance(event, AssistantTranscriptFinal):
            message = self._assistant(event.item_id)
            if not message.cut:
                message.text = event.text  # a cut answer keeps the words that had arrived when it was cut
            message.finish()
            return message
        if isinstance(event, AssistantAudio):
            message = self._assistant(event.item_id)
            message.audio_ms += len(event.pcm) // PCM16_BYTES_PER_MS
            return None  # audio alone changes nothing visible
        if isinstance(event, AssistantInterrupted):
            message = self._assistant(event.item_id)
            message.heard_ms = event.heard_ms
            message.cut = message.cut or INTERRUPTED
            return message
        if isinstance(event, ResponseFinished):
            return None  # the assistant decides how a response that ended early is described: see cut_answers
        return None

    def add_user_text(self, item_id: str, text: str, *, pending: bool) -> Message:
        """A typed message, shown at once; ``pending`` until a session has it."""
        return self._add(Message(item_id, Role.USER, text, final=True, pending=pending))

    def cut_answers(self, item_ids: Iterable[str], reason: str) -> list[Message]:
        """Mark the answers ``item_ids`` as cut for ``reason`` (unfinished ones too); returns those changed."""
        changed = []
        for item_id in item_ids:
            message = self._by_id.get(item_id)
            if message is not None and message.role is Role.ASSISTANT and not message.cut:
                message.finish(cut=reason)
                changed.append(message)
        return changed

    def add_answer_that_never_came(self, message_id: str, reason: str) -> Message:
        """An answer the service gave up on before any word of it arrived: shown, with why."""
        message = self._add(Message(message_id, Role.ASSISTANT))
        message.finish(cut=reason)
        return message

    def unfinished_answers(self) -> list[Message]:
        """Answers still streaming (their words were still arriving)."""
        return [m for m in self.messages if m.role is Role.ASSISTANT and not m.final]

    def add_divider(self, text: str) -> Message:
        """A line across the chat, e.g. "Now talking to gpt-4.1 (BYOM chat completion)".

        It goes before the messages still waiting to be sent: those go to the model the divider names. Right
        after another divider (relaunched, or reconnected, with nothing said since), it takes that one's place:
        the chat keeps one line, saying where the conversation goes on now.
        """
        settled = [m for m in self.messages if not m.pending]
        if settled and settled[-1].role is Role.DIVIDER:
            settled[-1].text = text
            return settled[-1]
        self._dividers += 1
        divider = Message(f"divider-{self._dividers}", Role.DIVIDER, text, final=True)
        waiting = next((i for i, m in enumerate(self.messages) if m.pending), len(self.messages))
        self.messages.insert(waiting, divider)
        self._by_id[divider.id] = divider
        return divider

    def index(self, message: Message) -> int:
        """Where ``message`` stands in the conversation."""
        return self.messages.index(message)

    def history(self, budget_chars: int = HISTORY_BUDGET_CHARS) -> Carried:
        """The newest turns that fit ``budget_chars``, oldest first, as (role, text), to carry into a new session.

        An answer that was cut is carried as far as the user heard it, marked as cut, so that the model does not
        take it for complete. Pending messages are not history: they are sent as new turns.
        """
        turns: list[tuple[str, str]] = []
        for message in self.messages:
            if message.role is Role.DIVIDER or message.failed or message.pending:
                continue
            if message.role is Role.USER and message.cut:
                continue  # never sent: the model did not hear it
            if message.role is Role.ASSISTANT:
                text = message.heard_text()
                if message.cut and text.strip():
                    text += CUT_MARK
            else:
                text = message.text
            if text.strip():
                turns.append((message.role.value, text))
        kept: list[tuple[str, str]] = []
        used = 0
        for role, text in reversed(turns):
            if used + len(text) > budget_chars and kept:
                break
            kept.append((role, text[-budget_chars:]))
            used += len(text)
        kept.reverse()
        return Carried(kept, len(turns))

    def export_markdown(self) -> str:
        """The conversation as Markdown, for copying or saving."""
        lines: list[str] = []
        for message in self.messages:
            if message.role is Role.DIVIDER:
                lines.append(f"\n---\n*{message.text}*\n")
                continue
            who = "You" if message.role is Role.USER else "Assistant"
            cut = f" *({message.cut.lower()})*" if message.cut else ""
            text = message.heard_text() if message.role is Role.ASSISTANT else message.text
            lines.append(f"**{who}** ({message.at:%H:%M}): {text}{cut}\n")
        return "\n".join(lines)
