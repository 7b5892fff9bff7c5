"""The response lifecycle is asynchronous as the service's: created at once, cancelled a little later, one at a time."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.emulator.wire import Wire, error_of, silence, tone

DONE_CHAIN = [
    "response.audio.done",
    "response.audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.done",
]


async def _typed(wire: Wire, text: str) -> None:
    content = [{"type": "input_text", "text": text}]
    await wire.send("conversation.item.create", item={"type": "message", "role": "user", "content": content})


async def test_response_created_comes_at_once_then_rate_limits(open_wire: Any) -> None:
    _emulator, wire = await open_wire()
    await _typed(wire, "hi")
    await wire.send("response.create")
    done = await wire.wait("response.done")
    kinds = wire.types()
    created_at = kinds.index("response.created")
    assert kinds[created_at + 1] == "rate_limits.updated"
    limits = wire.of("rate_limits.updated")[0]["rate_limits"]
    assert [r["name"] for r in limits] == ["requests", "tokens"]
    assert all({"limit", "remaining", "reset_seconds"} <= r.keys() for r in limits)
    created = wire.of("response.created")[0]["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["status_details"] is None
    assert done["response"]["status"] == "completed" and done["response"]["id"] == created["id"]
    assert kinds[-len(DONE_CHAIN) :] == DONE_CHAIN


async def test_a_second_response_while_one_is_active_is_refused(open_wire: Any) -> None:
    emulator, wire = await open_wire()
    emulator.options.pace.realtime_factor = 2.0
    await _typed(wire, "hi")
    await wire.send("response.create")
    await wire.wait("response.audio.delta")
    event_id = await wire.send("response.create")
    error = await wire.error_for(event_id)
    active = wire.of("response.created")[0]["response"]["id"]
    assert error_of(error) == ("conversation_already_has_active_response", None)
    assert active in error["error"]["message"]
    done = await wire.wait("response.done")
    assert done["response"]["status"] == "completed", "the refusal leaves the running response alone"
    assert len(wire.of("response.created")) == 1


async def test_cancel_with_nothing_active_is_refused(open_wire: Any) -> None:
    _emulator, wire = await open_wire()
    event_id = await wire.send("response.cancel")
    error = await wire.error_for(event_id)
    assert error_of(error) == ("response_cancel_not_active", None)
    assert error["error"]["message"] == "Cancellation failed: no active response found"


async def test_cancel_takes_effect_later_and_the_response_stays_active_until_then(open_wire: Any) -> None:
    emulator, wire = await open_wire()
    emulator.options.pace.realtime_factor = 1.0
    emulator.options.pace.cancel_delay_s = 0.3
    await _typed(wire, "tell me a long story")
    await wire.send("response.create")
    await wire.wait("response.audio.delta")
    sent_at = time.monotonic()
    await wire.send("response.cancel")
    too_early = await wire.send("response.create")
    error = await wire.error_for(too_early)
    assert error_of(error) == ("conversation_already_has_active_response", None), "a cancelling response is active"
    done = await wire.wait("response.done")
    assert time.monotonic() - sent_at >= 0.28
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert wire.types()[-len(DONE_CHAIN) :] == DONE_CHAIN
    assert done["response"]["output"][0]["status"] == "incomplete"
    again = await wire.send("response.create")
    await wire.wait("response.created", 2)
    assert not [e for e in wire.of("error") if e["error"]["event_id"] == again]


async def test_barge_in_sends_speech_started_first_then_cancels_turn_detected(open_wire: Any) -> None:
    emulator, wire = await open_wire()
    emulator.options.pace.realtime_factor = 1.0
    await _typed(wire, "tell me a long story")
    await wire.send("response.create")
    await wire.wait("response.audio.delta")
    await wire.append(tone(300))
    done = await wire.wait("response.done")
    kinds = wire.types()
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.done")
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}


async def test_vad_times_count_from_the_start_of_the_session(open_wire: Any) -> None:
    _emulator, wire = await open_wire()
    updated = await wire.update(
        turn_detection={
            "type": "server_vad",
            "prefix_padding_ms": 0,
            "silence_duration_ms": 500,
            "create_response": False,
        }
    )
    assert updated["type"] == "session.updated"
    await wire.append(silence(1000))
    await wire.send("input_audio_buffer.clear")
    await wire.append(silence(300) + tone(600) + silence(700))
    started = await wire.wait("input_audio_buffer.speech_started")
    stopped = await wire.wait("input_audio_buffer.speech_stopped")
    assert 1300 <= started["audio_start_ms"] <= 1340, "1 s cleared + 0.3 s of silence before the speech"
    assert 2380 <= stopped["audio_end_ms"] <= 2440, "the end includes the 500 ms of silence that ended the turn"
    committed = await wire.wait("input_audio_buffer.committed")
    assert committed["item_id"] == started["item_id"] == stopped["item_id"]
    await wire.append(tone(600) + silence(700))
    second = await wire.wait("input_audio_buffer.speech_started", 2)
    assert second["audio_start_ms"] > stopped["audio_end_ms"], "the clock runs on across commits"


async def _ptt_turn(wire: Wire) -> None:
    await wire.append(tone(500))
    await wire.send("input_audio_buffer.commit")
    await wire.send("response.create")


@pytest.mark.parametrize("order", ["before", "after"])
async def test_the_user_transcript_lands_before_or_after_the_answer(open_wire: Any, order: str) -> None:
    _emulator, wire = await open_wire(transcript_order=order)
    await wire.update(turn_detection=None)
    await _ptt_turn(wire)
    await wire.wait("response.done")
    await wire.wait("conversation.item.input_audio_transcription.completed")
    kinds = wire.types()
    transcript = kinds.index("conversation.item.input_audio_transcription.completed")
    if order == "before":
        assert transcript < kinds.index("response.output_item.added")
    else:
        assert transcript > kinds.index("response.done")


async def test_random_transcript_order_is_seeded(start_emulator: Any) -> None:
    from tests.emulator.wire import connect

    orders = []
    for _run in range(2):
        emulator = await start_emulator(
            api_key="demo", use_espeak=False, use_recognizer=False, transcript_order="random", seed=7
        )
        emulator.options.pace.realtime_factor = 50.0
        wire = await connect(emulator.endpoint)
        await wire.update(turn_detection=None)
        seen = []
        for turn in range(1, 7):
            await _ptt_turn(wire)
            await wire.wait("response.done", turn)
            await wire.wait("conversation.item.input_audio_transcription.completed", turn)
            kinds = wire.types()
            done_at = [i for i, k in enumerate(kinds) if k == "response.done"][turn - 1]
            said_at = [i for i, k in enumerate(kinds) if k == "conversation.item.input_audio_transcription.completed"]
            seen.append("after" if said_at[turn - 1] > done_at else "before")
        await wire.close()
        orders.append(seen)
    assert orders[0] == orders[1], "the same seed gives the same orders"
    assert set(orders[0]) == {"before", "after"}, "random draws both orders"


async def test_transcripts_are_sent_only_when_transcription_is_on(open_wire: Any) -> None:
    _emulator, wire = await open_wire("gpt-realtime")  # a multimodal model: transcription is off until asked for
    await wire.update(turn_detection=None)
    await _ptt_turn(wire)
    await wire.wait("response.done")
    assert not wire.of("conversation.item.input_audio_transcription.completed")
    await wire.update(input_audio_transcription={"model": "whisper-1"})
    await _ptt_turn(wire)
    await wire.wait("conversation.item.input_audio_transcription.completed")


async def test_max_response_output_tokens_ends_the_answer_incomplete(open_wire: Any) -> None:
    _emulator, wire = await open_wire()
    await wire.update(max_response_output_tokens=3, modalities=["text"])
    await _typed(wire, "hello there")
    await wire.send("response.create")
    done = await wire.wait("response.done")
    assert done["response"]["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    text = wire.of("response.text.done")[0]["text"]
    assert len(text.split()) == 3


async def test_response_create_parameters_follow_the_session_rules(open_wire: Any) -> None:
    _emulator, wire = await open_wire()
    event_id = await wire.send("response.create", response={"temperature": 0.2})
    assert error_of(await wire.error_for(event_id)) == ("decimal_below_min_value", "response.temperature")
    event_id = await wire.send("response.create", response={"modalities": ["audio"]})
    assert error_of(await wire.error_for(event_id)) == ("invalid_value", "response.modalities")
    event_id = await wire.send("response.create", response={"speed": 2})
    assert error_of(await wire.error_for(event_id)) == ("unknown_parameter", "response.speed")
    assert not wire.of("response.created")
    await wire.send("response.create", response={"modalities": ["text"], "instructions": "be brief"})
    done = await wire.wait("response.done")
    assert done["response"]["status"] == "completed" and wire.of("response.text.done")


@pytest.mark.parametrize(
    ("voice", "spoken"),
    [({"type": "openai", "name": "alloy"}, False), ({"type": "azure-standard", "name": "en-US-AvaNeural"}, True)],
)
async def test_a_realtime_model_that_finds_an_assistant_text_message_answers_as_it_did(
    open_wire: Any, voice: dict[str, str], spoken: bool
) -> None:
    """An OpenAI-voiced realtime model answers in text only once its context holds an assistant message added as
    text (it answers the way it sees itself answer); with an Azure voice, Voice Live speaks the text anyway."""
    _emulator, wire = await open_wire("gpt-realtime")
    assert (await wire.update(voice=voice))["type"] == "session.updated"
    earlier = [{"type": "text", "text": "The word was lantern."}]
    await wire.send("conversation.item.create", item={"type": "message", "role": "assistant", "content": earlier})
    await _typed(wire, "which word?")
    await wire.send("response.create")
    await wire.wait("response.done")
    assert ("response.audio.delta" in wire.types()) is spoken
    assert ("response.text.delta" in wire.types()) is not spoken
