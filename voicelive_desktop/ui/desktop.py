"""The app on the desktop beyond its window: the global hold key, the tray, notifications, close to tray, a
second launch handing over to the first, start at login, the network coming back.

It adapts, like the bridge: the tray and the global key render state and emit intents, which go to the bridge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QObject, Qt

from ..assistant_events import AudioStatus, MessageView, TurnState
from ..conversation.transcript import Role
from ..desktop.global_key import GlobalKey
from ..voicelive.events import ConnectionChanged, ConnState
from ..voicelive.modes import Mode
from .header import TRYING
from .tray import Tray

if TYPE_CHECKING:
    from PySide6.QtNetwork import QNetworkInformation

    from ..controller import ControllerState
    from ..settings import Settings
    from .bridge import Bridge
    from .main_window import MainWindow

log = logging.getLogger(__name__)
NOTIFY_CHARS = 90


class DesktopIntegration(QObject):
    """Owns the global hold key and the tray; follows the app's state; applies the desktop settings."""

    def __init__(self, window: MainWindow, bridge: Bridge, *, global_key: GlobalKey | None = None) -> None:
        super().__init__(window)
        self._window, self._bridge = window, bridge
        self.global_key = global_key or GlobalKey(bridge.press, bridge.release, on_status=self._global_key_status)
        self.tray = Tray(self) if Tray.available() else None
        self._settings: Settings | None = None
        self._connected = False
        self._muted = False
        self._turn = TurnState.IDLE
        self._mode = Mode.MANAGED
        self._notified: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._network: QNetworkInformation | None = None  # loaded when a connection is first lost
        self._network_tried = False
        bridge.connection_changed.connect(self._connection)
        bridge.turn_changed.connect(self._turn_changed)
        bridge.state_changed.connect(self._state)
        bridge.message_changed.connect(self._message)
        bridge.audio_status.connect(self._audio_status)  # bound methods: disconnected if this object is deleted
        window.hidden_to_tray.connect(self._hidden_to_tray)
        if self.tray is not None:
            tray = self.tray
            tray.show_hide_requested.connect(self._show_or_hide)
            tray.mode_chosen.connect(lambda mode: bridge.select(mode, None))
            tray.deployment_chosen.connect(lambda name: bridge.select(self._mode, name))
            tray.mute_toggled.connect(bridge.set_muted)
            tray.connect_requested.connect(bridge.connect_session)
            tray.disconnect_requested.connect(bridge.disconnect_session)
            tray.quit_requested.connect(window.quit_app)
            tray.set_state(False, "disconnected")
            tray.show()

    # ----------------------------------------------------------------- settings
    def apply(self, settings: Settings) -> None:
        """Take the desktop settings (at start, and whenever Settings is accepted)."""
        self._settings = settings
        self._window.hide_to_tray = settings.desktop.close_to_tray and self.tray is not None
        self._update_global_key()
        self._spawn(self._autostart(settings), "autostart")

    async def _autostart(self, settings: Settings) -> None:
        from ..desktop.desktop_entry import autostart_enabled, set_autostart

        wanted = settings.desktop.start_at_login
        if wanted != await asyncio.to_thread(autostart_enabled) or wanted:
            result = await asyncio.to_thread(set_autostart, wanted, settings.desktop.start_minimized)
            if wanted and not result.supported:
                self._window.show_notice(result.note)

    def start_hidden(self) -> None:
        """Start in the tray (or minimized when there is no tray): --minimized, or Settings > Desktop."""
        if self.tray is not None:
            self._window.hide()
        else:
            self._window.showMinimized()
        self._tray_window_state()

    # ----------------------------------------------------------------- the global hold key
    def _update_global_key(self) -> None:
        settings = self._settings
        if settings is None:
            return
        listening = self._connected and not self._muted
        self._spawn(
            self.global_key.update(
                settings.keys.global_key, enabled=settings.keys.global_key_enabled, listening=listening
            ),
            "global-key",
        )

    def _global_key_status(self, status: str) -> None:
        self._window.global_key_status = status

    # ----------------------------------------------------------------- following the app
    def _connection(self, event: ConnectionChanged) -> None:
        connected = event.state in TRYING
        if connected != self._connected:
            self._connected = connected
            self._update_global_key()
        self._tray_state(event.state is ConnState.CONNECTED)
        if event.state is ConnState.RECONNECTING and not self._network_tried:
            self._watch_network()

    def _watch_network(self) -> None:
        """Reconnect at once when the desktop says the network is back (where Qt has a backend for it).

        Started by the first lost connection rather than at launch: until then nothing needs it, and Qt's
        backends cost about 2 MiB and a thread (GLib's network monitor, or NetworkManager over D-Bus)."""
        from PySide6.QtNetwork import QNetworkInformation

        self._network_tried = True
        if not QNetworkInformation.loadBackendByFeatures(QNetworkInformation.Feature.Reachability):
            log.info("no network information backend on this desktop: reconnects follow the backoff and wake-ups")
            return
        self._network = QNetworkInformation.instance()
        if self._network is not None:
            self._network.reachabilityChanged.connect(self._reachability)  # bound: let go when this object goes

    def _reachability(self, reachability: QNetworkInformation.Reachability) -> None:
        from PySide6.QtNetwork import QNetworkInformation

        if reachability is QNetworkInformation.Reachability.Online:
            log.info("the desktop reports the network back: reconnecting now")
            self._bridge.network_back()

    def _turn_changed(self, state: TurnState) -> None:
        self._turn = state
        self._tray_state(self._connected)

    def _tray_state(self, connected: bool) -> None:
        if self.tray is not None:
            self.tray.set_state(connected, self._turn.value)

    def _state(self, state: ControllerState) -> None:
        self._mode = state.mode
        if self.tray is not None:
            modes = [(mode.label, mode) for mode in Mode]
            self.tray.set_choices(modes, state.mode, list(state.deployments), state.deployment)

    def _audio_status(self, status: AudioStatus) -> None:
        self._set_muted(status.muted)

    def _set_muted(self, muted: bool) -> None:
        if muted != self._muted:
            self._muted = muted
            if self.tray is not None:
                self.tray.set_muted(muted)
            self._update_global_key()

    def _message(self, view: MessageView) -> None:
        """An answer finished while the window is out of sight: its first words as a notification."""
        settings = self._settings
        if (
            self.tray is None
            or settings is None
            or not settings.desktop.notify_when_hidden
            or view.role is not Role.ASSISTANT
            or not view.final
            or not view.text
            or view.id in self._notified
            or (self._window.isVisible() and not self._window.isMinimized())
        ):
            return
        self._notified.add(view.id)
        words = view.text if len(view.text) <= NOTIFY_CHARS else view.text[:NOTIFY_CHARS].rsplit(" ", 1)[0] + "\u2026"
        self.tray.notify("Voice Live", words)

    # ----------------------------------------------------------------- the window
    def _show_or_hide(self) -> None:
        if self._window.isVisible() and not self._window.isMinimized():
            self._window.hide()
        else:
            self.raise_window()
        self._tray_window_state()

    def raise_window(self) -> None:
        """Bring the window to the front (the tray, or a second launch)."""
        self._window.setWindowState(self._window.windowState() & ~Qt.WindowState.WindowMinimized)
        self._window.show()
        self._window.raise_()
        self._window.activateWindow()
        self._tray_window_state()

    def _tray_window_state(self) -> None:
        if self.tray is not None:
            self.tray.set_window_visible(self._window.isVisible())

    def _hidden_to_tray(self) -> None:
        self._tray_window_state()
        if self.tray is not None and "tray" not in self._notified:
            self._notified.add("tray")
            self.tray.notify("Voice Live", "Still running here: the hold key works; Quit is in this menu.")

    # ----------------------------------------------------------------- a second launch
    def handle_launch(self, argv: list[str]) -> None:
        """A second launch handed over its command line: show the window, and switch as it asked."""
        from ..app import parse_args

        self.raise_window()
        try:
            args = parse_args(argv)
        except SystemExit:
            log.info("a second launch passed arguments that do not parse: %s", argv)
            return
        if args.demo:
            self._bridge.use_demo()
        elif args.byom or args.model:
            mode = Mode.from_profile(args.byom) if args.byom else self._mode
            self._bridge.select(mode, args.model, from_command_line=True)

    # ----------------------------------------------------------------- plumbing
    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        log.debug("started %s", name)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("desktop integration failed: %s", type(task.exception()).__name__)

    async def close(self) -> None:
        """Give the global key back, hide the tray (unless it went with the window that owns this object)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.global_key.stop()
        if self._network is not None:
            self._network.reachabilityChanged.disconnect(self._reachability)
        if self.tray is not None and shiboken6.isValid(self.tray):
            self.tray.hide()
