"""The cost floor of a held key in any Qt window: an empty PySide6 window, doing nothing with the keys it gets.

    .venv/bin/python -m benchmarks.qt_window

It shows one empty window titled "Qt floor", prints ``ready`` once the window is shown, and quits when its stdin
closes. While a key is held on an X display, the X server repeats it (25-40 times a second) and Qt reads,
decodes and delivers every repeat on its GUI thread, whatever the application does with it. ``benchmarks.compare``
holds Space in it as in the app and measures its CPU: the part of the app's held-key CPU that comes with being a
Qt window at all. The baseline client has no window, and gets no key events.
"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QMetaObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QWidget

TITLE = "Qt floor"


def main() -> None:
    """Show the window until stdin closes."""
    app = QApplication(sys.argv[:1])
    window = QWidget()
    window.setWindowTitle(TITLE)
    window.resize(400, 300)
    window.show()

    def wait_for_stdin() -> None:
        sys.stdin.read()
        QMetaObject.invokeMethod(app, "quit", Qt.ConnectionType.QueuedConnection)

    threading.Thread(target=wait_for_stdin, daemon=True).start()
    QTimer.singleShot(0, lambda: print("ready", flush=True))
    app.exec()


if __name__ == "__main__":
    main()
