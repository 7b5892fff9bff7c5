"""The tray: its menu and intents offscreen, then the real icon in a real tray host (trayer) on Xvfb."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMenu, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from tests.desktop.xserver import Xvfb, wait_for
from voicelive_desktop.ui.tray import COLOURS, TURNS, Tray, state_icon

MODES = [("Voice Live model", "voicelive"), ("BYOM realtime", "byom-azure-openai-realtime")]


@pytest.fixture
def tray(qtbot: QtBot) -> Tray:
    tray = Tray()
    tray.set_choices(MODES, "voicelive", ["gpt-realtime", "gpt-4o-realtime"], "gpt-realtime")
    return tray


def actions(menu: QMenu) -> dict[str, object]:
    return {a.text(): a for a in menu.actions() if not a.isSeparator()}


def test_submenus_check_the_current_choice_and_emit_what_is_picked(tray: Tray, qtbot: QtBot) -> None:
    modes = actions(tray.mode_menu)
    assert list(modes) == ["Voice Live model", "BYOM realtime"]
    assert [a.isChecked() for a in tray.mode_menu.actions()] == [True, False]
    with qtbot.waitSignal(tray.mode_chosen) as chosen:
        tray.mode_menu.actions()[1].trigger()
    assert chosen.args == ["byom-azure-openai-realtime"]
    with qtbot.waitSignal(tray.deployment_chosen) as picked:
        tray.deployment_menu.actions()[1].trigger()
    assert picked.args == ["gpt-4o-realtime"]

    tray.set_choices(MODES, "byom-azure-openai-realtime", [], "my-deployment")  # refilled, not appended
    assert [a.isChecked() for a in tray.mode_menu.actions()] == [False, True]
    assert [a.text() for a in tray.deployment_menu.actions()] == ["my-deployment"]
    tray.set_choices(MODES, "voicelive", [], "")
    assert not tray.deployment_menu.isEnabled()


def test_state_sets_icon_tooltip_and_connect_or_disconnect(tray: Tray, qtbot: QtBot) -> None:
    tray.set_state(True, "listening")
    assert tray.icon.toolTip() == "Voice Live: listening"
    assert tray.icon.icon().cacheKey() == state_icon("listening").cacheKey()
    with qtbot.waitSignal(tray.disconnect_requested):
        tray.connect_action.trigger()
    tray.set_state(False, "speaking")
    assert tray.icon.toolTip() == "Voice Live: not connected"
    assert tray.connect_action.text() == "Connect"
    with qtbot.waitSignal(tray.connect_requested):
        tray.connect_action.trigger()
    with pytest.raises(ValueError):
        tray.set_state(True, "dancing")


@pytest.mark.parametrize("turn", TURNS)
def test_each_state_has_its_own_colour(qtbot: QtBot, turn: str) -> None:
    image = state_icon(turn).pixmap(32, 32).toImage()
    assert image.pixelColor(4, 16).name() == QColor(COLOURS[turn]).name()  # the background, left of the mic


def test_mute_show_hide_and_quit_emit_intents(tray: Tray, qtbot: QtBot) -> None:
    with qtbot.waitSignal(tray.mute_toggled) as muted:
        tray.mute_action.trigger()
    assert muted.args == [True]
    with qtbot.assertNotEmitted(tray.mute_toggled):
        tray.set_muted(False)
    assert not tray.mute_action.isChecked()
    tray.set_window_visible(True)
    assert tray.show_action.text() == "Hide window"
    with qtbot.waitSignal(tray.show_hide_requested):
        tray.show_action.trigger()
    with qtbot.waitSignal(tray.show_hide_requested):
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    with qtbot.waitSignal(tray.quit_requested):
        tray.quit_action.trigger()
    tray.notify("Voice Live", "Reconnected")  # offscreen there is no tray: it must simply not fail
    assert Tray.available() is False


class Probe:
    """tests/ui/tray_probe.py in its own process on the private X server."""

    def __init__(self, env: dict[str, str]) -> None:
        root = Path(__file__).resolve().parents[2]
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.ui.tray_probe"],
            env={**env, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(root)},
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def seen(self, prefix: str) -> list[str]:
        return [line[len(prefix) :].strip() for line in self.lines if line.startswith(prefix)]


@pytest.fixture
def desktop() -> Iterator[tuple[Xvfb, Probe]]:
    if shutil.which("trayer") is None:
        pytest.fail("trayer is missing: run scripts/setup.sh (it installs a light tray host for this test)")
    from Xlib.display import Display

    xvfb = Xvfb()
    host = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "120", "--height", "32"],
        env=xvfb.env,
        stderr=subprocess.DEVNULL,
    )
    display = Display(xvfb.display)
    selection = display.intern_atom("_NET_SYSTEM_TRAY_S0")
    probe = None
    try:
        wait_for(lambda: display.get_selection_owner(selection) != 0, what="the tray host")
        probe = Probe(xvfb.env)
        yield xvfb, probe
    finally:
        display.close()
        for process in (probe.process if probe else None, host):
            if process is not None and process.poll() is None:
                process.kill()
            if process is not None:
                process.wait()
        xvfb.stop()


def test_the_icon_appears_in_a_real_tray_and_its_menu_emits_intents(desktop: tuple[Xvfb, Probe]) -> None:
    xvfb, probe = desktop
    wait_for(lambda: probe.seen("icon"), what="the icon in the tray")
    assert probe.seen("available") == ["True"]
    x, y, w, h = map(int, probe.seen("icon")[0].split())

    def click(px: int, py: int, button: int = 1) -> None:
        xvfb.run("xdotool", "mousemove", str(px), str(py), "click", str(button))

    def open_menu(title: str = "") -> dict[str, list[int]]:
        """Open the menu (from the icon, or the submenu ``title`` from the open menu); its items' positions."""
        count = len(probe.seen("menu"))
        if not title:
            click(x + w // 2, y + h // 2, 3)
        else:
            click(*last_menu[title])
        wait_for(lambda: len(probe.seen("menu")) > count, what=f"menu {title!r}")
        shown = json.loads(probe.seen("menu")[-1])
        assert shown["title"] == title
        return dict(shown["items"])

    def intent(name: str) -> list[object]:
        wait_for(lambda: probe.seen(f"intent {name} "), what=name)
        return list(json.loads(probe.seen(f"intent {name} ")[-1]))

    click(x + w // 2, y + h // 2)
    assert intent("show_hide_requested") == []
    wait_for(lambda: probe.seen("balloon"), what="the notification")  # the probe calls notify() on show/hide
    assert "Reconnected" in probe.seen("balloon")[0]

    last_menu = open_menu()
    assert list(last_menu) == ["Show window", "Mode", "Deployment", "Mute microphone", "Disconnect", "Quit"]
    click(*last_menu["Mute microphone"])
    assert intent("mute_toggled") == [True]

    last_menu = open_menu()
    modes = open_menu("Mode")
    click(*modes["BYOM realtime"])
    assert intent("mode_chosen") == ["byom-azure-openai-realtime"]

    last_menu = open_menu()
    deployments = open_menu("Deployment")
    click(*deployments["gpt-4o-realtime"])
    assert intent("deployment_chosen") == ["gpt-4o-realtime"]

    last_menu = open_menu()
    click(*last_menu["Disconnect"])
    assert intent("disconnect_requested") == []

    last_menu = open_menu()
    click(*last_menu["Quit"])
    assert intent("quit_requested") == []
    assert probe.process.wait(timeout=10) == 0
    assert os.environ.get("DISPLAY", "") != xvfb.display  # the test's own process never touched this display
