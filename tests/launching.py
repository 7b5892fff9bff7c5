"""Launching the real app in this process (offscreen, real services) and quitting it as a user does."""

from __future__ import annotations

import asyncio
from typing import Any

import shiboken6
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from tests.helpers import until
from voicelive_desktop.app import Launch, create, parse_args, shutdown, start


async def launch_app(qtbot: QtBot, argv: list[str], *, active: bool = True, qtbot_owns: bool = True) -> Launch:
    """The app as ``voicelive-desktop <argv>`` starts it: window shown, services built, connected.

    Args:
        active: also wait until the window has the keyboard focus (tests that press keys need it).
        qtbot_owns: qtbot closes and deletes the window after the test; False for a test that deletes it itself.
    """
    launch = create(parse_args(argv))
    if qtbot_owns:  # quit_app below copes if qtbot's deletion came first, or comes while the app shuts down
        qtbot.addWidget(launch.window)
    controller = await start(launch)
    assert controller is not None, "the window closed while the app started"
    await until(lambda: controller.supervisor.connected, 10)
    launch.window.activateWindow()
    if active:
        await until(launch.window.isActiveWindow, 5)
    return launch


async def quit_app(launch: Launch, timeout_s: float = 10) -> None:
    """Close the window and shut down as the app does on exit; a second call does nothing."""
    if launch.controller is not None and not getattr(launch, "_quit", False):
        launch._quit = True  # type: ignore[attr-defined]
        if shiboken6.isValid(launch.window):
            launch.window.quit_app()  # File > Quit: really quits, even with close-to-tray on
        else:  # qtbot's teardown closed and deleted the window before this fixture's teardown ran
            launch.display_lost = True  # there is no window geometry left to save
        await asyncio.wait_for(shutdown(launch), timeout_s)


def send_space(window: Any, kind: QEvent.Type) -> None:
    """A Space press or release where the keyboard's events go: the focused widget, else ``window``."""
    target = QApplication.focusWidget() or window
    QApplication.sendEvent(target, QKeyEvent(kind, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier, " "))
