"""App events: what the session tells the rest of the program, as frozen dataclasses.

The session translates the wire protocol into these so that the assistant, the bridge and the chat view never
look at raw Voice Live events. They state facts about the conversation; what the user sees (turn state,
reconnect countdown) is derived from them by the assistant and the connection supervisor.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ConnState(enum.Enum):
    """Where the connection stands."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # lost; a new attempt is scheduled
    FAILED = "failed"  # stopped trying: the user must change something


class ErrorCategory(enum.Enum):
    """Kinds of failure; each has its own actionable text."""

    BAD_CREDENTIALS = "bad_credentials"
    FORBIDDEN = "forbidden"
    DEPLOYMENT_NOT_FOUND = "deployment_not_found"
    THROTTLED = "throttled"
    REFUSED = "refused"
    SERVICE = "service"
    ANSWER_CUT = "answer_cut"  # one answer stopped early (content filter, length limit, rate limit...)
    CONNECTION_LOST = "connection_lost"
    SESSION_EXPIRED = "session_expired"
    UNREACHABLE = "unreachable"
    NOTHING_HEARD = "nothing_heard"
    AUDIO = "audio"
    CONFIG = "config"
    WARNING = "warning"

    @property
    def heals(self) -> bool:
        """Whether trying again later can succeed without the user changing anything."""
        return self not in _NEVER_HEALS

    @property
    def summary(self) -> str:
        """A few words for the status line ("the connection was lost")."""
        return _SUMMARIES.get(self, "something went wrong")


_NEVER_HEALS = frozenset(
    {
        ErrorCategory.BAD_CREDENTIALS,
        ErrorCategory.FORBIDDEN,
        ErrorCategory.DEPLOYMENT_NOT_FOUND,
        ErrorCategory.REFUSED,
        ErrorCategory.CONFIG,
    }
)


_SUMMARIES = {
    ErrorCategory.BAD_CREDENTIALS: "the service rejected the credentials",
    ErrorCategory.FORBIDDEN: "access denied",
    ErrorCategory.DEPLOYMENT_NOT_FOUND: "no such deployment",
    ErrorCategory.THROTTLED: "too many requests",
    ErrorCategory.REFUSED: "the service refused the connection",
    ErrorCategory.SERVICE: "the service had a problem",
    ErrorCategory.ANSWER_CUT: "an answer was cut short",
    ErrorCategory.CONNECTION_LOST: "the connection was lost",
    ErrorCategory.SESSION_EXPIRED: "the session expired",
    ErrorCategory.UNREACHABLE: "the service cannot be reached",
    ErrorCategory.CONFIG: "the settings need attention",
}


@dataclass(frozen=True)
class ConnectionChanged:
    """The connection moved to a new state; ``description`` reads "resource · mode · deployment".

    While reconnecting, ``retry_in_s`` and ``attempt`` say when the next try comes; ``close_code`` is the
    websocket close code of a lost connection; ``detail`` says in a few words why it is not connected.
    """

    state: ConnState
    description: str = ""
    close_code: int | None = None
    retry_in_s: float | None = None
    attempt: int = 0
    detail: str = ""


@dataclass(frozen=True)
class SessionStarted:
    """The service created the session; ``expires_at`` (Unix seconds) when it announces an end."""

    session_id: str
    expires_at: float | None = None


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
    """A typed message was added to the conversation as ``item_id``."""

    item_id: str
    text: str


@dataclass(frozen=True)
class ResponseStarted:
    """The service began an answer (asked for by the app, or by its own turn detection)."""

    response_id: str


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
    """A response ended.

    ``status`` is completed, cancelled, failed or incomplete; for the last three ``reason`` is the service's
    short reason (``turn_detected``, ``client_cancelled``, ``content_filter``, ``max_output_tokens``, or the
    error code of a failure) and ``detail`` its message, if any. ``item_ids`` are the answer's items.
    """

    response_id: str
    status: str
    reason: str = ""
    detail: str = ""
    output_tokens: int | None = None
    item_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpeechDetected:
    """Hands-free mode: the service heard the user ``started`` or stopped speaking."""

    started: bool


@dataclass(frozen=True)
class ErrorRaised:
    """Something went wrong; ``message`` is safe to show (no secrets) and says what to do.

    ``code`` is the service's error code when there is one; ``retry_after_s`` is how long the service asked
    the client to wait (a 429's Retry-After), when it said. ``recovered``: not a failure but the news that the
    category's last one is over ("the headset works again"), shown in its place as a notice.
    """

    category: ErrorCategory
    message: str
    code: str | None = None
    retry_after_s: float | None = None
    recovered: bool = False


AppEvent = (
    ConnectionChanged
    | SessionStarted
    | UserTurnCommitted
    | UserTranscriptDelta
    | UserTranscriptFinal
    | UserTextSent
    | ResponseStarted
    | AssistantTranscriptDelta
    | AssistantTranscriptFinal
    | AssistantAudio
    | AssistantInterrupted
    | ResponseFinished
    | SpeechDetected
    | ErrorRaised
)
