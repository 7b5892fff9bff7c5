"""``session.update`` and ``response.create`` as the service validates them.

A request is checked whole before anything changes: the first bad field gives the service's ``error`` and the
session stays exactly as it was. Fields merge into the session one level deep (a nested object, such as
``turn_detection``, replaces the previous one), as the OpenAI realtime API the service follows does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from . import checks, rules_audio
from .protocol import RequestError, invalid_type, invalid_value, unknown_parameter
from .rules_audio import RuleContext

SESSION_FIELDS = (
    "model",
    "modalities",
    "animation",
    "voice",
    "instructions",
    "input_audio_sampling_rate",
    "input_audio_format",
    "output_audio_format",
    "turn_detection",
    "input_audio_noise_reduction",
    "input_audio_echo_cancellation",
    "avatar",
    "input_audio_transcription",
    "output_audio_timestamp_types",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "max_response_output_tokens",
    "reasoning_effort",
    "interim_response",
    "include",
    "metadata",
)
RESPONSE_FIELDS = (
    "modalities",
    "instructions",
    "voice",
    "output_audio_format",
    "tools",
    "tool_choice",
    "temperature",
    "max_output_tokens",
    "max_response_output_tokens",
    "conversation",
    "input",
    "metadata",
    "commit",
    "cancel_previous",
    "append_input_items",
    "input_items",
    "pre_generated_assistant_message",
    "reasoning_effort",
    "interim_response",
    "invoke_input",
)
MODALITIES = ("text", "audio", "animation", "avatar")
INPUT_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")
OUTPUT_FORMATS = (
    "pcm16",
    "g711_ulaw",
    "g711_alaw",
    "pcm16_8000hz",
    "pcm16_16000hz",
    "pcm16_22050hz",
    "pcm16_24000hz",
    "pcm16_44100hz",
    "pcm16_48000hz",
)
PCM16_RATES = (16000, 24000)
G711_RATES = (8000,)
TEMPERATURE = (0.6, 1.2)
CANNOT_UPDATE_VOICE = "Cannot update a conversation's voice if assistant audio is present."


@dataclass(frozen=True)
class SessionState:
    """What happened in the session that a later update may not undo."""

    audio_appended: bool
    input_audio_locked: bool  # a session.update has set the input rate or format
    assistant_audio_sent: bool


def apply_session_update(current: dict[str, Any], update: Any, ctx: RuleContext, state: SessionState) -> dict[str, Any]:
    """The session after ``update``; raises :class:`RequestError` (and changes nothing) if the service would refuse.

    Args:
        current: the session as ``session.updated`` last showed it.
        update: the ``session`` body of the client's event.
        ctx: who the session is (model family, api-version).
        state: what has happened so far (audio appended, assistant audio sent).
    """
    body = checks.obj(update, "session")
    for key in body:
        if key not in SESSION_FIELDS:
            raise unknown_parameter(f"session.{key}")
    new = copy.deepcopy(current)
    for key, value in body.items():
        new[key] = _check_session_field(key, value, ctx)
    if "voice" in body and state.assistant_audio_sent and _voice_changed(current.get("voice"), new.get("voice")):
        raise RequestError("cannot_update_voice", CANNOT_UPDATE_VOICE)
    _input_audio(current, body, new, state)
    return new


def _voice_changed(old: Any, new: Any) -> bool:
    return rules_audio.voice_identity(old) != rules_audio.voice_identity(new)


def _input_audio(current: dict[str, Any], body: dict[str, Any], new: dict[str, Any], state: SessionState) -> None:
    """Rate and format: valid together, and fixed once set by an update or once audio has been appended."""
    fmt = new.get("input_audio_format", "pcm16")
    if "input_audio_format" in body and "input_audio_sampling_rate" not in body and fmt != "pcm16":
        new["input_audio_sampling_rate"] = G711_RATES[0]  # g711's default rate
    rate = new.get("input_audio_sampling_rate")
    allowed = PCM16_RATES if fmt == "pcm16" else G711_RATES
    if rate not in allowed:
        raise invalid_value("session.input_audio_sampling_rate", rate, allowed, f"Not supported with '{fmt}'.")
    locked = state.audio_appended or state.input_audio_locked
    for key in ("input_audio_format", "input_audio_sampling_rate"):
        if locked and new.get(key) != current.get(key):
            raise invalid_value(
                f"session.{key}",
                new.get(key),
                [current.get(key)],
                "The input audio format and sampling rate can't change during a session.",
            )


def _check_session_field(key: str, value: Any, ctx: RuleContext) -> Any:
    param = f"session.{key}"
    if key == "model":
        if value != ctx.model:
            raise invalid_value(
                param, value, [ctx.model], "Once a session is initialized with a model, it can't be changed."
            )
        return value
    if key == "voice":
        return rules_audio.voice(value, ctx)
    if key == "input_audio_transcription":
        return rules_audio.transcription(value, ctx)
    if key == "turn_detection":
        return rules_audio.turn_detection(value, ctx)
    if key == "input_audio_noise_reduction":
        return rules_audio.noise_reduction(value, ctx)
    if key == "input_audio_echo_cancellation":
        return rules_audio.echo_cancellation(value, ctx)
    if key == "input_audio_format":
        return checks.choice(value, INPUT_FORMATS, param)
    if key == "input_audio_sampling_rate":
        return checks.integer(value, param)
    return _check_common(key, value, param)


def _check_common(key: str, value: Any, param: str) -> Any:
    """Fields that ``session.update`` and ``response.create`` share."""
    if key == "modalities":
        return modalities(value, param, MODALITIES)
    if key == "temperature":
        return checks.decimal(value, param, *TEMPERATURE)
    if key == "output_audio_format":
        return checks.choice(value, OUTPUT_FORMATS, param)
    if key in ("max_response_output_tokens", "max_output_tokens"):
        return value if value == "inf" else checks.integer(value, param, 1, 4096)
    if key == "tool_choice":
        return _tool_choice(value, param)
    if key in ("parallel_tool_calls", "commit", "cancel_previous"):
        return checks.boolean(value, param)
    if key == "metadata":
        return _metadata(value, param)
    if key == "output_audio_timestamp_types":
        for i, kind in enumerate(checks.string_list(value, param)):
            checks.choice(kind, ("word",), f"{param}[{i}]")
        return value
    if key in ("instructions", "reasoning_effort"):
        return checks.string(value, param)
    if key in ("tools", "include", "input", "append_input_items", "input_items"):
        return (
            value if value is None else checks.string_list(value, param) if key == "include" else _array(value, param)
        )
    return value  # objects the emulator does not interpret (avatar, animation, interim_response...)


def _array(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    return value


def modalities(value: Any, param: str, allowed: tuple[str, ...]) -> list[str]:
    """Known values only, and never audio without text ("You can't enable only audio")."""
    names = checks.string_list(value, param)
    for i, name in enumerate(names):
        checks.choice(name, allowed, f"{param}[{i}]")
    if "text" not in names:
        raise invalid_value(param, names, why="The modalities must include 'text'; audio alone is not supported.")
    return names


def _tool_choice(value: Any, param: str) -> Any:
    if isinstance(value, str):
        return checks.choice(value, ("auto", "none", "required"), param)
    spec = checks.obj(value, param)
    checks.known_fields(spec, ("type", "name"), param)
    checks.choice(checks.required(spec, "type", param), ("function",), f"{param}.type")
    checks.string(checks.required(spec, "name", param), f"{param}.name", non_empty=True)
    return spec


def _metadata(value: Any, param: str) -> dict[str, Any]:
    spec = checks.obj(value, param)
    if len(spec) > 16:
        raise invalid_value(param, f"{len(spec)} pairs", why="At most 16 key-value pairs are allowed.")
    for key, entry in spec.items():
        if len(key) > 64:
            raise invalid_value(f"{param}.{key}", key, why="Keys are at most 64 characters.")
        if len(checks.string(entry, f"{param}.{key}")) > 512:
            raise invalid_value(f"{param}.{key}", entry[:20] + "...", why="Values are at most 512 characters.")
    return spec


def check_response_params(
    params: Any, ctx: RuleContext, session: dict[str, Any], assistant_audio_sent: bool
) -> dict[str, Any]:
    """The ``response`` body of ``response.create``: its own fields, and the session's rules for shared ones."""
    if params is None:
        return {}
    body = checks.obj(params, "response")
    for key in body:
        if key not in RESPONSE_FIELDS:
            raise unknown_parameter(f"response.{key}")
    checked: dict[str, Any] = {}
    for key, value in body.items():
        param = f"response.{key}"
        if key == "modalities":
            checked[key] = modalities(value, param, ("text", "audio"))
        elif key == "voice":
            checked[key] = rules_audio.voice(value, ctx, param)
            if assistant_audio_sent and _voice_changed(session.get("voice"), value):
                raise RequestError("cannot_update_voice", CANNOT_UPDATE_VOICE)
        elif key == "conversation":
            checked[key] = checks.choice(value, ("auto", "none"), param)
        else:
            checked[key] = _check_common(key, value, param)
    return checked
