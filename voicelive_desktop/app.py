"""Composition root: command line, QApplication, the qasync loop, and the wiring. Nothing else builds objects.

The window is shown before the Voice Live SDK and the audio stack are imported, so it paints at once; the
rest is built on the event loop right after.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__

log = logging.getLogger("voicelive_desktop")
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
    parser.add_argument("--settings", help="settings file to use instead of the platform default")
    parser.add_argument("--verbose", action="store_true", help="debug logging (secrets are always scrubbed)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--quit-after", type=float, help=argparse.SUPPRESS)  # benchmarks and screenshots
    return parser.parse_args(argv)


def _setup_logging(verbose: bool) -> None:
    from .voicelive.errors import install_log_scrubbing

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("voicelive_desktop").setLevel(logging.INFO)
    install_log_scrubbing()


@dataclass
class Launch:
    """What exists once the window is up: the window, the bridge, and the settings to build the rest from."""

    window: Any
    bridge: Any
    store: Any
    saved: Any
    settings: Any
    problem: str
    args: argparse.Namespace
    controller: Any = None


def create(args: argparse.Namespace) -> Launch:
    """Build and show the window (a QApplication must exist). Fast: no SDK, no audio stack yet."""
    from PySide6.QtCore import QByteArray

    from .settings import Overrides, SettingsStore, apply_overrides
    from .ui.bridge import Bridge
    from .ui.main_window import MainWindow

    store = SettingsStore(Path(args.settings) if args.settings else None)
    saved = store.load()
    window = MainWindow(saved.keys.hold_key)
    bridge = Bridge()
    _wire(window, bridge)
    if saved.window.geometry:
        window.restoreGeometry(QByteArray.fromHex(saved.window.geometry.encode()))
    window.show()
    cli = Overrides(
        args.endpoint, args.model, args.voice, args.instructions, args.byom, args.api_version, args.use_token_credential
    )
    try:
        settings = apply_overrides(saved, cli.over(Overrides.from_env(os.environ)))
        problem = store.describe_problems()
    except ValueError as exc:
        settings, problem = saved, str(exc)
    return Launch(window, bridge, store, saved, settings, problem, args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app; returns the exit code."""
    started = time.perf_counter()
    args = parse_args(argv)
    _setup_logging(args.verbose)

    from PySide6.QtWidgets import QApplication

    from .ui import theme

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("Voice Live")
    app.setOrganizationName("voicelive-desktop")
    app.setQuitOnLastWindowClosed(False)
    theme.apply(app)
    launch = create(args)
    launched_at = float(os.environ.get("VOICELIVE_LAUNCHED_AT", "0"))  # set by benchmarks/startup.py

    def painted() -> None:
        since_launch = f", {(time.time() - launched_at) * 1000:.0f} ms after launch" if launched_at else ""
        log.info("first paint after %.0f ms in main()%s", (time.perf_counter() - started) * 1000, since_launch)

    launch.window.first_painted.connect(painted)
    _quit_on_ctrl_c(launch.window)

    import qasync

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        code: int = loop.run_until_complete(run(launch))
        return code


def _quit_on_ctrl_c(window: Any) -> None:
    """Ctrl+C (or SIGTERM) in the terminal closes the window, which shuts down cleanly.

    Python runs signal handlers only between bytecodes, and Qt's loop is C++: a light timer hands control
    back to Python a few times a second so the handler can run.
    """
    import signal

    from PySide6.QtCore import QTimer

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: window.close())
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def _wire(window: Any, bridge: Any) -> None:
    window.talk_pressed.connect(bridge.press)
    window.talk_released.connect(bridge.release)
    window.text_submitted.connect(bridge.send_text)
    window.header.target_chosen.connect(bridge.select)
    window.header.connect_clicked.connect(bridge.connect_session)
    window.header.disconnect_clicked.connect(bridge.disconnect_session)
    bridge.connection_changed.connect(window.show_connection)
    bridge.turn_changed.connect(window.show_turn)
    bridge.message_changed.connect(window.show_message)
    bridge.level_changed.connect(window.talk.set_level)
    bridge.latency_measured.connect(window.show_latency)
    bridge.audio_status.connect(window.show_audio)
    bridge.error.connect(window.show_error)
    bridge.notice.connect(window.show_notice)
    bridge.state_changed.connect(
        lambda s: (window.header.set_choices(s.mode, s.deployment, s.deployments), window.header.set_demo(s.demo))
    )


async def start(launch: Launch) -> Any:
    """Build the services after the first paint, and connect (to the emulator in demo mode)."""
    from PySide6.QtWidgets import QApplication

    from .ui.settings_dialog import open_settings

    await asyncio.sleep(0)  # let the window paint before the heavy imports below
    window, bridge = launch.window, launch.bridge
    controller = _build(bridge, launch.store, launch.saved, launch.settings, demo=launch.args.demo)
    launch.controller = controller
    bridge.attach(controller)
    window.settings_requested.connect(lambda: open_settings(window, controller, bridge))
    window.copy_action.triggered.connect(
        lambda: QApplication.clipboard().setText(controller.assistant.conversation.export_markdown())
    )
    if launch.problem:
        window.show_notice(launch.problem)
    await controller.assistant.start_audio()
    if controller.demo or await controller.can_connect():
        await controller.connect()
    else:
        controller.publish()
        window.show_notice("Not connected yet: open Settings (Ctrl+,) to set your endpoint and sign-in.")
    return controller


async def run(launch: Launch) -> int:
    """Start, wait for the window to close, shut everything down cleanly."""
    closed = asyncio.Event()
    launch.window.closing.connect(closed.set)
    if launch.args.quit_after is not None:
        asyncio.get_running_loop().call_later(launch.args.quit_after, launch.window.close)
    await start(launch)
    await closed.wait()
    await shutdown(launch)
    return 0


async def shutdown(launch: Launch) -> None:
    """Remember the window geometry, close the session, audio and emulator, save settings."""
    if launch.controller is not None:
        launch.controller.settings.window.geometry = bytes(launch.window.saveGeometry().toHex()).decode()
    await launch.bridge.shutdown()


def _build(bridge: Any, store: Any, saved: Any, settings: Any, *, demo: bool) -> Any:
    """Build the services (slow imports happen here, after the first paint)."""
    from .assistant import Assistant, AudioOptions
    from .audio.backend import AudioUnavailable, load_sounddevice
    from .audio.capture import Capture
    from .audio.playback import Playback
    from .controller import Controller
    from .keystore import SecretStore
    from .settings import ENV_API_KEY
    from .voicelive.events import ErrorCategory, ErrorRaised

    capture = playback = None
    audio_error = None
    try:
        sd = load_sounddevice()
        a = settings.audio
        capture = Capture(sd, rate=a.input_rate, block_ms=a.block_ms, preroll_ms=a.preroll_ms, tail_ms=a.tail_ms)
        playback = Playback(sd, block_ms=a.block_ms)
    except AudioUnavailable as exc:
        audio_error = exc.problem.message
    options = AudioOptions(
        settings.audio.input_device or None, settings.audio.output_device or None, settings.audio.keep_mic_open
    )
    assistant = Assistant(bridge.deliver, capture=capture, playback=playback, audio=options)
    controller = Controller(
        settings,
        store,
        SecretStore(),
        assistant,
        bridge.deliver,
        api_key_from_env=os.environ.get(ENV_API_KEY) or None,
        demo=demo,
        file_settings=saved,
    )
    if audio_error:
        bridge.deliver(ErrorRaised(ErrorCategory.AUDIO, audio_error))
    return controller


if __name__ == "__main__":
    sys.exit(main())
