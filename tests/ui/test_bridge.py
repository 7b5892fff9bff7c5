"""The bridge: every event reaches its signal, and intents reach the real services (text only, no audio)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import API_KEY, MemoryKeyring, until
from voicelive_desktop.assistant_events import MessageView, TurnState
from voicelive_desktop.controller import ControllerState
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.keystore import SecretStore
from voicelive_desktop.services import build_services
from voicelive_desktop.settings import Settings, SettingsStore
from voicelive_desktop.ui.bridge import Bridge
from voicelive_desktop.voicelive.events import ConnectionChanged, ConnState
from voicelive_desktop.voicelive.modes import Mode


@pytest.fixture
async def bridge(emulator: Emulator, tmp_path: Path) -> AsyncIterator[Bridge]:
    settings = Settings()
    settings.connection.endpoint = emulator.endpoint
    secrets = SecretStore(MemoryKeyring())
    secrets.set(emulator.endpoint, API_KEY)
    bridge = Bridge()
    controller = build_services(
        bridge.deliver,
        SettingsStore(tmp_path / "s.toml"),
        settings.copy(),
        settings,
        demo=False,
        secrets=secrets,
        with_audio=False,
    )
    bridge.attach(controller)
    yield bridge
    await asyncio.wait_for(bridge.shutdown(), 10)


async def test_intents_reach_the_services_and_events_come_back_as_signals(bridge: Bridge) -> None:
    states: list[ConnectionChanged] = []
    turns: list[TurnState] = []
    messages: list[MessageView] = []
    bridge.connection_changed.connect(states.append)
    bridge.turn_changed.connect(turns.append)
    bridge.message_changed.connect(messages.append)
    bridge.connect_session()
    await until(lambda: bool(states) and states[-1].state is ConnState.CONNECTED)
    assert bridge.send_text("hello over the bridge")
    await until(lambda: turns[-1:] == [TurnState.IDLE] and any(m.role is Role.ASSISTANT and m.final for m in messages))
    assert TurnState.THINKING in turns
    assert any("hello over the bridge" in m.text for m in messages if m.role is Role.ASSISTANT)
    shown: list[ControllerState] = []
    bridge.state_changed.connect(shown.append)
    bridge.select(Mode.BYOM_CHAT_COMPLETION, "gpt-4.1")
    await until(lambda: bool(shown))
    assert shown[-1].mode is Mode.BYOM_CHAT_COMPLETION and shown[-1].deployment == "gpt-4.1"
    await until(lambda: "gpt-4.1" in states[-1].description and states[-1].state is ConnState.CONNECTED)
    bridge.disconnect_session()
    await until(lambda: states[-1].state is ConnState.DISCONNECTED)
    assert not bridge.send_text("not connected: refused, the window keeps it")


def _every_event() -> list[tuple[object, str, tuple[object, ...]]]:
    """One event of each kind the app reports, the signal it must come out of, and what that signal carries."""
    from datetime import UTC, datetime

    from voicelive_desktop.assistant_events import (
        AskAgainOffered,
        AudioStatus,
        ConversationReplaced,
        LatencyMeasured,
        MessageChanged,
        TurnChanged,
    )
    from voicelive_desktop.controller import Notice
    from voicelive_desktop.voicelive.events import ErrorCategory, ErrorRaised

    view = MessageView("m1", Role.USER, "hi", "hi", True, False, False, "", False, datetime.now(UTC))
    connection = ConnectionChanged(ConnState.CONNECTED, "here")
    error = ErrorRaised(ErrorCategory.AUDIO, "No microphone")
    audio = AudioStatus("Mic", "Speaker", True)
    state = ControllerState(False, Mode.MANAGED, "gpt-realtime", ("gpt-realtime",))
    notice = Notice("Using the demo", key="demo")
    return [
        (MessageChanged(view), "message_changed", (view,)),
        (TurnChanged(TurnState.THINKING), "turn_changed", (TurnState.THINKING,)),
        (connection, "connection_changed", (connection,)),
        (error, "error", (error,)),
        (LatencyMeasured(412), "latency_measured", (412,)),
        (audio, "audio_status", (audio,)),
        (ConversationReplaced("c1", (view,)), "conversation_replaced", ("c1", (view,))),
        (AskAgainOffered(True, lost=False), "ask_again_offered", (True, False)),
        (state, "state_changed", (state,)),
        (notice, "notice", (notice,)),
    ]


@pytest.mark.parametrize("index", range(10))
def test_each_kind_of_event_comes_out_of_its_own_signal_only(index: int) -> None:
    events = _every_event()
    event, name, carried = events[index]
    bridge = Bridge()
    heard: dict[str, list[tuple[object, ...]]] = {}
    for _, signal_name, _ in events:
        getattr(bridge, signal_name).connect(lambda *args, n=signal_name: heard.setdefault(n, []).append(args))
    bridge.deliver(event)
    bridge.deliver(object())  # something the window does not show: ignored
    assert heard == {name: [carried]}


def test_the_microphone_level_goes_to_the_meter_and_out_of_no_signal() -> None:
    """The level comes with every block while the key is held: a plain call to the meter, no signal."""
    from voicelive_desktop.assistant_events import LevelChanged
    from voicelive_desktop.audio.values import Level

    bridge = Bridge()
    heard: list[object] = []
    for _, signal_name, _ in _every_event():
        getattr(bridge, signal_name).connect(heard.append)
    shown: list[Level] = []
    bridge.deliver(LevelChanged(Level(-40.0, -30.0)))  # no meter yet (the window is not built): nothing happens
    bridge.show_level = shown.append
    bridge.deliver(LevelChanged(Level(-20.0, -6.0)))
    assert shown == [Level(-20.0, -6.0)] and not heard
