"""The rules for the session's voice, transcription, turn detection and input audio processing.

Which model family may use what comes from the Voice Live API reference (2026-07-15), the how-to and the language
support page; docs/emulator-rules.md cites each rule. Every check raises the service's error for the first
problem it finds; none changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import checks
from .protocol import (
    AZURE_REALTIME_NATIVE_VOICES,
    NEW_VAD_DEFAULTS_SINCE,
    OPENAI_VOICES,
    Family,
    RequestError,
    invalid_value,
    version_at_least,
)


@dataclass(frozen=True)
class RuleContext:
    """What the rules depend on besides the request: who the session is and what has happened in it."""

    family: Family
    api_version: str
    model: str


# ------------------------------------------------------------------ voice
_AZURE_VOICE_OPTIONAL = (
    "temperature",
    "custom_lexicon_url",
    "custom_text_normalization_url",
    "prefer_locales",
    "locale",
    "style",
    "pitch",
    "rate",
    "volume",
)
_AZURE_VOICE_REQUIRED = {
    "azure-standard": ("name",),
    "azure-custom": ("name", "endpoint_id"),
    "azure-personal": ("name", "model"),
    "avatar-voice-sync": ("name", "model"),
}
VOICE_TYPES = ("openai", *_AZURE_VOICE_REQUIRED, "azure-realtime-native")


def voice(value: Any, ctx: RuleContext, param: str = "session.voice") -> Any:
    """A plain OpenAI name, ``{type: openai}``, an Azure voice or an azure-realtime-native voice."""
    if isinstance(value, str) or (isinstance(value, dict) and value.get("type") == "openai"):
        name = value if isinstance(value, str) else value.get("name")
        where = param if isinstance(value, str) else f"{param}.name"
        if isinstance(value, dict):
            checks.known_fields(value, ("type", "name"), param)
        if name not in OPENAI_VOICES:
            raise invalid_value(where, name, OPENAI_VOICES)
        if ctx.family is not Family.REALTIME:
            raise invalid_value(
                where, name, why=f"OpenAI voices need a model with native audio output, not '{ctx.model}'."
            )
        return value
    spec = checks.obj(value, param)
    kind = spec.get("type")
    if kind == "azure-realtime-native":
        checks.known_fields(spec, ("type", "name"), param)
        checks.choice(spec.get("name", "ava"), AZURE_REALTIME_NATIVE_VOICES, f"{param}.name")
        if ctx.family is not Family.AZURE_REALTIME:
            raise invalid_value(f"{param}.type", kind, why="This voice type is only accepted by azure-realtime.")
        return spec
    if kind not in _AZURE_VOICE_REQUIRED:
        raise invalid_value(f"{param}.type", kind, VOICE_TYPES)
    needed = _AZURE_VOICE_REQUIRED[str(kind)]
    checks.known_fields(spec, ("type", *needed, *_AZURE_VOICE_OPTIONAL), param)
    for key in needed:
        checks.string(checks.required(spec, key, param), f"{param}.{key}", non_empty=True)
    if "temperature" in spec:
        checks.decimal(spec["temperature"], f"{param}.temperature", 0.0, 1.0)
    return spec


def voice_identity(value: Any) -> tuple[str, ...]:
    """What makes two voices the same voice: a plain "alloy" is {type: openai, name: alloy}; style does not count."""
    if isinstance(value, str):
        value = {"type": "openai", "name": value}
    if not isinstance(value, dict):
        return ("", repr(value))
    keys = ("type", "name", "endpoint_id", "model")
    return tuple(str(value.get(k, "")) for k in keys)


# ------------------------------------------------------------------ input audio transcription
_REALTIME_TRANSCRIBERS = (
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe-diarize",
    "mai-transcribe",
    "mai-transcribe-1",
    "mai-transcribe-2",
)
_OTHER_TRANSCRIBERS = ("azure-speech", "mai-transcribe", "mai-transcribe-1", "mai-transcribe-2")
TRANSCRIBERS = {
    Family.REALTIME: _REALTIME_TRANSCRIBERS,
    Family.PHI: ("azure-speech",),
    Family.AZURE_REALTIME: _OTHER_TRANSCRIBERS,
    Family.CHAT: _OTHER_TRANSCRIBERS,
}
_PROMPT_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize")
_PHRASE_LIST_MODELS = _OTHER_TRANSCRIBERS


def transcription(value: Any, ctx: RuleContext) -> Any:
    """Which transcription model, per family; ``prompt``, ``phrase_list``, ``custom_speech`` per model."""
    param = "session.input_audio_transcription"
    if value is None:
        return None
    spec = checks.obj(value, param)
    checks.known_fields(spec, ("model", "language", "custom_speech", "phrase_list", "prompt"), param)
    model = checks.string(checks.required(spec, "model", param), f"{param}.model")
    allowed = TRANSCRIBERS[ctx.family]
    if model not in allowed:
        raise invalid_value(f"{param}.model", model, allowed)
    if "language" in spec:
        checks.string(spec["language"], f"{param}.language")
    if "prompt" in spec:
        checks.string(spec["prompt"], f"{param}.prompt")
        if model not in _PROMPT_MODELS:
            raise invalid_value(f"{param}.prompt", spec["prompt"], why=f"'prompt' is not supported with '{model}'.")
    if "phrase_list" in spec:
        checks.string_list(spec["phrase_list"], f"{param}.phrase_list")
        if model not in _PHRASE_LIST_MODELS:
            raise invalid_value(f"{param}.phrase_list", "[...]", why=f"'phrase_list' is not supported with '{model}'.")
    if "custom_speech" in spec:
        checks.obj(spec["custom_speech"], f"{param}.custom_speech")
        if model != "azure-speech":
            raise invalid_value(f"{param}.custom_speech", "{...}", why="'custom_speech' needs 'azure-speech'.")
    return spec


# ------------------------------------------------------------------ turn detection
_VAD_COMMON = ("type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response", "interrupt_response")
_AZURE_SEMANTIC = (
    *_VAD_COMMON,
    "speech_duration_ms",
    "end_of_utterance_detection",
    "auto_truncate",
    "remove_filler_words",
    "languages",
    "appended_text_after_truncation",
)
VAD_FIELDS = {
    "server_vad": (*_VAD_COMMON, "speech_duration_ms", "end_of_utterance_detection", "auto_truncate"),
    "azure_semantic_vad": _AZURE_SEMANTIC,
    "azure_semantic_vad_en": _AZURE_SEMANTIC,
    "azure_semantic_vad_multilingual": _AZURE_SEMANTIC,
    "semantic_vad": ("type", "eagerness", "create_response", "interrupt_response"),
}
_EOU_MODELS = ("semantic_detection_v1", "semantic_detection_v1_en", "semantic_detection_v1_multilingual")


def _vad_defaults(kind: str, api_version: str) -> dict[str, Any]:
    if kind == "semantic_vad":
        return {"eagerness": "auto", "create_response": True, "interrupt_response": True}
    new = version_at_least(api_version, NEW_VAD_DEFAULTS_SINCE)
    semantic = kind != "server_vad"
    return {
        "threshold": 0.5,
        "prefix_padding_ms": (420 if semantic else 400) if new else 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
    }


def default_turn_detection(api_version: str) -> dict[str, Any]:
    """What a new session starts with: server VAD, with the defaults of its api-version."""
    return {"type": "server_vad", **_vad_defaults("server_vad", api_version)}


def turn_detection(value: Any, ctx: RuleContext) -> Any:
    """null (the client commits) or one of the VAD types, with each type's own fields and ranges."""
    param = "session.turn_detection"
    if value is None:
        return None
    spec = checks.obj(value, param)
    kind = spec.get("type")
    if kind not in VAD_FIELDS:
        raise invalid_value(f"{param}.type", kind, VAD_FIELDS)
    if kind == "semantic_vad" and ctx.family is not Family.REALTIME:
        raise invalid_value(f"{param}.type", kind, why="'semantic_vad' is only available for realtime models.")
    checks.known_fields(spec, VAD_FIELDS[str(kind)], param)
    if "threshold" in spec:
        checks.decimal(spec["threshold"], f"{param}.threshold", 0.0, 1.0)
    for key in ("prefix_padding_ms", "silence_duration_ms", "speech_duration_ms"):
        if key in spec:
            checks.integer(spec[key], f"{param}.{key}", 0)
    for key in ("create_response", "interrupt_response", "auto_truncate", "remove_filler_words"):
        if key in spec:
            checks.boolean(spec[key], f"{param}.{key}")
    if "eagerness" in spec:
        checks.choice(spec["eagerness"], ("auto", "low", "medium", "high"), f"{param}.eagerness")
    if "languages" in spec:
        checks.string_list(spec["languages"], f"{param}.languages")
    if "appended_text_after_truncation" in spec:
        checks.string(spec["appended_text_after_truncation"], f"{param}.appended_text_after_truncation")
    if spec.get("end_of_utterance_detection") is not None:
        _end_of_utterance(spec["end_of_utterance_detection"], f"{param}.end_of_utterance_detection")
    return {**_vad_defaults(str(kind), ctx.api_version), **spec}


