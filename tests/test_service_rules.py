"""The app lives by the service's rules: driven as a user drives it, it draws no error from the strict emulator,
and what the service reports (failed or incomplete answers, harmless races) reaches the user the right way."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.helpers import Core, key_credential, said_to, target, until
from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.emulator.control import run_action
from voicelive_desktop.voicelive import session as session_module
from voicelive_desktop.voicelive.config import SessionConfig, TurnDetectionConfig, TurnMode
from voicelive_desktop.voicelive.events import ConnectionChanged, ConnState, ErrorCategory, ErrorRaised
from voicelive_desktop.voicelive.modes import AZURE_REALTIME_API_VERSION, DEFAULT_API_VERSION, Mode, Target

IDLE = TurnState.IDLE


def _errors(emulator: Emulator) -> list[dict[str, Any]]:
    """Every error event the service sent, on every connection."""
    return [e["error"] for record in emulator.connections for e in record.sent if e["type"] == "error"]


def _answers(core: Core) -> list[Any]:
    return [m for m in core.assistant.conversation.messages if m.role is Role.ASSISTANT]


async def test_typing_over_a_streaming_answer_waits_for_the_cancel_and_draws_no_error(
    textonly: Core, emulator: Emulator
) -> None:
    emulator.options.pace.realtime_factor = 1.0
    emulator.options.pace.cancel_delay_s = 0.4  # the service acts on a cancel a moment later
    assert await textonly.connect(target(emulator))
    assert textonly.assistant.send_text("tell me a long story")
    await until(lambda: textonly.assistant.turn is TurnState.SPEAKING)
    assert textonly.assistant.send_text("actually, just say hi")
    await textonly.events.until(
        lambda: (
            len(_answers(textonly)) == 2 and _answers(textonly)[1].final and textonly.assistant.turn is TurnState.IDLE
        )
    )
    assert _errors(emulator) == []
    first, second = _answers(textonly)
    assert first.cut == "Interrupted" and "just say hi" in second.text
    sent = emulator.last().received_types()
    assert sent.index("response.cancel") < sent.index("response.create", sent.index("response.cancel"))


async def test_barging_in_by_key_truncates_what_was_heard_and_draws_no_error(voiced: Core, emulator: Emulator) -> None:
    emulator.options.pace.realtime_factor = 2.0
    assert await voiced.connect(target(emulator))
    voiced.assistant.send_text("tell me a long story")
    await until(lambda: any(e["type"] == "response.audio.delta" for e in emulator.last().sent))
    await until(lambda: voiced.assistant.turn is TurnState.SPEAKING)
    voiced.assistant.press()
    await voiced.assistant.release()
    await until(lambda: any(e["type"] == "conversation.item.truncated" for e in emulator.last().sent))
    await until(lambda: voiced.assistant.turn in (TurnState.IDLE, TurnState.THINKING))
    assert _errors(emulator) == []


async def test_barging_in_by_voice_lets_the_service_cancel_and_draws_no_error(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    emulator.options.pace.realtime_factor = 1.0
    config = SessionConfig(turn_detection=TurnDetectionConfig(TurnMode.SERVER_VAD, silence_duration_ms=400))
    assert await voiced.connect(target(emulator), config=config)
    voiced.assistant.send_text("tell me a long story")
    await until(lambda: voiced.assistant.turn is TurnState.SPEAKING)
    player = pulse.play(speech_pcm)  # the user talks over the answer
    await asyncio.to_thread(player.wait, 10)

    def cancelled_by_turn() -> bool:
        done = [e for e in emulator.last().sent if e["type"] == "response.done"]
        return any((d["response"].get("status_details") or {}).get("reason") == "turn_detected" for d in done)

    await until(cancelled_by_turn, 15)
    await voiced.events.until(lambda: len(_answers(voiced)) >= 2 and voiced.assistant.turn is TurnState.IDLE)
    assert _errors(emulator) == [], "the app must not cancel what the service is already cancelling"
    assert "response.cancel" not in emulator.last().received_types()
    assert _answers(voiced)[0].cut == "Interrupted"


async def test_a_new_voice_after_the_first_answer_reconnects_and_carries_the_conversation(
    textonly: Core, emulator: Emulator
) -> None:
    assert await textonly.connect(target(emulator))
    textonly.assistant.send_text("remember the word lantern")
    await textonly.events.until(lambda: len(_answers(textonly)) == 1 and textonly.assistant.turn is TurnState.IDLE)
    textonly.supervisor.update_config(SessionConfig(voice="en-US-AndrewNeural"))
    await until(lambda: len(emulator.connections) == 2 and textonly.supervisor.connected)
    await until(lambda: emulator.last().received_types().count("conversation.item.create") >= 2)
    first = emulator.last().received[0]["session"]
    assert first["voice"]["name"] == "en-US-AndrewNeural"
    carried = [
        p["text"]
        for e in emulator.last().received
        if e["type"] == "conversation.item.create"
        for p in e["item"]["content"]
    ]
    assert carried[0] == "remember the word lantern"
    assert _errors(emulator) == [], "no cannot_update_voice: the new voice came with a new session"


async def test_answers_after_a_reconnect_are_still_spoken_by_a_realtime_model_in_its_own_voice(
    textonly: Core, emulator: Emulator
) -> None:
    """A realtime model with an OpenAI voice speaks itself; finding earlier answers added as assistant text in
    its context, it answers in text only from then on: silent answers after every reconnect that carried the
    conversation (a new voice, a model switch, a dropped link)."""
    assert await textonly.connect(target(emulator), config=SessionConfig(voice="alloy"))
    textonly.assistant.send_text("remember the word lantern")
    await textonly.events.until(lambda: len(_answers(textonly)) == 1 and textonly.assistant.turn is TurnState.IDLE)
    textonly.supervisor.update_config(SessionConfig(voice="marin"))  # the voice is fixed: a new session
    await until(lambda: len(emulator.connections) == 2 and textonly.supervisor.connected)
    textonly.assistant.send_text("which word?")
    await textonly.events.until(lambda: len(_answers(textonly)) == 2 and textonly.assistant.turn is TurnState.IDLE)
    sent = [e["type"] for e in emulator.last().sent]
    assert "response.audio.delta" in sent and "response.text.delta" not in sent, "the answer was spoken"
    context = said_to(emulator.last())
    assert "remember the word lantern" in context and "lantern" in context.split("remember the word lantern", 1)[1]
    assert _errors(emulator) == []


async def test_a_chat_model_gets_earlier_answers_as_its_own_turns(textonly: Core, emulator: Emulator) -> None:
    """Voice Live speaks for a chat model: its earlier answers go back as assistant messages, turn by turn."""
    chat = target(emulator, Mode.BYOM_CHAT_COMPLETION, "gpt-4.1")
    assert await textonly.connect(chat)
    textonly.assistant.send_text("remember the word lantern")
    await textonly.events.until(lambda: len(_answers(textonly)) == 1 and textonly.assistant.turn is TurnState.IDLE)
    textonly.supervisor.renew()
    await until(lambda: len(emulator.connections) == 2 and textonly.supervisor.connected)
    await until(lambda: emulator.last().received_types().count("conversation.item.create") >= 2)
    roles = [e["item"]["role"] for e in emulator.last().received if e["type"] == "conversation.item.create"]
    assert roles[:2] == ["user", "assistant"]


async def test_a_new_microphone_rate_mid_answer_reconnects_at_once(textonly: Core, emulator: Emulator) -> None:
    """The microphone captures at the new rate from the moment it is set: the old session must not hear it."""
    emulator.options.pace.realtime_factor = 1.0
    assert await textonly.connect(target(emulator))
    textonly.assistant.send_text("tell me a long story about " + " ".join(f"word{i}" for i in range(40)))
    await until(lambda: textonly.assistant.turn is TurnState.SPEAKING)
    textonly.supervisor.update_config(SessionConfig(input_sample_rate=16000))
    await until(lambda: len(emulator.connections) == 2 and textonly.supervisor.connected, 5)
    assert "response.done" not in [e["type"] for e in emulator.connections[0].sent], "before the answer had ended"
    assert emulator.last().received[0]["session"]["input_audio_sampling_rate"] == 16000


async def test_the_azure_realtime_model_connects_with_the_api_version_it_needs(
    textonly: Core, emulator: Emulator
) -> None:
    """The managed azure-realtime model needs api-version 2026-01-01-preview or later; the app's default is older."""
    assert await textonly.connect(target(emulator, Mode.MANAGED, "azure-realtime"))
    assert emulator.last().query["api-version"] == AZURE_REALTIME_API_VERSION
    chosen = Target(emulator.endpoint, Mode.MANAGED, "azure-realtime", api_version="2026-07-15")
    assert chosen.version == "2026-07-15", "a version the user chose is kept"
    assert Target(emulator.endpoint, Mode.BYOM_REALTIME, "azure-realtime").version == DEFAULT_API_VERSION


