"""End to end: the real app, real audio through the private PulseAudio, a real (offscreen) window.

Hold the key, speak into the virtual microphone, release: the user's bubble fills with what was heard, the
assistant's answer streams into its bubble, and the answer comes out of the virtual speaker. Widgets are driven
the way a user drives them: keys, typing, clicks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMainWindow
from pytestqt.qtbot import QtBot

from tests.helpers import API_KEY, until
from tests.launching import launch_app, quit_app, send_space
from voicelive_desktop.app import Launch, create, parse_args, run, shutdown
from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.devtools.speech import loud_ms
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.ui.chat_view import Bubble
from voicelive_desktop.voicelive.config import TurnMode


async def _until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """The app's first turns take longer than a unit test's: a longer default wait."""
    await until(condition, timeout)


@pytest.fixture
async def demo_app(qtbot: QtBot, pulse: Any, tmp_path: Path) -> AsyncIterator[Launch]:
    """The real app in demo mode: window shown and active, services built, connected to its emulator."""
    launch = await launch_app(qtbot, ["--demo", "--settings", str(tmp_path / "settings.toml")])
    try:
        yield launch
    finally:
        await quit_app(launch)


@pytest.fixture
async def azure_app(
    qtbot: QtBot, pulse: Any, tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Launch]:
    """The real app pointed at an emulator the test runs, as a user points it at Azure (key from the env)."""
    monkeypatch.setenv("AZURE_VOICELIVE_API_KEY", API_KEY)
    argv = ["--endpoint", emulator.endpoint, "--model", "gpt-realtime", "--settings", str(tmp_path / "s.toml")]
    launch = await launch_app(qtbot, argv)
    try:
        yield launch
    finally:
        await quit_app(launch)


async def test_hold_speak_release_in_the_demo(demo_app: Launch, pulse: Any, speech_pcm: bytes, qtbot: QtBot) -> None:
    launch, window, controller = demo_app, demo_app.window, demo_app.controller
    assert controller is not None
    assert controller.demo and window.header.badge.isVisible()
    assert "Connected to this computer" in window.header.state.text()
    window.chat.setFocus()
    recording = pulse.record()
    send_space(window, QEvent.Type.KeyPress)
    await _until(lambda: controller.assistant.turn is TurnState.LISTENING, 2)
    player = pulse.play(speech_pcm)
    await _until(lambda: window.talk.meter_px > 0, 5)  # the meter shows the voice while the key is held
    await asyncio.to_thread(player.wait, 10)
    send_space(window, QEvent.Type.KeyRelease)
    messages = controller.assistant.conversation.messages
    await _until(lambda: len(messages) == 2 and messages[1].final and messages[0].final)
    await _until(lambda: controller.assistant.turn is TurnState.IDLE)
    played = recording.stop()

    await _until(lambda: len(window.chat.bubbles()) == 2, 2)
    user, answer = window.chat.bubbles()
    assert isinstance(user, Bubble) and isinstance(answer, Bubble)
    assert user.message.role is Role.USER and user.plain_text() == messages[0].text and messages[0].text
    assert answer.message.role is Role.ASSISTANT and "You said:" in answer.plain_text()
    assert "gpt-realtime" in answer.plain_text()
    assert loud_ms(played) > 1500, "the answer did not come out of the speaker"
    assert window.latency_label.text().startswith("Latency: ") and "ms" in window.latency_label.text()
    assert "Mic open" in window.mic_label.text()

    QApplication.clipboard().clear()
    qtbot.keyClick(window, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    copied = QApplication.clipboard().text()
    assert "**You**" in copied and messages[0].text in copied and "**Assistant**" in copied
    assert copied.index(messages[0].text) < copied.index("You said:")
    await quit_app(launch)
    assert launch.store.path.exists(), "settings should be saved on exit"


async def test_typing_then_switching_deployment_then_typing_at_once(demo_app: Launch, qtbot: QtBot) -> None:
    window, controller = demo_app.window, demo_app.controller
    assert controller is not None
    window.input.setFocus()
    qtbot.keyClicks(window.input, "hello there")
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    messages = controller.assistant.conversation.messages
    await _until(lambda: len(messages) == 2 and messages[1].final)
    line = window.header.deployment.lineEdit()
    assert line is not None
    line.selectAll()
    qtbot.keyClicks(line, "grok-3")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    window.input.setFocus()  # and types at once, while the app is still switching
    qtbot.keyClicks(window.input, "and now")
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    assert window.input.text() == "", "the message was taken"
    await _until(lambda: len(messages) == 5 and messages[4].final)
    assert [m.role for m in messages] == [Role.USER, Role.ASSISTANT, Role.DIVIDER, Role.USER, Role.ASSISTANT]
    assert "grok-3" in messages[2].text, "the divider comes before the message sent to the new model"
    await _until(lambda: [b.message.role for b in window.chat.bubbles()][2:3] == [Role.DIVIDER], 2)
    answer = messages[4]
    assert answer.role is Role.ASSISTANT and "grok-3" in answer.text and "and now" in answer.text
    assert "grok-3" in window.header.state.text()


async def test_settings_open_with_ctrl_comma_list_devices_and_apply(
    azure_app: Launch, qtbot: QtBot, emulator: Emulator
) -> None:
    from voicelive_desktop.ui.settings_dialog import SettingsDialog

    launch, window = azure_app, azure_app.window
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    await _until(lambda: isinstance(QApplication.activeModalWidget(), SettingsDialog), 5)
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, SettingsDialog)

    def labels() -> list[str]:
        return [dialog.input_device.itemText(i) for i in range(dialog.input_device.count())]

    await _until(lambda: "Virtual-Mic" in " ".join(labels()), 10)
    assert labels()[0] == "System default"
    dialog.voice.setCurrentIndex(dialog.voice.findText("en-US-AndrewNeural"))  # picked from the list
    dialog.instructions.selectAll()
    qtbot.keyClicks(dialog.instructions, "Answer in one sentence.")
    buttons = dialog.findChild(QDialogButtonBox)
    assert buttons is not None
    qtbot.mouseClick(buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    record = emulator.last()
    await _until(lambda: record.received_types().count("session.update") == 2, 5)
    update = [e for e in record.received if e["type"] == "session.update"][-1]["session"]
    assert update == {
        "voice": {"name": "en-US-AndrewNeural", "type": "azure-standard"},
        "instructions": "Answer in one sentence.",
    }, "a live change sends only what changed"
    assert len(emulator.connections) == 1, "voice and instructions apply without reconnecting"
    await quit_app(launch)
    saved = launch.store.load()
    assert saved.model.voice == "en-US-AndrewNeural"
    assert saved.window.geometry, "the window geometry should be remembered"


async def test_hands_free_the_window_says_to_just_speak_and_push_to_talk_says_hold(
    qtbot: QtBot, pulse: Any, tmp_path: Path
) -> None:
    """Hands-free, the service ends a turn when the user stops speaking: the big button and the empty chat's hint
    must not tell them to hold a key. Switched to push-to-talk in Settings, they say to hold it again."""
    from voicelive_desktop.ui.settings_dialog import SettingsDialog

    settings = tmp_path / "settings.toml"
    settings.write_text('[conversation]\nturn_mode = "server_vad"\n', encoding="utf-8")
    launch = await launch_app(qtbot, ["--demo", "--settings", str(settings)])
    window = launch.window
    try:
        await _until(lambda: launch.controller is not None and launch.controller.assistant.hands_free, 10)
        assert window.talk.caption == "Hands-free: just speak"
        assert "Just speak" in window.chat.placeholder.text() and "Hold" not in window.chat.placeholder.text()
        assert "streams to the service" in window.mic_label.toolTip()
        qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
        await _until(lambda: isinstance(QApplication.activeModalWidget(), SettingsDialog), 5)
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, SettingsDialog)
        dialog.turn_mode.setCurrentIndex(dialog.turn_mode.findData(TurnMode.PUSH_TO_TALK))
        buttons = dialog.findChild(QDialogButtonBox)
        assert buttons is not None
        qtbot.mouseClick(buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
        await _until(lambda: window.talk.caption == "Hold to talk  (Space)", 5)
        assert "Hold <b>Space</b>" in window.chat.placeholder.text()
        assert "stays open between turns" in window.mic_label.toolTip()
    finally:
        await quit_app(launch)


def test_ctrl_c_in_the_terminal_quits_cleanly_and_saves(pulse: Any, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    settings = tmp_path / "settings.toml"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicelive_desktop", "--demo", "--settings", str(settings)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen: list[str] = []

    def read_until_connected() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:  # the app says when it is connected: then it is fully up
            seen.append(line)
            if "connected to" in line.lower():
                return

    import threading

    reader = threading.Thread(target=read_until_connected, daemon=True)
    reader.start()
    reader.join(60)
    assert not reader.is_alive(), "the app never said it was connected:\n" + "".join(seen)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=15)
    stderr = "".join(seen) + rest
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert settings.exists(), "settings should be saved on the way out"


async def test_quitting_after_the_window_is_gone_still_closes_everything_and_saves(demo_app: Launch) -> None:
    launch = demo_app
    controller = launch.controller
    assert controller is not None
    launch._quit = True  # type: ignore[attr-defined]  # this test shuts the app down itself
    gone = QMainWindow()
    shiboken6.delete(gone)  # a window deleted by its owner before the app's own shutdown ran
    window, launch.window = launch.window, gone  # type: ignore[assignment]
    try:
        await asyncio.wait_for(shutdown(launch), 10)
    finally:
        launch.window = window  # the real one, for pytest-qt to close
    assert controller.supervisor.session is None, "the session was closed"
    assert launch.store.path.exists(), "the settings were saved"


async def test_a_window_closed_before_the_app_listened_for_it_still_ends_the_app(
    qtbot: QtBot, pulse: Any, tmp_path: Path
) -> None:
    # SIGTERM (a logout) between the first paint and the loop's start closes the window before run() listens.
    launch = create(parse_args(["--demo", "--settings", str(tmp_path / "s.toml")]))
    qtbot.addWidget(launch.window)
    launch.window.close()
    assert await asyncio.wait_for(run(launch), 30) == 0, "the app ended"
    assert launch.controller is None, "services were started (and a session opened) after the window closed"
