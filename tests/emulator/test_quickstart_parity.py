"""Quickstart parity: what the official samples send, the strict emulator must accept and answer.

A strict double is only useful if it is not stricter than the service. This test is a small client of our own
that follows the official Voice Live Python quickstart (MicrosoftDocs/azure-ai-docs,
articles/ai-services/speech-service/includes/quickstarts/voice-live-api/python.md, revision of 11/06/2025):
``connect(endpoint, credential, model)`` with the SDK's default api-version, the same ``RequestSession``
(text + audio, an Azure HD voice (or an OpenAI name passed as a plain string), pcm16 in and out, server VAD
0.5/300/500, server echo cancellation, deep noise suppression), microphone audio appended in 50 ms chunks once
``session.updated`` arrives, and ``async for event in connection``. The BYOM variants follow the BYOM how-to
(``query={"profile": ...}``, the quickstart's ``connection_options``, and its raw-URL api-version 2025-10-01).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from azure.ai.voicelive.aio import connect
from azure.ai.voicelive.models import (
    AudioEchoCancellation,
    AudioNoiseReduction,
    AzureStandardVoice,
    InputAudioFormat,
    Modality,
    OutputAudioFormat,
    RequestSession,
    ServerEventType,
    ServerVad,
)
from azure.core.credentials import AzureKeyCredential

KEY = "quickstart-key"
INSTRUCTIONS = (
    "You are a helpful AI assistant. Respond naturally and conversationally. Keep your responses concise but engaging."
)
HD_VOICE = "en-US-Ava:DragonHDLatestNeural"
CHUNK = 1200 * 2  # the quickstart reads 1200 frames (50 ms) per callback


def _voice(name: str) -> AzureStandardVoice | str:
    """As the quickstart chooses: names with a dash are Azure voices, others are passed as they are."""
    if name.startswith("en-US-") or name.startswith("en-CA-") or "-" in name:
        return AzureStandardVoice(name=name)
    return name


def _session(voice: str) -> RequestSession:
    return RequestSession(
        modalities=[Modality.TEXT, Modality.AUDIO],
        instructions=INSTRUCTIONS,
        voice=_voice(voice),
        input_audio_format=InputAudioFormat.PCM16,
        output_audio_format=OutputAudioFormat.PCM16,
        turn_detection=ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500),
        input_audio_echo_cancellation=AudioEchoCancellation(),
        input_audio_noise_reduction=AudioNoiseReduction(type="azure_deep_noise_suppression"),
    )


CASES = [
    pytest.param(("gpt-realtime", HD_VOICE, None, {}), id="quickstart-defaults"),
    pytest.param(("gpt-realtime", "alloy", None, {}), id="quickstart-openai-voice"),
    pytest.param(("gpt-4.1", HD_VOICE, None, {}), id="quickstart-chat-model"),
    pytest.param(("gpt-4o", HD_VOICE, "byom-azure-openai-chat-completion", {}), id="byom-howto-chat-completion"),
    pytest.param(
        ("gpt-realtime", HD_VOICE, "byom-azure-openai-realtime", {"api_version": "2025-10-01"}),
        id="byom-howto-realtime-ga-version",
    ),
]


@pytest.mark.parametrize("case", CASES)
async def test_the_quickstart_session_is_accepted_and_answered(
    start_emulator: Any, speech_pcm: bytes, case: tuple[str, str, str | None, dict[str, Any]]
) -> None:
    model, voice, byom, extra = case
    emulator = await start_emulator(api_key=KEY, use_recognizer=False)
    emulator.options.pace.realtime_factor = 8.0
    mic = speech_pcm + b"\0" * 48000  # a question, then a second of room silence
    seen: list[Any] = []
    async with connect(
        endpoint=emulator.endpoint,
        credential=AzureKeyCredential(KEY),
        model=model,
        connection_options={"max_msg_size": 10 * 1024 * 1024, "heartbeat": 20, "timeout": 20},
        query={"profile": byom} if byom else None,
        **extra,
    ) as connection:
        await connection.session.update(session=_session(voice))

        async def capture() -> None:
            for i in range(0, len(mic), CHUNK):
                audio_base64 = base64.b64encode(mic[i : i + CHUNK]).decode("utf-8")
                await connection.input_audio_buffer.append(audio=audio_base64)
                await asyncio.sleep(0.005)

        capturing: asyncio.Task[None] | None = None
        async for event in connection:
            seen.append(event)
            if event.type == ServerEventType.SESSION_UPDATED and capturing is None:
                capturing = asyncio.create_task(capture())
            elif event.type == ServerEventType.ERROR:
                pytest.fail(f"the emulator refused the quickstart: {event.error.code}: {event.error.message}")
            elif event.type == ServerEventType.RESPONSE_DONE:
                break
        assert capturing is not None
        await capturing

    kinds = [e.type for e in seen]
    assert kinds[0] == ServerEventType.SESSION_CREATED
    for expected in (
        ServerEventType.SESSION_UPDATED,
        ServerEventType.INPUT_AUDIO_BUFFER_SPEECH_STARTED,
        ServerEventType.INPUT_AUDIO_BUFFER_SPEECH_STOPPED,
        ServerEventType.RESPONSE_CREATED,
        ServerEventType.RESPONSE_AUDIO_DELTA,
        ServerEventType.RESPONSE_AUDIO_DONE,
    ):
        assert expected in kinds, f"no {expected}"
    assert seen[-1].response.status == "completed"
    query = emulator.last().query
    assert query["api-version"] == extra.get("api_version", "2026-07-15"), "the SDK's default api-version"
    assert query.get("profile") == byom
