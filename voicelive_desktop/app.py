"""Composition root: command line, QApplication, the qasync loop, and the wiring (services.py builds the services).

The window is shown and painted before asyncio, qasync, the Voice Live SDK and the audio stack are imported:
only Qt and the window's own modules come before the first paint (tests/test_first_paint.py checks it). The rest
is built on the event loop right after.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:  # names for the type checker only: importing them here would slow the first paint
    import asyncio

    from .controller import Controller
    from .desktop.single_instance import SingleInstance
    from .settings import Settings, SettingsStore
    from .ui.bridge import Bridge
    from .ui.desktop import DesktopIntegration
    from .ui.main_window import MainWindow

log = logging.getLogger("voicelive_desktop")
_signal_sockets: list[object] = []  # the two ends of the socket that wakes the loop when a signal arrives
BYOM_CHOICES = ("byom-azure-openai-realtime", "byom-azure-openai-chat-completion")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags the Voice Live quickstarts use, plus --demo. The API key is never a flag."""
    parser = argparse.ArgumentParser(
        prog="voicelive-desktop",
        description="Push-to-talk desktop client for Azure AI Voice Live. The API key comes from "
        "AZURE_VOICELIVE_API_KEY or the system keyring (Settings), never from the command line.",
    )
    parser.add_argument("--endpoint", help="Voice Live endpoint, e.g. https://<resource>.cognitiveservices.azure.com")
    parser.add_argument("--model", help="model or deployment name")
    parser.add_argument("--voice", help="voice name, e.g. en-US-Ava:DragonHDLatestNeural or alloy")
    parser.add_argument("--instructions", help="system instructions for the model")
    parser.add_argument("--byom", choices=BYOM_CHOICES, help="Bring-Your-Own-Model profile")
    parser.add_argument("--use-token-credential", action="store_true", help="sign in with Microsoft Entra ID")
    parser.add_argument("--api-version", help="Voice Live api-version (default: the SDK's)")
    parser.add_argument("--demo", action="store_true", help="talk to the built-in offline emulator")
    parser.add_argument("--global-key", help="hold this key anywhere on the desktop to talk, e.g. F9 or Ctrl+Alt+Space")
    parser.add_argument("--minimized", action="store_true", help="start in the tray (or minimized) without a window")
    parser.add_argument(
        "--install-desktop-entry", action="store_true", help="add the app to the desktop's menus, then exit"
    )
    parser.add_argument("--uninstall-desktop-entry", action="store_true", help="remove it from the menus, then exit")
    parser.add_argument("--settings", help="settings file to use instead of the platform default")
    parser.add_argument("--history", help="conversation history file to use instead of the platform default")
    parser.add_argument(
        "--export-history",
        choices=("md", "json"),
        help="print every saved conversation as Markdown or JSON to standard output, and exit",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging (secrets are always scrubbed)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--quit-after", type=float, help=argparse.SUPPRESS)  # benchmarks and screenshots
    return parser.parse_args(argv)


def _setup_logging(verbose: bool) -> None:
    from .diagnostics import LOG_RING
    from .voicelive.errors import install_log_scrubbing

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("voicelive_desktop").setLevel(logging.INFO)
    logging.getLogger().addHandler(LOG_RING)  # the last lines, for Copy diagnostics (after basicConfig's own)
    install_log_scrubbing()


@dataclass
class Launch:
    """What exists once the window is up: the window, the bridge, and the settings to build the rest from."""

    window: MainWindow
    bridge: Bridge
    store: SettingsStore
    saved: Settings
    settings: Settings
    problem: str
    args: argparse.Namespace
    controller: Controller | None = None
    closed: asyncio.Event | None = None  # set when the window closes, which ends the run (set up by run())
    display_lost: bool = False
    desktop: DesktopIntegration | None = None
    instance: SingleInstance | None = None
    started: bool = False  # the services are built: a later launch's command line can be applied
    early_launches: list[list[str]] = field(default_factory=list)

    def launched_again(self, argv: list[str]) -> None:
        """A later launch's command line (from ``instance``): applied once the app has started, kept until then
        (a launch while the sound system is still starting, at login say, used to be acknowledged and lost)."""
        if self.started and self.desktop is not None:
            self.desktop.handle_launch(argv)
        else:
            self.early_launches.append(argv)

    def quit(self) -> None:
        """End the run, as closing the window does."""
        if self.closed is not None:
            self.closed.set()


def create(args: argparse.Namespace, *, painted: Callable[[], None] | None = None) -> Launch:
    """Build and show the window (a QApplication must exist). Fast: no SDK, no audio stack yet.

    With ``painted`` (only before any event loop runs): the window paints first, ``painted`` is called then,
    and only after that are the bridge, and asyncio with it, imported.
    """
    from PySide6.QtCore import QByteArray

    from .settings import Overrides, SettingsStore, apply_overrides
    from .ui.main_window import MainWindow

    store = SettingsStore(Path(args.settings) if args.settings else None)
    saved = store.load()
    window = MainWindow(saved.keys.hold_key)
    window.set_hands_free(saved.conversation.hands_free)
    if saved.window.geometry:
        window.restoreGeometry(QByteArray.fromHex(saved.window.geometry.encode()))
    minimized = args.minimized or saved.desktop.start_minimized
    if minimized:
        window.showMinimized()  # into the tray once the services (and the tray) are up
    else:
        if painted is not None:
            window.first_painted.connect(painted)
        window.show()
        if painted is not None:
            _paint_now(window)
    from .ui.bridge import Bridge

    bridge = Bridge()
    _wire(window, bridge)
    cli = Overrides(
        args.endpoint,
        args.model,
        args.voice,
        args.instructions,
        args.byom,
        args.api_version,
        args.use_token_credential,
        args.global_key,
    )
    try:
        settings = apply_overrides(saved, cli.over(Overrides.from_env(os.environ)))
        problem = store.describe_problems()
    except ValueError as exc:
        settings, problem = saved, str(exc)
    return Launch(window, bridge, store, saved, settings, problem, args)


def _skip_pyside_source_scan() -> None:
    """Stop PySide6 reading the source of every module imported after it.

    PySide6 looks at each newly imported module's source for "PySide6" (to know which modules may opt into
    ``from __feature__ import ...``, which no module here does) and the source stays in ``linecache``: about
    17 MiB for the modules this app loads, and a file read per import, first paint included. Every module then
    gets the default that modules which never use ``__feature__`` have anyway.
    """
    import linecache

    feature = sys.modules.get("shibokensupport.feature")
    if feature is not None and callable(getattr(feature, "_mod_uses_pyside", None)):
        setattr(feature, "_mod_uses_pyside", lambda module: False)  # noqa: B010 - a module attribute, on purpose
    linecache.clearcache()


def _paint_now(window: MainWindow, timeout_ms: int = 500) -> None:
    """Process the window system's events until the window has painted once (or ``timeout_ms`` passed)."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    painted: list[bool] = []
    window.first_painted.connect(lambda: painted.append(True))
    expired: list[bool] = []
    QTimer.singleShot(timeout_ms, lambda: expired.append(True))  # also ends the wait below
    while not painted and not expired:
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app; returns the exit code."""
    started = time.perf_counter()
    args = parse_args(argv)
    _setup_logging(args.verbose)
    if args.export_history:
        return export_history(args)
    if args.install_desktop_entry or args.uninstall_desktop_entry:
        return desktop_entry(install=args.install_desktop_entry)

    from PySide6.QtWidgets import QApplication

    _skip_pyside_source_scan()
    from .ui import theme

    existing = QApplication.instance()
    program = sys.argv[:1] or ["voicelive-desktop"]  # (Qt reads the first argument as the program's name)
    app = existing if isinstance(existing, QApplication) else QApplication([*program, *theme.qt_arguments()])
    app.setApplicationName("Voice Live")
    app.setOrganizationName("voicelive-desktop")
    app.setDesktopFileName("voicelive-desktop")  # docks and Wayland match the window to the menu entry
    app.setQuitOnLastWindowClosed(False)
    instance = _single_instance(list(sys.argv[1:] if argv is None else argv))
    if instance is None:
        return 0  # the app already runs: it raised its window and took this command line
    theme.apply(app, style_set=app is not existing)
    launched_at = float(os.environ.get("VOICELIVE_LAUNCHED_AT", "0"))  # set by benchmarks/startup.py

    def painted() -> None:
        since_launch = f", {(time.time() - launched_at) * 1000:.0f} ms after launch" if launched_at else ""
        log.info("first paint after %.0f ms in main()%s", (time.perf_counter() - started) * 1000, since_launch)

    launch = create(args, painted=painted)
    launch.instance = instance
    from .ui.x11_errors import outlive_the_x_server

    outlive_the_x_server(app)  # a logout ends in the closing down below, not in Xlib's exit(1)
    instance.message.connect(launch.launched_again)
    _quit_on_ctrl_c(launch.window)

    import asyncio

    from .ui.eventloop import QtEventLoop

    loop = QtEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        task = loop.create_task(run(launch))
        task.add_done_callback(lambda _: loop.stop())
        # Not run_until_complete: once Qt has left its loop, qasync's dispatches Qt's events one more time with no
        # running asyncio loop, and a task step taken then fails ("no running event loop").
        loop.run_forever()
        if not task.done():
            # Qt stopped the loop by itself: the display went away (logout, X server gone). Nothing was closed
            # yet: run the loop again to close the session, flush the history and save the settings.
            log.warning("the display went away: closing down")
            launch.display_lost = True
            launch.quit()
            return _finish_without_display(loop, task)
        code: int = task.result()
        return code


def _finish_without_display(loop: asyncio.AbstractEventLoop, task: asyncio.Task[int], timeout_s: float = 15.0) -> int:
    """Run ``task`` to its end after Qt has left its main loop (the display is gone, and no Qt loop will start
    again while the application closes): dispatching Qt's events by hand still runs the timers and sockets
    asyncio needs."""
    import asyncio

    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    asyncio.events._set_running_loop(loop)
    try:
        while not task.done() and time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.002)  # this only runs while closing down: a short pause keeps it from spinning
    finally:
        asyncio.events._set_running_loop(None)
    if not task.done():
        log.error("closing down without a display took too long; some of it was skipped")
        return 1
    return task.result()


