"""What the assistant tells the UI besides the session's own events: chat snapshots, level, latency, audio."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .audio.levels import Level
from .conversation.transcript import Message, Role
from .voicelive.events import AppEvent


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
    interrupted: bool
    at: datetime

    @classmethod
    def of(cls, m: Message) -> MessageView:
        """Snapshot ``m``."""
        return cls(m.id, m.role, m.text, m.heard_text(), m.final, m.spoken, m.failed, m.interrupted, m.at)


@dataclass(frozen=True)
class MessageChanged:
    """A chat message appeared or changed."""

    message: MessageView


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
    """Which devices are in use and whether the microphone is open."""

    input_label: str
    output_label: str
    mic_open: bool


UiEvent = AppEvent | MessageChanged | LevelChanged | LatencyMeasured | AudioStatus
