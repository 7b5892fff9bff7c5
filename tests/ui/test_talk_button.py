"""The talk button: its level meter repaints its own strip, only when it moved, at most METER_FPS times a second;
its caption fits at any font size."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QEvent, QObject, QRect
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPaintEvent, QPalette
from pytestqt.qtbot import QtBot

from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.audio.values import Level
from voicelive_desktop.ui.main_window import MainWindow
from voicelive_desktop.ui.talk_button import METER_FPS, TalkButton


class _Paints(QObject):
    """Records the rectangle of every paint event the button gets."""

    def __init__(self) -> None:
        super().__init__()
        self.rects: list[QRect] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QPaintEvent):
            self.rects.append(event.rect())
        return False


def _button(qtbot: QtBot) -> TalkButton:
    button = TalkButton()
    qtbot.addWidget(button)
    button.resize(400, 72)
    button.set_talk_enabled(True)
    button.show()
    qtbot.waitExposed(button)
    return button


def _white_run(button: TalkButton) -> int:
    """How many pixels of the meter's strip, as rendered on screen, are the meter's near-white."""
    image = button.grab().toImage()
    strip = button._meter_strip()
    y = strip.center().y()
    return sum(1 for x in range(strip.left(), strip.right() + 1) if QColor(image.pixel(x, y)).lightness() > 200)


def test_a_level_change_repaints_the_meter_alone_and_shows_the_level(qtbot: QtBot) -> None:
    button = _button(qtbot)
    button.set_state(TurnState.LISTENING)
    qtbot.wait(50)
    assert _white_run(button) == 0, "silence: an empty meter"
    button_paints, meter_paints = _Paints(), _Paints()
    button.installEventFilter(button_paints)
    button.meter.installEventFilter(meter_paints)
    button.set_level(Level(-30.0, -20.0))  # half way up the meter's 60 dB
    qtbot.waitUntil(lambda: bool(meter_paints.rects), timeout=1000)
    qtbot.wait(50)
    assert button_paints.rects == [], "the button under the meter is not painted again"
    assert button._meter_strip().contains(button.meter.geometry())
    width = button._meter_track().width()
    assert abs(_white_run(button) - width / 2) <= 3, "the meter shows half its width"
    button.set_state(TurnState.THINKING)
    qtbot.wait(50)
    assert _white_run(button) == 0, "the meter goes with the listening"


def test_the_meter_follows_the_button_when_the_window_is_resized_mid_turn(qtbot: QtBot) -> None:
    button = _button(qtbot)
    button.set_state(TurnState.LISTENING)
    button.set_level(Level(-30.0, -20.0))
    qtbot.waitUntil(lambda: _white_run(button) > 0, timeout=1000)
    narrow = _white_run(button)
    button.resize(800, 72)
    qtbot.wait(1000 // METER_FPS + 20)
    button.set_level(Level(-30.0, -20.0))
    qtbot.waitUntil(lambda: _white_run(button) > narrow + 100, timeout=1000)
    assert abs(_white_run(button) - button._meter_track().width() / 2) <= 3, "still half the (wider) meter"


def test_a_repaint_due_when_the_turn_ends_does_not_block_the_next_turns_meter(qtbot: QtBot) -> None:
    button = _button(qtbot)
    button.set_state(TurnState.LISTENING)
    button.set_level(Level(-30.0, -20.0))  # painted at once
    button.set_level(Level(-10.0, -5.0))  # within 1/METER_FPS: a repaint is due
    button.set_state(TurnState.THINKING)  # the key came up before it
    button.set_state(TurnState.LISTENING)  # the next turn
    qtbot.wait(50)
    repaints = button.meter_repaints
    button.set_level(Level(-30.0, -20.0))
    qtbot.waitUntil(lambda: button.meter_repaints > repaints, timeout=1000)  # the meter moves on screen
    assert button.meter_px == button.meter_width() > 0


def test_no_repaint_when_the_meter_would_not_move_or_is_not_shown(qtbot: QtBot) -> None:
    button = _button(qtbot)
    button.set_level(Level(-20.0, -10.0))  # idle: the meter is not shown
    assert button.meter_repaints == 0
    button.set_state(TurnState.LISTENING)
    for _ in range(10):
        button.set_level(Level(-96.0, -96.0))  # silence: the meter stays empty
    assert button.meter_repaints == 0
    button.set_level(Level(-30.0, -20.0))
    qtbot.waitUntil(lambda: button.meter_repaints == 1, timeout=1000)
    for _ in range(10):
        button.set_level(Level(-30.0, -20.0))
    qtbot.wait(100)
    assert button.meter_repaints == 1


def test_levels_at_block_rate_repaint_at_most_meter_fps_and_end_on_the_last_level(qtbot: QtBot) -> None:
    button = _button(qtbot)
    button.set_state(TurnState.LISTENING)
    started = time.monotonic()
    for i in range(100):  # levels twice as often as 20 ms blocks bring them, each one different
        button.set_level(Level(-60.0 + i * 0.5, -50.0))
        qtbot.wait(10)
    elapsed = time.monotonic() - started
    # A slow machine repaints less often, never more: the bound grows with the time the loop really took.
    assert 1 <= button.meter_repaints <= METER_FPS * elapsed + 2
    # No block follows the last level here: the meter still comes to show it.
    qtbot.waitUntil(lambda: button.meter_px == button.meter_width(), timeout=1000)


def test_a_turn_being_spoken_says_listening_even_once_disconnected(qtbot: QtBot) -> None:
    """Disconnect clicked with the key held: the microphone listens until the key comes up, and the button says
    so, in the listening colour, rather than "Not connected" over a moving meter."""
    button = _button(qtbot)
    button.set_state(TurnState.LISTENING)
    button.set_level(Level(-30.0, -20.0))
    button.set_talk_enabled(False)
    qtbot.wait(50)
    assert button.caption.startswith("Listening")
    assert button.meter.isVisible() and _white_run(button) > 0
    image = button.grab().toImage()
    assert QColor(image.pixel(button.width() // 2, 10)) == button.color() == QColor("#d64545")
    button.set_state(TurnState.IDLE)  # the key came up
    assert button.caption == "Not connected" and button.color() == button.palette().color(QPalette.ColorRole.Mid)


def _caption_fits(button: TalkButton) -> bool:
    """The caption, drawn centred, lies inside the button's shape (clear of its rounded ends) and above the
    meter's strip: nothing of it is cut or painted over."""
    shape = button._shape()
    text = QFontMetrics(button.caption_font()).boundingRect(button.caption)
    room_wide = shape.width() - shape.height() / 2  # a quarter of the height into each rounded end
    room_high = shape.height() - 2 * (shape.bottom() - button._meter_strip().top())
    return text.width() <= room_wide and text.height() <= room_high


@pytest.mark.parametrize("points", [9, 14, 22, 30])
def test_every_caption_fits_the_button_at_large_font_sizes(window: MainWindow, qtbot: QtBot, points: int) -> None:
    """A user with a large desktop font reads the whole caption, in every turn state, and the meter below it,
    however narrow they make the window."""
    font = QFont(window.font())
    font.setPointSize(points)
    window.setFont(font)  # what a desktop font setting does to the app's widgets
    window.set_hold_key("Ctrl+Alt+F12")
    window.resize(1, 1)  # the window keeps the least size its contents need
    button = window.talk
    for hands_free in (False, True):
        window.set_hands_free(hands_free)
        for enabled, connected in ((False, False), (True, False), (True, True)):  # (re)connecting: turns wait
            button.set_talk_enabled(enabled, connected=connected)
            for state in TurnState:
                button.set_state(state)
                qtbot.waitUntil(lambda: _caption_fits(button), timeout=1000)
    assert button.height() >= 72 and button.width() >= 260, "never smaller than at the usual font sizes"
