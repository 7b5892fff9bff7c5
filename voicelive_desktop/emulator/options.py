"""How the emulated service behaves: the strictness switches, timing, and the fault knobs tests and people turn.

Every knob is read when it matters, not copied at connect, so a test (or ``POST /emulator/faults``) can turn one
while a session is open. Knobs about "the next" something are one-shot: they reset to None when they fire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .items import Pace

TRANSCRIPT_ORDERS = ("before", "after", "random")
MALFORMED_KINDS = ("not_json", "array", "missing_fields")
MALFORMED_FRAMES = {
    "not_json": "{this is not json",
    "array": "[1,2]",
    "missing_fields": '{"type":"response.audio.delta"}',
}


def failure_preset(name: str, *, deployment: str, retry_after_s: float | None) -> dict[str, Any]:
    """The ``status_details.error`` of a failed response, for a preset name.

    Args:
        name: ``rate_limit`` (the deployment's token quota is spent) or ``identity`` (a BYOM deployment refuses
            the Foundry resource's managed identity: the "Azure AI User" role is missing).
        deployment: the deployment the session talks to, named in the message as the service would.
        retry_after_s: seconds to wait, for the rate-limit message (default 20).
    """
    if name == "rate_limit":
        wait = retry_after_s if retry_after_s is not None else 20
        return {
            "type": "invalid_request_error",
            "code": "rate_limit_exceeded",
            "message": (
                f"Requests to deployment '{deployment}' have exceeded the token rate limit of your current pricing "
                f"tier. Please try again in {wait:g} seconds."
            ),
        }
    if name == "identity":
        principal = "5f0c3b1e-7d2a-4c8e-9b61-2a4d8e0f1c37"
        return {
            "type": "invalid_request_error",
            "code": "PermissionDenied",
            "message": (
                f"(403) The principal '{principal}' (the system-assigned managed identity of the Foundry resource) "
                "lacks the required data action 'Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/"
                f"completions/action' to call deployment '{deployment}'. Assign it the 'Azure AI User' role."
            ),
        }
    raise ValueError(f"unknown failure preset {name!r}; use 'rate_limit' or 'identity' or give the error object")


@dataclass
class EmulatorOptions:
    """How the emulated service behaves.

    Attributes:
        api_key: the accepted ``api-key`` header; None accepts any key.
        bearer_tokens: accepted ``Authorization: Bearer`` tokens; empty accepts none unless ``api_key`` is None.
        deployments: known deployment names; None accepts any.
        pace: streaming speed and delays (``pace.cancel_delay_s``: how late a cancel takes effect).
        drop_after_events: abort the transport (no close frame) after sending this many events.
        close_after_s / close_code / close_reason: close the socket cleanly after this long.
        inject_error_after: send an ``error`` event after this many events.
        refuse_with: refuse every handshake with this (status, error code), e.g. (403, "PermissionDenied").
        retry_after_s: the Retry-After header sent with a refusal (a 429 or 503 says when to come back); also the
            wait named in the ``rate_limit`` failure message.
        use_espeak / use_recognizer: turn the optional speech parts off.
        skip_api_version_check: accept any api-version (as Azurite's ``--skipApiVersionCheck``).
        validate_session: check ``session.update`` and ``response.create`` as the service does; off accepts any.
        transcript_order: when the user's transcript lands relative to the answer: "before", "after", "random"
            (seeded by ``seed``), or None for the old timing (as soon as recognised, plus
            ``pace.transcript_delay_s``).
        seed: seeds "random" choices, so a failing run can be repeated.
        fail_next_response: the next response ends ``failed``: a preset name (see :func:`failure_preset`) or
            the error object itself ({type, code, message}).
        incomplete_next_response: the next response ends ``incomplete`` with this reason ("content_filter" or
            "max_output_tokens") after about half of its text and audio.
        fail_next_transcription: the next user turn gets ``...input_audio_transcription.failed``.
        warning_after: send a ``warning`` event after this many events.
        record_traffic: keep every event in the connection records (for tests); the offline demo turns it off,
            so that a long demo session does not keep every answer's audio in memory.
        session_lifetime_s: the session expires this long after it opens: ``session_expired`` error, then
            close 1001. ``session.created`` says when in ``expires_at`` (api-version 2026-07-15 and later).
        announce_expiry: False leaves ``expires_at`` out even where the api-version has it.
        malformed_after / malformed_kind: send one malformed frame after this many events.
        malformed_mid_answer: send one malformed frame of this kind after the next response's first audio chunk.
        stall_mid_answer_s: after the next response's first audio chunk, send nothing for this long, then resume.
        drop_after_audio_chunks: drop the transport when the next response has streamed this many audio chunks.
        drop_after_appends: drop the transport after this many more ``input_audio_buffer.append`` events.
    """

    api_key: str | None = "demo"
    bearer_tokens: frozenset[str] = frozenset()
    deployments: frozenset[str] | None = None
    pace: Pace = field(default_factory=Pace)
    drop_after_events: int | None = None
    close_after_s: float | None = None
    close_code: int = 1001
    close_reason: str = "session_expired"
    inject_error_after: int | None = None
    refuse_with: tuple[int, str] | None = None
    retry_after_s: float | None = None
    use_espeak: bool = True
    use_recognizer: bool = True
    skip_api_version_check: bool = False
    validate_session: bool = True
    transcript_order: str | None = None
    seed: int = 0
    fail_next_response: str | dict[str, Any] | None = None
    incomplete_next_response: str | None = None
    fail_next_transcription: bool = False
    warning_after: int | None = None
    record_traffic: bool = True
    session_lifetime_s: float | None = None
    announce_expiry: bool = True
    malformed_after: int | None = None
    malformed_kind: str = "not_json"
    malformed_mid_answer: str | None = None
    stall_mid_answer_s: float | None = None
    drop_after_audio_chunks: int | None = None
    drop_after_appends: int | None = None

    def __post_init__(self) -> None:
        """Refuse knob values that would only fail later, far from where they were set."""
        if self.transcript_order is not None and self.transcript_order not in TRANSCRIPT_ORDERS:
            raise ValueError(f"transcript_order must be one of {TRANSCRIPT_ORDERS} or None")
        for kind in (self.malformed_kind, self.malformed_mid_answer):
            if kind is not None and kind not in MALFORMED_KINDS:
                raise ValueError(f"malformed frame kinds are {MALFORMED_KINDS}")
        if self.incomplete_next_response not in (None, "content_filter", "max_output_tokens"):
            raise ValueError("incomplete_next_response is 'content_filter' or 'max_output_tokens'")
