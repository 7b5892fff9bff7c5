"""The fault suite's harness: the real app (window, bridge, services, SDK, history) against the emulator's faults.

Every fault test checks four things, the last two here at the end of each test:
1. what the user sees (the status line, the banner, the chat);
2. that the next turn works without the user doing anything;
3. that no finished message is lost: everything final on screen is in the history file;
4. that no task leaks and no traceback appears.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from tests.helpers import API_KEY, until
from tests.launching import quit_app
from voicelive_desktop.app import Launch, create, parse_args, start
from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.controller import Controller
from voicelive_desktop.conversation.store import HistoryStore
from voicelive_desktop.conversation.transcript import Message, Role
from voicelive_desktop.emulator import Emulator

#: Tasks the app starts; none may outlive it.
APP_TASKS = {
    "connection-supervisor",
    "session-events",
    "voicelive-reader",
    "voicelive-sender",
    "turn-audio",
    "hands-free-audio",
    "sleep-detector",
    "audio-input-watchdog",
    "audio-output-watchdog",
}


class FaultApp:
    """The app under a fault, and what a user would look at."""

    def __init__(self, launch: Launch, emulator: Emulator, folder: Path, qtbot: QtBot) -> None:
        self.launch = launch
        self.window = launch.window
        assert launch.controller is not None
        self.controller: Controller = launch.controller
        self.emulator = emulator
        self.folder = folder
        self.qtbot = qtbot
        self.closed = False

    @property
    def status(self) -> str:
        """The connection line in the header."""
        return self.window.header.state.text()

    @property
    def banner(self) -> list[str]:
        """What the message area says, newest first."""
        return self.window.banner.texts()

    @property
    def messages(self) -> list[Message]:
        """The conversation, dividers left out."""
        return [m for m in self.controller.assistant.conversation.messages if m.role is not Role.DIVIDER]

    def answers(self) -> list[Message]:
        """The assistant's messages."""
        return [m for m in self.messages if m.role is Role.ASSISTANT]

    async def connected(self, timeout: float = 20.0) -> None:
        """Wait until the header says connected."""
        await until(lambda: self.status.startswith("Connected to"), timeout)

    def type(self, text: str) -> None:
        """Type ``text`` in the message field and press Enter, as a user does."""
        self.window.input.setFocus()
        self.qtbot.keyClicks(self.window.input, text)
        self.qtbot.keyClick(self.window.input, Qt.Key.Key_Return)

    async def say(self, text: str, timeout: float = 20.0) -> Message:
        """Type ``text`` and wait for its answer to be complete; returns the answer."""
        self.type(text)
        words = text.rstrip(".?!")  # the emulator's model repeats what it was told, without the punctuation

        def answered() -> bool:
            answers = self.answers()
            return bool(answers) and words in answers[-1].text and answers[-1].final and not answers[-1].cut

        await until(lambda: answered() and self.controller.assistant.turn is TurnState.IDLE, timeout)
        return self.answers()[-1]

    async def close(self) -> None:
        """Quit as the user does, then check that nothing was lost and nothing was left running."""
        self.closed = True
        conversation = self.controller.assistant.conversation
        finished = [(m.id, m.text) for m in conversation.messages if m.final and not m.pending and m.text]
        await quit_app(self.launch, timeout_s=15)
        store = HistoryStore(self.folder / "history.sqlite3")
        try:
            saved = {(s.message_id, s.text) for s in store.load(conversation.id)}
        finally:
            store.close()
        missing = [m for m in finished if m not in saved]
        assert missing == [], f"finished messages missing from the history: {missing}"
        await asyncio.sleep(0)
        left = [t.get_name() for t in asyncio.all_tasks() if t.get_name() in APP_TASKS and not t.done()]
        assert left == [], f"tasks still running after the app closed: {left}"


@pytest.fixture
async def fault_app(
    qtbot: QtBot, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Callable[..., Any]]:
    """Launch the app against ``emulator`` (a key from the environment, a history of its own); closes it after."""
    monkeypatch.setenv("AZURE_VOICELIVE_API_KEY", API_KEY)
    caplog.set_level(logging.INFO, logger="voicelive_desktop")
    made: list[FaultApp] = []

    async def launch(*extra: str, model: str = "gpt-realtime", wait: bool = True) -> FaultApp:
        argv = [
            "--endpoint", emulator.endpoint, "--model", model,
            "--settings", str(tmp_path / "settings.toml"), "--history", str(tmp_path / "history.sqlite3"),
            *extra,
        ]  # fmt: skip
        app = create(parse_args(argv))
        qtbot.addWidget(app.window)
        await start(app)
        made.append(FaultApp(app, emulator, tmp_path, qtbot))
        if wait:
            await made[-1].connected()
        return made[-1]

    yield launch
    for app in made:
        if not app.closed:  # a test that failed half way still quits the app it started
            await app.close()
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert tracebacks == [], f"tracebacks were logged: {[r.getMessage() for r in tracebacks]}"
