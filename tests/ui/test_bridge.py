"""The bridge: every event reaches its signal, and intents reach the real services (text only, no audio)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import API_KEY, MemoryKeyring, until
from voicelive_desktop.app import build_services
from voicelive_desktop.assistant_events import MessageView, TurnState
from voicelive_desktop.controller import ControllerState
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.keystore import SecretStore
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
