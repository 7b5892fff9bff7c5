"""Every event the emulator emits deserializes into the SDK's typed class for that type."""

from __future__ import annotations

import asyncio
from typing import Any

from azure.ai.voicelive.models import (
    ClientEventInputAudioBufferCommit,
    ClientEventResponseCreate,
    ServerEvent,
)

from tests.helpers import API_KEY, EventLog, key_credential
from voicelive_desktop.voicelive.config import SessionConfig, TurnDetectionConfig, TurnMode
from voicelive_desktop.voicelive.events import AssistantAudio, ResponseFinished
from voicelive_desktop.voicelive.modes import Mode, Target
from voicelive_desktop.voicelive.session import VoiceLiveSession


def _required_fields(cls: type) -> set[str]:
    """Fields the SDK model declares without Optional (its annotations hold forward references as text)."""
    required = set()
    for klass in reversed(cls.__mro__):
        for name, hint in vars(klass).get("__annotations__", {}).items():
            text = hint if isinstance(hint, str) else repr(hint)
            if name.startswith("_") or name == "type":
                continue
            if "Optional" in text or "None" in text:
                required.discard(name)
            else:
                required.add(name)
    return required


async def test_every_emitted_event_is_a_typed_sdk_event(start_emulator: Any, speech_pcm: bytes) -> None:
    emulator = await start_emulator(api_key=API_KEY)
    emulator.options.pace.realtime_factor = 2.0
    cred = key_credential()
    vad = SessionConfig(turn_detection=TurnDetectionConfig(TurnMode.SERVER_VAD))
    session = VoiceLiveSession(Target(emulator.endpoint, Mode.BYOM_REALTIME, "gpt-realtime"), cred, vad)
    events = EventLog(session.events())
    await session.connect()
    # hands-free turn, push-to-talk turn, a barge-in, an empty commit and a second response
    for i in range(0, len(speech_pcm) + 48000, 960):
        session.append_audio((speech_pcm + b"\0" * 48000)[i : i + 960])
    await events.wait_type(ResponseFinished, timeout=15)
    session.update_config(SessionConfig())
    audio_so_far = len(events.of(AssistantAudio))
    session.send_text("interrupt me")
    await events.wait_for(lambda e: len(events.of(AssistantAudio)) > audio_so_far)
    session.begin_turn(heard_ms=120)
    # raw events the session itself would never send: an empty commit and two overlapping responses
    session._send(ClientEventInputAudioBufferCommit())
    session._send(ClientEventResponseCreate())
    session._send(ClientEventResponseCreate())
    await events.wait_for(lambda e: len(events.of(ResponseFinished)) >= 3, timeout=15)
    await asyncio.sleep(0.2)
    await session.close()

    sent = emulator.last().sent
    kinds = {e["type"] for e in sent}
    assert {
        "session.created",
        "session.updated",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.created",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.audio_transcript.delta",
        "response.audio.delta",
        "response.done",
        "conversation.item.truncated",
        "error",
        "input_audio_buffer.cleared",
    } <= kinds
    errors = [e["error"]["code"] for e in sent if e["type"] == "error"]
    assert "input_audio_buffer_commit_empty" in errors
    assert "conversation_already_has_active_response" in errors
    for payload in sent:
        event: Any = ServerEvent._deserialize(payload, [])
        cls = type(event)
        assert cls is not ServerEvent, f"{payload['type']} has no typed SDK class"
        missing = {f for f in _required_fields(cls) if f not in payload}
        assert not missing, f"{payload['type']} lacks required fields {missing}"
        assert event.type == payload["type"]
