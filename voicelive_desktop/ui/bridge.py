"""Adapts the Qt-free app (controller + assistant) to signals and slots. No logic lives here."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..assistant_events import AudioStatus, LatencyMeasured, LevelChanged, MessageChanged
from ..voicelive.events import ConnectionChanged, ErrorRaised, TurnChanged

log = logging.getLogger(__name__)


class Bridge(QObject):
    """Events out as signals; intents in as plain methods that start (and keep) one task each."""

    connection_changed = Signal(object)
    """ConnectionChanged: the connection's new state."""
    turn_changed = Signal(object)
    """TurnState: idle, listening, thinking or speaking."""
    message_changed = Signal(object)
    """MessageView: a chat message appeared or changed."""
    level_changed = Signal(object)
    """Level: the microphone's loudness while listening."""
    latency_measured = Signal(int)
    """Milliseconds from key up to the first answer audio."""
    audio_status = Signal(object)
    """AudioStatus: devices in use, microphone open or not."""
    error = Signal(object)
    """ErrorRaised: something to show in the banner."""
    notice = Signal(str)
    """A non-error message for the banner."""
    state_changed = Signal(object)
    """ControllerState: demo or not, mode, deployment and its choices."""
    ready = Signal()
    """The app finished loading; intents now work."""

    def __init__(self) -> None:
        super().__init__()
        self.controller: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ----------------------------------------------------------------- events out
    def deliver(self, event: object) -> None:
        """The listener the controller and assistant report to: one signal per kind of event."""
        from ..controller import ControllerState, Notice

        if isinstance(event, MessageChanged):
            self.message_changed.emit(event.message)
        elif isinstance(event, LevelChanged):
            self.level_changed.emit(event.level)
        elif isinstance(event, TurnChanged):
            self.turn_changed.emit(event.state)
        elif isinstance(event, ConnectionChanged):
            self.connection_changed.emit(event)
        elif isinstance(event, ErrorRaised):
            self.error.emit(event)
        elif isinstance(event, LatencyMeasured):
            self.latency_measured.emit(event.ms)
        elif isinstance(event, AudioStatus):
            self.audio_status.emit(event)
        elif isinstance(event, ControllerState):
            self.state_changed.emit(event)
        elif isinstance(event, Notice):
            self.notice.emit(event.message)

    def attach(self, controller: Any) -> None:
        """Hand over the controller once it is built."""
        self.controller = controller
        self.ready.emit()

    # ----------------------------------------------------------------- intents in
    def _run(self, coro: Any, name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("%s failed: %s", task.get_name(), type(exc).__name__)
            raise exc  # type: ignore[misc]  # reaches the loop's exception handler: tests fail on it

    def press(self) -> None:
        """Hold-to-talk went down."""
        if self.controller is not None:
            self.controller.assistant.press()

    def release(self) -> None:
        """Hold-to-talk came up."""
        if self.controller is not None:
            self._run(self.controller.assistant.release(), "release")

    def send_text(self, text: str) -> None:
        """A typed message."""
        if self.controller is not None:
            self.controller.assistant.send_text(text)

    def select(self, mode: Any, deployment: str) -> None:
        """Mode or deployment chosen in the header."""
        if self.controller is not None:
            self._run(self.controller.select(mode, deployment), "select")

    def connect_session(self) -> None:
        """Connect pressed."""
        if self.controller is not None:
            self._run(self.controller.connect(), "connect")

    def disconnect_session(self) -> None:
        """Disconnect pressed."""
        if self.controller is not None:
            self._run(self.controller.disconnect(), "disconnect")

    def use_demo(self, demo: bool) -> None:
        """Switch between the offline demo and Azure."""
        if self.controller is not None:
            self._run(self.controller.use_demo(demo), "use-demo")

    def apply_settings(self, settings: Any, api_key: str | None) -> None:
        """The settings dialog was accepted."""
        if self.controller is not None:
            self._run(self.controller.apply_settings(settings, api_key), "apply-settings")

    def run_devices_lookup(self, dialog: Any) -> None:
        """Fill the settings dialog's device lists once read (in a worker thread)."""
        from .settings_dialog import read_devices

        capture = self.controller.assistant.capture
        sd = capture.stream.sd if capture is not None else None
        if sd is None:
            return

        async def fill() -> None:
            inputs, outputs = await read_devices(sd)
            if dialog.isVisible():
                dialog.set_devices(inputs, outputs)

        self._run(fill(), "list-devices")

    async def shutdown(self) -> None:
        """Finish what is running, then close the app's services."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.controller is not None:
            await self.controller.close()
