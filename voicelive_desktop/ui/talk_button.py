"""The big hold-to-talk button, with the turn state and a live level meter drawn inside it.

The microphone level arrives once per audio block (20 times a second with the default 50 ms blocks).
On X11 the X server draws the meter (``x11_meter``): a level is one request, with no repaint at all, so it
moves with every block. Elsewhere Qt paints it, and repainting the whole button for each level cost about half
of the app's CPU while the key was held, so the meter repaints only when its width in pixels changed, at most
:data:`METER_FPS` times a second, and only its own strip: an opaque child widget, so that Qt paints nothing under
it (neither the button nor the styled window behind). A repaint waits for the next block rather than a timer of
its own (each wake-up of an idle process costs too); the timer only shows the last level when no block follows.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QMouseEvent,
    QMoveEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..assistant_events import TurnState
from ..audio.values import Level

if TYPE_CHECKING:
    from .x11_meter import X11Meter

_CAPTIONS = {
    TurnState.IDLE: "Hold to talk",
    TurnState.LISTENING: "Listening\u2026 release to send",
    TurnState.THINKING: "Thinking\u2026",
    TurnState.SPEAKING: "Speaking \u2014 hold to interrupt",
}
#: Hands-free the service ends a turn when the user stops speaking; the key (or button) only interrupts answers.
_HANDS_FREE_CAPTIONS = {
    TurnState.IDLE: "Hands-free: just speak",
    TurnState.LISTENING: "Listening\u2026",
}
_NOT_CONNECTED = "Not connected"
#: A turn taken while (re)connecting waits for the connection, not for the model.
_WAITING = "Waiting for the connection\u2026"
_COLORS = {
    TurnState.IDLE: None,  # the palette's highlight colour
    TurnState.LISTENING: QColor("#d64545"),
    TurnState.THINKING: QColor("#c28a18"),
    TurnState.SPEAKING: QColor("#2f9e61"),
}
#: The meter's repaints per second at most.
METER_FPS = 20
#: How long after its due time a held-back repaint waits for a block to bring it, before its timer does.
_METER_LATE_MS = 100
_METER_COLOR = QColor(255, 255, 255, 200)
_MARGIN = 2  # between the widget's edge and the button's rounded shape
_METER_BOTTOM, _METER_HEIGHT = 12, 6  # the meter's distance from the shape's bottom, and its height
_SMALLEST = QSize(260, 72)  # at the usual font sizes; larger fonts make the button larger


def _blend(over: QColor, under: QColor) -> int:
    """``over`` (translucent) painted on ``under`` (opaque), as 0xRRGGBB."""
    a = over.alphaF()
    channels = zip((over.red(), over.green(), over.blue()), (under.red(), under.green(), under.blue()), strict=True)
    r, g, b = (round(top * a + bottom * (1 - a)) for top, bottom in channels)
    return r << 16 | g << 8 | b


class _MeterBar(QWidget):
    """The meter's strip, inside the button's shape: paints the button's colour and the level over it, opaquely."""

    def __init__(self, button: TalkButton) -> None:
        super().__init__(button)
        self._button = button
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # every pixel painted here: nothing beneath
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # presses reach the button
        self.setAccessibleName("Microphone level")
        self.hide()

    def paintEvent(self, event: QPaintEvent) -> None:
        button = self._button
        painter = QPainter(self)
        painter.fillRect(self.rect(), button.color())
        width = button.meter_px = button.meter_width()
        if width > 0:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(_METER_COLOR)
            painter.drawRoundedRect(QRectF(1, 1, width, self.height() - 2), 3, 3)
        painter.end()


