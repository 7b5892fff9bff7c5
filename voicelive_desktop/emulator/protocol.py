"""The service's vocabulary that the rules need: api-versions, profiles, model families and the error shape.

Each name here is stated by the emulator itself (never imported from the client's ``voicelive`` package), so a
mistake in the client cannot hide behind the same mistake here. Sources are in docs/emulator-rules.md.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Any

from .items import Event

# The documented api-versions, oldest first (each has its own API reference page).
API_VERSIONS = (
    "2025-05-01-preview",
    "2025-10-01",
    "2026-01-01-preview",
    "2026-04-10",
    "2026-06-01-preview",
    "2026-07-15",
)
AZURE_REALTIME_SINCE = "2026-01-01-preview"  # the managed azure-realtime model needs this version or a later one
EXPIRES_AT_SINCE = "2026-07-15"  # session.expires_at exists from this version on
NEW_VAD_DEFAULTS_SINCE = "2026-04-10"  # prefix_padding_ms default moves from 300 to 400 (server_vad) / 420

PROFILES = ("byom-azure-openai-realtime", "byom-azure-openai-chat-completion")

OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
AZURE_REALTIME_NATIVE_VOICES = (
    *("aarti", "andrew", "ava", "denise", "diya", "elsa"),
    *("florian", "francisca", "meera", "ximena", "xiaoxiao", "yunxi"),
)


class Family(enum.Enum):
    """Which rules a session follows, from its model (managed) or its BYOM profile."""

    REALTIME = "realtime"  # native audio, OpenAI voices: gpt-realtime*, gpt-4o*-realtime*, BYOM realtime
    PHI = "phi4-mm-realtime"  # native audio input, Azure TTS output, azure-speech transcription only
    AZURE_REALTIME = "azure-realtime"  # native, with azure-realtime-native voices
    CHAT = "chat"  # speech to text + a text model + text to speech: every other model, BYOM chat completion


_REALTIME_NAME = re.compile(r"^(gpt-realtime|gpt-4o.*-realtime)")


def classify(model: str, profile: str | None) -> Family:
    """The family of a session: BYOM profiles decide for themselves, managed names by their shape."""
    if profile == "byom-azure-openai-realtime":
        return Family.REALTIME
    if profile is not None:
        return Family.CHAT
    name = model.lower()
    if _REALTIME_NAME.match(name):
        return Family.REALTIME
    if name == "phi4-mm-realtime":
        return Family.PHI
    if name == "azure-realtime":
        return Family.AZURE_REALTIME
    return Family.CHAT


def version_at_least(version: str, floor: str) -> bool:
    """True when ``version`` is ``floor`` or newer; api-versions start with their date, so dates compare."""
    return version[:10] >= floor[:10]


class RequestError(Exception):
    """A client event the service refuses: becomes an ``error`` event, and the session stays as it was."""

    def __init__(
        self, code: str, message: str, param: str | None = None, *, kind: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.kind = kind


def error_event(err: RequestError, client_event_id: str | None) -> Event:
    """The ``error`` event for ``err`` (the server's own event_id is stamped when it is sent)."""
    return {
        "type": "error",
        "error": {
            "type": err.kind,
            "code": err.code,
            "message": err.message,
            "param": err.param,
            "event_id": client_event_id,
        },
    }


def _quote(values: Iterable[Any]) -> str:
    items = [f"'{v}'" for v in values]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def unknown_parameter(param: str) -> RequestError:
    """A field the service does not know."""
    return RequestError("unknown_parameter", f"Unknown parameter: '{param}'.", param)


def missing_parameter(param: str) -> RequestError:
    """A required field left out."""
    return RequestError("missing_required_parameter", f"Missing required parameter: '{param}'.", param)


def invalid_value(param: str, value: Any, supported: Iterable[Any] | None = None, why: str = "") -> RequestError:
    """A value outside what the field takes."""
    message = f"Invalid value: '{value}'."
    if supported is not None:
        message += f" Supported values are: {_quote(supported)}."
    if why:
        message += f" {why}"
    return RequestError("invalid_value", message, param)


def invalid_type(param: str, expected: str, value: Any) -> RequestError:
    """A value of the wrong JSON type."""
    got = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string", list: "an array"}
    seen = "null" if value is None else got.get(type(value), "an object")
    return RequestError(
        "invalid_type", f"Invalid type for '{param}': expected {expected}, but got {seen} instead.", param
    )


def below_min(param: str, minimum: float, value: float, *, decimal: bool = True) -> RequestError:
    """A number under its minimum."""
    kind = "decimal" if decimal else "integer"
    return RequestError(
        f"{kind}_below_min_value",
        f"Invalid '{param}': {kind} below minimum value. Expected a value >= {minimum:g}, but got {value:g} instead.",
        param,
    )


def above_max(param: str, maximum: float, value: float, *, decimal: bool = True) -> RequestError:
    """A number over its maximum."""
    kind = "decimal" if decimal else "integer"
    return RequestError(
        f"{kind}_above_max_value",
        f"Invalid '{param}': {kind} above maximum value. Expected a value <= {maximum:g}, but got {value:g} instead.",
        param,
    )
