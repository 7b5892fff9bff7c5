"""App events: what the session tells the rest of the program, as frozen dataclasses.

The session translates the wire protocol into these so that the assistant, the bridge and the chat view never
look at raw Voice Live events.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ConnState(enum.Enum):
    """Where the connection stands."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


class TurnState(enum.Enum):
    """What the conversation is doing, as the big button shows it."""

    IDLE = "idle"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"


class ErrorCategory(enum.Enum):
    """Kinds of failure; each has its own actionable text."""

    BAD_CREDENTIALS = "bad_credentials"
    FORBIDDEN = "forbidden"
    DEPLOYMENT_NOT_FOUND = "deployment_not_found"
    THROTTLED = "throttled"
    REFUSED = "refused"
    SERVICE = "service"
    CONNECTION_LOST = "connection_lost"
    SESSION_EXPIRED = "session_expired"
    UNREACHABLE = "unreachable"
    NOTHING_HEARD = "nothing_heard"
    AUDIO = "audio"
    CONFIG = "config"


@dataclass(frozen=True)
class ConnectionChanged:
    """The connection moved to a new state; ``description`` reads "resource · mode · deployment"."""

    state: ConnState
    description: str = ""
    close_code: int | None = None


@dataclass(frozen=True)
class TurnChanged:
    """The conversation's turn state changed."""

    state: TurnState


@dataclass(frozen=True)
class UserTurnCommitted:
    """The service accepted a spoken user turn as ``item_id``; its words follow later."""

    item_id: str


@dataclass(frozen=True)
class UserTranscriptDelta:
    """Part of what the user said, for the bubble of ``item_id``."""

    item_id: str
    text: str


@dataclass(frozen=True)
class UserTranscriptFinal:
    """The whole of what the user said in ``item_id``; may arrive after the answer started."""

    item_id: str
    text: str
    failed: bool = False


@dataclass(frozen=True)
class UserTextSent:
    """A typed message was added to the conversation."""

    item_id: str
    text: str


@dataclass(frozen=True)
class AssistantTranscriptDelta:
    """More words of the assistant's answer ``item_id``."""

    item_id: str
    text: str


@dataclass(frozen=True)
class AssistantTranscriptFinal:
    """The full text the model produced for ``item_id``."""

    item_id: str
    text: str


@dataclass(frozen=True)
class AssistantAudio:
    """A chunk of the assistant's voice: PCM16 mono at the session's output rate."""

    item_id: str
    pcm: bytes = field(repr=False)


@dataclass(frozen=True)
class AssistantInterrupted:
    """The user barged in: ``item_id`` was cut after ``heard_ms`` milliseconds of audio."""

    item_id: str
    heard_ms: int


@dataclass(frozen=True)
class ResponseFinished:
    """A response ended (``status`` is completed, cancelled, failed or incomplete)."""

    response_id: str
    status: str
    output_tokens: int | None = None


@dataclass(frozen=True)
class LatencyMark:
    """A named instant on ``time.monotonic()``, for per-turn latency figures."""

    name: str
    at: float


@dataclass(frozen=True)
class SpeechDetected:
    """Hands-free mode: the service heard the user ``started`` or stopped speaking."""

    started: bool


@dataclass(frozen=True)
class ErrorRaised:
    """Something went wrong; ``message`` is safe to show (no secrets) and says what to do."""

    category: ErrorCategory
    message: str


AppEvent = (
    ConnectionChanged
    | TurnChanged
    | UserTurnCommitted
    | UserTranscriptDelta
    | UserTranscriptFinal
    | UserTextSent
    | AssistantTranscriptDelta
    | AssistantTranscriptFinal
    | AssistantAudio
    | AssistantInterrupted
    | ResponseFinished
    | LatencyMark
    | SpeechDetected
    | ErrorRaised
)
