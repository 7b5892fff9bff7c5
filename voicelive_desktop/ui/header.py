"""The header: mode and deployment selectors, connect/disconnect, connection state, the demo badge."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..voicelive.events import ConnectionChanged, ConnState
from ..voicelive.modes import Mode

#: States in which the app is, or is trying to be, connected: Connect becomes Disconnect (stop trying).
TRYING = (ConnState.CONNECTING, ConnState.CONNECTED, ConnState.RECONNECTING)


def describe(event: ConnectionChanged, seconds_left: float | None = None) -> str:
    """The status line for ``event``; ``seconds_left`` counts down a scheduled reconnect."""
    where = event.description
    if event.state is ConnState.CONNECTED:
        return f"Connected to {where}"
    if event.state is ConnState.CONNECTING:
        return f"Connecting to {where}\u2026" if where else "Connecting\u2026"
    if event.state is ConnState.RECONNECTING:
        why = f": {event.detail}" if event.detail else ""
        code = f" (close code {event.close_code})" if event.close_code else ""
        if seconds_left is not None:
            return f"Reconnecting in {max(0, round(seconds_left))} s (attempt {event.attempt}){why}{code}"
        return (
            f"Reconnecting to {where}\u2026 (attempt {event.attempt})"
            if where
            else f"Reconnecting\u2026 (attempt {event.attempt})"
        )
    if event.state is ConnState.FAILED:
        return f"Not connected: {event.detail or 'the connection failed'}. Check Settings, then Connect."
    return "Disconnected"


class Header(QWidget):
    """Renders where the app is connected and emits what the user chose."""

    target_chosen = Signal(object, object)
    """(Mode, deployment) picked or typed; deployment None means "the one remembered for that mode"."""
    connect_clicked = Signal()
    """Connect pressed."""
    disconnect_clicked = Signal()
    """Disconnect pressed."""
    azure_requested = Signal()
    """"Connect to Azure" pressed on the demo badge."""
    retry_clicked = Signal()
    """"Retry now" pressed while a reconnect is scheduled."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("header")
        self.mode = QComboBox()
        self.mode.setAccessibleName("Mode")
        for mode in Mode:
            self.mode.addItem(mode.label, mode)
        self.deployment = QComboBox()
        self.deployment.setEditable(True)
        self.deployment.setAccessibleName("Deployment")
        self.deployment.setMinimumContentsLength(16)
        self.deployment.setToolTip("Deployment name in your Foundry resource (type a new one and press Enter)")
        self.connect_button = QPushButton("Connect")
        self.connect_button.setAccessibleName("Connect or disconnect")
        self.state = QLabel("Not connected")  # until the first attempt (none without a key or an endpoint)
        self.state.setObjectName("connState")
        self.state.setAccessibleName("Connection state")
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.badge = QLabel("Offline demo")
        self.badge.setObjectName("demoBadge")
        self.badge.setToolTip("Talking to the built-in Voice Live emulator on this computer")
        self.azure_button = QPushButton("Connect to Azure\u2026")
        self.azure_button.setAccessibleName("Connect to Azure")
        self.retry_button = QPushButton("Retry now")
        self.retry_button.setAccessibleName("Retry connecting now")
        self.retry_button.hide()
        mode_label = QLabel("&Mode")
        mode_label.setBuddy(self.mode)
        dep_label = QLabel("&Deployment")
        dep_label.setBuddy(self.deployment)
        self.state.setWordWrap(True)
        top = QHBoxLayout()
        for widget in (mode_label, self.mode, dep_label, self.deployment, self.connect_button):
            top.addWidget(widget)
        top.addStretch(1)
        top.addWidget(self.badge)
        top.addWidget(self.azure_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 6)
        layout.setSpacing(4)
        layout.addLayout(top)
        status = QHBoxLayout()
        status.addWidget(self.state, 1)
        status.addWidget(self.retry_button)
        layout.addLayout(status)
        self._trying = False
        self._last_pick: tuple[object, str] | None = None
        self._event = ConnectionChanged(ConnState.DISCONNECTED)
        self._retry_at: float | None = None
        self._countdown = QTimer(self)  # ticks only while a reconnect is scheduled
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._render)
        self._updating = False
        self.mode.activated.connect(self._mode_picked)
        self.deployment.activated.connect(self._deployment_picked)
        # A name typed and entered is not added to the list here: the list holds the names the service took (the
        # app's), not a typo it refused. Enter on a listed name is reported twice: one signal per choice.
        self.deployment.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        line = self.deployment.lineEdit()
        assert line is not None  # editable
        line.returnPressed.connect(self._deployment_picked)
        self._typed = False  # the field was edited by the user since the app last set it (see set_choices)
        line.textEdited.connect(self._edited)
        self.connect_button.clicked.connect(self._connect_toggled)
        self.azure_button.clicked.connect(self.azure_requested)
        self.retry_button.clicked.connect(self.retry_clicked)
        self.set_demo(False)

    def set_choices(self, mode: Mode, deployment: str, deployments: tuple[str, ...]) -> None:
        """Show the current mode and deployment, with the deployment names remembered for that mode.

        A name being typed in the field (edited since it was last set or entered, and the field still the
        window's focus, even with another app in front) stays as it is, with its cursor and selection (a name
        completed from the list is selected past what was typed): this is called whenever the connection
        settles, not only when the user chose.
        """
        self._updating = True
        self._last_pick = (mode, deployment)
        self.mode.setCurrentIndex(self.mode.findData(mode))
        line = self.deployment.lineEdit()
        assert line is not None  # editable
        typing = self._typed and self.window().focusWidget() in (line, self.deployment)  # the box or its field
        typed, cursor, start, selected = line.text(), line.cursorPosition(), line.selectionStart(), line.selectedText()
        self.deployment.clear()
        self.deployment.addItems(list(deployments))
        self.deployment.setCurrentText(deployment)
        if typing:
            line.setText(typed)
            if selected:
                line.setSelection(start, len(selected))
            else:
                line.setCursorPosition(cursor)
        else:
            self._typed = False
        self._updating = False

    def set_demo(self, demo: bool) -> None:
        """Show or hide the offline-demo badge."""
        self.badge.setVisible(demo)
        self.azure_button.setVisible(demo)

    def set_connection(self, event: ConnectionChanged) -> None:
        """Render the connection state (with a countdown while a reconnect is scheduled)."""
        self._event = event
        self._trying = event.state in TRYING
        scheduled = event.state is ConnState.RECONNECTING and event.retry_in_s is not None
        self._retry_at = time.monotonic() + (event.retry_in_s or 0.0) if scheduled else None
        if scheduled:
            self._countdown.start()
        else:
            self._countdown.stop()
        self.retry_button.setVisible(scheduled or event.state is ConnState.FAILED)
        self.state.setProperty("state", event.state.value)
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)
        self.connect_button.setText("Disconnect" if self._trying else "Connect")
        self._render()

    def _render(self) -> None:
        left = None if self._retry_at is None else self._retry_at - time.monotonic()
        self.state.setText(describe(self._event, left))

    def _edited(self, _text: str) -> None:
        self._typed = True

    def _mode_picked(self, index: int) -> None:
        if self._updating:
            return
        mode = self.mode.itemData(index)
        self.target_chosen.emit(mode, None)

    def _deployment_picked(self, *_args: object) -> None:
        if self._updating:
            return
        self._typed = False  # entered (or picked): what the app shows next replaces it
        choice = (self.mode.currentData(), self.deployment.currentText())
        if choice == self._last_pick:  # Enter in an editable combo box is reported twice
            return
        self._last_pick = choice
        self.target_chosen.emit(*choice)

    def _connect_toggled(self) -> None:
        (self.disconnect_clicked if self._trying else self.connect_clicked).emit()