def _single_instance(argv: list[str]) -> SingleInstance | None:
    """Claim being the one running app; None when another one runs and took ``argv`` (this launch then ends)."""
    from .desktop.single_instance import SingleInstance

    instance = SingleInstance()
    if instance.claim():
        return instance
    if instance.send_to_running(argv):
        log.info("the app is already running: it was asked to show its window")
        return None
    log.warning("another instance holds the lock but does not answer; starting anyway")
    return instance


def export_history(args: argparse.Namespace) -> int:
    """``--export-history``: every conversation to standard output, no window (for scripts and backups)."""
    from .conversation.export import export_json, export_markdown
    from .conversation.store import HistoryStore

    store = HistoryStore(Path(args.history) if args.history else None)
    try:
        if store.problem:
            print(f"voicelive-desktop: {store.problem}", file=sys.stderr)
        text = (export_json if args.export_history == "json" else export_markdown)(store)
    finally:
        store.close()
    sys.stdout.write(text)
    return 0


def desktop_entry(*, install: bool) -> int:
    """``--install-desktop-entry`` / ``--uninstall-desktop-entry``: menus, icons, metainfo; says what it did."""
    from .desktop.desktop_entry import install_desktop_entry, uninstall_desktop_entry

    result = install_desktop_entry() if install else uninstall_desktop_entry()
    for path in result.paths:
        print(path)
    if result.note:
        print(result.note, file=sys.stderr)
    return 0 if result.supported else 1


