"""The turn engine over the real session, the emulator and real audio (pytest-asyncio, no Qt)."""

from __future__ import annotations

import asyncio
import base64
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.helpers import Core, build_core, said_to, sent_audio_bytes, target, until
from voicelive_desktop import assistant as assistant_module
from voicelive_desktop.assistant import LEVEL_EVERY_S, NOT_SENT
from voicelive_desktop.assistant_events import (
    AudioStatus,
    LatencyMeasured,
    LeftMessageChanged,
    LevelChanged,
    MessageChanged,
    MessageView,
    TurnState,
)
from voicelive_desktop.audio.capture import Capture
from voicelive_desktop.conversation import left as left_module
from voicelive_desktop.conversation.store import StoredMessage
from voicelive_desktop.conversation.transcript import Conversation, Role
from voicelive_desktop.devtools.speech import espeak_pcm, heard_until_ms, loud_ms
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.microphone import AudioOptions
from voicelive_desktop.recorder import restored_conversation, stored_message
from voicelive_desktop.voicelive.config import SessionConfig, TurnDetectionConfig, TurnMode
from voicelive_desktop.voicelive.events import ConnectionChanged, ConnState, ErrorCategory, ErrorRaised
from voicelive_desktop.voicelive.modes import Mode

IDLE, LISTENING, THINKING, SPEAKING = TurnState.IDLE, TurnState.LISTENING, TurnState.THINKING, TurnState.SPEAKING


def _sounded_ms(samples: Any) -> float:
    """From the first to the last audible sample: how long the answer sounded (speech has quiet gaps)."""
    loud = np.flatnonzero(np.abs(samples) > 500)
    return 0.0 if loud.size == 0 else (loud[-1] - loud[0]) * 1000 / 24000


async def _settled(recording: Any) -> None:
    """Wait until the speaker's recording stops changing (what was handed over has been heard)."""
    last = -1.0
    for _ in range(50):
        now = _sounded_ms(recording.samples())
        if now == last:
            return
        last = now
        await asyncio.sleep(0.1)  # a poll interval: the loop ends as soon as nothing changes


async def _speak(core: Core, pulse: Any, pcm: bytes) -> None:
    """Hold the key while ``pcm`` plays into the microphone, then let go."""
    capture = core.microphone.capture if core.microphone is not None else None
    if capture is not None and capture.is_open:
        await until(lambda: capture.stream.callbacks * capture.block_ms >= capture.preroll_ms + 100)  # history
    core.assistant.press()
    player = pulse.play(pcm)
    await asyncio.to_thread(player.wait, 10)
    await core.assistant.release()


