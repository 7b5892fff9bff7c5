"""Push-to-talk, typed messages, barge-in, hands-free and failures, through the real SDK on the wire."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.helpers import EventLog, key_credential, until
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.voicelive.config import SessionConfig, TurnDetectionConfig, TurnMode
from voicelive_desktop.voicelive.events import (
    AssistantAudio,
    AssistantInterrupted,
    AssistantTranscriptDelta,
    AssistantTranscriptFinal,
    ConnectionChanged,
    ConnState,
    ErrorCategory,
    ErrorRaised,
    ResponseFinished,
    ResponseStarted,
    SpeechDetected,
    UserTranscriptFinal,
    UserTurnCommitted,
)
from voicelive_desktop.voicelive.modes import Mode


def _stream(session: Any, pcm: bytes, block_ms: int = 20) -> None:
    step = 24000 * 2 * block_ms // 1000
    for i in range(0, len(pcm), step):
        session.append_audio(pcm[i : i + step])


async def test_session_update_carries_push_to_talk_configuration(open_session: Any, emulator: Emulator) -> None:
    config = SessionConfig(
        instructions="Be brief.",
        voice="en-US-Ava:DragonHDLatestNeural",
        transcription_model="whisper-1",
        transcription_language="en-US",
    )
    await open_session(config=config)
    record = emulator.last()
    await until(lambda: "session.update" in record.received_types())
    update = record.received[0]
    assert update["type"] == "session.update"
    body = update["session"]
    assert body["turn_detection"] is None
    assert "turn_detection" in body
    assert body["voice"] == {"name": "en-US-Ava:DragonHDLatestNeural", "type": "azure-standard"}
    assert body["instructions"] == "Be brief."
    assert body["input_audio_transcription"] == {"model": "whisper-1", "language": "en-US"}
    assert body["input_audio_noise_reduction"] == {"type": "azure_deep_noise_suppression"}
    assert body["input_audio_echo_cancellation"]["type"] == "server_echo_cancellation"
    assert body["input_audio_format"] == "pcm16" and body["input_audio_sampling_rate"] == 24000


async def test_openai_voice_and_server_vad_are_sent_in_their_own_shapes(open_session: Any, emulator: Emulator) -> None:
    config = SessionConfig(
        voice="alloy",
        noise_suppression=False,
        echo_cancellation=False,
        turn_detection=TurnDetectionConfig(TurnMode.AZURE_SEMANTIC_VAD, threshold=0.3, silence_duration_ms=400),
    )
    await open_session(Mode.BYOM_REALTIME, config=config)
    record = emulator.last()
    await until(lambda: bool(record.received))
    body = record.received[0]["session"]
    assert body["voice"] == {"name": "alloy", "type": "openai"}
    assert body["turn_detection"]["type"] == "azure_semantic_vad"
    assert body["turn_detection"]["threshold"] == 0.3
    assert body["turn_detection"]["silence_duration_ms"] == 400
    assert body["input_audio_noise_reduction"] is None and body["input_audio_echo_cancellation"] is None


async def test_push_to_talk_turn_gives_both_transcripts_and_audio(
    open_session: Any, emulator: Emulator, speech_pcm: bytes
) -> None:
    session, events = await open_session(Mode.BYOM_CHAT_COMPLETION, "gpt-4.1")
    session.begin_turn()
    _stream(session, speech_pcm)
    assert session.commit_turn(len(speech_pcm))
    done = await events.wait_type(ResponseFinished)
    assert done.status == "completed"
    committed = events.of(UserTurnCommitted)[0]
    user_final = await events.wait_for(lambda e: isinstance(e, UserTranscriptFinal))
    assert user_final.item_id == committed.item_id
    assert user_final.text.strip()
    answer = events.of(AssistantTranscriptFinal)[0].text
    assert "gpt-4.1" in answer and "chat completion" in answer
    deltas = "".join(e.text for e in events.of(AssistantTranscriptDelta))
    assert deltas == answer
    audio = b"".join(e.pcm for e in events.of(AssistantAudio))
    assert len(audio) > 24000 * 2 // 2, "expected at least half a second of assistant audio"
    assert np.abs(np.frombuffer(audio, np.int16)).max() > 1000, "assistant audio should not be silence"
    order = [type(e) for e in events.items]
    assert order.index(ResponseStarted) < order.index(AssistantAudio) < order.index(ResponseFinished)
    sent = emulator.last().received_types()
    assert sent[:2] == ["session.update", "input_audio_buffer.clear"]
    assert sent.count("input_audio_buffer.append") == -(-len(speech_pcm) // 960)
    assert sent[-2:] == ["input_audio_buffer.commit", "response.create"]


async def test_a_refused_write_ends_the_writing_on_that_socket(
    open_session: Any, emulator: Emulator, monkeypatch: Any
) -> None:
    """The socket refuses a block (it is closing, and the reader has not seen it yet): the microphone goes on, and
    nothing more is written on that socket."""
    from azure.ai.voicelive.aio import ConnectionError as VoiceLiveConnectionError

    session, _events = await open_session()
    await until(lambda: emulator.last().received_types() == ["session.update"])
    tries: list[str] = []

    async def refused(event: Any) -> None:
        tries.append(event["type"] if isinstance(event, dict) else "?")
        raise VoiceLiveConnectionError("Failed to send event: Cannot write to closing transport")

    monkeypatch.setattr(session._conn, "send", refused)
    for _ in range(5):
        session.append_audio(b"\x01\x00" * 960)
    session.send_text("and this")
    await until(lambda: session._sender is not None and session._sender.done())  # the writing ended
    assert tries == ["input_audio_buffer.append"], "one refusal, then nothing more on that socket"


async def test_user_transcript_arriving_after_the_answer_keeps_its_item(emulator: Emulator, speech_pcm: bytes) -> None:
    emulator.options.pace.transcript_delay_s = 0.6
    from voicelive_desktop.voicelive.modes import Target
    from voicelive_desktop.voicelive.session import VoiceLiveSession

    session = VoiceLiveSession(
        Target(emulator.endpoint, Mode.MANAGED, "gpt-realtime"), key_credential(), SessionConfig()
    )
    events = EventLog(session.events())
    await session.connect()
    session.begin_turn()
    _stream(session, speech_pcm)
    session.commit_turn(len(speech_pcm))
    final = await events.wait_type(UserTranscriptFinal)
    first_answer = events.items.index(events.of(AssistantTranscriptDelta)[0])
    assert events.items.index(final) > first_answer, "the transcript should come after the answer started"
    assert final.item_id == events.of(UserTurnCommitted)[0].item_id
    await session.close()


async def test_typed_message_is_answered(open_session: Any, emulator: Emulator) -> None:
    session, events = await open_session(Mode.BYOM_REALTIME, "my-ptu")
    item_id = session.send_text("hello from the keyboard")
    final = await events.wait_type(AssistantTranscriptFinal)
    assert "hello from the keyboard" in final.text and "my-ptu" in final.text
    created = next(e for e in emulator.last().received if e["type"] == "conversation.item.create")
    assert created["item"]["id"] == item_id
    assert created["item"]["content"] == [{"type": "input_text", "text": "hello from the keyboard"}]


async def test_barge_in_cancels_and_truncates_at_the_heard_ms(open_session: Any, emulator: Emulator) -> None:
    emulator.options.pace.realtime_factor = 1.0  # slow enough to interrupt mid-answer
    session, events = await open_session()
    session.send_text("tell me a long story")
    first = await events.wait_type(AssistantAudio)
    await events.until(lambda: sum(len(e.pcm) for e in events.of(AssistantAudio)) >= 48 * 400)
    session.begin_turn(heard_ms=350)
    interrupted = await events.wait_type(AssistantInterrupted)
    assert interrupted == AssistantInterrupted(first.item_id, 350)
    done = await events.wait_type(ResponseFinished)
    assert done.status == "cancelled"
    received = emulator.last().received
    cancel_at = [e["type"] for e in received].index("response.cancel")
    truncate = received[cancel_at + 1]
    assert truncate == {
        **truncate,
        "type": "conversation.item.truncate",
        "item_id": first.item_id,
        "content_index": 0,
        "audio_end_ms": 350,
    }
    assert received[cancel_at + 2]["type"] == "input_audio_buffer.clear"
    await until(lambda: any(e["type"] == "conversation.item.truncated" for e in emulator.last().sent))


async def test_too_little_audio_is_cleared_not_committed(open_session: Any, emulator: Emulator) -> None:
    session, _events = await open_session()
    session.begin_turn()
    session.append_audio(b"\x00\x00" * 240)  # 10 ms: less than the service accepts
    assert not session.commit_turn(480)
    await until(lambda: emulator.last().received_types()[-1:] == ["input_audio_buffer.clear"])
    assert "input_audio_buffer.commit" not in emulator.last().received_types()
    assert "response.create" not in emulator.last().received_types()


async def test_service_error_event_becomes_an_app_error(open_session: Any, emulator: Emulator) -> None:
    emulator.options.inject_error_after = 2
    session, events = await open_session()
    error = await events.wait_type(ErrorRaised)
    assert error.category is ErrorCategory.SERVICE
    assert "injected_error" in error.message and "Injected test error." in error.message
    assert session.state is ConnState.CONNECTED


async def test_dropped_connection_is_reported_with_its_close_code(open_session: Any, emulator: Emulator) -> None:
    emulator.options.drop_after_events = 3
    session, events = await open_session()
    session.send_text("hi")
    error = await events.wait_type(ErrorRaised)
    assert error.category is ErrorCategory.CONNECTION_LOST
    assert "close code 1006" in error.message
    changed = await events.wait_for(lambda e: isinstance(e, ConnectionChanged) and e.state is ConnState.FAILED)
    assert changed.close_code == 1006


async def test_session_expiry_close_is_recognised(open_session: Any, emulator: Emulator) -> None:
    emulator.options.close_after_s = 0.3
    _session, events = await open_session()
    error = await events.wait_type(ErrorRaised)
    assert error.category is ErrorCategory.SESSION_EXPIRED
    changed = await events.wait_for(lambda e: isinstance(e, ConnectionChanged) and e.state is ConnState.FAILED)
    assert changed.close_code == 1001


async def test_hands_free_server_vad_commits_and_answers_by_itself(
    open_session: Any, emulator: Emulator, speech_pcm: bytes
) -> None:
    config = SessionConfig(turn_detection=TurnDetectionConfig(TurnMode.SERVER_VAD, silence_duration_ms=400))
    session, events = await open_session(config=config)
    silence = b"\x00\x00" * 24000
    _stream(session, silence[:24000] + speech_pcm + silence)
    done = await events.wait_type(ResponseFinished)
    assert done.status == "completed"
    detections = [e.started for e in events.of(SpeechDetected)]
    assert detections[:2] == [True, False]
    assert events.of(UserTurnCommitted)
    assert (await events.wait_type(UserTranscriptFinal)).text
    sent = emulator.last().received_types()
    assert "input_audio_buffer.commit" not in sent and "response.create" not in sent


async def test_a_live_settings_change_sends_only_what_changed(open_session: Any, emulator: Emulator) -> None:
    session, _events = await open_session()
    await until(lambda: "session.updated" in [e["type"] for e in emulator.last().sent])
    assert session.update_config(SessionConfig(instructions="Answer in French.", noise_suppression=False))
    await until(lambda: emulator.last().received_types().count("session.update") == 2)
    update = emulator.last().received[-1]["session"]
    assert update == {"instructions": "Answer in French.", "input_audio_noise_reduction": None}


async def test_the_voice_cannot_change_live_once_the_assistant_has_spoken(
    open_session: Any, emulator: Emulator
) -> None:
    session, events = await open_session()
    assert session.update_config(SessionConfig(voice="en-US-AndrewNeural")), "before any answer it can"
    session.send_text("say something")
    await events.wait_type(ResponseFinished)
    assert not session.update_config(SessionConfig(voice="en-US-AvaNeural")), "the caller must reconnect"
    await until(lambda: emulator.last().received_types().count("session.update") == 2)
    assert [e["session"].get("voice") for e in emulator.last().received if e["type"] == "session.update"][1:] == [
        {"name": "en-US-AndrewNeural", "type": "azure-standard"}
    ]
