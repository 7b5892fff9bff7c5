"""session.update is checked as the service checks it: per model family, whole, and without side effects."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.emulator.wire import error_of

REALTIME = ("gpt-realtime", None)
REALTIME_4O = ("gpt-4o-mini-realtime-preview", None)
BYOM_REALTIME = ("my-realtime-deployment", "byom-azure-openai-realtime")
CHAT = ("gpt-4.1", None)
BYOM_CHAT = ("my-chat-deployment", "byom-azure-openai-chat-completion")
PHI = ("phi4-mm-realtime", None)
AZURE_RT = ("azure-realtime", None)

REFUSED = [
    # temperature: [0.6, 1.2]
    (CHAT, {"temperature": 0.3}, "decimal_below_min_value", "session.temperature"),
    (REALTIME, {"temperature": 1.5}, "decimal_above_max_value", "session.temperature"),
    (CHAT, {"temperature": "hot"}, "invalid_type", "session.temperature"),
    # voices: OpenAI names only for the realtime family; Azure voices need their fields
    (CHAT, {"voice": "alloy"}, "invalid_value", "session.voice"),
    (BYOM_CHAT, {"voice": {"type": "openai", "name": "alloy"}}, "invalid_value", "session.voice.name"),
    (PHI, {"voice": "alloy"}, "invalid_value", "session.voice"),
    (REALTIME, {"voice": "fable"}, "invalid_value", "session.voice"),
    (REALTIME, {"voice": {"type": "azure-standard", "name": ""}}, "invalid_value", "session.voice.name"),
    (CHAT, {"voice": {"type": "azure-standard"}}, "missing_required_parameter", "session.voice.name"),
    (CHAT, {"voice": {"type": "azure-custom", "name": "v"}}, "missing_required_parameter", "session.voice.endpoint_id"),
    (CHAT, {"voice": {"type": "azure-personal", "name": "v"}}, "missing_required_parameter", "session.voice.model"),
    (CHAT, {"voice": {"type": "google", "name": "v"}}, "invalid_value", "session.voice.type"),
    (CHAT, {"voice": {"type": "azure-realtime-native", "name": "ava"}}, "invalid_value", "session.voice.type"),
    (CHAT, {"voice": {"type": "azure-standard", "name": "x", "speed": 2}}, "unknown_parameter", "session.voice.speed"),
    # transcription model per family
    (REALTIME, {"input_audio_transcription": {"model": "azure-speech"}}, "invalid_value",
     "session.input_audio_transcription.model"),
    (BYOM_REALTIME, {"input_audio_transcription": {"model": "azure-speech"}}, "invalid_value",
     "session.input_audio_transcription.model"),
    (CHAT, {"input_audio_transcription": {"model": "whisper-1"}}, "invalid_value",
     "session.input_audio_transcription.model"),
    (PHI, {"input_audio_transcription": {"model": "mai-transcribe"}}, "invalid_value",
     "session.input_audio_transcription.model"),
    (CHAT, {"input_audio_transcription": {"model": "azure-speech", "prompt": "x"}}, "invalid_value",
     "session.input_audio_transcription.prompt"),
    (CHAT, {"input_audio_transcription": {"model": "azure-speech", "lang": "en"}}, "unknown_parameter",
     "session.input_audio_transcription.lang"),
    # turn detection: types per family, fields per type, ranges
    (CHAT, {"turn_detection": {"type": "semantic_vad"}}, "invalid_value", "session.turn_detection.type"),
    (REALTIME, {"turn_detection": {"type": "client_vad"}}, "invalid_value", "session.turn_detection.type"),
    (REALTIME, {"turn_detection": {"type": "server_vad", "threshold": 1.5}}, "decimal_above_max_value",
     "session.turn_detection.threshold"),
    (REALTIME, {"turn_detection": {"type": "server_vad", "silence_duration_ms": -1}}, "integer_below_min_value",
     "session.turn_detection.silence_duration_ms"),
    (REALTIME, {"turn_detection": {"type": "server_vad", "prefix_padding_ms": 2.5}}, "invalid_type",
     "session.turn_detection.prefix_padding_ms"),
    (REALTIME, {"turn_detection": {"type": "server_vad", "eagerness": "high"}}, "unknown_parameter",
     "session.turn_detection.eagerness"),
    (REALTIME, {"turn_detection": {"type": "server_vad", "remove_filler_words": True}}, "unknown_parameter",
     "session.turn_detection.remove_filler_words"),
    (REALTIME, {"turn_detection": {"type": "semantic_vad", "eagerness": "extreme"}}, "invalid_value",
     "session.turn_detection.eagerness"),
    (CHAT, {"turn_detection": {"type": "azure_semantic_vad", "foo": 1}}, "unknown_parameter",
     "session.turn_detection.foo"),
    # audio formats and rates
    (CHAT, {"input_audio_sampling_rate": 44100}, "invalid_value", "session.input_audio_sampling_rate"),
    (CHAT, {"input_audio_format": "g711_ulaw", "input_audio_sampling_rate": 16000}, "invalid_value",
     "session.input_audio_sampling_rate"),
    (CHAT, {"input_audio_format": "mp3"}, "invalid_value", "session.input_audio_format"),
    (CHAT, {"output_audio_format": "opus"}, "invalid_value", "session.output_audio_format"),
    # modalities: text always, never audio alone
    (CHAT, {"modalities": ["audio"]}, "invalid_value", "session.modalities"),
    (CHAT, {"modalities": ["text", "video"]}, "invalid_value", "session.modalities[1]"),
    # noise reduction and echo cancellation
    (CHAT, {"input_audio_noise_reduction": {"type": "near_field"}}, "invalid_value",
     "session.input_audio_noise_reduction.type"),
    (REALTIME, {"input_audio_noise_reduction": {"type": "loud"}}, "invalid_value",
     "session.input_audio_noise_reduction.type"),
    (CHAT, {"input_audio_echo_cancellation": {"type": "client_echo_cancellation"}}, "invalid_value",
     "session.input_audio_echo_cancellation.type"),
    (CHAT, {"input_audio_echo_cancellation": {"type": "server_echo_cancellation", "channels": 2}},
     "invalid_ec_channels_requires_client", "session.input_audio_echo_cancellation.channels"),
    (CHAT, {"input_audio_echo_cancellation": {"type": "server_echo_cancellation", "reference_source": "client"}},
     "invalid_ec_reference_channels", "session.input_audio_echo_cancellation.reference_source"),
    # everything else
    (CHAT, {"speed": 1.2}, "unknown_parameter", "session.speed"),
    (CHAT, {"model": "gpt-5"}, "invalid_value", "session.model"),
    (CHAT, {"max_response_output_tokens": 0}, "integer_below_min_value", "session.max_response_output_tokens"),
    (CHAT, {"max_response_output_tokens": 5000}, "integer_above_max_value", "session.max_response_output_tokens"),
    (CHAT, {"tool_choice": "sometimes"}, "invalid_value", "session.tool_choice"),
    (CHAT, {"output_audio_timestamp_types": ["sentence"]}, "invalid_value", "session.output_audio_timestamp_types[0]"),
]  # fmt: skip


def _id(case: Any) -> str:
    (model, profile), body, code, _param = case
    return f"{profile or model}-{next(iter(body))}-{code}"


@pytest.mark.parametrize(("target", "body", "code", "param"), REFUSED, ids=[_id(c) for c in REFUSED])
async def test_a_bad_update_is_refused_and_changes_nothing(
    open_wire: Any, target: tuple[str, str | None], body: dict[str, Any], code: str, param: str
) -> None:
    emulator, wire = await open_wire(target[0], profile=target[1])
    before = copy.deepcopy(emulator.last().conversation.session)
    good = {"instructions": "changed", **body}  # a valid field beside the bad one must not be applied either
    event_id = await wire.send("session.update", session=good)
    error = await wire.error_for(event_id)
    assert error_of(error) == (code, param), error["error"]["message"]
    assert error["error"]["type"] == "invalid_request_error" and error["error"]["message"]
    assert emulator.last().conversation.session == before
    assert wire.of("session.updated") == []


ACCEPTED = [
    (REALTIME, {"voice": "alloy", "input_audio_transcription": {"model": "whisper-1"}, "temperature": 0.6}),
    (REALTIME_4O, {"voice": {"type": "openai", "name": "cedar"}, "turn_detection": {"type": "semantic_vad"}}),
    (BYOM_REALTIME, {"input_audio_transcription": {"model": "gpt-4o-transcribe"},
                     "input_audio_noise_reduction": {"type": "near_field"}}),
    (REALTIME, {"voice": {"type": "azure-standard", "name": "en-US-AvaNeural"}, "temperature": 1.2}),
    (CHAT, {"voice": {"type": "azure-standard", "name": "en-US-Ava:DragonHDLatestNeural", "temperature": 0.5},
            "input_audio_transcription": {"model": "azure-speech", "language": "en-US", "phrase_list": ["Contoso"]}}),
    (BYOM_CHAT, {"input_audio_transcription": {"model": "mai-transcribe-1"}, "turn_detection": None}),
    (PHI, {"input_audio_transcription": {"model": "azure-speech"},
           "turn_detection": {"type": "azure_semantic_vad", "remove_filler_words": True, "languages": ["en"]}}),
    (AZURE_RT, {"voice": {"type": "azure-realtime-native", "name": "ava"}}),
    (CHAT, {"voice": {"type": "azure-custom", "name": "v", "endpoint_id": "e"}, "input_audio_sampling_rate": 16000}),
    (CHAT, {"voice": {"type": "azure-personal", "name": "v", "model": "DragonLatestNeural"}}),
    (CHAT, {"input_audio_echo_cancellation": {"type": "server_echo_cancellation"},
            "input_audio_noise_reduction": {"type": "azure_deep_noise_suppression"}}),
    (CHAT, {"input_audio_echo_cancellation": {"type": "server_echo_cancellation", "reference_source": "client",
                                              "channels": 2}}),
    (CHAT, {"modalities": ["text"], "max_response_output_tokens": "inf", "tool_choice": "auto"}),
    (CHAT, {"input_audio_format": "g711_ulaw", "output_audio_format": "pcm16_16000hz"}),
    (CHAT, {"turn_detection": {"type": "server_vad", "end_of_utterance_detection": {
        "model": "semantic_detection_v1", "threshold_level": "low", "timeout_ms": 800}}}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("target", "body"), ACCEPTED, ids=[f"{t[1] or t[0]}-{i}" for i, (t, _b) in enumerate(ACCEPTED)]
)
async def test_a_good_update_is_applied_and_echoed(open_wire: Any, target: tuple[str, str | None], body: Any) -> None:
    emulator, wire = await open_wire(target[0], profile=target[1])
    updated = await wire.update(**body)
    assert updated["type"] == "session.updated", updated
    for key, value in body.items():
        if isinstance(value, dict):
            assert value.items() <= updated["session"][key].items()
        else:
            assert updated["session"][key] == value
    assert emulator.last().conversation.session == updated["session"]


async def test_turn_detection_defaults_follow_the_api_version(open_wire: Any) -> None:
    _emulator, old = await open_wire("gpt-4.1", api_version="2025-10-01")
    created = old.of("session.created")[0]["session"]
    assert created["turn_detection"]["prefix_padding_ms"] == 300
    assert (await old.update(turn_detection={"type": "azure_semantic_vad"}))["session"]["turn_detection"][
        "prefix_padding_ms"
    ] == 300
    _emulator, new = await open_wire("gpt-4.1", api_version="2026-04-10")
    assert new.of("session.created")[0]["session"]["turn_detection"]["prefix_padding_ms"] == 400
    assert (await new.update(turn_detection={"type": "azure_semantic_vad"}))["session"]["turn_detection"][
        "prefix_padding_ms"
    ] == 420


async def test_the_sampling_rate_is_fixed_once_set(open_wire: Any) -> None:
    _emulator, wire = await open_wire()
    assert (await wire.update(input_audio_sampling_rate=16000))["type"] == "session.updated"
    assert (await wire.update(input_audio_sampling_rate=16000))["type"] == "session.updated", "the same rate is fine"
    refused = await wire.update(input_audio_sampling_rate=24000)
    assert error_of(refused) == ("invalid_value", "session.input_audio_sampling_rate")


async def test_the_sampling_rate_is_fixed_once_audio_was_appended(open_wire: Any) -> None:
    emulator, wire = await open_wire()
    await wire.update(turn_detection=None)
    await wire.append(b"\0" * 960)
    refused = await wire.update(input_audio_sampling_rate=16000)
    assert error_of(refused) == ("invalid_value", "session.input_audio_sampling_rate")
    assert emulator.last().conversation.session["input_audio_sampling_rate"] == 24000


async def test_lenient_mode_accepts_anything(open_wire: Any) -> None:
    _emulator, wire = await open_wire("gpt-realtime", validate_session=False)
    updated = await wire.update(temperature=0.1, input_audio_transcription={"model": "azure-speech"})
    assert updated["type"] == "session.updated" and updated["session"]["temperature"] == 0.1