def _end_of_utterance(value: Any, param: str) -> None:
    spec = checks.obj(value, param)
    checks.known_fields(spec, ("model", "threshold_level", "timeout_ms"), param)
    checks.choice(checks.required(spec, "model", param), _EOU_MODELS, f"{param}.model")
    if "threshold_level" in spec:
        checks.choice(spec["threshold_level"], ("low", "medium", "high", "default"), f"{param}.threshold_level")
    if "timeout_ms" in spec:
        checks.integer(spec["timeout_ms"], f"{param}.timeout_ms", 0)


# ------------------------------------------------------------------ noise reduction, echo cancellation
def noise_reduction(value: Any, ctx: RuleContext) -> Any:
    """azure_deep_noise_suppression for every model; near_field / far_field for realtime models only."""
    param = "session.input_audio_noise_reduction"
    if value is None:
        return None
    spec = checks.obj(value, param)
    checks.known_fields(spec, ("type",), param)
    kind = checks.choice(
        checks.required(spec, "type", param),
        ("azure_deep_noise_suppression", "near_field", "far_field"),
        f"{param}.type",
    )
    if kind != "azure_deep_noise_suppression" and ctx.family is not Family.REALTIME:
        raise invalid_value(
            f"{param}.type", kind, ("azure_deep_noise_suppression",), f"'{kind}' needs a realtime model."
        )
    return spec


def echo_cancellation(value: Any, ctx: RuleContext) -> Any:
    """``{type: server_echo_cancellation}``; the preview reference_source/channels pairs server/1 and client/2."""
    param = "session.input_audio_echo_cancellation"
    if value is None:
        return None
    spec = checks.obj(value, param)
    checks.known_fields(spec, ("type", "reference_source", "channels"), param)
    checks.choice(checks.required(spec, "type", param), ("server_echo_cancellation",), f"{param}.type")
    source = checks.choice(spec.get("reference_source", "server"), ("server", "client"), f"{param}.reference_source")
    channels = checks.integer(spec.get("channels", 1), f"{param}.channels", 1, 2)
    if source == "server" and channels == 2:
        raise RequestError(
            "invalid_ec_channels_requires_client", "channels 2 requires reference_source 'client'.", f"{param}.channels"
        )
    if source == "client" and channels == 1:
        raise RequestError(
            "invalid_ec_reference_channels",
            "reference_source 'client' requires channels 2.",
            f"{param}.reference_source",
        )
    return spec
