"""The main window as a user drives it: the hold key, the button, the text field, states, banner, chat."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.controller import Notice
from voicelive_desktop.ui.main_window import DEFAULT_SIZE, MAX_MESSAGE_CHARS, RELEASE_DEBOUNCE_MS, MainWindow
from voicelive_desktop.voicelive.events import ConnectionChanged, ConnState, ErrorCategory, ErrorRaised


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
    assert seen == ["press", "release"], "a real release counts at once: nothing is waited out"


def test_the_hold_key_works_when_nothing_in_the_window_has_the_focus(window: MainWindow) -> None:
    seen = _recorder(window)
    focus = QApplication.focusWidget()
    if focus is not None:
        focus.clearFocus()
    assert QApplication.focusWidget() is None  # keys now go to the window itself
    _key(window, QEvent.Type.KeyPress)
    for _ in range(5):
        _key(window, QEvent.Type.KeyPress, repeat=True)
    assert seen == ["press"]
    _key(window, QEvent.Type.KeyRelease)
    assert seen == ["press", "release"]


def test_repeats_sent_as_presses_alone_are_ignored_and_the_release_counts_at_once(window: MainWindow) -> None:
    seen = _recorder(window)
    window.chat.setFocus()
    _key(window, QEvent.Type.KeyPress)
    for _ in range(18):  # XKB detectable auto-repeat: presses only while held, without the auto-repeat flag
        _key(window, QEvent.Type.KeyPress)
    assert seen == ["press"]
    _key(window, QEvent.Type.KeyRelease)
    assert seen == ["press", "release"]


def test_while_held_the_window_claims_the_key_so_its_repeats_are_never_taken_for_a_shortcut(
    window: MainWindow,
) -> None:
    window.chat.setFocus()

    def claimed() -> bool:
        override = QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier, " ")
        override.ignore()  # as Qt sends it: accepted means "the focus widget wants this key"
        QApplication.sendEvent(QApplication.focusWidget() or window, override)
        return override.isAccepted()

    assert not claimed(), "not held: the key is left to the widgets and their shortcuts"
    _key(window, QEvent.Type.KeyPress)
    assert claimed(), "held: each repeat skips Qt's shortcut search"
    _key(window, QEvent.Type.KeyRelease)
    assert not claimed()


def test_the_release_counts_even_with_a_modifier_pressed_meanwhile(window: MainWindow) -> None:
    seen = _recorder(window)
    window.chat.setFocus()
    _key(window, QEvent.Type.KeyPress)
    target = QApplication.focusWidget() or window
    shifted = Qt.KeyboardModifier.ShiftModifier
    QApplication.sendEvent(target, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Shift, shifted))
    QApplication.sendEvent(target, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Space, shifted, " ", True))
    QApplication.sendEvent(target, QKeyEvent(QEvent.Type.KeyRelease, Qt.Key.Key_Space, shifted, " "))
    assert seen == ["press", "release"], "the microphone must not stay live because Shift was down at release"


def test_another_window_taking_the_keyboard_ends_the_hold(window: MainWindow, qtbot: QtBot) -> None:
    seen = _recorder(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    window.chat.setFocus()
    _key(window, QEvent.Type.KeyPress)
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()  # alt-tab: the key's release will go to the other window
    qtbot.waitUntil(lambda: not window.isActiveWindow(), timeout=2000)
    assert seen == ["press", "release"]


def test_repeats_disguised_as_release_and_press_do_not_end_the_turn(window: MainWindow, qtbot: QtBot) -> None:
    window.release_debounce_ms = RELEASE_DEBOUNCE_MS  # an X server that refused detectable auto-repeat
    seen = _recorder(window)
    window.chat.setFocus()
    _key(window, QEvent.Type.KeyPress)
    for _ in range(5):  # a server without detectable auto-repeat, when Qt misses the flag on a pair
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


def test_connection_errors_share_one_row_that_goes_when_the_connection_is_back(window: MainWindow) -> None:
    window.show_error(ErrorRaised(ErrorCategory.CONNECTION_LOST, "The connection was lost (close code 1006)."))
    window.show_error(ErrorRaised(ErrorCategory.THROTTLED, "Too many requests (429).", "TooManyRequests"))
    assert window.banner.texts() == ["Too many requests (429). [TooManyRequests]"]
    window.show_error(ErrorRaised(ErrorCategory.AUDIO, "No usable microphone found."))
    assert len(window.banner.texts()) == 2
    _connected(window)
    assert window.banner.texts() == ["No usable microphone found."], "only what the connection resolved goes"


def test_startup_notices_stay_until_dismissed(window: MainWindow, qtbot: QtBot) -> None:
    window.show_notice(Notice("Some settings could not be read and were reset.", key="settings-file"))
    window.show_connection(ConnectionChanged(ConnState.CONNECTING, "this computer"))
    _connected(window)
    assert window.banner.texts() == ["Some settings could not be read and were reset."]
    row = window.banner._rows["settings-file"]
    qtbot.mouseClick(row.close_button, Qt.MouseButton.LeftButton)
    assert window.banner.texts() == [] and not window.banner.isVisible()


def test_a_web_address_in_a_message_is_a_link_without_the_sentence_s_full_stop(window: MainWindow) -> None:
    window.show_notice(Notice("Cannot reach https://contoso.example.com/voice. Check the address.", "connection"))
    label = window.banner._rows["connection"].label.text()
    assert '<a href="https://contoso.example.com/voice">https://contoso.example.com/voice</a>. Check' in label
    window.show_notice(Notice('Open "https://example.com/a?b=1&c=2", then <retry>.', "other"))
    label = window.banner._rows["other"].label.text()
    link = "https://example.com/a?b=1&amp;c=2"
    assert f'&quot;<a href="{link}">{link}</a>&quot;, then &lt;retry&gt;.' in label


def test_an_invalid_endpoint_offers_the_demo_with_one_click(window: MainWindow, qtbot: QtBot) -> None:
    asked: list[bool] = []
    window.demo_requested.connect(lambda: asked.append(True))
    window.show_notice(
        Notice("http:// to contoso.example.com would send your key in clear text.", "connection", "demo")
    )
    qtbot.mouseClick(window.banner._rows["connection"].action, Qt.MouseButton.LeftButton)
    assert asked == [True]


def test_a_message_typed_while_not_connected_stays_in_the_box(window: MainWindow, qtbot: QtBot) -> None:
    sent: list[str] = []
    window.text_submitted.connect(sent.append)
    window.show_connection(ConnectionChanged(ConnState.FAILED, "res", detail="the service rejected the credentials"))
    qtbot.keyClicks(window.input, "do not lose me")
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    assert sent == [] and window.input.text() == "do not lose me"
    assert any("stays in the box" in t for t in window.banner.texts())
    window.show_connection(ConnectionChanged(ConnState.RECONNECTING, "res", retry_in_s=4, attempt=2))
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    assert sent == ["do not lose me"], "while reconnecting a message is taken (and sent once connected)"


def test_a_huge_paste_is_cut_to_the_limit_and_the_user_is_told(window: MainWindow) -> None:
    window.input.setFocus()
    window.input.insert("x" * 100_000)  # what a paste does
    assert len(window.input.text()) == MAX_MESSAGE_CHARS
    assert any("cut to" in t and "100,000" in t for t in window.banner.texts())


def test_reconnecting_shows_the_countdown_and_a_retry_button(window: MainWindow, qtbot: QtBot) -> None:
    retried: list[bool] = []
    window.header.retry_clicked.connect(lambda: retried.append(True))
    window.show_connection(
        ConnectionChanged(
            ConnState.RECONNECTING, "res", 1006, retry_in_s=8, attempt=3, detail="the connection was lost"
        )
    )
    text = window.header.state.text()
    assert text.startswith("Reconnecting in 8 s (attempt 3)") and "1006" in text
    assert window.header.retry_button.isVisible() and window.talk.enabled_for_talk
    qtbot.mouseClick(window.header.retry_button, Qt.MouseButton.LeftButton)
    assert retried == [True]
    window.show_connection(ConnectionChanged(ConnState.FAILED, "res", detail="the service rejected the credentials"))
    assert "rejected the credentials" in window.header.state.text() and window.header.connect_button.text() == "Connect"


def test_controls_have_accessible_names(window: MainWindow) -> None:
    for widget in (
        window.header.mode,
        window.header.deployment,
        window.header.connect_button,
        window.input,
        window.send_button,
        window.talk,
        window.talk.meter,
        window.chat,
        window.banner,
        window.header.retry_button,
    ):
        assert widget.accessibleName(), f"{type(widget).__name__} has no accessible name"


def test_a_first_window_fits_a_small_screen(window: MainWindow) -> None:
    """The first launch on a small or scaled-up screen (the test screen is 800 x 800): the whole window shows, the
    talk button at its foot included, rather than the default size running off the screen."""
    room = window.screen().availableGeometry()
    assert room.width() < DEFAULT_SIZE.width(), "a screen smaller than the default size"
    assert room.contains(QRect(room.topLeft(), window.frameGeometry().size()))
    assert window.width() >= DEFAULT_SIZE.width() - 200, "and it still takes most of what there is"
