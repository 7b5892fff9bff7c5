"""The app's main window in a real X window (for tests/ui/*_x11.py): reports the hold key's intents.

Prints ``ready <window id>`` once shown and painted with the chat focused, then ``press`` / ``release`` for each
``talk_pressed`` / ``talk_released``, and ``keys <n> releases-real <bool>`` (how many Space key events reached
the window's filter) when it gets ``count`` on its stdin. ``level <dBFS>`` shows the talk button listening at
that microphone level, ``idle`` shows it idle, each answered ``shown <x> <y> <width> <height>``: the meter's
strip in the window.
"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.audio.values import Level
from voicelive_desktop.ui.main_window import MainWindow


def _show(window: MainWindow, command: str) -> None:
    talk = window.talk
    if command == "idle":
        talk.set_state(TurnState.IDLE)
    else:
        if talk.state is not TurnState.LISTENING:
            talk.set_state(TurnState.LISTENING)
        db = float(command.split()[1])
        talk.set_level(Level(db, db))
    strip = talk.meter.geometry()
    at = talk.mapTo(window, strip.topLeft())
    print(f"shown {at.x()} {at.y()} {strip.width()} {strip.height()}", flush=True)


class _Counter(QObject):
    """Counts the Space key events the application delivers, before the window's own filter sees them."""

    asked = Signal()
    command = Signal(str)
    ended = Signal()  # stdin closed: quit, on the GUI thread

    def __init__(self) -> None:
        super().__init__()
        self.keys = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QKeyEvent) and event.key() == 0x20 and watched.isWidgetType():
            self.keys += 1
        return False


def main() -> None:
    """Show the window, report until stdin closes."""
    app = QApplication(sys.argv[:1])
    window = MainWindow("Space")
    counter = _Counter()
    app.installEventFilter(counter)  # installed after the window's: it sees events first
    window.talk_pressed.connect(lambda: print("press", flush=True))
    window.talk_released.connect(lambda: print("release", flush=True))
    counter.command.connect(lambda command: _show(window, command))
    counter.ended.connect(app.quit)
    counter.asked.connect(
        lambda: print(f"keys {counter.keys} releases-real {not window.release_debounce_ms}", flush=True)
    )
    # Ready once painted and done with what the window does after its first paint (asking X for real releases,
    # in a zero timer queued before this one), as for a person, who presses keys in a window they see.
    window.first_painted.connect(
        lambda: QTimer.singleShot(0, lambda: print(f"ready {int(window.winId())}", flush=True))
    )
    window.show()
    window.activateWindow()
    window.chat.setFocus()

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "count":
                counter.asked.emit()
            elif line.startswith(("level", "idle")):
                counter.command.emit(line.strip())
        counter.ended.emit()

    threading.Thread(target=read_stdin, daemon=True).start()
    app.exec()


if __name__ == "__main__":
    main()
