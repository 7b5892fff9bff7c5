"""Adapts the Qt-free app (controller + assistant) to signals and slots. No logic lives here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from PySide6.QtCore import QObject, Signal

from ..assistant_events import (
    AskAgainOffered,
    AudioStatus,
    ConversationReplaced,
    LatencyMeasured,
    LeftMessageChanged,
    LevelChanged,
    MessageChanged,
    TurnChanged,
)
from ..voicelive.events import ConnectionChanged, ErrorRaised
from ..voicelive.modes import Mode

if TYPE_CHECKING:
    from ..audio.values import Level
    from ..controller import Controller, DeviceChoice
    from ..conversation.store import ConversationSummary, SearchHit
    from ..settings import Settings

log = logging.getLogger(__name__)
_E = TypeVar("_E")


class Bridge(QObject):
    """Events out as signals; intents in as plain methods that start (and keep) one task each."""

    connection_changed = Signal(object)
    """ConnectionChanged: the connection's new state."""
    turn_changed = Signal(object)
    """TurnState: idle, listening, thinking or speaking."""
    message_changed = Signal(object)
    """MessageView: a chat message appeared or changed."""
    conversation_replaced = Signal(str, object)
    """(conversation id, tuple[MessageView, ...]): the whole conversation on screen changed."""
    conversation_deleted = Signal(str, str)
    """(id, title) of a conversation just deleted (it can be brought back until the app closes)."""
    conversations_changed = Signal()
    """The saved conversations changed (renamed, restored, exported to...): lists should be read again."""
    latency_measured = Signal(int)
    """Milliseconds from key up to the first answer audio."""
    audio_status = Signal(object)
    """AudioStatus: devices in use, microphone open or not."""
    error = Signal(object)
    """ErrorRaised: something to show in the banner."""
    notice = Signal(object)
    """Notice: a non-error message for the banner (replaces an earlier one with the same key)."""
    state_changed = Signal(object)
    """ControllerState: demo or not, mode, deployment and its choices."""
    settings_applied = Signal(object)
    """Settings: the edited settings were taken (the desktop integration applies its part)."""
    ask_again_offered = Signal(bool, bool)
    """Whether the "Ask again" action is offered (an answer was cut by a lost connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.controller: Controller | None = None
        #: The level meter: the microphone's loudness (a Level) while listening. A plain call, not a signal: it
        #: comes with every block while the key is held, and emitting a signal cost as much as the rest of the
        #: block's handling on the GUI thread.
        self.show_level: Callable[[Level], None] | None = None
        self._tasks: set[asyncio.Future[object]] = set()
        self._names: dict[asyncio.Future[object], str] = {}
        self._routes: dict[type, Callable[[object], None]] = {}

    # ----------------------------------------------------------------- events out
    def deliver(self, event: object) -> None:
        """The listener the controller and assistant report to: one signal per kind of event.

        Called for every event, the microphone level 30 times a second among them: one dictionary lookup by
        the event's type (the table is built at the first event; events of other types are not shown).
        """
        routes = self._routes or self._build_routes()
        route = routes.get(type(event))
        if route is not None:
            route(event)

    def _build_routes(self) -> dict[type, Callable[[object], None]]:
        from ..controller import ControllerState, Notice  # the controller loads after the window's first paint

        def each(kind: type[_E], emit: Callable[[_E], None]) -> tuple[type, Callable[[object], None]]:
            return kind, cast("Callable[[object], None]", emit)

        self._routes = dict(
            [
                each(LevelChanged, self._level_changed),
                each(MessageChanged, lambda e: self.message_changed.emit(e.message)),
                each(LeftMessageChanged, self._left_message_changed),
                each(TurnChanged, lambda e: self.turn_changed.emit(e.state)),
                each(ConnectionChanged, self.connection_changed.emit),
                each(ErrorRaised, self.error.emit),
                each(LatencyMeasured, lambda e: self.latency_measured.emit(e.ms)),
                each(AudioStatus, self.audio_status.emit),
                each(ConversationReplaced, lambda e: self.conversation_replaced.emit(e.conversation_id, e.messages)),
                each(AskAgainOffered, lambda e: self.ask_again_offered.emit(e.offered, e.lost)),
                each(ControllerState, self.state_changed.emit),
                each(Notice, self.notice.emit),
            ]
        )
        return self._routes

    def _level_changed(self, event: LevelChanged) -> None:
        if self.show_level is not None:
            self.show_level(event.level)

    def _left_message_changed(self, event: LeftMessageChanged) -> None:
        """Late words saved to a conversation no longer on screen: its row in the list may read differently."""
        if event.message.final:
            self.conversations_changed.emit()

    def attach(self, controller: Controller) -> None:
        """Hand over the controller once it is built."""
        self.controller = controller

    # ----------------------------------------------------------------- intents in
    def _run(self, coro: Awaitable[object], name: str) -> None:
        task = asyncio.ensure_future(coro)
        self._names[task] = name
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[object]) -> None:
        self._tasks.discard(task)
        name = self._names.pop(task, "intent")
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            log.error("%s failed: %s", name, type(exc).__name__)
            raise exc  # reaches the loop's exception handler: tests fail on it

    def press(self) -> None:
        """Hold-to-talk went down."""
        if self.controller is not None:
            self.controller.assistant.press()

    def release(self) -> None:
        """Hold-to-talk came up."""
        if self.controller is not None:
            self._run(self.controller.assistant.release(), "release")

    def send_text(self, text: str) -> bool:
        """A typed message; False when it cannot be taken now (the window keeps the text)."""
        return self.controller is not None and self.controller.assistant.send_text(text)

    def ask_again(self) -> None:
        """Ask for the answer a lost connection cut off."""
        if self.controller is not None:
            self.controller.assistant.ask_again()

    def select(self, mode: Mode, deployment: str | None, *, from_command_line: bool = False) -> None:
        """Mode or deployment chosen in the header (or asked for by a later launch's command line)."""
        if self.controller is not None:
            self._run(self.controller.select(mode, deployment, from_command_line=from_command_line), "select")

    def connect_session(self) -> None:
        """Connect pressed."""
        if self.controller is not None:
            self._run(self.controller.connect(), "connect")

    def disconnect_session(self) -> None:
        """Disconnect pressed."""
        if self.controller is not None:
            self._run(self.controller.disconnect(), "disconnect")

    def retry_now(self) -> None:
        """ "Retry now" pressed while waiting to reconnect."""
        if self.controller is not None:
            self.controller.retry_now()

    def dismiss_hint(self, _key: str) -> None:
        """ "Don't show again" on a hint."""
        if self.controller is not None:
            self._run(self.controller.dismiss_hint(), "dismiss-hint")

    def network_back(self) -> None:
        """The desktop reports the network reachable again."""
        if self.controller is not None:
            self.controller.network_back()

    def use_demo(self) -> None:
        """The user took the offer of the offline demo."""
        if self.controller is not None:
            self._run(self.controller.use_demo(), "use-demo")

    def apply_settings(self, settings: Settings, api_key: str | None, *, forget_key: bool = False) -> None:
        """The settings dialog was accepted."""
        controller = self.controller
        if controller is not None:

            async def apply() -> None:
                await controller.apply_settings(settings, api_key, forget_key=forget_key)
                self.settings_applied.emit(controller.settings)

            self._run(apply(), "apply-settings")

    def set_muted(self, muted: bool) -> None:
        """Mute or unmute the microphone (tray menu)."""
        controller = self.controller
        if controller is not None and controller.microphone is not None:
            self._run(controller.microphone.set_muted(muted), "mute")

    def new_conversation(self) -> None:
        """Start a new conversation."""
        if self.controller is not None:
            self._run(self.controller.new_conversation(), "new-conversation")

    def open_conversation(self, conversation_id: str) -> None:
        """Continue an earlier conversation."""
        if self.controller is not None:
            self._run(self.controller.open_conversation(conversation_id), "open-conversation")

    def rename_conversation(self, conversation_id: str, title: str) -> None:
        """Give a conversation a title of the user's own."""
        controller = self.controller
        if controller is not None:

            async def rename() -> None:
                await controller.rename_conversation(conversation_id, title)
                self.conversations_changed.emit()

            self._run(rename(), "rename-conversation")

    def delete_conversation(self, conversation_id: str, title: str) -> None:
        """Delete a conversation (undoable until the app closes)."""
        controller = self.controller
        if controller is not None:

            async def delete() -> None:
                await controller.delete_conversation(conversation_id)
                self.conversation_deleted.emit(conversation_id, title)

            self._run(delete(), "delete-conversation")

    def undo_delete(self, conversation_id: str) -> None:
        """Bring back a conversation just deleted."""
        controller = self.controller
        if controller is not None:

            async def undo() -> None:
                await controller.delete_conversation(conversation_id, undo=True)
                self.conversations_changed.emit()

            self._run(undo(), "undo-delete")

    def list_conversations(self, query: str, fill: Callable[[Sequence[ConversationSummary | SearchHit]], None]) -> None:
        """Read the saved conversations (or those matching ``query``) off the GUI thread, then ``fill``."""
        controller = self.controller
        if controller is not None:

            async def lookup() -> None:
                fill(await controller.list_conversations(query))

            self._run(lookup(), "list-conversations")

    def export(self, scope: str, fmt: str, path: str) -> None:
        """Write this conversation ("current") or all of them ("all") to ``path`` as "md" or "json"."""
        if self.controller is not None:
            self._run(self.controller.export_to(Path(path), fmt, current_only=scope == "current"), "export")

    def list_devices(self, fill: Callable[[list[DeviceChoice], list[DeviceChoice]], None]) -> None:
        """Read the device lists (in a worker thread) and hand them to ``fill``."""
        controller = self.controller
        if controller is None:
            return

        async def lookup() -> None:
            inputs, outputs = await controller.list_devices()
            fill(inputs, outputs)

        self._run(lookup(), "list-devices")

    async def shutdown(self) -> None:
        """Finish what is running, then close the app's services."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.controller is not None:
            await self.controller.close()
