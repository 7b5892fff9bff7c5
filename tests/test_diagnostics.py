"""What Help > Connection details shows and Copy diagnostics copies; the slow BYOM hint."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import API_KEY, EventLog, MemoryKeyring, until
from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.controller import ASYNC_FILTERING_URL, Controller, Notice
from voicelive_desktop.diagnostics import LOG_RING
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.keystore import SecretStore
from voicelive_desktop.services import build_services
from voicelive_desktop.settings import Settings, SettingsStore
from voicelive_desktop.voicelive.modes import Mode


@pytest.fixture
async def app(emulator: Emulator, tmp_path: Path) -> AsyncIterator[tuple[Controller, EventLog]]:
    settings = Settings()
    settings.connection.endpoint = emulator.endpoint
    settings.model.mode = Mode.BYOM_CHAT_COMPLETION
    settings.model.remember(Mode.BYOM_CHAT_COMPLETION, "grok-3")
    secrets = SecretStore(MemoryKeyring())
    secrets.set(emulator.endpoint, API_KEY)
    events = EventLog()
    store = SettingsStore(tmp_path / "s.toml")
    controller = build_services(
        events, store, settings.copy(), settings, demo=False, secrets=secrets, with_audio=False, keep_history=False
    )
    yield controller, events
    await controller.close()


async def test_connection_details_show_what_goes_on_the_wire_and_never_a_key(
    app: tuple[Controller, EventLog], emulator: Emulator
) -> None:
    controller, _ = app
    logging.getLogger().addHandler(LOG_RING)
    try:
        assert await controller.connect()
        await until(lambda: bool(controller.supervisor.session and controller.supervisor.session.session_id))
        logging.getLogger("voicelive_desktop.test").warning("a line that mentions the key %s by mistake", API_KEY)
        details = {d.label: d.value for d in controller.connection_details()}
        url = details["URL"]
        assert url.startswith("ws://127.0.0.1:") and "/voice-live/realtime?" in url
        assert "api-version=2025-10-01" in url and "model=grok-3" in url
        assert "profile=byom-azure-openai-chat-completion" in url
        assert details["Sign-in"] == "API key" and details["Region"] == "local-emulator"
        assert details["Session id"].startswith("sess_") and details["SDK"].startswith("azure-ai-voicelive 1.")
        copied = controller.diagnostics()
        assert url in copied and "[model]" in copied and "a line that mentions the key" in copied
        assert API_KEY not in copied, "a key never leaves the app"
    finally:
        logging.getLogger().removeHandler(LOG_RING)


async def test_three_slow_byom_turns_bring_one_hint_that_can_be_dismissed_for_good(
    app: tuple[Controller, EventLog], emulator: Emulator
) -> None:
    controller, events = app
    emulator.options.pace.first_delta_delay_s = 1.6  # the deployment answers slowly
    assert await controller.connect()
    for i in range(4):
        controller.assistant.send_text(f"question {i}")
        await events.until(
            lambda i=i: (
                controller.assistant.turn is TurnState.IDLE
                and len(controller.assistant.conversation.messages) >= 2 * (i + 1)
            ),
            20,
        )
    hints = [n for n in events.of(Notice) if n.key == "slow-byom"]
    assert len(hints) == 1 and ASYNC_FILTERING_URL in hints[0].message and hints[0].action == "hide-hint"
    await controller.dismiss_hint()
    assert controller.store is not None and controller.store.load().desktop.slow_byom_hint_dismissed
