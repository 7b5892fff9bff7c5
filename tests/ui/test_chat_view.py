"""The chat pane: streaming in place, late user words, interruption marks, coalesced rendering, sticky bottom."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from voicelive_desktop.assistant_events import MessageView
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.ui.chat_view import Bubble
from voicelive_desktop.ui.main_window import MainWindow


def _view(item_id: str, role: Role, text: str, **kw: object) -> MessageView:
    values = {
        "heard_text": text,
        "final": False,
        "spoken": False,
        "failed": False,
        "interrupted": False,
        "at": datetime(2026, 11, 25, 14, 30),
        **kw,
    }
    return MessageView(item_id, role, text, **values)  # type: ignore[arg-type]


def _texts(window: MainWindow) -> list[str]:
    return [b.plain_text() if isinstance(b, Bubble) else b.text() for b in window.chat.bubbles()]


def test_assistant_text_streams_into_one_bubble_with_coalesced_renders(window: MainWindow, qtbot: QtBot) -> None:
    text = ""
    for i in range(100):  # 100 deltas arriving within one second
        text += f"w{i} "
        window.show_message(_view("a1", Role.ASSISTANT, text))
        qtbot.wait(10)
    window.show_message(_view("a1", Role.ASSISTANT, text.strip(), final=True))
    qtbot.waitUntil(lambda: _texts(window) == [text.strip()], timeout=2000)
    assert len(window.chat.bubbles()) == 1
    assert window.chat.renders < 60, f"{window.chat.renders} renders for 101 updates: rendering is not coalesced"


def test_late_user_transcript_fills_its_own_bubble_above_the_answer(window: MainWindow, qtbot: QtBot) -> None:
    window.show_message(_view("u1", Role.USER, "", spoken=True))
    window.show_message(_view("a1", Role.ASSISTANT, "Sunny and mild."))
    qtbot.waitUntil(lambda: len(window.chat.bubbles()) == 2, timeout=1000)
    assert _texts(window)[0] == "\u2026"
    window.show_message(_view("u1", Role.USER, "what is the weather", spoken=True, final=True))
    qtbot.waitUntil(lambda: _texts(window)[0] == "what is the weather", timeout=1000)
    assert len(window.chat.bubbles()) == 2 and _texts(window)[1].startswith("Sunny and mild.")


def test_an_interrupted_answer_is_marked_where_it_was_cut(window: MainWindow, qtbot: QtBot) -> None:
    full = "The first part was heard. The rest never reached the listener."
    window.show_message(
        _view("a1", Role.ASSISTANT, full, final=True, interrupted=True, heard_text="The first part was heard.")
    )
    qtbot.waitUntil(lambda: bool(window.chat.bubbles()), timeout=1000)
    bubble = window.chat.bubbles()[0]
    assert isinstance(bubble, Bubble)
    rich = bubble.body.text()
    assert "interrupted" in bubble.plain_text()
    assert rich.index("The first part was heard.") < rich.index("<s>") < rich.index("The rest never")


def test_text_is_selectable_and_copyable(window: MainWindow, qtbot: QtBot) -> None:
    window.show_message(_view("a1", Role.ASSISTANT, "copy me", final=True))
    qtbot.waitUntil(lambda: bool(window.chat.bubbles()), timeout=1000)
    bubble = window.chat.bubbles()[0]
    assert isinstance(bubble, Bubble)
    bubble.body.setSelection(0, 7)
    assert bubble.body.selectedText() == "copy me"
    QApplication.clipboard().setText(bubble.body.selectedText())
    assert QApplication.clipboard().text() == "copy me"


def test_view_follows_new_messages_unless_the_user_scrolled_up(window: MainWindow, qtbot: QtBot) -> None:
    bar = window.chat.verticalScrollBar()
    for i in range(30):
        window.show_message(_view(f"m{i}", Role.ASSISTANT, f"message {i} " * 8, final=True))
    qtbot.waitUntil(lambda: len(window.chat.bubbles()) == 30 and bar.maximum() > 0, timeout=2000)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=1000)
    bar.setValue(0)  # the user scrolls up to read
    assert not window.chat.following
    window.show_message(_view("new", Role.ASSISTANT, "a new message " * 8, final=True))
    qtbot.waitUntil(lambda: len(window.chat.bubbles()) == 31, timeout=1000)
    qtbot.wait(100)
    assert bar.value() == 0, "the view jumped while the user was reading"
    bar.setValue(bar.maximum())
    window.show_message(_view("newer", Role.ASSISTANT, "another " * 8, final=True))
    qtbot.waitUntil(lambda: len(window.chat.bubbles()) == 32, timeout=1000)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=1000)
