"""The transcript: user and assistant messages, built from app events, in the order the user experienced them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from ..voicelive.events import (
    AppEvent,
    AssistantAudio,
    AssistantInterrupted,
    AssistantTranscriptDelta,
    AssistantTranscriptFinal,
    UserTextSent,
    UserTranscriptDelta,
    UserTranscriptFinal,
    UserTurnCommitted,
)

PCM16_BYTES_PER_MS = 48  # 24 kHz mono, 2 bytes a sample


class Role(enum.Enum):
    """Who a message is from; a divider marks a change of model."""

    USER = "user"
    ASSISTANT = "assistant"
    DIVIDER = "divider"


@dataclass
class Message:
    """One bubble in the chat."""

    id: str
    role: Role
    text: str = ""
    final: bool = False
    spoken: bool = False  # a user turn spoken (its words may come later) rather than typed
    failed: bool = False
    audio_ms: int = 0
    heard_ms: int | None = None  # set when the user interrupted this answer
    at: datetime = field(default_factory=datetime.now)

    @property
    def interrupted(self) -> bool:
        """True when the user cut this answer short."""
        return self.heard_ms is not None

    def heard_text(self) -> str:
        """The part of the answer the user actually heard (all of it unless interrupted).

        The cut is placed in proportion to the audio heard, at the end of a word.
        """
        if self.heard_ms is None or self.audio_ms <= 0:
            return self.text
        cut = int(len(self.text) * min(1.0, self.heard_ms / self.audio_ms))
        while 0 < cut < len(self.text) and not self.text[cut].isspace():
            cut += 1
        return self.text[:cut].rstrip()


class Conversation:
    """Messages in order; :meth:`apply` folds an app event in and returns the message it changed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._by_id: dict[str, Message] = {}
        self._dividers = 0

    def _add(self, message: Message) -> Message:
        self.messages.append(message)
        self._by_id[message.id] = message
        return message

    def get(self, item_id: str) -> Message | None:
        """The message for ``item_id``."""
        return self._by_id.get(item_id)

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
            message.text, message.final, message.failed = event.text, True, event.failed
            return message
        if isinstance(event, UserTextSent):
            return self._add(Message(event.item_id, Role.USER, event.text, final=True))
        if isinstance(event, AssistantTranscriptDelta):
            message = self._assistant(event.item_id)
            if not message.final:
                message.text += event.text
            return message
        if isinstance(event, AssistantTranscriptFinal):
            message = self._assistant(event.item_id)
            message.text, message.final = event.text, True
            return message
        if isinstance(event, AssistantAudio):
            message = self._assistant(event.item_id)
            message.audio_ms += len(event.pcm) // PCM16_BYTES_PER_MS
            return None  # audio alone changes nothing visible
        if isinstance(event, AssistantInterrupted):
            message = self._assistant(event.item_id)
            message.heard_ms = event.heard_ms
            return message
        return None

    def add_divider(self, text: str) -> Message:
        """A line across the chat, e.g. "Now talking to gpt-4.1 (BYOM chat completion)"."""
        self._dividers += 1
        return self._add(Message(f"divider-{self._dividers}", Role.DIVIDER, text, final=True))

    def history(self) -> list[tuple[str, str]]:
        """(role, text) of every user and assistant message, as heard, to carry into a new session."""
        turns: list[tuple[str, str]] = []
        for message in self.messages:
            if message.role is Role.DIVIDER:
                continue
            text = message.heard_text() if message.role is Role.ASSISTANT else message.text
            if text.strip() and not message.failed:
                turns.append((message.role.value, text))
        return turns

    def export_markdown(self) -> str:
        """The conversation as Markdown, for copying or saving."""
        lines: list[str] = []
        for message in self.messages:
            if message.role is Role.DIVIDER:
                lines.append(f"\n---\n*{message.text}*\n")
                continue
            who = "You" if message.role is Role.USER else "Assistant"
            cut = " *(interrupted)*" if message.interrupted else ""
            text = message.heard_text() if message.role is Role.ASSISTANT else message.text
            lines.append(f"**{who}** ({message.at:%H:%M}): {text}{cut}\n")
        return "\n".join(lines)
