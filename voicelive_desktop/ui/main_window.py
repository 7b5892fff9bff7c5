"""The main window: header, chat, banner, text field, the talk button and a status bar."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QHideEvent, QKeyEvent, QKeySequence, QPaintEvent, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from ..assistant_events import AudioStatus, MessageView, TurnState
from ..voicelive.events import ConnectionChanged, ConnState, ErrorCategory, ErrorRaised
from .chat_view import ChatView
from .conversations_panel import ConversationsPanel
from .error_banner import ErrorBanner
from .header import TRYING, Header
from .menus import build_menus
from .talk_button import TalkButton

if TYPE_CHECKING:
    from ..controller import ControllerState, Notice
    from .key_repeat import PressMute

log = logging.getLogger(__name__)
#: Only where a release may be a disguised repeat (an X server without detectable auto-repeat): a release
#: counts once no press of the key followed within this long.
RELEASE_DEBOUNCE_MS = 40
#: The longest message the composer takes. Longer pastes are cut here, and the user is told.
MAX_MESSAGE_CHARS = 20_000
#: Errors about the connection share one banner row, and it goes once the connection is back.
_CONNECTION_ERRORS = frozenset(
    {
        ErrorCategory.BAD_CREDENTIALS,
        ErrorCategory.FORBIDDEN,
        ErrorCategory.DEPLOYMENT_NOT_FOUND,
        ErrorCategory.THROTTLED,
        ErrorCategory.REFUSED,
        ErrorCategory.CONNECTION_LOST,
        ErrorCategory.SESSION_EXPIRED,
        ErrorCategory.UNREACHABLE,
    }
)


def key_from_name(name: str) -> int:
    """The Qt key code for a key name such as ``Space`` or ``F8``."""
    sequence = QKeySequence.fromString(name)
    return sequence[0].key().value if sequence.count() else Qt.Key.Key_Space.value  # type: ignore[index]


#: The window's size at its first launch, on a screen with room for it (a saved size is restored after that).
DEFAULT_SIZE = QSize(900, 680)
#: Room kept on the screen around a first window: its frame and title bar, and a panel or dock.
_SCREEN_MARGIN = QSize(40, 80)


def first_size() -> QSize:
    """The size of a first window: :data:`DEFAULT_SIZE`, or less on a small or scaled-up screen (a laptop at 150 %
    has about 900 x 500 pixels to give), so that the whole window, the talk button at its foot included, shows."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return DEFAULT_SIZE
    return DEFAULT_SIZE.boundedTo(screen.availableGeometry().size() - _SCREEN_MARGIN)


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
    ask_again_requested = Signal()
    """The user asked again for an answer that a lost connection cut off."""
    conversations_wanted = Signal(str)
    """The conversations panel needs its rows (for this search text)."""
    export_requested = Signal(str, str, str)
    """(scope "current" or "all", format "md" or "json", file path): write an export there."""
    undo_delete_requested = Signal(str)
    """Bring back the conversation with this id, just deleted."""
    hint_dismissed = Signal(str)
    """"Don't show again" on a hint."""
    hidden_to_tray = Signal()
    """Closing hid the window: the app goes on in the tray."""
    demo_requested = Signal()
    """The user took the offer of the offline demo."""
    first_painted = Signal()
    """The window painted for the first time (startup figure)."""

    def __init__(self, hold_key: str = "Space") -> None:
        super().__init__()
        self.setWindowTitle("Voice Live")
        self.setObjectName("mainWindow")
        self.resize(first_size())
        self.hold_key = key_from_name(hold_key)
        self.header = Header()
        self.banner = ErrorBanner()
        self.chat = ChatView()
        self.talk = TalkButton(hold_key)
        self.chat.show_how_to_talk(hold_key)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Type a message and press Enter\u2026")
        self.input.setAccessibleName("Message")
        self.input.setMaxLength(2**31 - 1)  # the limit is MAX_MESSAGE_CHARS, applied (and told) in _text_edited
        self.input.setToolTip("Type a message (Ctrl+L to get here from anywhere); Space talks everywhere else")
        focus_input = QShortcut(QKeySequence("Ctrl+L"), self)
        focus_input.activated.connect(self.input.setFocus)
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
        self.conversations = ConversationsPanel()
        self.conversations.hide()
        self.splitter = QSplitter()
        self.splitter.addWidget(self.conversations)
        self.splitter.addWidget(self.chat)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        column.addWidget(self.splitter, 1)
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
        self._accepting = False
        self.hide_to_tray = False  # closing hides the window (Settings > Desktop, with a tray)
        self._quitting = False
        self.closed = False  # closed for good (``closing`` was emitted), perhaps before anyone listened
        self.global_key_status = ""  # what Settings > Keys says about the global hold key
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        # A release of the hold key counts at once where releases are real (key_repeat.py); only where an X
        # server repeats keys as release+press pairs that Qt may fail to flag does it wait for a press to follow.
        # On X11 the server is asked for real releases once the window has painted (an X round trip, and ctypes).
        self.release_debounce_ms = RELEASE_DEBOUNCE_MS if app.platformName() == "xcb" else 0
        # Where releases are real on X11, the window asks for no key presses while the hold key is down: X then
        # sends none of its auto-repeats, which Qt would otherwise read and deliver, 25-40 a second.
        self._press_mute: PressMute | None = None
        self._release_timer = QTimer(self)
        self._release_timer.setSingleShot(True)
        self._release_timer.timeout.connect(self._key_released)
        self.input.returnPressed.connect(self._submit)
        self.input.textChanged.connect(self._text_edited)
        self.banner.action_clicked.connect(self._banner_action)
        self.send_button.clicked.connect(self._submit)
        self.talk.held.connect(self.talk_pressed)
        self.talk.let_go.connect(self.talk_released)
        # Keys go to the focus widget (or to this window when nothing has the focus, or when the focus widget
        # leaves them): the hold key is watched on the focus widget by an event filter, and here by this window's
        # own key handlers. A filter runs Python for every event of what it watches, each wrapped for Python
        # first: on this window it would also see its paint and update requests (two per level-meter repaint)
        # and each auto-repeat's shortcut check; on the whole application, hundreds of events a second more.
        self._watched: QWidget | None = None
        self._watch_focus(None, QApplication.focusWidget())
        app.focusChanged.connect(self._watch_focus)

    def _build_menu(self) -> None:
        self.menus = build_menus(self)
        self.settings_action = self.menus.settings
        self.copy_action = self.menus.copy_conversation
        self.menus.settings.triggered.connect(self.settings_requested)
        self.menus.quit.triggered.connect(self.quit_app)
        self.menus.conversations.toggled.connect(self._show_conversations)
        self.menus.export_conversation.triggered.connect(lambda: self._export("current"))
        self.menus.export_all.triggered.connect(lambda: self._export("all"))
        self.header.azure_requested.connect(self.settings_requested)
        self.conversations.query_changed.connect(self.conversations_wanted)
        self._deleted: tuple[str, str] | None = None

    # ----------------------------------------------------------------- conversations
    def _show_conversations(self, shown: bool) -> None:
        self.conversations.setVisible(shown)
        if shown:
            self.refresh_conversations()

    def refresh_conversations(self) -> None:
        """Ask for the panel's rows again, if it is shown (after a change to the history)."""
        if self.conversations.isVisible():
            self.conversations_wanted.emit(self.conversations.query)

    def show_conversation(self, conversation_id: str, messages: tuple[MessageView, ...]) -> None:
        """Another conversation is on screen."""
        self.chat.replace_all(messages)
        self.conversations.current_id = conversation_id
        self.refresh_conversations()

    def show_deleted(self, conversation_id: str, title: str) -> None:
        """A conversation was deleted: say so, with Undo."""
        self._deleted = (conversation_id, title)
        self.banner.show_message(
            f"Deleted \u201c{title or 'Untitled'}\u201d.", error=False, key="deleted", action="Undo"
        )
        self.refresh_conversations()

    def _export(self, scope: str) -> None:
        """Ask where to write the export (a non-blocking dialog), then ask for it."""
        dialog = QFileDialog(self, "Export all conversations" if scope == "all" else "Export this conversation")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilters(["Markdown (*.md)", "JSON (*.json)"])
        dialog.setDefaultSuffix("md")
        dialog.filterSelected.connect(lambda chosen: dialog.setDefaultSuffix("json" if "json" in chosen else "md"))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def chosen(path: str) -> None:
            fmt = "json" if "json" in dialog.selectedNameFilter() or path.endswith(".json") else "md"
            self.export_requested.emit(scope, fmt, path)

        dialog.fileSelected.connect(chosen)
        dialog.open()

    def set_hold_key(self, name: str) -> None:
        """Use another hold-to-talk key."""
        self.hold_key = key_from_name(name)
        self.chat.show_how_to_talk(name, hands_free=self.talk.hands_free)
        self.talk.hold_key_name = name
        self.talk.set_state(self.talk.state)

    def set_hands_free(self, on: bool) -> None:
        """The service ends turns by itself (Settings > Conversation): the button and hints say how to talk."""
        self.talk.hands_free = on
        self.chat.show_how_to_talk(self.talk.hold_key_name, hands_free=on)
        self._show_mic_tip()

    # ----------------------------------------------------------------- rendering
    def show_connection(self, event: ConnectionChanged) -> None:
        """Render the connection state; talking and typing work while connected or (re)connecting."""
        self.header.set_connection(event)
        self._accepting = event.state in TRYING
        self.talk.set_talk_enabled(self._accepting, connected=event.state is ConnState.CONNECTED)
        self.send_button.setEnabled(self._accepting)
        if event.state is ConnState.CONNECTED:
            self.banner.resolve("connection")
            self.banner.resolve("not-sent")

    def show_state(self, state: ControllerState) -> None:
        """Mode, deployment and its choices, and whether this is the offline demo."""
        self.header.set_choices(state.mode, state.deployment, state.deployments)
        self.header.set_demo(state.demo)

    def show_turn(self, state: TurnState) -> None:
        """Render the turn state."""
        self.talk.set_state(state)

    def show_message(self, message: MessageView) -> None:
        """Add or update a chat bubble."""
        self.chat.show_message(message)

    def show_error(self, error: ErrorRaised) -> None:
        """Show the actionable text in the banner (one row per kind of problem, with its code)."""
        key = "connection" if error.category in _CONNECTION_ERRORS else error.category.value
        text = error.message
        if error.code and error.code not in text:
            text += f" [{error.code}]"
        failed = error.category is not ErrorCategory.WARNING and not error.recovered
        self.banner.show_message(text, error=failed, key=key)

    def show_notice(self, notice: Notice | str) -> None:
        """Show a non-error message in the banner, until it is dismissed or resolved."""
        if isinstance(notice, str):
            self.banner.show_message(notice, error=False)
            return
        if not notice.message:
            self.banner.resolve(notice.key)
            return
        action = {"demo": "Use the offline demo", "hide-hint": "Don't show again"}.get(notice.action, "")
        self.banner.show_message(notice.message, error=False, key=notice.key or notice.message, action=action)

    def offer_ask_again(self, offered: bool, lost: bool = True) -> None:
        """Offer (or stop offering) to ask again for an answer that was cut off (by a lost connection, or by a
        switch of model or mode while it was coming in)."""
        if offered:
            self.banner.show_message(
                "The connection dropped while the answer was coming in. Ask again once it is back?"
                if lost
                else "The answer was cut off before it finished. Ask again?",
                error=False,
                key="ask-again",
                action="Ask again",
            )
        else:
            self.banner.resolve("ask-again")

    def _banner_action(self, key: str) -> None:
        self.banner.resolve(key)
        if key == "ask-again":
            self.ask_again_requested.emit()
        elif key == "slow-byom":
            self.hint_dismissed.emit(key)
        elif key == "deleted" and self._deleted is not None:
            self.undo_delete_requested.emit(self._deleted[0])
            self._deleted = None
        elif key == "connection":
            self.demo_requested.emit()

    def show_latency(self, ms: int) -> None:
        """Key up to first answer audio."""
        self.latency_label.setText(f"Latency: {ms} ms")

    def show_audio(self, status: AudioStatus) -> None:
        """Devices in use and the microphone indicator."""
        self.devices_label.setText(f"Mic: {status.input_label}  \u00b7  Speaker: {status.output_label}")
        self.mic_label.setText("\u25cf Mic open" if status.mic_open else "\u25cb Mic closed")
        self.mic_label.setProperty("open", status.mic_open)
        self._show_mic_tip()

    def _show_mic_tip(self) -> None:
        """What the status line's microphone indicator means, for the turn mode in use."""
        if not self.mic_label.property("open"):
            how = "when connected" if self.talk.hands_free else "only while you hold the key"
            tip = f"The microphone opens {how}"
        elif self.talk.hands_free:
            tip = "Hands-free: the microphone streams to the service, which hears when you speak"
        else:
            tip = "The microphone stays open between turns so the start of your first word is kept"
        self.mic_label.setToolTip(tip)

    # ----------------------------------------------------------------- input
    def _submit(self) -> None:
        text = self.input.text().strip()
        if not text:
            return
        if not self._accepting:
            self.banner.show_message(
                "Not connected: your message stays in the box. Press Connect (or fix Settings), then send it.",
                error=False,
                key="not-sent",
            )
            return
        self.text_submitted.emit(text)
        self.input.clear()

    def _text_edited(self, text: str) -> None:
        if len(text) > MAX_MESSAGE_CHARS:
            self.input.setText(text[:MAX_MESSAGE_CHARS])
            self.banner.show_message(
                f"The text was cut to {MAX_MESSAGE_CHARS:,} characters, the longest message this app sends "
                f"({len(text):,} were pasted).",
                error=False,
                key="too-long",
            )

    @staticmethod
    def _typing(watched: QObject) -> bool:
        text_input = QLineEdit | QTextEdit | QPlainTextEdit
        return isinstance(watched, text_input) or isinstance(QApplication.focusWidget(), text_input)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The focus widget's key events: the hold key is taken before the widget sees it."""
        if not isinstance(event, QKeyEvent):  # first, and cheap: every event of the focus widget comes through
            return False
        return self._hold_key_event(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self._hold_key_event(self, event):
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if not self._hold_key_event(self, event):
            super().keyReleaseEvent(event)

    def _hold_key_event(self, watched: QObject, event: QKeyEvent) -> bool:
        """The hold key works anywhere in this window except in a text field; auto-repeat is ignored. True: the
        event was the hold key's, and is taken."""
        kind = event.type()
        if self._key_down and event.key() == self.hold_key:
            return self._held_key_event(kind, event)
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
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
        if self._typing(watched):
            return False
        if kind == QEvent.Type.KeyPress and not event.isAutoRepeat():
            log.debug("hold key down")
            self._key_down = True
            self.talk_pressed.emit()
            if self._press_mute is not None and self._key_down:  # still down: not released by a slot
                self._press_mute.mute(int(self.winId()))
        return True

    def _held_key_event(self, kind: QEvent.Type, event: QKeyEvent) -> bool:
        """An event of the hold key while it is held: all of them are the hold's, whatever the modifiers, the
        focus or a dialog opened meanwhile (a release lost there would leave the microphone streaming). The
        auto-repeat's 40 or so events a second take the shortest path."""
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()  # the held key is ours, not a shortcut: Qt skips its shortcut search
            return True
        if event.isAutoRepeat():
            return True
        if kind == QEvent.Type.KeyPress:
            self._release_timer.stop()  # a repeat sent as a press alone, or the press of a disguised pair
        elif kind == QEvent.Type.KeyRelease:
            if not self.release_debounce_ms:
                self._key_released()
            elif not self._release_timer.isActive():
                self._release_timer.start(self.release_debounce_ms)  # a real release, unless a press follows
        else:
            return False
        return True

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.ActivationChange and self._key_down and not self.isActiveWindow():
            self._key_released()  # another window took the keyboard: the key's release will not come here
        super().changeEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        if self._press_mute is not None:
            self._press_mute.unmute()  # hidden to the tray while held: keys work when it is shown again
        super().hideEvent(event)

    def _watch_focus(self, _old: QWidget | None, new: QWidget | None) -> None:
        """Move the hold key's filter to the widget that now has the focus (where key events go)."""
        old, self._watched = self._watched, new if new is not self else None
        if old is not None:
            with contextlib.suppress(RuntimeError):  # already deleted
                old.removeEventFilter(self)
        if self._watched is not None:
            self._watched.installEventFilter(self)

    def _key_released(self) -> None:
        if self._press_mute is not None:
            self._press_mute.unmute()
        if self._key_down:
            log.debug("hold key up")
            self._key_down = False
            self.talk_released.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self._ask_beneath_qt)
            self.first_painted.emit()

    def quit_app(self) -> None:
        """Quit for real (File > Quit, the tray's Quit), even when closing only hides the window."""
        self._quitting = True
        self.close()

    def _ask_beneath_qt(self) -> None:
        """What the window asks of the platform itself, after its first paint (X11 only, so far): real key
        releases and no repeats while the key is held, and a level meter the X server draws."""
        from .key_repeat import PressMute, releases_are_real
        from .x11_meter import X11Meter

        app = QApplication.instance()
        if not isinstance(app, QApplication) or self.closed:
            return
        if self.release_debounce_ms and releases_are_real(app):
            self.release_debounce_ms = 0
            self._press_mute = PressMute.for_app(app)
        meter = X11Meter.for_window(app, self)
        if meter is not None:
            self.talk.use_x11_meter(meter)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.hide_to_tray and not self._quitting:
            event.ignore()
            self.hide()
            self.hidden_to_tray.emit()
            return
        self.closed = True
        self.closing.emit()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            with contextlib.suppress(RuntimeError, TypeError):
                app.focusChanged.disconnect(self._watch_focus)
        self._watch_focus(None, None)
        super().closeEvent(event)
