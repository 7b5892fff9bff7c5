"""The chat pane: streaming in place, late user words, interruption marks, coalesced rendering, sticky bottom."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt
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
        "cut": "",
        "pending": False,
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
        _view("a1", Role.ASSISTANT, full, final=True, cut="Interrupted", heard_text="The first part was heard.")
    )
    qtbot.waitUntil(lambda: bool(window.chat.bubbles()), timeout=1000)
    bubble = window.chat.bubbles()[0]
    assert isinstance(bubble, Bubble)
    rich = bubble.body.text()
    assert "Interrupted" in bubble.plain_text()
    assert rich.index("The first part was heard.") < rich.index("<s>") < rich.index("The rest never")


def test_an_answer_cut_by_the_service_says_why_and_stops_streaming(window: MainWindow, qtbot: QtBot) -> None:
    window.show_message(_view("a1", Role.ASSISTANT, "Here is how to", final=False))
    window.show_message(_view("a1", Role.ASSISTANT, "Here is how to", final=True, cut="Stopped: content filter"))
    qtbot.waitUntil(lambda: bool(window.chat.bubbles()), timeout=1000)
    bubble = window.chat.bubbles()[0]
    assert isinstance(bubble, Bubble)
    qtbot.waitUntil(lambda: "content filter" in bubble.plain_text(), timeout=1000)
    assert "\u258d" not in bubble.body.text(), "a cut answer must not keep its streaming cursor"


def test_a_message_waiting_for_the_connection_says_so(window: MainWindow, qtbot: QtBot) -> None:
    window.show_message(_view("u1", Role.USER, "are you there?", final=True, pending=True))
    qtbot.waitUntil(lambda: bool(window.chat.bubbles()), timeout=1000)
    assert "waiting for the connection" in _texts(window)[0]
    window.show_message(_view("u1", Role.USER, "are you there?", final=True))
    qtbot.waitUntil(lambda: _texts(window) == ["are you there?"], timeout=1000)


def test_a_message_never_sent_says_why(window: MainWindow, qtbot: QtBot) -> None:
    window.show_message(_view("u1", Role.USER, "are you there?", final=True, cut="not sent: you left"))
    qtbot.waitUntil(lambda: _texts(window) == ["are you there? (not sent: you left)"], timeout=1000)


def test_selected_text_is_copied_with_ctrl_c(window: MainWindow, qtbot: QtBot) -> None:
    QApplication.clipboard().clear()
    window.show_message(_view("a1", Role.ASSISTANT, "copy me, please", final=True))
    qtbot.waitUntil(lambda: bool(window.chat.bubbles()), timeout=1000)
    bubble = window.chat.bubbles()[0]
    assert isinstance(bubble, Bubble)
    bubble.body.setFocus()
    bubble.body.setSelection(0, 7)
    qtbot.keyClick(bubble.body, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == "copy me"


def test_another_conversation_replaces_every_bubble(window: MainWindow, qtbot: QtBot) -> None:
    window.show_message(_view("a1", Role.ASSISTANT, "old", final=True))
    qtbot.waitUntil(lambda: _texts(window) == ["old"], timeout=1000)
    window.chat.replace_all(
        (_view("u9", Role.USER, "earlier", final=True), _view("a9", Role.ASSISTANT, "answer", final=True))
    )
    assert _texts(window) == ["earlier", "answer"]
    window.chat.replace_all(())
    assert _texts(window) == [] and window.chat.placeholder.isVisible()


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


def test_words_that_look_like_markup_are_shown_and_copied_as_said(window: MainWindow, qtbot: QtBot) -> None:
    said = "Is <b>this</b> bold? AT&amp;T & \"quotes\" 'too' &lt;3"
    window.show_message(_view("u1", Role.USER, said, final=True))
    window.show_message(_view("a1", Role.ASSISTANT, said, final=True, cut="Cut <here>", heard_text="Is <b>"))
    qtbot.waitUntil(lambda: len(window.chat.bubbles()) == 2, timeout=1000)
    user, answer = window.chat.bubbles()
    assert isinstance(user, Bubble) and isinstance(answer, Bubble)
    assert user.plain_text() == said, "the user's words were taken for markup"
    assert "<b>this</b>" not in user.body.text(), "the words reached the label as markup"
    assert answer.plain_text().startswith(said) and "Cut <here>" in answer.plain_text()


def test_a_divider_reused_by_the_next_switch_names_the_model_now_in_use(window: MainWindow, qtbot: QtBot) -> None:
    """Two quick switches with nothing said between them: one divider line, and it names the second model (as
    the saved history does), not the first."""
    window.show_message(_view("u1", Role.USER, "hello", final=True, index=0))
    window.show_message(_view("divider-1", Role.DIVIDER, "Now talking to gpt-realtime (BYOM realtime)", index=1))
    qtbot.waitUntil(lambda: len(window.chat.bubbles()) == 2, timeout=2000)
    window.show_message(_view("divider-1", Role.DIVIDER, "Now talking to gpt-4.1 (BYOM chat completion)", index=1))
    qtbot.waitUntil(lambda: "gpt-4.1" in _texts(window)[1], timeout=2000)
    assert len(window.chat.bubbles()) == 2 and "gpt-realtime" not in _texts(window)[1]


def test_an_answer_cut_off_before_it_began_takes_no_room(window: MainWindow, qtbot: QtBot) -> None:
    """Messages sent in a row cut the answers still to come: those that had shown nothing show nothing (no empty
    "Interrupted" bubble each), while one cut after its first words, or heard in part, keeps its mark."""
    window.show_message(_view("u1", Role.USER, "first", final=True))
    window.show_message(_view("a1", Role.ASSISTANT, "", final=False))  # an answer was due: its bubble waits
    window.show_message(_view("u2", Role.USER, "second", final=True))
    qtbot.waitUntil(lambda: len(window.chat.bubbles()) == 3, timeout=1000)
    window.show_message(_view("a1", Role.ASSISTANT, "", final=True, cut="Interrupted"))
    window.show_message(_view("a2", Role.ASSISTANT, "", final=True, cut="Interrupted"))  # never shown before
    window.show_message(_view("a3", Role.ASSISTANT, "", final=True, cut="Interrupted", heard_ms=300, heard_text=""))
    window.show_message(_view("a4", Role.ASSISTANT, "Well,", final=True, cut="Interrupted", heard_text=""))
    window.show_message(_view("a5", Role.ASSISTANT, "", final=True, cut="Connection lost"))
    qtbot.waitUntil(lambda: len(window.chat.bubbles()) == 5, timeout=1000)
    qtbot.wait(100)  # one more render tick: nothing else appears
    texts = _texts(window)
    assert texts[:2] == ["first", "second"]
    assert [t.split("\u2702")[-1].strip() for t in texts[2:]] == ["Interrupted", "Interrupted", "Connection lost"]
    assert texts[3].startswith("Well,")
    drawn = {b.message.id: b.isVisibleTo(window) for b in window.chat.findChildren(Bubble)}
    assert drawn == {"u1": True, "u2": True, "a1": False, "a2": False, "a3": True, "a4": True, "a5": True}
    spacing = window.chat.widget().layout().spacing()
    bottoms = [b.mapTo(window.chat.widget(), b.rect().bottomLeft()).y() for b in window.chat.bubbles()]
    tops = [b.mapTo(window.chat.widget(), b.rect().topLeft()).y() for b in window.chat.bubbles()]
    gaps = [top - bottom for bottom, top in zip(bottoms, tops[1:], strict=False)]
    assert max(gaps) <= spacing + 1, f"a hidden answer still takes room: gaps {gaps}"