async def test_a_spoken_turn_is_heard_answered_and_played(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    assistant, events = voiced.assistant, voiced.events
    assert await voiced.connect(target(emulator))
    recording = pulse.record()
    try:
        await _speak(voiced, pulse, speech_pcm)
        await events.until(lambda: events.turns()[-1:] == [IDLE] and len(events.turns()) >= 4, 30)
    finally:
        played = recording.stop()
    assert events.turns() == [LISTENING, THINKING, SPEAKING, IDLE]
    user, answer = assistant.conversation.messages
    assert user.role is Role.USER and user.spoken and user.text and user.final
    assert answer.role is Role.ASSISTANT and answer.final and "gpt-realtime" in answer.text
    assert loud_ms(played) > 1000, "the answer was not heard from the speaker"
    assert events.of(LatencyMeasured) and 0 < events.of(LatencyMeasured)[0].ms < 5000
    assert sent_audio_bytes(emulator) >= len(speech_pcm) + 2 * 24000 * 300 // 1000, "speech and pre-roll"
    levels = [e.level for e in events.of(LevelChanged)]
    assert levels and max(level.rms_db for level in levels) > -35, "the meter showed the speech"
    turn_s = sent_audio_bytes(emulator) / (2 * 24000)
    assert len(levels) <= turn_s / LEVEL_EVERY_S + 2, "no more levels than the meter can show"


async def test_pressing_while_the_answer_plays_cuts_it_where_it_was_heard(
    voiced: Core, emulator: Emulator, pulse: Any
) -> None:
    emulator.options.pace.realtime_factor = 4.0
    assistant = voiced.assistant
    assert await voiced.connect(target(emulator))
    recording = pulse.record()
    try:
        assistant.send_text("please tell me a long story about the sea")
        await until(lambda: loud_ms(recording.samples()) >= 600, 10)
        assistant.press()
        heard_when_pressed = loud_ms(recording.samples())
        await until(lambda: any(e["type"] == "conversation.item.truncate" for e in emulator.last().received))
        await until(lambda: "response.done" in [e["type"] for e in emulator.last().sent])
        await _settled(recording)
        played = recording.samples()
    finally:
        recording.stop()
        await assistant.release()
    truncate = next(e for e in emulator.last().received if e["type"] == "conversation.item.truncate")
    answer_pcm = np.frombuffer(
        b"".join(base64.b64decode(e["delta"]) for e in emulator.last().sent if e["type"] == "response.audio.delta"),
        np.int16,
    )
    heard, match = heard_until_ms(answer_pcm, played)  # the answer's audio up to where the speaker fell silent
    assert match > 0.8, f"what the speaker played was not found in the answer ({match:.2f})"
    assert abs(truncate["audio_end_ms"] - heard) <= 60, f"cut at {truncate['audio_end_ms']} ms, heard {heard} ms"
    assert assistant.playback is not None
    still_sounding_ms = assistant.playback.output_latency_s * 1000  # what was already in the device
    assert loud_ms(played) - heard_when_pressed <= still_sounding_ms + 60, "the rest was not dropped at once"
    answer = next(m for m in assistant.conversation.messages if m.role is Role.ASSISTANT)
    assert answer.interrupted and answer.cut == "Interrupted"
    assert len(answer.heard_text()) < len(answer.text)


async def test_a_tap_without_speech_says_nothing_was_heard(voiced: Core, emulator: Emulator) -> None:
    assistant, events = voiced.assistant, voiced.events
    assert assistant.mic is not None and assistant.mic.capture is not None
    assistant.mic.capture.preroll_ms = assistant.mic.capture.tail_ms = 0
    assert await voiced.connect(target(emulator))
    assistant.press()
    await assistant.release()
    error = await events.wait_type(ErrorRaised)
    assert error.category is ErrorCategory.NOTHING_HEARD
    assert assistant.turn is IDLE
    await until(lambda: emulator.last().received_types()[-1] == "input_audio_buffer.clear")
    assert "input_audio_buffer.commit" not in emulator.last().received_types()


async def test_without_a_microphone_the_key_says_so_at_once_and_typing_works(
    textonly: Core, emulator: Emulator
) -> None:
    assistant, events = textonly.assistant, textonly.events
    assert await textonly.connect(target(emulator, Mode.BYOM_CHAT_COMPLETION, "gpt-4.1"))
    assistant.press()
    assert events.of(ErrorRaised)[-1].category is ErrorCategory.AUDIO
    assert "No microphone" in events.of(ErrorRaised)[-1].message
    assert LISTENING not in events.turns(), "no microphone: the button must not pretend to listen"
    await assistant.release()
    assert assistant.send_text("hello by keyboard")
    await events.until(lambda: assistant.turn is IDLE and len(assistant.conversation.messages) == 2)
    assert "hello by keyboard" in assistant.conversation.messages[1].text


async def test_closing_mid_answer_is_clean(voiced: Core, emulator: Emulator) -> None:
    emulator.options.pace.realtime_factor = 1.0
    assistant, events = voiced.assistant, voiced.events
    assert await voiced.connect(target(emulator))
    assistant.send_text("say something long")
    await events.until(lambda: assistant.turn is SPEAKING)
    await asyncio.wait_for(voiced.close(), 5)
    assert voiced.supervisor.session is None
    assert assistant.playback is not None and not assistant.playback.is_open
    names = {"turn-audio", "session-events", "voicelive-reader", "voicelive-sender", "audio-output-watchdog"}
    left = [t.get_name() for t in asyncio.all_tasks() if t.get_name() in names and not t.done()]
    assert left == [], f"tasks still running after close: {left}"


async def _say_hands_free(core: Core, emulator: Emulator, pulse: Any, pcm: bytes) -> None:
    """Connect hands-free (the service's turn detection) and speak a sentence until the service takes the turn."""
    config = SessionConfig(turn_detection=TurnDetectionConfig(TurnMode.SERVER_VAD, silence_duration_ms=400))
    assert await core.connect(target(emulator), config=config)
    await until(lambda: sent_audio_bytes(emulator) > 0)
    player = pulse.play(pcm)
    await asyncio.to_thread(player.wait, 10)
    link = emulator.last()
    await until(lambda: "input_audio_buffer.committed" in [e["type"] for e in link.sent], 10)


async def _leave_right_after_speaking(core: Core, emulator: Emulator, pulse: Any, pcm: bytes) -> Conversation:
    """Speak a turn, and start a new conversation as soon as the service has taken it (as Ctrl+N does)."""
    await _speak(core, pulse, pcm)
    link = emulator.last()
    await until(lambda: "input_audio_buffer.committed" in [e["type"] for e in link.sent], 10)
    left = core.assistant.conversation
    core.assistant.replace_conversation(Conversation())
    core.supervisor.renew()
    return left


async def test_the_words_of_a_turn_said_just_before_leaving_the_conversation_are_kept_there(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    """Transcription runs beside the answer and often ends after it. A user who speaks, lets go and at once
    starts a new conversation finds the words in the conversation they were said in, and not on screen."""
    emulator.options.pace.transcript_delay_s = 1.5
    assistant, events = voiced.assistant, voiced.events
    assert await voiced.connect(target(emulator))
    left = await _leave_right_after_speaking(voiced, emulator, pulse, speech_pcm)
    await until(lambda: len(emulator.connections) == 2 and voiced.supervisor.connected, 15)
    user = next(m for m in left.messages if m.role is Role.USER)
    assert user.final and user.text, "the words came after the user left, and went to their conversation"
    saved = [e.message for e in events.of(LeftMessageChanged) if e.conversation_id == left.id]
    assert saved and saved[-1].final and saved[-1].text == user.text, "the history was given them"
    assert assistant.conversation.messages == [], "the new conversation shows nothing of the left one"
    assert user.text not in said_to(emulator.last()), "the new session knows nothing of the left conversation"


async def test_words_that_never_come_hold_the_next_conversation_back_only_a_few_seconds(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(left_module, "LEFT_WAIT_S", 1.0)
    emulator.options.pace.transcript_delay_s = 60.0
    assistant = voiced.assistant
    assert await voiced.connect(target(emulator))
    left = await _leave_right_after_speaking(voiced, emulator, pulse, speech_pcm)
    assert assistant.send_text("hello from the next conversation")
    await until(lambda: assistant.turn is IDLE and len(assistant.conversation.messages) == 2, 15)
    assert "hello from the next conversation" in assistant.conversation.messages[1].text
    assert len(emulator.connections) == 2 and not emulator.connections[0].open, "the left session was closed"
    user = next(m for m in left.messages if m.role is Role.USER)
    assert user.spoken and not user.text, "kept as said, without words"


async def test_going_back_to_the_left_conversation_before_its_words_came_shows_them(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    """Ctrl+N, then back to the conversation just left (as the panel reloads it from the history) before the
    service transcribed the last turn: the words appear in its bubble, and the next session is given them."""
    emulator.options.pace.transcript_delay_s = 2.0
    assistant = voiced.assistant
    assert await voiced.connect(target(emulator))
    left = await _leave_right_after_speaking(voiced, emulator, pulse, speech_pcm)
    stored = [stored_message(MessageView.of(m, i)) for i, m in enumerate(left.messages)]
    assistant.replace_conversation(restored_conversation(left.id, stored))  # what open_conversation does
    voiced.supervisor.renew()
    await until(lambda: len(emulator.connections) == 2 and voiced.supervisor.connected, 15)
    user = next(m for m in assistant.conversation.messages if m.role is Role.USER)
    assert user.final and user.text, "the words are on screen"
    await until(lambda: user.text in said_to(emulator.last()), 5)  # carried into the next session, as it starts


async def test_a_message_typed_while_waiting_for_a_session_then_left_is_kept_marked_not_sent(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    """Typed in a new conversation while the session is being replaced, then that conversation is left too:
    the message was never sent. It stays where it was typed, saying so, and no session is ever given it."""
    emulator.options.pace.transcript_delay_s = 2.0
    assistant, events = voiced.assistant, voiced.events
    assert await voiced.connect(target(emulator))
    await _leave_right_after_speaking(voiced, emulator, pulse, speech_pcm)
    middle = assistant.conversation
    assert assistant.send_text("a question typed at once")
    assistant.replace_conversation(Conversation())
    voiced.supervisor.renew()
    await until(lambda: len(emulator.connections) == 2 and voiced.supervisor.connected, 15)
    await asyncio.sleep(0.5)  # anything queued would have been sent by now
    typed = middle.messages[0]
    assert typed.text == "a question typed at once" and not typed.pending and typed.cut == NOT_SENT
    shown = [e.message for e in events.of(MessageChanged) if e.message.id == typed.id]
    assert shown[-1].cut == NOT_SENT, "the history was told"
    assert all("a question typed at once" not in said_to(link) for link in emulator.connections)
    assert "a question typed at once" not in [t for _, t in middle.history().turns]


async def test_hands_free_leaving_a_conversation_listens_again_at_once(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hands-free, the microphone streams only to a session in use: the next session is not held back for the
    left conversation's words, or what the user says next would go unheard."""
    monkeypatch.setattr(left_module, "LEFT_WAIT_S", 60.0)
    emulator.options.pace.transcript_delay_s = 30.0
    assistant = voiced.assistant
    await _say_hands_free(voiced, emulator, pulse, speech_pcm)
    assistant.replace_conversation(Conversation())
    voiced.supervisor.renew()
    await until(lambda: len(emulator.connections) == 2 and assistant.hands_free, 10)


async def test_a_left_session_that_drops_is_replaced_at_once_without_a_reconnect_shown(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session of the conversation just left drops while its words are awaited: nothing the user has is on
    it any more. The next session comes at once, with no "connection lost" and no reconnect countdown."""
    monkeypatch.setattr(left_module, "LEFT_WAIT_S", 60.0)
    emulator.options.pace.transcript_delay_s = 30.0
    assistant, events = voiced.assistant, voiced.events
    assert await voiced.connect(target(emulator))
    await _leave_right_after_speaking(voiced, emulator, pulse, speech_pcm)
    states, errors = len(events.of(ConnectionChanged)), len(events.of(ErrorRaised))
    emulator.links[0].abort()
    await until(lambda: len(emulator.connections) == 2 and voiced.supervisor.connected, 10)
    assert [s.state for s in events.of(ConnectionChanged)[states:]] == [ConnState.CONNECTED], "no reconnect shown"
    assert events.of(ErrorRaised)[errors:] == [], "nothing was lost that the user has"
    assert assistant.send_text("hello in the next conversation")
    await until(lambda: assistant.turn is IDLE and len(assistant.conversation.messages) == 2, 15)


async def test_the_errors_of_a_left_session_are_not_shown(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error the left conversation's session reports while its words are awaited is about nothing on screen
    (the conversation the user is in has its own session coming): it is not shown."""
    monkeypatch.setattr(left_module, "LEFT_WAIT_S", 60.0)
    emulator.options.pace.transcript_delay_s = 30.0
    events = voiced.events
    assert await voiced.connect(target(emulator))
    await _leave_right_after_speaking(voiced, emulator, pulse, speech_pcm)
    errors = len(events.of(ErrorRaised))
    failed = {"type": "server_error", "code": "injected_error", "message": "Injected test error."}
    await emulator.links[0].send({"type": "error", "event_id": "event_left_1", "error": failed})
    await until(lambda: emulator.links[0].record.sent[-1]["event_id"] == "event_left_1")
    emulator.links[0].abort()  # the session reads in order: it read the error before it saw the drop
    await until(lambda: len(emulator.connections) == 2 and voiced.supervisor.connected, 10)
    assert events.of(ErrorRaised)[errors:] == []


async def test_waking_from_sleep_while_a_left_conversation_awaits_its_words_keeps_them(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    """The machine wakes (or the voice changes) just after the user left a conversation: the session is renewed
    once, after the words of the turn said there came, not at once, losing them, and then again."""
    emulator.options.pace.transcript_delay_s = 1.5
    assistant = voiced.assistant
    assert await voiced.connect(target(emulator))
    left = await _leave_right_after_speaking(voiced, emulator, pulse, speech_pcm)
    voiced.supervisor.wake(slept=True)
    await until(lambda: len(emulator.connections) == 2 and voiced.supervisor.connected, 15)
    user = next(m for m in left.messages if m.role is Role.USER)
    assert user.final and user.text, "the words came, and went to their conversation"
    assert assistant.send_text("hello after the wake")
    await until(lambda: assistant.turn is IDLE and len(assistant.conversation.messages) == 2, 15)
    assert len(emulator.connections) == 2, "renewed once: the new session is the fresh one the wake asked for"


async def test_quitting_before_the_answer_starts_waits_for_the_words_but_plays_nothing(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    """The user lets go and quits at once: while the app waits for the turn's words, the answer that starts
    meanwhile is kept, but not heard from an app whose window is gone."""
    emulator.options.pace.transcript_delay_s = 0.5  # after the answer starts; well within the wait at quit
    assistant = voiced.assistant
    assert await voiced.connect(target(emulator))
    await _speak(voiced, pulse, speech_pcm)
    await assistant.keep_the_words()
    user = next(m for m in assistant.conversation.messages if m.role is Role.USER)
    assert user.final and user.text, "the words came"
    assert any(m.role is Role.ASSISTANT for m in assistant.conversation.messages), "the answer began meanwhile"
    assert assistant.playback is not None and not assistant.playback.is_playing, "and was not played"


async def test_hands_free_quitting_right_after_speaking_waits_for_the_words_and_stops_listening(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    """Hands-free, the user finishes a sentence and quits: the service took the turn (its turn detection ended it)
    and its words are on their way; they are waited for and saved, and the microphone stops streaming at once."""
    emulator.options.pace.transcript_delay_s = 0.5  # after the answer starts; well within the wait at quit
    assistant = voiced.assistant
    await _say_hands_free(voiced, emulator, pulse, speech_pcm)
    await assistant.keep_the_words()
    user = next(m for m in assistant.conversation.messages if m.role is Role.USER)
    assert user.final and user.text, "the words came before the app let go"
    assert not assistant.hands_free, "nothing more is heard from an app that is quitting"


async def test_a_turn_resent_after_a_drop_does_not_take_the_words_of_the_next_one(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    """The link drops as the user lets go: the turn is sent again to the next session. The turn after that gets
    a bubble of its own, with its own words, and the first keeps its words."""
    assistant = voiced.assistant
    assert await voiced.connect(target(emulator))
    assistant.press()
    player = pulse.play(speech_pcm)
    await asyncio.to_thread(player.wait, 10)
    emulator.options.drop_after_events = len(emulator.last().sent)
    await assistant.release()
    await until(lambda: len(emulator.connections) == 2, 15)
    emulator.options.drop_after_events = None
    messages = assistant.conversation.messages
    await until(lambda: voiced.supervisor.connected and assistant.turn is IDLE and len(messages) == 2, 30)
    first = messages[0].text
    assert first
    await _speak(voiced, pulse, espeak_pcm("please tell me about bananas and oranges"))
    await until(lambda: assistant.turn is IDLE and len(messages) == 4 and messages[2].final, 30)
    assert [m.role for m in messages] == [Role.USER, Role.ASSISTANT, Role.USER, Role.ASSISTANT]
    assert messages[0].text == first, "the first turn kept its words"
    assert messages[2].text and messages[2].text != first, "the second turn has its own"


async def test_a_conversation_of_one_message_continues_with_1_earlier_message_carried(
    textonly: Core, emulator: Emulator
) -> None:
    """The divider counts in plain English: "1 earlier message", not "1 earlier messages"."""
    one = [StoredMessage("u1", "user", "a question whose answer never came", final=True)]
    textonly.assistant.replace_conversation(restored_conversation("c1", one))
    assert await textonly.connect(target(emulator))
    divider = textonly.assistant.conversation.messages[-1]
    assert divider.role is Role.DIVIDER and divider.text.endswith("\u00b7 1 earlier message carried")


async def test_what_is_typed_right_after_leaving_a_conversation_never_reaches_its_session(
    textonly: Core, emulator: Emulator
) -> None:
    """A long answer is still arriving when the user starts a new conversation and types at once: the message
    goes to a new session, which knows nothing of the left conversation, and is answered there."""
    emulator.options.pace.realtime_factor = 1.0
    assistant = textonly.assistant
    assert await textonly.connect(target(emulator))
    assistant.send_text("remember the word lantern and tell me a long story about " + " ".join(["the sea"] * 20))
    await until(lambda: assistant.turn is SPEAKING, 10)
    old = emulator.last()
    assistant.replace_conversation(Conversation())
    textonly.supervisor.renew()
    assert assistant.send_text("which word?")
    emulator.options.pace.realtime_factor = 8.0
    await until(lambda: assistant.turn is IDLE and len(assistant.conversation.messages) == 2, 15)
    assert [m.role for m in assistant.conversation.messages] == [Role.USER, Role.ASSISTANT]
    assert "which word" not in said_to(old), "the left conversation's session heard the next one"
    new = emulator.last()
    assert new is not old and "which word" in said_to(new) and "lantern" not in said_to(new)
    assert "response.cancel" in old.received_types(), "the left answer was stopped"


async def test_hands_free_the_service_decides_where_the_turn_ends(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    assistant, events = voiced.assistant, voiced.events
    config = SessionConfig(turn_detection=TurnDetectionConfig(TurnMode.SERVER_VAD, silence_duration_ms=400))
    assert await voiced.connect(target(emulator), config=config)
    assert assistant.hands_free
    await until(lambda: sent_audio_bytes(emulator) > 0)
    player = pulse.play(speech_pcm)
    await asyncio.to_thread(player.wait, 10)
    await events.until(lambda: len(assistant.conversation.messages) == 2 and assistant.turn is IDLE)
    assert events.turns()[:4] == [LISTENING, THINKING, SPEAKING, IDLE]
    user, answer = assistant.conversation.messages
    assert user.spoken and user.text and "You said:" in answer.text
    sent = emulator.last().received_types()
    assert "input_audio_buffer.commit" not in sent and "response.create" not in sent


async def test_hands_free_a_turn_held_through_a_reconnect_is_one_turn(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    """Hands-free, the key pressed while the link is down keeps what is said for the next session (nothing is
    lost); once it comes, the service's turn detection decides the turn, as for any hands-free speech: one
    question, one answer, not a second turn committed by the key."""
    from voicelive_desktop.supervisor import Backoff

    assistant, events = voiced.assistant, voiced.events
    voiced.supervisor._backoff = Backoff(base=0.8, cap=0.8, rng=lambda: 1.0)
    config = SessionConfig(turn_detection=TurnDetectionConfig(TurnMode.SERVER_VAD, silence_duration_ms=400))
    assert await voiced.connect(target(emulator), config=config)
    await until(lambda: sent_audio_bytes(emulator) > 0)
    emulator.links[0].abort()
    await until(lambda: assistant.session is None)
    assistant.press()  # during the reconnect's wait
    player = pulse.play(speech_pcm)
    await asyncio.to_thread(player.wait, 10)
    await until(lambda: len(emulator.connections) == 2 and assistant.session is not None, 10)
    await assistant.release()
    await events.until(lambda: len(assistant.conversation.messages) >= 2 and assistant.turn is IDLE, 15)
    sent = emulator.last().received_types()  # the key's commit, if any, went out at release: before the answer
    assert "input_audio_buffer.commit" not in sent, "the service's turn detection ends the turn, not the key"
    roles = [m.role for m in assistant.conversation.messages if m.role is not Role.DIVIDER]
    assert roles == [Role.USER, Role.ASSISTANT], [(m.role, m.text) for m in assistant.conversation.messages]
    assert assistant.hands_free, "streaming again after the key"


async def test_hands_free_keeps_streaming_after_the_microphone_is_reopened(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    assistant, events = voiced.assistant, voiced.events
    config = SessionConfig(turn_detection=TurnDetectionConfig(TurnMode.SERVER_VAD, silence_duration_ms=400))
    assert await voiced.connect(target(emulator), config=config)
    assert voiced.microphone is not None and voiced.microphone.capture is not None
    await until(lambda: sent_audio_bytes(emulator) > 0)
    assert await voiced.microphone.capture.configure(block_ms=40)  # as Settings > Audio does: a reopen
    before = sent_audio_bytes(emulator)
    await until(lambda: sent_audio_bytes(emulator) > before + 24000)
    player = pulse.play(speech_pcm)
    await asyncio.to_thread(player.wait, 10)
    await events.until(lambda: len(assistant.conversation.messages) == 2 and assistant.turn is IDLE)


async def test_letting_go_while_the_microphone_is_being_reopened_ends_the_turn(
    voiced: Core, emulator: Emulator, pulse: Any, speech_pcm: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The headset goes mid-turn, and the user lets go before the app has the microphone back.
    assistant, events = voiced.assistant, voiced.events
    assert voiced.microphone is not None and voiced.microphone.capture is not None
    capture = voiced.microphone.capture
    waiting, gave_up = asyncio.Event(), asyncio.get_running_loop().create_future()

    async def reopened(*args: Any, **kwargs: Any) -> bool:  # the turn's wait for a microphone, watched
        waiting.set()
        back = await real_reopened(*args, **kwargs)
        gave_up.set_result(not back)
        return back

    real_reopened = assistant_module._reopened
    monkeypatch.setattr(assistant_module, "_reopened", reopened)
    assert await voiced.connect(target(emulator))
    assistant.press()
    player = pulse.play(speech_pcm)
    await until(lambda: sent_audio_bytes(emulator) > 24000)
    capture.close()  # the device is gone
    await asyncio.wait_for(waiting.wait(), 5)  # the turn noticed, and waits for a microphone
    releasing = asyncio.ensure_future(assistant.release())
    await asyncio.sleep(0)  # release() runs up to its wait for the turn: the key is up while the turn still waits
    assert await capture.open_async()  # the microphone is back
    try:
        await asyncio.wait_for(asyncio.shield(releasing), 5)
    finally:
        await asyncio.to_thread(player.wait, 10)
    assert gave_up.result(), "the turn ended at the key, rather than going on with the microphone that came back"
    await events.until(lambda: len(assistant.conversation.messages) == 2 and assistant.turn is IDLE)
    assert "input_audio_buffer.commit" in emulator.last().received_types()


async def test_with_the_microphone_closed_between_turns_it_opens_for_each_turn(
    sd: ModuleType, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    core = build_core(sd, options=AudioOptions(keep_mic_open=False))
    assistant, events = core.assistant, core.events
    try:
        assert core.microphone is not None and core.microphone.capture is not None
        await core.microphone.start()
        assert not core.microphone.capture.is_open
        assert events.of(AudioStatus)[-1].mic_open is False
        assert await core.connect(target(emulator))
        assistant.press()
        player = pulse.play(speech_pcm)
        await until(lambda: core.microphone is not None and core.microphone.capture.is_open, 5)
        await asyncio.to_thread(player.wait, 10)
        await assistant.release()
        assert not core.microphone.capture.is_open, "the microphone should close again after the turn"
        await events.until(lambda: len(assistant.conversation.messages) == 2 and assistant.turn is IDLE)
        assert assistant.conversation.messages[0].text, "the turn should have been heard"
    finally:
        await core.close()


async def test_without_a_preroll_the_microphone_closes_between_turns_even_when_kept_open(sd: ModuleType) -> None:
    core = build_core(sd, options=AudioOptions(keep_mic_open=True))
    try:
        assert core.microphone is not None and core.microphone.capture is not None
        core.microphone.capture.preroll_ms = 0
        await core.microphone.start()
        assert not core.microphone.capture.is_open, "nothing to keep from before the key: no callbacks while idle"
        core.microphone.capture.preroll_ms = 300
        await core.microphone.apply(AudioOptions(keep_mic_open=True))
        assert core.microphone.capture.is_open
    finally:
        await core.close()


async def test_release_returns_when_the_turn_was_cancelled_while_the_microphone_was_opening(
    sd: ModuleType, emulator: Emulator
) -> None:
    opening = asyncio.Event()

    class StalledCapture(Capture):
        """A sound server that never answers the open (the edge this machine cannot produce on demand)."""

        async def open_async(self, device_name: str | None = None) -> bool:
            opening.set()
            await asyncio.Event().wait()
            return False

    core = build_core(sd, options=AudioOptions(keep_mic_open=False), capture=StalledCapture(sd))
    try:
        assert await core.connect(target(emulator))
        core.assistant.press()
        await asyncio.wait_for(opening.wait(), 2)
        await core.assistant.close()  # cancels the turn while its microphone is still opening
        await asyncio.wait_for(core.assistant.release(), 2)
        assert core.assistant.turn is not LISTENING
    finally:
        await core.close()
