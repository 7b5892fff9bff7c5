"""A Tray on a real X display with a real tray host, for tests/ui/test_tray.py.

Prints one line per event: ``available``, ``icon x y w h`` once the tray has embedded the icon,
``menu {"title": ..., "items": {text: [x, y]}}`` each time a menu opens (with the screen positions to click),
and ``intent <signal> <json args>`` for every intent the tray emits. Quits on ``quit_requested``.
"""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMenu

from voicelive_desktop.ui.tray import Tray

INTENTS = (
    "show_hide_requested",
    "mode_chosen",
    "deployment_chosen",
    "mute_toggled",
    "connect_requested",
    "disconnect_requested",
    "quit_requested",
)


def say(*parts: object) -> None:
    print(*parts, flush=True)


class MenuReporter(QObject):
    """Reports every menu that opens, once Qt has placed it."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show and isinstance(watched, QMenu):
            QTimer.singleShot(100, lambda m=watched: self.report(m))
        return False

    @staticmethod
    def report(menu: QMenu) -> None:
        items = {}
        for action in menu.actions():
            if not action.isSeparator():
                centre = menu.mapToGlobal(menu.actionGeometry(action).center())
                items[action.text()] = [centre.x(), centre.y()]
        say("menu", json.dumps({"title": menu.title(), "items": items}))


def main() -> int:
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    say("available", Tray.available())
    tray = Tray()
    tray.set_choices(
        [("Voice Live model", "voicelive"), ("BYOM realtime", "byom-azure-openai-realtime")],
        "voicelive",
        ["gpt-realtime", "gpt-4o-realtime"],
        "gpt-realtime",
    )
    tray.set_state(True, "idle")
    for name in INTENTS:
        getattr(tray, name).connect(lambda *args, n=name: say("intent", n, json.dumps(list(args))))
    tray.quit_requested.connect(app.quit)

    def balloon() -> None:
        shown = [w for w in app.topLevelWidgets() if w.isVisible() and w.metaObject().className() == "QBalloonTip"]
        say("balloon", " | ".join(label.text() for label in shown[0].findChildren(QLabel)) if shown else "none")

    def notify() -> None:
        tray.notify("Voice Live", "Reconnected")
        QTimer.singleShot(200, balloon)

    tray.show_hide_requested.connect(notify)
    reporter = MenuReporter()
    app.installEventFilter(reporter)
    tray.show()

    def wait_for_icon() -> None:
        rect = tray.icon.geometry()
        # Until the tray host has embedded (reparented) the icon, Qt places it at 0,0 of the screen; the host
        # in the test sits at the top right, so a position away from the corner means "in the tray".
        if tray.icon.isVisible() and not rect.isEmpty() and rect.x() > 0:
            say("icon", rect.x(), rect.y(), rect.width(), rect.height())
        else:
            QTimer.singleShot(50, wait_for_icon)

    wait_for_icon()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