class TalkButton(QWidget):
    """Press and hold with the mouse (or the hold key, handled by the window) to talk."""

    held = Signal()
    """The button went down."""
    let_go = Signal()
    """The button came up."""

    def __init__(self, hold_key_name: str = "Space") -> None:
        super().__init__()
        self.setObjectName("talkButton")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the hold key works wherever focus is; no Space conflict
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.state = TurnState.IDLE
        self.level_db = -96.0
        self.enabled_for_talk = False
        self.connected = False  # enabled while (re)connecting too: turns then wait for the connection
        self._hold_key_name = hold_key_name
        self._hands_free = False
        self._down = False
        self.meter_repaints = 0  # strip-only repaints asked for (tests check the throttle with it)
        self.meter_px = 0  # the meter width last asked to be painted
        self._caption_at: tuple[str, int, int, QRect] | None = None  # (caption, width, height, where it is drawn)
        self._next_meter_at = 0.0
        self._meter_timer = QTimer(self)  # shows a held-back level when no block follows to show it
        self._meter_timer.setSingleShot(True)
        self._meter_timer.timeout.connect(self._repaint_meter)
        self._meter_due = False  # the timer runs (kept here: a level arrives with every block, and Qt calls cost)
        self.meter = _MeterBar(self)
        self._x11_meter: X11Meter | None = None  # where the X server draws the level instead (X11)
        self._x11_scale = 1.0
        self._track_width = self._meter_track().width()  # the meter at full scale, in pixels: kept per size
        self._refresh_accessibility()

    def minimumSizeHint(self) -> QSize:
        """Room for the longest caption, whatever the font size: it stays above the meter, inside the shape."""
        metrics = QFontMetrics(self.caption_font())
        captions = [
            *_CAPTIONS.values(),
            *_HANDS_FREE_CAPTIONS.values(),
            self._idle_caption(),
            _NOT_CONNECTED,
            _WAITING,
        ]
        text = [metrics.boundingRect(c) for c in captions]
        # Centred, the text keeps clear of the meter's strip (a pixel around the meter) by a pixel or more.
        height = 2 * _MARGIN + max(r.height() for r in text) + 2 * (_METER_BOTTOM + 2)
        # The shape's rounded ends take half its height on each side, the text a little of it.
        width = 2 * _MARGIN + max(r.width() for r in text) + height
        return QSize(max(_SMALLEST.width(), width), max(_SMALLEST.height(), height))

    def sizeHint(self) -> QSize:
        return self.minimumSizeHint()

    def caption_font(self) -> QFont:
        """The caption's font: the widget's (the user's), a quarter larger, bold."""
        font = QFont(self.font())
        if font.pointSizeF() > 0:
            font.setPointSizeF(font.pointSizeF() * 1.25)
        else:
            font.setPixelSize(round(font.pixelSize() * 1.25))
        font.setBold(True)
        return font

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:
            self._caption_at = None
            self.updateGeometry()
        super().changeEvent(event)

    @property
    def hold_key_name(self) -> str:
        """The hold key, as the idle caption names it."""
        return self._hold_key_name

    @hold_key_name.setter
    def hold_key_name(self, name: str) -> None:
        self._hold_key_name = name
        self._refresh_accessibility()
        self.updateGeometry()  # a longer name may need a wider button
        self.update()

    @property
    def hands_free(self) -> bool:
        """The service ends turns by itself (its voice detection): the captions say so."""
        return self._hands_free

    @hands_free.setter
    def hands_free(self, on: bool) -> None:
        self._hands_free = on
        self._refresh_accessibility()
        self.update()

    def _idle_caption(self) -> str:
        return f"{_CAPTIONS[TurnState.IDLE]}  ({self.hold_key_name})"

    @property
    def caption(self) -> str:
        """What the button says now."""
        if self._shows_disconnected:
            return _NOT_CONNECTED
        if self.state is TurnState.THINKING and not self.connected:
            return _WAITING
        if self._hands_free and self.state in _HANDS_FREE_CAPTIONS:
            return _HANDS_FREE_CAPTIONS[self.state]
        return self._idle_caption() if self.state is TurnState.IDLE else _CAPTIONS[self.state]

    @property
    def _shows_disconnected(self) -> bool:
        """Not connected, and not in a turn being spoken (the microphone listens until the key comes up, even
        once the user disconnected: the button says so until then)."""
        return not self.enabled_for_talk and self.state is not TurnState.LISTENING

    def set_state(self, state: TurnState) -> None:
        """Show the conversation's turn state."""
        self.state = state
        if state is not TurnState.LISTENING:
            self.level_db = -96.0
            self._meter_timer.stop()
            self._meter_due = False
        self.meter_px = 0
        self.meter.setVisible(state is TurnState.LISTENING)
        if self._x11_meter is not None:
            if state is TurnState.LISTENING:
                self._place_x11_meter()
                self._x11_meter.show(self.color().rgb() & 0xFFFFFF, _blend(_METER_COLOR, self.color()))
            else:
                self._x11_meter.hide()
        self._refresh_accessibility()
        self.update()

    def set_level(self, level: Level) -> None:
        """Show the microphone level (dBFS): one request to the X server that draws the meter, or else a
        repaint of the meter's strip when its width changed, throttled.

        Called with every block while the key is held: plain Python up to a repaint, no call into Qt.
        """
        self.level_db = level.rms_db
        if self._x11_meter is not None:
            if self.state is TurnState.LISTENING:
                self._x11_meter.set_width(round(self.meter_width() * self._x11_scale))
            return
        if self.state is not TurnState.LISTENING or self.meter_width() == self.meter_px:
            return  # not shown, or it would not move
        wait = self._next_meter_at - time.monotonic()
        if wait <= 0:
            self._repaint_meter()
        elif not self._meter_due:  # the next block will most likely repaint it; if none comes, the timer will
            self._meter_due = True
            self._meter_timer.start(math.ceil(wait * 1000) + _METER_LATE_MS)

    def _repaint_meter(self) -> None:
        if self._meter_due:
            self._meter_due = False
            self._meter_timer.stop()
        width = self.meter_width()
        if self.state is not TurnState.LISTENING or width == self.meter_px:
            return
        self.meter_px = width
        self._next_meter_at = time.monotonic() + 1 / METER_FPS
        self.meter_repaints += 1
        self.meter.update()

    def use_x11_meter(self, meter: X11Meter) -> None:
        """Have the X server draw the level (see ``x11_meter``): one request a level, no repaint."""
        self._x11_meter = meter
        if self.state is TurnState.LISTENING:
            self.set_state(self.state)

    def _place_x11_meter(self) -> None:
        """Put the X server's meter over the strip, in device pixels of the top-level window."""
        meter = self._x11_meter
        if meter is None:
            return
        scale = self._x11_scale = self.devicePixelRatioF()
        strip = self._meter_strip()
        at = self.mapTo(self.window(), strip.topLeft())
        meter.place(
            round(at.x() * scale), round(at.y() * scale), round(strip.width() * scale), round(strip.height() * scale)
        )

    def moveEvent(self, event: QMoveEvent) -> None:
        self._place_x11_meter()  # the X windows are the top-level's children: they do not move with this one
        super().moveEvent(event)

    def _shape(self) -> QRectF:
        return QRectF(self.rect()).adjusted(_MARGIN, _MARGIN, -_MARGIN, -_MARGIN)

    def _meter_track(self) -> QRectF:
        """Where the meter is drawn at full scale."""
        rect = self._shape()
        radius = rect.height() / 2
        return QRectF(rect.left() + radius, rect.bottom() - _METER_BOTTOM, rect.width() - 2 * radius, _METER_HEIGHT)

    def _meter_strip(self) -> QRect:
        """The pixels the meter can touch (rounded outwards): all a level change repaints."""
        return self._meter_track().toAlignedRect().adjusted(-1, -1, 1, 1)

    def meter_width(self) -> int:
        """The meter's width in pixels for the level now."""
        fraction = max(0.0, min(1.0, (self.level_db + 60.0) / 60.0))
        return round(self._track_width * fraction)

    def color(self) -> QColor:
        """The button's colour now: the turn state's, or the palette's when idle or not connected."""
        palette = self.palette()
        if self._shows_disconnected:
            return palette.color(QPalette.ColorRole.Mid)
        return _COLORS[self.state] or palette.color(QPalette.ColorRole.Highlight)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._track_width = self._meter_track().width()
        self.meter.setGeometry(self._meter_strip())
        self._place_x11_meter()
        super().resizeEvent(event)

    def set_talk_enabled(self, enabled: bool, *, connected: bool = True) -> None:
        """Whether turns are taken now (connected, or while connecting), and whether connected."""
        self.enabled_for_talk = enabled
        self.connected = connected
        self._refresh_accessibility()
        self.update()

    def _refresh_accessibility(self) -> None:
        self.setAccessibleName("Hold to talk")
        self.setAccessibleDescription(self.caption)
        if self._hands_free:
            self.setToolTip(
                "Hands-free: the service hears when you start and stop speaking. "
                f"Press the button or {self.hold_key_name} to interrupt an answer."
            )
        else:
            self.setToolTip(f"Hold the mouse button or {self.hold_key_name} while you speak")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and not self._down:
            self._down = True
            self.held.emit()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._down:
            self._down = False
            self.let_go.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self._shape()
        radius = rect.height() / 2
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.color())
        painter.drawRoundedRect(rect, radius, radius)  # the meter, while shown, paints over its strip
        painter.setFont(self.caption_font())
        caption = self.caption
        if event.rect().intersects(self._caption_rect(painter, caption)):
            painter.setPen(QColor("white"))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, caption)
        painter.end()

    def _caption_rect(self, painter: QPainter, caption: str) -> QRect:
        """Where ``caption`` is drawn (laid out again only when the caption or the size changed)."""
        cached = self._caption_at
        if cached is None or cached[:3] != (caption, self.width(), self.height()):
            where = painter.fontMetrics().boundingRect(
                self._shape().toAlignedRect(), Qt.AlignmentFlag.AlignCenter, caption
            )
            cached = self._caption_at = (caption, self.width(), self.height(), where)
        return cached[3]
