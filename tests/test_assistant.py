"""The push-to-talk assistant over the real session, the emulator and real audio (pytest-asyncio, no Qt)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import pytest

from tests.audio.conftest import loud_ms
from voicelive_desktop.assistant import Assistant
from voicelive_desktop.assistant_events import LatencyMeasured, UiEvent
from voicelive_desktop.audio.backend import load_sounddevice
from voicelive_desktop.audio.capture import Capture
from voicelive_desktop.audio.playback import Playback
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.emulator import Emulator, EmulatorOptions
from voicelive_desktop.voicelive.config import SessionConfig
from voicelive_desktop.voicelive.credentials import AuthMethod, CredentialSpec, build_credential
from voicelive_desktop.voicelive.events import (
    ConnectionChanged,
    ConnState,
    ErrorCategory,
    ErrorRaised,
    TurnChanged,
    TurnState,
)
from voicelive_desktop.voicelive.modes import Mode, Target

KEY = "assistant-test-key"


class Events:
    """What the assistant told the UI."""

    def __init__(self) -> None:
        self.items: list[UiEvent] = []
        self.changed = asyncio.Event()

    def __call__(self, event: UiEvent) -> None:
        self.items.append(event)
        self.changed.set()

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.items if isinstance(e, kind)]

    async def until(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        async def wait() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


@pytest.fixture
async def emulator(start_emulator: Any) -> Emulator:
    """A running emulator that accepts the test key."""
    return await start_emulator(api_key=KEY)


def _target(emulator: Emulator, mode: Mode = Mode.MANAGED, deployment: str = "gpt-realtime") -> Target:
    return Target(emulator.endpoint, mode, deployment)


def _cred() -> Any:
    return build_credential(CredentialSpec(AuthMethod.API_KEY, KEY))


@pytest.fixture
def sd(pulse: Any) -> ModuleType:
    return load_sounddevice()


@pytest.fixture
async def voiced(sd: ModuleType) -> AsyncIterator[tuple[Assistant, Events]]:
    """An assistant with the real microphone and speaker (the private PulseAudio's virtual ones)."""
    events = Events()
    assistant = Assistant(events, capture=Capture(sd), playback=Playback(sd))
    await assistant.start_audio()
    yield assistant, events
    await assistant.close()


def _turns(events: Events) -> list[TurnState]:
    return [e.state for e in events.of(TurnChanged)]


async def test_a_spoken_turn_is_heard_answered_and_played(
    voiced: tuple[Assistant, Events], emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    assistant, events = voiced
    assert await assistant.connect(_target(emulator), _cred(), SessionConfig())
    recording = pulse.record()
    try:
        assistant.press()
        player = pulse.play(speech_pcm)
        await asyncio.to_thread(player.wait, 10)
        await asyncio.sleep(0.2)
        await assistant.release()
        await events.until(lambda: _turns(events)[-1:] == [TurnState.IDLE] and len(_turns(events)) >= 4)
    finally:
        played = recording.stop()
    assert _turns(events) == [TurnState.LISTENING, TurnState.THINKING, TurnState.SPEAKING, TurnState.IDLE]
    user, answer = assistant.conversation.messages
    assert user.role is Role.USER and user.spoken and user.text and user.final
    assert answer.role is Role.ASSISTANT and answer.final and "gpt-realtime" in answer.text
    assert loud_ms(played) > 1000, "the answer was not heard from the speaker"
    assert events.of(LatencyMeasured) and 0 < events.of(LatencyMeasured)[0].ms < 5000
    sent = sum(
        len(base64.b64decode(e["audio"])) for e in emulator.last().received if e["type"] == "input_audio_buffer.append"
    )
    assert sent >= len(speech_pcm) + 2 * 24000 * 300 // 1000, "speech plus pre-roll should have been sent"


async def test_pressing_while_the_answer_plays_cuts_it_where_it_was_heard(
    voiced: tuple[Assistant, Events], emulator: Emulator
) -> None:
    emulator.options.pace.realtime_factor = 4.0
    assistant, events = voiced
    assert await assistant.connect(_target(emulator), _cred(), SessionConfig())
    assistant.send_text("please tell me a long story about the sea")
    await events.until(lambda: assistant.turn is TurnState.SPEAKING)
    await asyncio.sleep(0.8)
    assert assistant.playback is not None
    queued_before = assistant.playback.queued_ms
    assistant.press()
    await asyncio.sleep(0.1)
    assert queued_before > 500 and assistant.playback.queued_ms == 0, "the rest of the answer was not dropped"
    await events.until(lambda: any(e["type"] == "conversation.item.truncate" for e in emulator.last().received))
    truncate = next(e for e in emulator.last().received if e["type"] == "conversation.item.truncate")
    assert 500 <= truncate["audio_end_ms"] <= 1200
    answer = next(m for m in assistant.conversation.messages if m.role is Role.ASSISTANT)
    assert answer.id == truncate["item_id"] and answer.interrupted
    assert len(answer.heard_text()) < len(answer.text)
    await assistant.release()


async def test_a_tap_without_speech_says_nothing_was_heard(
    voiced: tuple[Assistant, Events], emulator: Emulator
) -> None:
    assistant, events = voiced
    assert assistant.capture is not None
    assistant.capture.preroll_ms = 0
    assistant.capture.tail_ms = 0
    assert await assistant.connect(_target(emulator), _cred(), SessionConfig())
    assistant.press()
    await assistant.release()
    await events.until(lambda: bool(events.of(ErrorRaised)))
    assert events.of(ErrorRaised)[0].category is ErrorCategory.NOTHING_HEARD
    assert assistant.turn is TurnState.IDLE
    await asyncio.sleep(0.2)
    assert "input_audio_buffer.commit" not in emulator.last().received_types()


async def test_without_a_microphone_typing_still_works(emulator: Emulator) -> None:
    events = Events()
    assistant = Assistant(events)
    try:
        assert await assistant.connect(
            _target(emulator, Mode.BYOM_CHAT_COMPLETION, "gpt-4.1"), _cred(), SessionConfig()
        )
        assistant.press()
        assert events.of(ErrorRaised)[-1].category is ErrorCategory.AUDIO
        assert "type a message" in events.of(ErrorRaised)[-1].message
        await assistant.release()
        assistant.send_text("hello by keyboard")
        await events.until(lambda: assistant.turn is TurnState.IDLE and len(assistant.conversation.messages) == 2)
        assert "hello by keyboard" in assistant.conversation.messages[1].text
    finally:
        await assistant.close()


async def test_a_dropped_connection_reconnects_and_carries_the_conversation(emulator: Emulator) -> None:
    events = Events()
    assistant = Assistant(events)
    try:
        assert await assistant.connect(_target(emulator), _cred(), SessionConfig())
        assistant.send_text("remember the word pineapple")
        await events.until(lambda: assistant.turn is TurnState.IDLE and len(assistant.conversation.messages) == 2)
        emulator.options.drop_after_events = len(emulator.last().sent) + 1
        assistant.send_text("trigger")
        await events.until(lambda: any(e.state is ConnState.RECONNECTING for e in events.of(ConnectionChanged)))
        emulator.options.drop_after_events = None
        await events.until(lambda: len(emulator.connections) == 2 and assistant.connected)
        carried = [e for e in emulator.connections[1].received if e["type"] == "conversation.item.create"]
        texts = [part["text"] for e in carried for part in e["item"]["content"]]
        assert "remember the word pineapple" in texts
        assert any("pineapple" in t for t in texts[1:]), "the assistant's answer should be carried too"
        lost = [e for e in events.of(ErrorRaised) if e.category is ErrorCategory.CONNECTION_LOST]
        assert lost and "1006" in lost[0].message
    finally:
        await assistant.close()


async def test_closing_mid_answer_is_clean(voiced: tuple[Assistant, Events], emulator: Emulator) -> None:
    emulator.options.pace.realtime_factor = 1.0
    assistant, events = voiced
    assert await assistant.connect(_target(emulator), _cred(), SessionConfig())
    assistant.send_text("say something long")
    await events.until(lambda: assistant.turn is TurnState.SPEAKING)
    await asyncio.wait_for(assistant.close(), 5)
    assert assistant.session is None
    assert assistant.playback is not None and not assistant.playback.is_open
    names = {"turn-audio", "assistant-events", "voicelive-reader", "voicelive-sender", "audio-output-watchdog"}
    left = [t.get_name() for t in asyncio.all_tasks() if t.get_name() in names and not t.done()]
    assert left == [], f"tasks still running after close: {left}"


async def test_an_expiring_entra_token_is_renewed_by_reconnecting_between_turns() -> None:
    from tests.voicelive.test_handshake import _FakeEntra
    from voicelive_desktop.assistant import TOKEN_REFRESH_MARGIN_S
    from voicelive_desktop.voicelive.credentials import ExpiryTrackingCredential

    emulator = Emulator(EmulatorOptions(api_key=None, bearer_tokens=frozenset({"short-lived-token"})))
    await emulator.start()
    events = Events()
    assistant = Assistant(events)
    try:
        entra = _FakeEntra("short-lived-token", lifetime_s=int(TOKEN_REFRESH_MARGIN_S) + 1)
        assert await assistant.connect(_target(emulator), ExpiryTrackingCredential(entra), SessionConfig())
        assistant.send_text("before the token runs out")
        await events.until(lambda: len(emulator.connections) == 2 and assistant.connected, timeout=10)
        carried = [
            p["text"]
            for e in emulator.connections[1].received
            if e["type"] == "conversation.item.create"
            for p in e["item"]["content"]
        ]
        assert "before the token runs out" in carried
        assert emulator.connections[1].headers["Authorization"] == "Bearer short-lived-token"
    finally:
        await assistant.close()
        await emulator.stop()


async def test_hands_free_the_service_decides_where_the_turn_ends(
    sd: ModuleType, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    from voicelive_desktop.voicelive.config import TurnDetectionConfig, TurnMode

    events = Events()
    assistant = Assistant(events, capture=Capture(sd), playback=Playback(sd))
    try:
        await assistant.start_audio()
        config = SessionConfig(turn_detection=TurnDetectionConfig(TurnMode.SERVER_VAD, silence_duration_ms=400))
        assert await assistant.connect(_target(emulator), _cred(), config)
        await asyncio.sleep(0.3)
        player = pulse.play(speech_pcm)
        await asyncio.to_thread(player.wait, 10)
        await events.until(lambda: len(assistant.conversation.messages) == 2 and assistant.turn is TurnState.IDLE)
        assert _turns(events)[:4] == [TurnState.LISTENING, TurnState.THINKING, TurnState.SPEAKING, TurnState.IDLE]
        user, answer = assistant.conversation.messages
        assert user.spoken and user.text and "You said:" in answer.text
        sent = emulator.last().received_types()
        assert "input_audio_buffer.commit" not in sent and "response.create" not in sent
    finally:
        await assistant.close()


async def test_with_the_microphone_closed_between_turns_it_opens_for_each_turn(
    sd: ModuleType, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    from voicelive_desktop.assistant import AudioOptions
    from voicelive_desktop.assistant_events import AudioStatus

    events = Events()
    assistant = Assistant(events, capture=Capture(sd), playback=Playback(sd), audio=AudioOptions(keep_mic_open=False))
    try:
        await assistant.start_audio()
        assert assistant.capture is not None and not assistant.capture.is_open
        assert events.of(AudioStatus)[-1].mic_open is False
        assert await assistant.connect(_target(emulator), _cred(), SessionConfig())
        assistant.press()
        player = pulse.play(speech_pcm)
        await events.until(lambda: assistant.capture is not None and assistant.capture.is_open, timeout=5)
        await asyncio.to_thread(player.wait, 10)
        await asyncio.sleep(0.2)
        await assistant.release()
        assert not assistant.capture.is_open, "the microphone should close again after the turn"
        await events.until(lambda: len(assistant.conversation.messages) == 2 and assistant.turn is TurnState.IDLE)
        assert assistant.conversation.messages[0].text, "the turn should have been heard"
    finally:
        await assistant.close()
