"""Conversations that outlive the app: relaunch, a crash mid-answer, the conversations panel, export."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog, QLineEdit
from pytestqt.qtbot import QtBot

from tests.helpers import API_KEY, until
from tests.launching import launch_app, quit_app, send_space
from voicelive_desktop.app import Launch
from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.conversation.store import HistoryStore
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.ui.chat_view import Bubble


def _argv(emulator: Emulator, folder: Path) -> list[str]:
    return [
        "--endpoint",
        emulator.endpoint,
        "--model",
        "gpt-realtime",
        "--settings",
        str(folder / "settings.toml"),
        "--history",
        str(folder / "history.sqlite3"),
    ]


async def _type(qtbot: QtBot, launch: Launch, text: str) -> None:
    controller = launch.controller
    assert controller is not None
    messages = controller.assistant.conversation.messages
    count = len([m for m in messages if m.role is not Role.DIVIDER])
    launch.window.input.setFocus()
    qtbot.keyClicks(launch.window.input, text)
    qtbot.keyClick(launch.window.input, Qt.Key.Key_Return)
    await until(lambda: len([m for m in messages if m.role is not Role.DIVIDER]) >= count + 2 and messages[-1].final)


def _saved(folder: Path, conversation_id: str) -> list[Any]:
    """The messages of ``conversation_id`` as the history file in ``folder`` holds them, the app closed."""
    store = HistoryStore(folder / "history.sqlite3")
    try:
        return store.load(conversation_id)
    finally:
        store.close()


async def _speak(launch: Launch, pulse: Any, pcm: bytes) -> None:
    """Hold Space in the window while ``pcm`` plays into the microphone, then let go."""
    controller = launch.controller
    assert controller is not None
    send_space(launch.window, QEvent.Type.KeyPress)
    await until(lambda: controller.assistant.turn is TurnState.LISTENING, 5)
    player = pulse.play(pcm)
    await asyncio.to_thread(player.wait, 10)
    send_space(launch.window, QEvent.Type.KeyRelease)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_VOICELIVE_API_KEY", API_KEY)


async def test_a_relaunch_brings_the_last_conversation_back_and_into_the_session(
    qtbot: QtBot, pulse: Any, emulator: Emulator, tmp_path: Path
) -> None:
    first = await launch_app(qtbot, _argv(emulator, tmp_path))
    await _type(qtbot, first, "remember the lighthouse")
    await quit_app(first)
    again = await launch_app(qtbot, _argv(emulator, tmp_path))
    try:
        controller = again.controller
        assert controller is not None
        texts = [(m.role, m.text) for m in controller.assistant.conversation.messages]
        assert texts[0] == (Role.USER, "remember the lighthouse") and texts[1][0] is Role.ASSISTANT
        assert texts[2][0] is Role.DIVIDER and texts[2][1].startswith("Continued with gpt-realtime")
        await until(lambda: len(again.window.chat.bubbles()) == 3, 5)
        record = emulator.last()
        await until(lambda: record.received_types().count("conversation.item.create") >= 2)
        created = [e for e in record.received if e["type"] == "conversation.item.create"]
        carried = [part["text"] for e in created for part in e["item"]["content"]]
        assert carried[0] == "remember the lighthouse" and "lighthouse" in carried[1]
    finally:
        await quit_app(again)


async def test_the_conversations_panel_new_search_rename_delete_undo_and_continue(
    qtbot: QtBot, pulse: Any, emulator: Emulator, tmp_path: Path
) -> None:
    launch = await launch_app(qtbot, _argv(emulator, tmp_path))
    window, controller = launch.window, launch.controller
    assert controller is not None
    try:
        await _type(qtbot, launch, "talk about pineapples")
        first_id = controller.assistant.conversation.id
        qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
        await until(lambda: controller.assistant.conversation.id != first_id and window.chat.bubbles() == [])
        await until(lambda: controller.supervisor.connected)
        await _type(qtbot, launch, "now about bananas")
        qtbot.keyClick(window, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        panel = window.conversations
        await until(lambda: panel.isVisible() and panel.list.count() == 2)
        titles = [panel.list.item(i).text().split("\n")[0] for i in range(2)]
        assert titles == ["now about bananas", "talk about pineapples"], "newest first, titled by their first words"

        qtbot.keyClicks(panel.search, "pineap")
        await until(lambda: panel.list.count() == 1 and "pineapples" in panel.list.item(0).text())
        panel.search.clear()
        await until(lambda: panel.list.count() == 2)

        panel.list.setCurrentRow(1)
        qtbot.keyClick(panel, Qt.Key.Key_F2)
        editor = panel.list.findChild(QLineEdit)
        assert editor is not None
        editor.selectAll()
        qtbot.keyClicks(editor, "Fruit plans")
        qtbot.keyClick(editor, Qt.Key.Key_Return)
        await until(lambda: panel.list.count() == 2 and panel.list.item(1).text().startswith("Fruit plans"))

        panel.list.setCurrentRow(1)
        qtbot.keyClick(panel.list, Qt.Key.Key_Delete)
        await until(lambda: panel.list.count() == 1 and window.banner.has("deleted"))
        qtbot.mouseClick(window.banner._rows["deleted"].action, Qt.MouseButton.LeftButton)
        await until(lambda: panel.list.count() == 2)

        panel.list.setCurrentRow(1)
        qtbot.keyClick(panel.list, Qt.Key.Key_Return)
        await until(lambda: controller.assistant.conversation.id == first_id)
        texts = [m.text for m in controller.assistant.conversation.messages]
        assert texts[0] == "talk about pineapples"
        await until(lambda: any("Continued with" in m.text for m in controller.assistant.conversation.messages))

        # Deleting the conversation on screen clears it; Undo brings it back on screen, not only to the list.
        row = next(i for i in range(panel.list.count()) if panel.list.item(i).text().startswith("Fruit plans"))
        panel.list.setCurrentRow(row)
        qtbot.keyClick(panel.list, Qt.Key.Key_Delete)
        await until(lambda: controller.assistant.conversation.id != first_id and window.chat.bubbles() == [])
        await until(lambda: window.banner.has("deleted"))
        qtbot.mouseClick(window.banner._rows["deleted"].action, Qt.MouseButton.LeftButton)
        await until(lambda: controller.assistant.conversation.id == first_id)
        await until(lambda: any("pineapples" in b.plain_text() for b in window.chat.bubbles() if isinstance(b, Bubble)))
        await until(lambda: panel.list.count() == 2)
    finally:
        await quit_app(launch)


async def test_words_that_come_after_the_user_moved_on_land_in_the_conversation_they_were_said_in(
    qtbot: QtBot, pulse: Any, emulator: Emulator, tmp_path: Path, speech_pcm: bytes
) -> None:
    """Hold the key, speak, let go and press Ctrl+N at once: the words, transcribed after that, appear in the
    left conversation (its row in the panel is titled by them) and not in the new one on screen."""
    emulator.options.pace.transcript_delay_s = 1.5
    launch = await launch_app(qtbot, _argv(emulator, tmp_path))
    window, controller = launch.window, launch.controller
    assert controller is not None
    try:
        qtbot.keyClick(window, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        window.chat.setFocus()
        left = controller.assistant.conversation
        await _speak(launch, pulse, speech_pcm)
        link = emulator.last()
        await until(lambda: "input_audio_buffer.committed" in [e["type"] for e in link.sent], 10)
        qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
        await until(lambda: controller.assistant.conversation is not left)
        # the turn reaches the left conversation once the service's commit reached the app (it may come after
        # the switch: the emulator had sent it, which is not the app having read it)
        await until(lambda: any(m.role is Role.USER for m in left.messages), 10)
        said = next(m for m in left.messages if m.role is Role.USER)
        await until(lambda: said.final and bool(said.text), 10)
        panel = window.conversations
        title = " ".join(said.text.split()[:3])
        await until(lambda: panel.list.count() == 1 and panel.list.item(0).text().startswith(title), 5)
        assert window.chat.bubbles() == [], "nothing of the left conversation on screen"
    finally:
        await quit_app(launch)
    kept = _saved(tmp_path, left.id)
    assert kept[0].role == "user" and kept[0].text == said.text and kept[0].final


async def test_quitting_as_the_answer_plays_keeps_the_words_the_service_still_owed(
    qtbot: QtBot, pulse: Any, emulator: Emulator, tmp_path: Path, speech_pcm: bytes
) -> None:
    """Hold the key, speak, let go, and quit while the answer plays: transcription runs beside the answer and
    ends after it here. The turn is saved with its words, not as an empty bubble for good."""
    emulator.options.pace.transcript_delay_s = 1.5
    emulator.options.pace.realtime_factor = 1.0
    launch = await launch_app(qtbot, _argv(emulator, tmp_path))
    window, controller = launch.window, launch.controller
    assert controller is not None
    window.chat.setFocus()
    conversation = controller.assistant.conversation
    await _speak(launch, pulse, speech_pcm)
    await until(lambda: controller.assistant.turn is TurnState.SPEAKING, 10)
    said = next(m for m in conversation.messages if m.role is Role.USER)
    assert not said.final, "the words had not come when the user quit"
    await quit_app(launch)
    kept = _saved(tmp_path, conversation.id)
    assert kept[0].role == "user" and kept[0].final and kept[0].text, "the words were saved"
    assert kept[1].role == "assistant" and kept[1].text, "and the answer, as far as it came"


async def test_export_from_the_file_menu_and_from_the_command_line(
    qtbot: QtBot, pulse: Any, emulator: Emulator, tmp_path: Path
) -> None:
    launch = await launch_app(qtbot, _argv(emulator, tmp_path))
    try:
        await _type(qtbot, launch, "export me please")
        launch.window.menus.export_conversation.trigger()
        await until(lambda: isinstance(QApplication.activeModalWidget(), QFileDialog), 5)
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QFileDialog)
        await until(dialog.isActiveWindow, 5)  # on screen, as a user sees it before typing in it
        dialog.selectNameFilter("JSON (*.json)")
        target = tmp_path / "one.json"
        name = dialog.findChild(QLineEdit, "fileNameEdit")
        buttons = dialog.findChild(QDialogButtonBox)
        assert name is not None and buttons is not None
        qtbot.keyClicks(name, str(target))  # typed where a user types the file name, then Save
        qtbot.mouseClick(buttons.button(QDialogButtonBox.StandardButton.Save), Qt.MouseButton.LeftButton)
        await until(lambda: target.exists() and launch.window.banner.has("export"), 5)
        exported = json.loads(target.read_text())
        assert exported["format"] == "voicelive-desktop-history" and len(exported["conversations"]) == 1
        texts = [m["text"] for m in exported["conversations"][0]["messages"]]
        assert texts[0] == "export me please" and "export me please" in texts[1]
    finally:
        await quit_app(launch)
    command = [sys.executable, "-m", "voicelive_desktop", "--export-history", "md"]
    history = ["--history", str(tmp_path / "history.sqlite3")]
    printed = await asyncio.to_thread(
        subprocess.run, [*command, *history], capture_output=True, text=True, timeout=30, check=False
    )
    assert printed.returncode == 0, printed.stderr
    assert "**You**" in printed.stdout and "export me please" in printed.stdout
