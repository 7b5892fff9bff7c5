"""What the assistant tells the UI besides the session's own events: turn state, chat snapshots, level, latency.

Dependency-free value types: the window imports them before the SDK, numpy or the audio stack are loaded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from .audio.values import Level
from .conversation.transcript import Message, Role
from .voicelive.errors import INTERRUPTED
from .voicelive.events import AppEvent


class TurnState(enum.Enum):
    """What the conversation is doing, as the big button shows it."""

    IDLE = "idle"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"


@dataclass(frozen=True)
class TurnChanged:
    """The conversation's turn state changed (the assistant is its only source)."""

    state: TurnState


@dataclass(frozen=True)
class MessageView:
    """An immutable snapshot of one chat message, for the UI."""

    id: str
    role: Role
    text: str
    heard_text: str
    final: bool
    spoken: bool
    failed: bool
    cut: str
    pending: bool
    at: datetime
    index: int = -1  # position in the conversation (-1: at the end)
    heard_ms: int | None = None
    audio_ms: int = 0
    finished_at: datetime | None = None
    mode: str = ""
    deployment: str = ""
    voice: str = ""
    latency_ms: int | None = None

    @property
    def interrupted(self) -> bool:
        """True when the answer was cut short (``cut`` says why)."""
        return bool(self.cut)

    @property
    def cut_before_it_began(self) -> bool:
        """An answer the user cut off before a word of it came or a sound of it was heard: nothing to show.

        Sending several messages in a row, or talking while an answer is due, cuts each answer still to come;
        a chat full of empty "Interrupted" bubbles would say nothing the user does not know. It stays in the
        conversation and its history, like every message.
        """
        return self.role is Role.ASSISTANT and self.cut == INTERRUPTED and not self.text and not self.heard_ms

    @classmethod
    def of(cls, m: Message, index: int = -1) -> MessageView:
        """Snapshot ``m`` (standing at ``index`` in its conversation)."""
        return cls(
            m.id,
            m.role,
            m.text,
            m.heard_text(),
            m.final,
            m.spoken,
            m.failed,
            m.cut,
            m.pending,
            m.at,
            index,
            m.heard_ms,
            m.audio_ms,
            m.finished_at,
            m.mode,
            m.deployment,
            m.voice,
            m.latency_ms,
        )


@dataclass(frozen=True)
class MessageChanged:
    """A chat message appeared or changed."""

    message: MessageView


@dataclass(frozen=True)
class LeftMessageChanged:
    """A message of a conversation no longer on screen changed: the late words of a turn said before the user
    left it (saved to that conversation; the chat on screen does not show it)."""

    conversation_id: str
    message: MessageView


@dataclass(frozen=True)
class ConversationReplaced:
    """The whole conversation on screen changed (a new one, or an earlier one continued)."""

    conversation_id: str
    messages: tuple[MessageView, ...]


@dataclass(frozen=True)
class LevelChanged:
    """Microphone level while listening."""

    level: Level


@dataclass(frozen=True)
class LatencyMeasured:
    """Key up to the first answer audio reaching the speaker, in ms."""

    ms: int


@dataclass(frozen=True)
class AudioStatus:
    """Which devices are in use, whether the microphone is open, and whether the user muted it."""

    input_label: str
    output_label: str
    mic_open: bool
    muted: bool = False


@dataclass(frozen=True)
class AskAgainOffered:
    """An answer was cut by a lost connection: the user can ask for it again with one click (or not)."""

    offered: bool
    lost: bool = True  # cut by a lost connection (else by a switch the user made: another model, say)


UiEvent = (
    AppEvent
    | TurnChanged
    | MessageChanged
    | LeftMessageChanged
    | ConversationReplaced
    | LevelChanged
    | LatencyMeasured
    | AudioStatus
    | AskAgainOffered
)