async def test_a_new_microphone_rate_while_connected_reconnects_at_that_rate_and_draws_no_error(
    textonly: Core, emulator: Emulator
) -> None:
    """The service fixes the input audio's rate for the session (it comes with the first session.update): a live
    update of it is refused, and the audio sent after it would be heard at the wrong speed."""
    assert await textonly.connect(target(emulator))
    textonly.assistant.send_text("remember the word lantern")
    await textonly.events.until(lambda: len(_answers(textonly)) == 1 and textonly.assistant.turn is TurnState.IDLE)
    textonly.supervisor.update_config(SessionConfig(input_sample_rate=16000))
    await until(lambda: len(emulator.connections) == 2 and textonly.supervisor.connected)
    await until(lambda: "session.updated" in [e["type"] for e in emulator.last().sent])
    assert emulator.connections[0].received_types().count("session.update") == 1, "no live update of the rate"
    assert emulator.last().received[0]["session"]["input_audio_sampling_rate"] == 16000
    await until(lambda: emulator.last().received_types().count("conversation.item.create") >= 2)
    assert _errors(emulator) == [], "no invalid_value: the new rate came with a new session"


@pytest.mark.parametrize(
    ("knob", "value", "mark"),
    [
        ("fail_next_response", "rate_limit", "Rate limit reached"),
        ("fail_next_response", "identity", "refused the resource's identity"),
        ("incomplete_next_response", "content_filter", "Stopped: content filter"),
        ("incomplete_next_response", "max_output_tokens", "length limit"),
    ],
)
async def test_an_answer_the_service_ends_early_says_why_in_the_chat(
    textonly: Core, emulator: Emulator, knob: str, value: str, mark: str
) -> None:
    assert await textonly.connect(target(emulator))
    setattr(emulator.options, knob, value)
    textonly.assistant.send_text("a question")
    await textonly.events.until(lambda: textonly.assistant.turn is TurnState.IDLE and bool(_answers(textonly)))
    answer = _answers(textonly)[-1]
    assert mark in answer.cut and answer.final
    if value == "rate_limit":
        assert "try again in 20 s" in answer.cut, "the wait the service named is passed on"
    errors = [e for e in textonly.events.of(ErrorRaised) if e.category is ErrorCategory.ANSWER_CUT]
    assert errors and mark in errors[-1].message, "the banner says it too"
    textonly.assistant.send_text("and again")  # the next turn works without anything else done
    await textonly.events.until(lambda: len(_answers(textonly)) == 2 and not _answers(textonly)[1].cut)