def _quit_on_ctrl_c(window: MainWindow) -> None:
    """Ctrl+C (or SIGTERM) in the terminal closes the window, which shuts down cleanly.

    Python runs signal handlers only between bytecodes, and Qt's loop waits in C++. Rather than a timer that
    hands control back to Python a few times a second (waking an idle app for nothing), the signal's arrival
    itself wakes the loop: Python writes the signal number to a socket (``signal.set_wakeup_fd``) that a
    QSocketNotifier watches, and the notifier's slot is Python code, so the handler runs right then.
    """
    import signal
    import socket

    from PySide6.QtCore import QSocketNotifier

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: window.close())
    reader, writer = socket.socketpair()
    for end in (reader, writer):
        end.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, window)

    def drain() -> None:
        while True:
            try:
                if not reader.recv(64):
                    return
            except (BlockingIOError, InterruptedError):
                return

    notifier.activated.connect(drain)
    _signal_sockets[:] = [reader, writer]  # open for as long as the process runs


def _wire(window: MainWindow, bridge: Bridge) -> None:
    window.talk_pressed.connect(bridge.press)
    window.talk_released.connect(bridge.release)
    window.text_submitted.connect(bridge.send_text)
    window.ask_again_requested.connect(bridge.ask_again)
    window.demo_requested.connect(bridge.use_demo)
    window.header.target_chosen.connect(bridge.select)
    window.header.connect_clicked.connect(bridge.connect_session)
    window.header.disconnect_clicked.connect(bridge.disconnect_session)
    window.header.retry_clicked.connect(bridge.retry_now)
    window.hint_dismissed.connect(bridge.dismiss_hint)
    bridge.connection_changed.connect(window.show_connection)
    bridge.turn_changed.connect(window.show_turn)
    bridge.message_changed.connect(window.show_message)
    bridge.conversation_replaced.connect(window.show_conversation)
    bridge.conversation_deleted.connect(window.show_deleted)
    bridge.conversations_changed.connect(window.refresh_conversations)
    window.conversations_wanted.connect(lambda query: bridge.list_conversations(query, window.conversations.show_rows))
    window.menus.new_conversation.triggered.connect(bridge.new_conversation)
    window.conversations.new_requested.connect(bridge.new_conversation)
    window.conversations.open_requested.connect(bridge.open_conversation)
    window.conversations.rename_requested.connect(bridge.rename_conversation)
    window.conversations.delete_requested.connect(bridge.delete_conversation)
    window.undo_delete_requested.connect(bridge.undo_delete)
    window.export_requested.connect(bridge.export)
    bridge.show_level = window.talk.set_level
    window.talk.destroyed.connect(lambda: setattr(bridge, "show_level", None))
    bridge.latency_measured.connect(window.show_latency)
    bridge.audio_status.connect(window.show_audio)
    bridge.error.connect(window.show_error)
    bridge.notice.connect(window.show_notice)
    bridge.ask_again_offered.connect(window.offer_ask_again)
    bridge.state_changed.connect(window.show_state)


