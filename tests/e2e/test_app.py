"""End to end: the real app in demo mode, real audio through the private PulseAudio, a real (offscreen) window.

Hold the key, speak into the virtual microphone, release: the user's bubble fills with what was heard, the
assistant's answer streams into its bubble, and the answer comes out of the virtual speaker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from tests.audio.conftest import loud_ms
from tests.conftest import until
from voicelive_desktop.app import Launch, create, parse_args, shutdown, start
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.ui.chat_view import Bubble
from voicelive_desktop.voicelive.events import TurnState


async def _until(condition: Any, timeout: float = 20.0) -> None:
    """The app's first turns take longer than a unit test's: a longer default wait."""
    await until(condition, timeout)


@pytest.fixture
async def demo_app(qtbot: QtBot, pulse: Any, tmp_path: Path) -> AsyncIterator[Launch]:
    """The real app in demo mode: window shown and active, services built, connected to its emulator."""
    launch = create(parse_args(["--demo", "--settings", str(tmp_path / "settings.toml")]))
    qtbot.addWidget(launch.window)
    try:
        controller = await start(launch)
        await _until(lambda: controller.assistant.connected, 10)
        launch.window.activateWindow()
        await _until(launch.window.isActiveWindow, 5)
        yield launch
    finally:
        await _quit(launch)


async def _quit(launch: Launch) -> None:
    """Close the window and shut down as the app does on exit (once)."""
    if launch.controller is not None and not getattr(launch, "_quit", False):
        launch._quit = True  # type: ignore[attr-defined]
        launch.window.close()
        await asyncio.wait_for(shutdown(launch), 10)


def _space(window: Any, kind: QEvent.Type) -> None:
    target = QApplication.focusWidget() or window
    QApplication.sendEvent(target, QKeyEvent(kind, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier, " "))


async def test_hold_speak_release_in_the_demo(demo_app: Launch, pulse: Any, speech_pcm: bytes) -> None:
    launch, window, controller = demo_app, demo_app.window, demo_app.controller
    assert controller.demo and window.header.badge.isVisible()
    assert "Connected to this computer" in window.header.state.text()
    window.chat.setFocus()
    recording = pulse.record()
    _space(window, QEvent.Type.KeyPress)
    await _until(lambda: controller.assistant.turn is TurnState.LISTENING, 2)
    player = pulse.play(speech_pcm)
    await asyncio.to_thread(player.wait, 10)
    await asyncio.sleep(0.3)
    _space(window, QEvent.Type.KeyRelease)
    messages = controller.assistant.conversation.messages
    await _until(lambda: len(messages) == 2 and messages[1].final and messages[0].final)
    await _until(lambda: controller.assistant.turn is TurnState.IDLE)
    played = recording.stop()

    bubbles = window.chat.bubbles()
    await _until(lambda: len(window.chat.bubbles()) == 2, 2)
    bubbles = window.chat.bubbles()
    assert all(isinstance(b, Bubble) for b in bubbles)
    user, answer = bubbles
    assert isinstance(user, Bubble) and isinstance(answer, Bubble)
    assert user.message.role is Role.USER and user.plain_text() == messages[0].text and messages[0].text
    assert answer.message.role is Role.ASSISTANT and "You said:" in answer.plain_text()
    assert "gpt-realtime" in answer.plain_text()
    assert loud_ms(played) > 1500, "the answer did not come out of the speaker"
    assert window.latency_label.text().startswith("Latency: ") and "ms" in window.latency_label.text()
    assert "Mic open" in window.mic_label.text()
    await _quit(launch)
    assert launch.store.path.exists(), "settings should be saved on exit"


async def test_typing_and_switching_deployment_from_the_header(demo_app: Launch, qtbot: QtBot) -> None:
    window, controller = demo_app.window, demo_app.controller
    window.input.setFocus()
    qtbot.keyClicks(window.input, "hello there")
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    messages = controller.assistant.conversation.messages
    await _until(lambda: len(messages) == 2 and messages[1].final)
    window.header.deployment.setCurrentText("grok-3")
    window.header.target_chosen.emit(window.header.mode.currentData(), "grok-3")
    await _until(lambda: "grok-3" in window.header.state.text(), 10)
    qtbot.keyClicks(window.input, "and now")
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    await _until(lambda: len(messages) == 5 and messages[4].final)
    assert messages[2].role is Role.DIVIDER and "grok-3" in messages[2].text
    assert "grok-3" in messages[4].text
    await _until(lambda: len(window.chat.bubbles()) == 5, 2)
    assert "grok-3" in window.chat.bubbles()[2].message.text


async def test_settings_open_with_ctrl_comma_list_devices_and_apply(demo_app: Launch, qtbot: QtBot) -> None:
    from voicelive_desktop.ui.settings_dialog import SettingsDialog

    launch, window, controller = demo_app, demo_app.window, demo_app.controller
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    await _until(lambda: isinstance(QApplication.activeModalWidget(), SettingsDialog), 5)
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, SettingsDialog)
    labels = lambda: [dialog.input_device.itemText(i) for i in range(dialog.input_device.count())]  # noqa: E731
    await _until(lambda: "Virtual-Mic" in " ".join(labels()), 10)
    assert labels()[0] == "System default"
    dialog.voice.setCurrentText("en-US-AndrewNeural")
    dialog.instructions.setPlainText("Answer in one sentence.")
    dialog._accept()
    record = controller._emulator.last()
    await _until(lambda: record.received_types().count("session.update") == 2, 5)
    update = [e for e in record.received if e["type"] == "session.update"][-1]["session"]
    assert update["voice"]["name"] == "en-US-AndrewNeural" and update["instructions"] == "Answer in one sentence."
    await _quit(launch)
    saved = launch.store.load()
    assert saved.model.voice == "en-US-AndrewNeural"
    assert saved.window.geometry, "the window geometry should be remembered"


def test_ctrl_c_in_the_terminal_quits_cleanly_and_saves(pulse: Any, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    settings = tmp_path / "settings.toml"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicelive_desktop", "--demo", "--settings", str(settings)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert settings.exists(), "settings should be saved on the way out"
