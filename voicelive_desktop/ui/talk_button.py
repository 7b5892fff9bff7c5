"""The big hold-to-talk button, with the turn state and a live level meter drawn inside it."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..assistant_events import TurnState
from ..audio.values import Level

_CAPTIONS = {
    TurnState.IDLE: "Hold to talk",
    TurnState.LISTENING: "Listening\u2026 release to send",
    TurnState.THINKING: "Thinking\u2026",
    TurnState.SPEAKING: "Speaking \u2014 hold to interrupt",
}
_COLORS = {
    TurnState.IDLE: None,  # the palette's highlight colour
    TurnState.LISTENING: QColor("#d64545"),
    TurnState.THINKING: QColor("#c28a18"),
    TurnState.SPEAKING: QColor("#2f9e61"),
}


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
        self.setMinimumSize(260, 72)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.state = TurnState.IDLE
        self.level_db = -96.0
        self.enabled_for_talk = False
        self.hold_key_name = hold_key_name
        self._down = False
        self._refresh_accessibility()

    @property
    def caption(self) -> str:
        """What the button says now."""
        if not self.enabled_for_talk:
            return "Not connected"
        hint = f"  ({self.hold_key_name})" if self.state is TurnState.IDLE else ""
        return _CAPTIONS[self.state] + hint

    def set_state(self, state: TurnState) -> None:
        """Show the conversation's turn state."""
        self.state = state
        if state is not TurnState.LISTENING:
            self.level_db = -96.0
        self._refresh_accessibility()
        self.update()

    def set_level(self, level: Level) -> None:
        """Show the microphone level (dBFS)."""
        self.level_db = level.rms_db
        self.update()

    def set_talk_enabled(self, enabled: bool) -> None:
        """Connected or not."""
        self.enabled_for_talk = enabled
        self._refresh_accessibility()
        self.update()

    def _refresh_accessibility(self) -> None:
        self.setAccessibleName("Hold to talk")
        self.setAccessibleDescription(self.caption)
        self.setToolTip(f"Hold the mouse button or {self.hold_key_name} while you speak")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and not self._down:
            self._down = True
            self.held.emit()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._down:
            self._down = False
            self.let_go.emit()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(2, 2, -2, -2)
        palette = self.palette()
        color = _COLORS[self.state] or palette.color(QPalette.ColorRole.Highlight)
        if not self.enabled_for_talk:
            color = palette.color(QPalette.ColorRole.Mid)
        radius = rect.height() / 2
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(rect, radius, radius)
        if self.state is TurnState.LISTENING:
            fraction = max(0.0, min(1.0, (self.level_db + 60.0) / 60.0))
            meter = QRectF(rect.left() + radius, rect.bottom() - 12, (rect.width() - 2 * radius) * fraction, 6)
            painter.setBrush(QColor(255, 255, 255, 200))
            painter.drawRoundedRect(meter, 3, 3)
        painter.setPen(QColor("white"))
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.caption)
        painter.end()