async def start(launch: Launch) -> Controller | None:
    """Build the services after the first paint, and connect (to the emulator in demo mode).

    None: the window closed before the services were built (while the sound system was starting, say).
    """
    import asyncio

    from PySide6.QtWidgets import QApplication

    from .services import build_services, start_audio
    from .ui.desktop import DesktopIntegration
    from .ui.settings_dialog import open_settings

    await asyncio.sleep(0)  # let the window paint before the heavy imports below
    window, bridge = launch.window, launch.bridge
    history_path = Path(launch.args.history) if launch.args.history else None
    audio = await start_audio(launch.closed)
    if launch.closed is not None and launch.closed.is_set():
        log.info("the window closed before the app had started: nothing more is started")
        return None
    controller = build_services(
        bridge.deliver,
        launch.store,
        launch.saved,
        launch.settings,
        demo=launch.args.demo,
        history_path=history_path,
        audio=audio,
    )
    launch.controller = controller
    bridge.attach(controller)
    window.settings_requested.connect(lambda: open_settings(window, controller, bridge))
    window.copy_action.triggered.connect(
        lambda: QApplication.clipboard().setText(controller.assistant.conversation.export_markdown())
    )
    window.menus.connection_details.triggered.connect(lambda: _show_details(window, controller))
    desktop = DesktopIntegration(window, bridge)
    launch.desktop = desktop
    desktop.apply(controller.settings)
    bridge.settings_applied.connect(desktop.apply)
    if launch.args.minimized or controller.settings.desktop.start_minimized:
        desktop.start_hidden()
    launch.started = True  # from here a later launch is applied at once (it used to wait for the first connect)
    for argv in launch.early_launches:
        desktop.handle_launch(argv)
    launch.early_launches.clear()
    await controller.start(launch.problem)
    return controller


def _show_details(window: MainWindow, controller: Controller) -> None:
    from PySide6.QtCore import Qt

    from .ui.connection_details import ConnectionDetails

    dialog = ConnectionDetails(controller.connection_details(), controller.diagnostics, window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()


async def run(launch: Launch) -> int:
    """Start, wait for the window to close, shut everything down cleanly."""
    import asyncio

    closed = launch.closed = asyncio.Event()
    launch.window.closing.connect(closed.set)
    if launch.window.closed:  # a SIGTERM came between the first paint and now
        closed.set()
    if launch.args.quit_after is not None:
        asyncio.get_running_loop().call_later(launch.args.quit_after, launch.window.close)
    await start(launch)  # returns early when the window closes while the sound system is starting
    await closed.wait()
    await shutdown(launch)
    return 0


async def shutdown(launch: Launch) -> None:
    """Remember the window geometry, close the session, audio and emulator, save settings."""
    import shiboken6  # loaded with Qt already

    # the window may be gone already (deleted by its owner, or with the display): then no geometry is saved
    if launch.controller is not None and not launch.display_lost and shiboken6.isValid(launch.window):
        launch.controller.settings.window.geometry = bytes(launch.window.saveGeometry().toHex().data()).decode()
    if launch.desktop is not None:
        await launch.desktop.close()
    await launch.bridge.shutdown()
    if launch.instance is not None:
        launch.instance.close()


if __name__ == "__main__":
    sys.exit(main())
