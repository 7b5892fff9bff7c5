"""The header: mode and deployment selectors, connect/disconnect, connection state, the demo badge."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..voicelive.events import ConnectionChanged, ConnState
from ..voicelive.modes import Mode

_STATE_TEXT = {
    ConnState.DISCONNECTED: "Disconnected",
    ConnState.CONNECTING: "Connecting\u2026",
    ConnState.RECONNECTING: "Reconnecting\u2026",
    ConnState.FAILED: "Not connected",
}


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
        self.state = QLabel("Starting\u2026")
        self.state.setObjectName("connState")
        self.state.setAccessibleName("Connection state")
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.badge = QLabel("Offline demo")
        self.badge.setObjectName("demoBadge")
        self.badge.setToolTip("Talking to the built-in Voice Live emulator on this computer")
        self.azure_button = QPushButton("Connect to Azure\u2026")
        self.azure_button.setAccessibleName("Connect to Azure")
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
        layout.addWidget(self.state)
        self._connected = False
        self._updating = False
        self.mode.activated.connect(self._mode_picked)
        self.deployment.activated.connect(self._deployment_picked)
        line = self.deployment.lineEdit()
        assert line is not None  # the combo is editable
        line.returnPressed.connect(self._deployment_picked)
        self.connect_button.clicked.connect(self._connect_toggled)
        self.azure_button.clicked.connect(self.azure_requested)
        self.set_demo(False)

    def set_choices(self, mode: Mode, deployment: str, deployments: tuple[str, ...]) -> None:
        """Show the current mode and deployment, with the deployment names remembered for that mode."""
        self._updating = True
        self.mode.setCurrentIndex(self.mode.findData(mode))
        self.deployment.clear()
        self.deployment.addItems(list(deployments))
        self.deployment.setCurrentText(deployment)
        self._updating = False

    def set_demo(self, demo: bool) -> None:
        """Show or hide the offline-demo badge."""
        self.badge.setVisible(demo)
        self.azure_button.setVisible(demo)

    def set_connection(self, event: ConnectionChanged) -> None:
        """Render the connection state."""
        self._connected = event.state is ConnState.CONNECTED
        if event.state is ConnState.CONNECTED:
            text = f"Connected to {event.description}"
        else:
            text = _STATE_TEXT[event.state]
            if event.state in (ConnState.CONNECTING, ConnState.RECONNECTING) and event.description:
                text += f"  {event.description}"
        self.state.setText(text)
        self.state.setProperty("state", event.state.value)
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)
        self.connect_button.setText("Disconnect" if self._connected else "Connect")

    def _mode_picked(self, index: int) -> None:
        if self._updating:
            return
        mode = self.mode.itemData(index)
        self.target_chosen.emit(mode, None)

    def _deployment_picked(self, *_args: object) -> None:
        if self._updating:
            return
        self.target_chosen.emit(self.mode.currentData(), self.deployment.currentText())

    def _connect_toggled(self) -> None:
        (self.disconnect_clicked if self._connected else self.connect_clicked).emit()
