"""The system tray icon: the conversation's state at a glance, and the app's main choices without its window.

With a global hold key the window is often hidden; the tray is then the only place that shows whether the app
is listening, thinking or speaking, and the quickest way to switch mode or deployment, mute, or quit. Like
every widget here it renders state and emits intents; it decides nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from . import app_icon

TURNS = ("idle", "listening", "thinking", "speaking", "disconnected")
COLOURS = {
    "idle": app_icon.APP_BLUE,  # the app's own blue: ready
    "listening": "#dc2626",  # red, as a recording light
    "thinking": "#d97706",  # amber: wait
    "speaking": "#16a34a",  # green: the assistant talks
    "disconnected": "#6b7280",  # grey: nothing will happen
}
_TIPS = {
    "idle": "ready",
    "listening": "listening",
    "thinking": "thinking",
    "speaking": "speaking",
    "disconnected": "not connected",
}
TRAY_SIZES = (16, 22, 24, 32, 48, 64)


@cache
def state_icon(turn: str) -> QIcon:
    """The app icon with its background in the state's colour, drawn at the sizes trays ask for."""
    return app_icon.icon(COLOURS[turn], TRAY_SIZES)


class Tray(QObject):
    """Wraps QSystemTrayIcon; call ``show()`` once ``available()`` says a tray exists."""

    show_hide_requested = Signal()
    """Show the window (or hide it if it is shown): the menu item, or a click on the icon."""
    mode_chosen = Signal(object)
    """A mode was picked in the Mode submenu: the value given to ``set_choices``."""
    deployment_chosen = Signal(str)
    """A deployment was picked in the Deployment submenu."""
    mute_toggled = Signal(bool)
    """Mute microphone was switched: True means muted."""
    connect_requested = Signal()
    """Connect was chosen (shown while disconnected)."""
    disconnect_requested = Signal()
    """Disconnect was chosen (shown while connected)."""
    quit_requested = Signal()
    """Quit was chosen: quit the app, not just close the window."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.connected = False
        self.turn = "disconnected"
        self.icon = QSystemTrayIcon(state_icon(self.turn), self)
        self.menu = QMenu()
        self.show_action = self.menu.addAction("Show window")
        self.show_action.triggered.connect(self.show_hide_requested)
        self.menu.addSeparator()
        self.mode_menu = self.menu.addMenu("Mode")
        self.deployment_menu = self.menu.addMenu("Deployment")
        self._modes = QActionGroup(self)
        self._deployments = QActionGroup(self)
        self.menu.addSeparator()
        self.mute_action = self.menu.addAction("Mute microphone")
        self.mute_action.setCheckable(True)
        self.mute_action.toggled.connect(self.mute_toggled)
        self.connect_action = self.menu.addAction("Connect")
        self.connect_action.triggered.connect(self._connect_or_disconnect)
        self.menu.addSeparator()
        self.quit_action = self.menu.addAction("Quit")
        self.quit_action.triggered.connect(self.quit_requested)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.set_choices([], None, [], "")
        self.set_state(False, "disconnected")

    @staticmethod
    def available() -> bool:
        """Whether the desktop has a system tray (some GNOME setups have none without an extension)."""
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        """Put the icon in the tray."""
        self.icon.show()

    def hide(self) -> None:
        """Take the icon out of the tray."""
        self.icon.hide()

    def set_state(self, connected: bool, turn: str) -> None:
        """Show the connection and the turn: icon colour, tooltip, and whether the menu offers Connect.

        Args:
            connected: whether a session is up; False shows "disconnected" whatever ``turn`` says.
            turn: one of ``TURNS`` (``TurnState.value`` fits).
        """
        if turn not in TURNS:
            raise ValueError(f"unknown turn {turn!r}; expected one of {', '.join(TURNS)}")
        self.connected = connected
        self.turn = turn if connected else "disconnected"
        self.icon.setIcon(state_icon(self.turn))
        self.icon.setToolTip(f"Voice Live: {_TIPS[self.turn]}")
        self.connect_action.setText("Disconnect" if connected else "Connect")

    def set_choices(
        self,
        modes: Sequence[tuple[str, object]],
        current_mode: object,
        deployments: Sequence[str],
        current_deployment: str,
    ) -> None:
        """Fill the Mode and Deployment submenus; the current ones are checked. Emits nothing.

        Args:
            modes: (label, value) pairs; ``mode_chosen`` emits the value.
            current_mode: the value to check.
            deployments: deployment names remembered for the current mode.
            current_deployment: the name to check (added to the list if missing).
        """
        self._fill(self.mode_menu, self._modes, [(label, value) for label, value in modes], current_mode)
        names = list(deployments) + ([current_deployment] if current_deployment not in deployments else [])
        names = [name for name in names if name]
        self._fill(self.deployment_menu, self._deployments, [(n, n) for n in names], current_deployment)

    def set_muted(self, muted: bool) -> None:
        """Show whether the microphone is muted (without emitting ``mute_toggled``)."""
        self.mute_action.blockSignals(True)
        self.mute_action.setChecked(muted)
        self.mute_action.blockSignals(False)

    def set_window_visible(self, visible: bool) -> None:
        """Say "Hide window" while the window is shown and "Show window" while it is hidden."""
        self.show_action.setText("Hide window" if visible else "Show window")

    def notify(self, title: str, text: str, timeout_ms: int = 5000) -> None:
        """A desktop notification from the tray (e.g. "Reconnected", or an answer while the window is hidden)."""
        self.icon.showMessage(title, text, state_icon(self.turn), timeout_ms)

    def _fill(self, menu: QMenu, group: QActionGroup, items: list[tuple[str, object]], current: object) -> None:
        for action in group.actions():
            group.removeAction(action)
            menu.removeAction(action)
            action.deleteLater()
        for label, value in items:
            action = QAction(label, menu)
            action.setCheckable(True)
            action.setChecked(value == current)
            action.setData(value)
            group.addAction(action)
            menu.addAction(action)
            action.triggered.connect(lambda _=False, v=value, m=menu: self._chosen(m, v))
        menu.setEnabled(bool(items))

    def _chosen(self, menu: QMenu, value: object) -> None:
        if menu is self.mode_menu:
            self.mode_chosen.emit(value)
        else:
            self.deployment_chosen.emit(str(value))

    def _connect_or_disconnect(self) -> None:
        (self.disconnect_requested if self.connected else self.connect_requested).emit()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.show_hide_requested.emit()
