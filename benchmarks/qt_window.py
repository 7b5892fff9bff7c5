"""The cost floor of a held key in any Qt window: an empty PySide6 window, doing nothing with the keys it gets.

    .venv/bin/python -m benchmarks.qt_window

It shows one empty window titled "Qt floor", prints ``ready`` once the window is shown, and quits when its stdin
closes. While a key is held on an X display, the X server repeats it (25-40 times a second) and Qt reads,
decodes and delivers every repeat on its GUI thread, whatever the application does with it. ``benchmarks.compare``
holds Space in it as in the app and measures its CPU: the part of the app's held-key CPU that comes with being a
Qt window at all. The baseline client has no window, and gets no key events.

    .venv/bin/python -m benchmarks.qt_window --first-paint

shows the same window, prints ``first paint after N ms after launch`` at its first paint (from the launch instant
in VOICELIVE_LAUNCHED_AT, as the app reports its own) and quits: the floor under the app's launch to first paint,
which is Python, PySide6's import and Qt's start-up before any of the app's code runs.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from PySide6.QtCore import QMetaObject, Qt, QTimer
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QApplication, QWidget

TITLE = "Qt floor"


class _FirstPaint(QWidget):
    """Reports its first paint, then quits."""

    def __init__(self, launched_at: float) -> None:
        super().__init__()
        self._launched_at = launched_at
        self._painted = False

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            print(f"first paint after {(time.time() - self._launched_at) * 1000:.0f} ms after launch", flush=True)
            QTimer.singleShot(0, QApplication.quit)


def main() -> None:
    """Show the window until stdin closes (or, with ``--first-paint``, until it has painted once)."""
    app = QApplication(sys.argv[:1])
    first_paint = "--first-paint" in sys.argv[1:]
    window = _FirstPaint(float(os.environ["VOICELIVE_LAUNCHED_AT"])) if first_paint else QWidget()
    window.setWindowTitle(TITLE)
    window.resize(400, 300)
    window.show()
    if first_paint:
        app.exec()
        return

    def wait_for_stdin() -> None:
        sys.stdin.read()
        QMetaObject.invokeMethod(app, "quit", Qt.ConnectionType.QueuedConnection)

    threading.Thread(target=wait_for_stdin, daemon=True).start()
    QTimer.singleShot(0, lambda: print("ready", flush=True))
    app.exec()


if __name__ == "__main__":
    main()
