"""The main window as a user drives it: the hold key, the button, the text field, states, banner, chat."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from voicelive_desktop.ui.main_window import RELEASE_DEBOUNCE_MS, MainWindow
from voicelive_desktop.voicelive.events import (
    ConnectionChanged,
    ConnState,
    ErrorCategory,
    ErrorRaised,
    TurnState,
)


def _key(window: MainWindow, kind: QEvent.Type, *, repeat: bool = False, key: int = Qt.Key.Key_Space) -> None:
    target = QApplication.focusWidget() or window
    QApplication.sendEvent(target, QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier, " ", repeat))


def _recorder(window: MainWindow) -> list[str]:
    seen: list[str] = []
    window.talk_pressed.connect(lambda: seen.append("press"))
    window.talk_released.connect(lambda: seen.append("release"))
    return seen


def _connected(window: MainWindow) -> None:
    window.show_connection(ConnectionChanged(ConnState.CONNECTED, "res \u00b7 BYOM realtime \u00b7 gpt-4o"))


def test_holding_space_is_one_press_and_one_release_despite_auto_repeat(window: MainWindow, qtbot: QtBot) -> None:
    seen = _recorder(window)
    window.chat.setFocus()
    _key(window, QEvent.Type.KeyPress)
    for _ in range(18):  # what a real X server sends while the key is held
        _key(window, QEvent.Type.KeyRelease, repeat=True)
        _key(window, QEvent.Type.KeyPress, repeat=True)
    assert seen == ["press"]
    _key(window, QEvent.Type.KeyRelease)
    qtbot.waitUntil(lambda: seen == ["press", "release"], timeout=1000)


def test_repeats_disguised_as_release_and_press_do_not_end_the_turn(window: MainWindow, qtbot: QtBot) -> None:
    seen = _recorder(window)
    window.chat.setFocus()
    _key(window, QEvent.Type.KeyPress)
    for _ in range(5):  # some X servers send repeats without the auto-repeat flag
        _key(window, QEvent.Type.KeyRelease)
        _key(window, QEvent.Type.KeyPress)
    qtbot.wait(RELEASE_DEBOUNCE_MS * 3)
    assert seen == ["press"]
    _key(window, QEvent.Type.KeyRelease)
    qtbot.waitUntil(lambda: seen == ["press", "release"], timeout=1000)


def test_space_types_into_the_text_field_instead_of_talking(window: MainWindow, qtbot: QtBot) -> None:
    seen = _recorder(window)
    _connected(window)
    window.input.setFocus()
    qtbot.keyClicks(window.input, "hello world")
    assert window.input.text() == "hello world"
    assert seen == []
    sent: list[str] = []
    window.text_submitted.connect(sent.append)
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    assert sent == ["hello world"] and window.input.text() == ""


def test_the_big_button_talks_while_held(window: MainWindow, qtbot: QtBot) -> None:
    seen = _recorder(window)
    qtbot.mousePress(window.talk, Qt.MouseButton.LeftButton)
    qtbot.mouseRelease(window.talk, Qt.MouseButton.LeftButton)
    assert seen == ["press", "release"]


def test_enter_activates_a_focused_button_because_space_talks(window: MainWindow, qtbot: QtBot) -> None:
    clicked: list[bool] = []
    window.header.connect_button.clicked.connect(lambda: clicked.append(True))
    seen = _recorder(window)
    window.header.connect_button.setFocus()
    _key(window, QEvent.Type.KeyPress, key=Qt.Key.Key_Return)
    assert clicked == [True]
    _key(window, QEvent.Type.KeyPress)
    assert seen == ["press"] and clicked == [True]


def test_states_are_shown_on_the_button(window: MainWindow) -> None:
    assert window.talk.caption == "Not connected"
    _connected(window)
    assert "Hold to talk" in window.talk.caption and "Space" in window.talk.caption
    assert "gpt-4o" in window.header.state.text() and window.header.connect_button.text() == "Disconnect"
    window.show_turn(TurnState.LISTENING)
    assert window.talk.caption.startswith("Listening")
    window.show_turn(TurnState.THINKING)
    assert window.talk.caption.startswith("Thinking")
    window.show_turn(TurnState.SPEAKING)
    assert "interrupt" in window.talk.caption
    window.show_connection(ConnectionChanged(ConnState.FAILED))
    assert window.talk.caption == "Not connected" and not window.send_button.isEnabled()


def test_errors_show_in_one_dismissable_banner(window: MainWindow, qtbot: QtBot) -> None:
    window.show_error(ErrorRaised(ErrorCategory.BAD_CREDENTIALS, "The service rejected the credentials (401)."))
    assert window.banner.isVisible() and "401" in window.banner.label.text()
    window.show_error(ErrorRaised(ErrorCategory.THROTTLED, "Too many requests (429)."))
    assert "429" in window.banner.label.text() and "401" not in window.banner.label.text()
    assert not QApplication.topLevelWidgets() or all(
        not w.isModal() for w in QApplication.topLevelWidgets() if w.isVisible()
    )
    qtbot.mouseClick(window.banner.close_button, Qt.MouseButton.LeftButton)
    assert not window.banner.isVisible()


def test_controls_have_accessible_names(window: MainWindow) -> None:
    for widget in (
        window.header.mode,
        window.header.deployment,
        window.header.connect_button,
        window.input,
        window.send_button,
        window.talk,
        window.chat,
        window.banner.close_button,
    ):
        assert widget.accessibleName(), f"{type(widget).__name__} has no accessible name"
