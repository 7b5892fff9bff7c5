"""The main window: header, chat, banner, text field, the talk button and a status bar."""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeyEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from ..assistant_events import AudioStatus, MessageView
from ..voicelive.events import ConnectionChanged, ConnState, ErrorRaised, TurnState
from .chat_view import ChatView
from .error_banner import ErrorBanner
from .header import Header
from .talk_button import TalkButton

log = logging.getLogger(__name__)
RELEASE_DEBOUNCE_MS = 40


def key_from_name(name: str) -> int:
    """The Qt key code for a key name such as ``Space`` or ``F8``."""
    sequence = QKeySequence.fromString(name)
    return sequence[0].key().value if sequence.count() else Qt.Key.Key_Space.value  # type: ignore[index]


class MainWindow(QMainWindow):
    """Renders the app's state and turns user input into intents (signals)."""

    talk_pressed = Signal()
    """Hold-to-talk went down (mouse or hold key)."""
    talk_released = Signal()
    """Hold-to-talk came up."""
    text_submitted = Signal(str)
    """A typed message."""
    settings_requested = Signal()
    """The user asked for the settings panel."""
    closing = Signal()
    """The window is closing."""
    first_painted = Signal()
    """The window painted for the first time (startup figure)."""

    def __init__(self, hold_key: str = "Space") -> None:
        super().__init__()
        self.setWindowTitle("Voice Live")
        self.setObjectName("mainWindow")
        self.resize(900, 680)
        self.hold_key = key_from_name(hold_key)
        self.header = Header()
        self.banner = ErrorBanner()
        self.chat = ChatView()
        self.talk = TalkButton(hold_key)
        self.chat.set_hold_key(hold_key)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Type a message and press Enter\u2026")
        self.input.setAccessibleName("Message")
        self.send_button = QPushButton("Send")
        self.send_button.setAccessibleName("Send message")

        composer = QHBoxLayout()
        composer.addWidget(self.input, 1)
        composer.addWidget(self.send_button)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.header)
        column.addWidget(self.banner)
        column.addWidget(self.chat, 1)
        bottom = QVBoxLayout()
        bottom.setContentsMargins(16, 10, 16, 12)
        bottom.setSpacing(10)
        bottom.addLayout(composer)
        bottom.addWidget(self.talk)
        column.addLayout(bottom)
        self.setCentralWidget(central)

        self.devices_label = QLabel("Audio: loading\u2026")
        self.mic_label = QLabel("")
        self.mic_label.setObjectName("micIndicator")
        self.latency_label = QLabel("Latency: \u2014")
        for label in (self.devices_label, self.mic_label, self.latency_label):
            self.statusBar().addPermanentWidget(label)

        self._build_menu()
        self._key_down = False
        self._painted = False
        # Some X servers send key repeats as release+press pairs that Qt cannot flag as auto-repeat: a
        # release only counts if no press of the same key follows within this window.
        self._release_timer = QTimer(self)
        self._release_timer.setSingleShot(True)
        self._release_timer.setInterval(RELEASE_DEBOUNCE_MS)
        self._release_timer.timeout.connect(self._key_released)
        self.input.returnPressed.connect(self._submit)
        self.send_button.clicked.connect(self._submit)
        self.talk.held.connect(self.talk_pressed)
        self.talk.let_go.connect(self.talk_released)
        app = QApplication.instance()
        assert app is not None
        app.installEventFilter(self)

    def _build_menu(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self.settings_action = QAction("&Settings\u2026", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.triggered.connect(self.settings_requested)
        menu.addAction(self.settings_action)
        self.copy_action = QAction("&Copy conversation", self)
        self.copy_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        menu.addAction(self.copy_action)
        menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu.addAction(quit_action)
        self.header.azure_requested.connect(self.settings_requested)

    def set_hold_key(self, name: str) -> None:
        """Use another hold-to-talk key."""
        self.hold_key = key_from_name(name)
        self.chat.set_hold_key(name)
        self.talk.hold_key_name = name
        self.talk.set_state(self.talk.state)

    # ----------------------------------------------------------------- rendering
    def show_connection(self, event: ConnectionChanged) -> None:
        """Render the connection state."""
        self.header.set_connection(event)
        connected = event.state is ConnState.CONNECTED
        self.talk.set_talk_enabled(connected)
        self.send_button.setEnabled(connected)
        if connected:
            self.banner.hide()

    def show_turn(self, state: TurnState) -> None:
        """Render the turn state."""
        self.talk.set_state(state)

    def show_message(self, message: MessageView) -> None:
        """Add or update a chat bubble."""
        self.chat.show_message(message)

    def show_error(self, error: ErrorRaised) -> None:
        """Show the session's actionable text in the banner."""
        self.banner.show_message(error.message)

    def show_notice(self, text: str) -> None:
        """Show a non-error message in the banner."""
        self.banner.show_message(text, error=False)

    def show_latency(self, ms: int) -> None:
        """Key up to first answer audio."""
        self.latency_label.setText(f"Latency: {ms} ms")

    def show_audio(self, status: AudioStatus) -> None:
        """Devices in use and the microphone indicator."""
        self.devices_label.setText(f"Mic: {status.input_label}  \u00b7  Speaker: {status.output_label}")
        self.mic_label.setText("\u25cf Mic open" if status.mic_open else "\u25cb Mic closed")
        self.mic_label.setProperty("open", status.mic_open)
        self.mic_label.setToolTip(
            "The microphone stays open between turns so the start of your first word is kept"
            if status.mic_open
            else "The microphone opens only while you hold the key"
        )

    # ----------------------------------------------------------------- input
    def _submit(self) -> None:
        text = self.input.text().strip()
        if text and self.send_button.isEnabled():
            self.text_submitted.emit(text)
            self.input.clear()

    @staticmethod
    def _typing(watched: QObject) -> bool:
        text_input = QLineEdit | QTextEdit | QPlainTextEdit
        return isinstance(watched, text_input) or isinstance(QApplication.focusWidget(), text_input)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The hold key works anywhere in this window except in a text field; auto-repeat is ignored."""
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) or not isinstance(event, QKeyEvent):
            return False
        if not self.isActiveWindow() or QApplication.activeModalWidget() is not None:
            return False
        if event.key() != self.hold_key or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            if kind == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                focus = QApplication.focusWidget()
                if isinstance(focus, QAbstractButton):  # Space is the hold key: Enter activates buttons
                    focus.click()
                    return True
            return False
        if self._typing(watched) and not self._key_down:
            return False
        if event.isAutoRepeat():
            return True
        if kind == QEvent.Type.KeyPress:
            if self._release_timer.isActive():
                self._release_timer.stop()  # a repeat disguised as release+press: still held
            elif not self._key_down:
                log.debug("hold key down")
                self._key_down = True
                self.talk_pressed.emit()
        elif self._key_down and not self._release_timer.isActive():
            self._release_timer.start()
        return True

    def _key_released(self) -> None:
        if self._key_down:
            log.debug("hold key up")
            self._key_down = False
            self.talk_released.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.first_painted.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closing.emit()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        super().closeEvent(event)