async def test_known_harmless_errors_are_logged_not_shown_and_others_are_shown_once_with_their_code(
    textonly: Core, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voicelive_desktop")
    assert await textonly.connect(target(emulator))
    await run_action(
        emulator, {"action": "error", "code": "response_cancel_not_active", "kind": "invalid_request_error"}
    )
    await run_action(emulator, {"action": "error", "code": "server_overloaded", "message": "Try later."})
    error = await textonly.events.wait_for(lambda e: isinstance(e, ErrorRaised) and e.code == "server_overloaded")
    assert "Try later." in error.message
    shown = [e.code for e in textonly.events.of(ErrorRaised)]
    assert "response_cancel_not_active" not in shown and shown.count("server_overloaded") == 1
    assert "response_cancel_not_active" in caplog.text


async def test_a_cancel_the_service_never_finishes_ends_the_link_and_the_message_is_sent_again(
    textonly: Core, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "RESPONSE_DONE_TIMEOUT_S", 0.5)
    emulator.options.pace.realtime_factor = 1.0
    emulator.options.pace.cancel_delay_s = 30.0  # the service never confirms the cancel
    assert await textonly.connect(target(emulator))
    textonly.assistant.send_text("tell me a long story")
    await until(lambda: textonly.assistant.turn is TurnState.SPEAKING)
    textonly.assistant.send_text("are you stuck?")
    stuck = await textonly.events.wait_for(lambda e: isinstance(e, ErrorRaised) and "did not finish" in e.message)
    assert "kept" in stuck.message
    await textonly.events.until(lambda: any("are you stuck" in a.text for a in _answers(textonly)), 15)
    assert len(emulator.connections) == 2
    assert any(isinstance(e, ConnectionChanged) and e.state is ConnState.RECONNECTING for e in textonly.events.items)


async def test_the_connection_uses_the_api_version_the_byom_documentation_names(
    textonly: Core, emulator: Emulator
) -> None:
    assert await textonly.connect(target(emulator), key_credential())
    assert emulator.last().query["api-version"] == DEFAULT_API_VERSION == "2025-10-01"
