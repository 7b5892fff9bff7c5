"""The real app with a system tray: the tray follows the app, drives it, and notifies while the window is hidden.

The offscreen platform has no tray host, so the tray is told one exists and its notifications are recorded
(the desktop's notification service is the one part stood in for). The tray's own menu in a real tray host is
tested in tests/ui/test_tray.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from pytestqt.qtbot import QtBot

from tests.helpers import API_KEY, until
from tests.launching import launch_app, quit_app
from voicelive_desktop.app import Launch
from voicelive_desktop.assistant import MUTED
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.ui import desktop as desktop_module
from voicelive_desktop.ui.desktop import NOTIFY_CHARS
from voicelive_desktop.ui.tray import Tray


class RecordingTray(Tray):
    """The real tray widget, on a desktop said to have a tray; notifications are kept instead of shown."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.notifications: list[str] = []

    @staticmethod
    def available() -> bool:
        return True

    def notify(self, title: str, text: str, timeout_ms: int = 5000) -> None:
        self.notifications.append(text)


async def _launch(
    qtbot: QtBot, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, qtbot_owns: bool = True
) -> Launch:
    """The app connected to the emulator, with "close to tray" on as a user sets it in Settings > Desktop."""
    monkeypatch.setattr(desktop_module, "Tray", RecordingTray)
    monkeypatch.setenv("AZURE_VOICELIVE_API_KEY", API_KEY)
    (tmp_path / "settings.toml").write_text("[desktop]\nclose_to_tray = true\n", encoding="utf-8")
    argv = ["--endpoint", emulator.endpoint, "--model", "gpt-realtime", "--settings", str(tmp_path / "settings.toml")]
    return await launch_app(qtbot, [*argv, "--history", str(tmp_path / "history.sqlite3")], qtbot_owns=qtbot_owns)


@pytest.fixture
async def app(
    qtbot: QtBot, pulse: Any, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Launch]:
    launch = await _launch(qtbot, emulator, tmp_path, monkeypatch)
    try:
        yield launch
    finally:
        await quit_app(launch)


def _tray(launch: Launch) -> RecordingTray:
    assert launch.desktop is not None and isinstance(launch.desktop.tray, RecordingTray)
    return launch.desktop.tray


def _action(menu: Any, text: str) -> QAction:
    found = [a for a in menu.actions() if a.text() == text]
    assert found, f"no {text!r} in {[a.text() for a in menu.actions()]}"
    return found[0]


async def test_the_tray_shows_the_connection_and_offers_the_deployments(app: Launch, emulator: Emulator) -> None:
    tray = _tray(app)
    await until(lambda: tray.connected and tray.turn == "idle", 5)
    assert tray.icon.toolTip() == "Voice Live: ready"
    assert tray.connect_action.text() == "Disconnect"
    checked = [a.text() for a in tray.deployment_menu.actions() if a.isChecked()]
    assert checked == ["gpt-realtime"]

    _action(tray.menu, "Disconnect").trigger()
    await until(lambda: not tray.connected, 10)
    assert tray.connect_action.text() == "Connect"
    _action(tray.menu, "Connect").trigger()
    await until(lambda: tray.connected, 10)


async def test_choosing_a_mode_in_the_tray_switches_the_app(app: Launch, emulator: Emulator) -> None:
    tray = _tray(app)
    controller = app.controller
    assert controller is not None
    await until(lambda: tray.connected, 5)
    _action(tray.mode_menu, "BYOM realtime").trigger()
    await until(lambda: emulator.last().query.get("profile", "") == "byom-azure-openai-realtime", 10)
    assert app.window.header.mode.currentData().value == "byom-azure-openai-realtime"
    await until(lambda: [a.text() for a in tray.mode_menu.actions() if a.isChecked()] == ["BYOM realtime"], 5)


async def test_closing_the_window_keeps_the_app_in_the_tray_and_a_hidden_answer_is_notified(app: Launch) -> None:
    tray = _tray(app)
    controller = app.controller
    assert controller is not None
    await until(lambda: tray.connected, 5)

    app.window.close()
    assert not app.window.isVisible()
    assert controller.supervisor.connected, "closing the window does not end the session"
    assert tray.show_action.text() == "Show window"
    assert tray.notifications == ["Still running here: the hold key works; Quit is in this menu."]

    question = "please tell me a long story about the lighthouse keeper and the storm " * 2
    assert app.bridge.send_text(question)
    messages = controller.assistant.conversation.messages
    await until(lambda: any(m.role is Role.ASSISTANT and m.final for m in messages), 20)
    answer = next(m for m in messages if m.role is Role.ASSISTANT).text
    await until(lambda: len(tray.notifications) == 2, 5)
    note = tray.notifications[1]
    assert len(answer) > NOTIFY_CHARS and note.endswith("\u2026") and len(note) <= NOTIFY_CHARS + 1
    assert answer.startswith(note[:-1]), "the notification is the answer's first words"

    _action(tray.menu, "Show window").trigger()
    assert app.window.isVisible()
    assert tray.show_action.text() == "Hide window"
    assert app.bridge.send_text("and a short one while I watch")
    await until(lambda: sum(m.role is Role.ASSISTANT and m.final for m in messages) == 2, 20)
    assert len(tray.notifications) == 2, "no notification while the window is in sight"
    app.window.close()  # hides again: the "still running" hint is said once only
    assert tray.notifications[2:] == []


async def test_muting_from_the_tray_closes_the_microphone_and_the_window_says_so(app: Launch) -> None:
    tray = _tray(app)
    await until(lambda: tray.connected, 5)
    tray.mute_action.trigger()
    await until(lambda: "Microphone muted" in app.window.devices_label.text(), 5)
    assert app.window.mic_label.text() == "\u25cb Mic closed"

    app.bridge.press()
    app.bridge.release()
    await until(lambda: any(MUTED in text for text in app.window.banner.texts()), 5)

    tray.mute_action.trigger()
    await until(lambda: "Microphone muted" not in app.window.devices_label.text(), 5)
    assert app.window.mic_label.text() == "\u25cf Mic open"


async def test_quitting_after_the_window_was_deleted_with_its_tray_still_shuts_down_cleanly(
    qtbot: QtBot, pulse: Any, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window's owner may delete it (and the tray it owns) before the app's shutdown runs."""
    app = await _launch(qtbot, emulator, tmp_path, monkeypatch, qtbot_owns=False)
    try:
        tray = _tray(app)
        controller = app.controller
        assert controller is not None
        await until(lambda: tray.connected, 5)
        shiboken6.delete(app.window)
        assert not shiboken6.isValid(tray), "the tray goes with the window that owns it"
        microphone = controller.microphone
        assert microphone is not None
        app.bridge.set_muted(True)  # the app still tells the (deleted) desktop objects what happens
        await until(lambda: microphone.muted, 5)
    finally:
        await quit_app(app)
    assert not controller.supervisor.connected
    await until(lambda: not emulator.last().open, 5)  # the session was closed, not leaked
