"""Style: the Fusion style on the system palette (dark when the system is dark), plus the app's style sheet."""

from __future__ import annotations

from importlib import resources

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from . import app_icon


def _dark_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#1f2126",
        QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#17181c",
        QPalette.ColorRole.AlternateBase: "#2a2d33",
        QPalette.ColorRole.Text: "#e6e6e6",
        QPalette.ColorRole.Button: "#2a2d33",
        QPalette.ColorRole.ButtonText: "#e6e6e6",
        QPalette.ColorRole.Highlight: "#3b82f6",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: "#9aa0a6",
        QPalette.ColorRole.Mid: "#3a3d44",
        QPalette.ColorRole.Midlight: "#34373e",
        QPalette.ColorRole.ToolTipBase: "#2a2d33",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
    }
    for role, color in roles.items():
        p.setColor(role, QColor(color))
    return p


#: The widget style, on every system (the app's style sheet and palette are made for it).
STYLE = "Fusion"


def qt_arguments() -> list[str]:
    """Command-line arguments for a new QApplication that set :data:`STYLE` as Qt starts.

    Cheaper than ``setStyle`` afterwards, which is overloaded (a style name or a QStyle): resolving the call
    makes PySide6 set up QStyle's Python type and its eleven enums before the first paint (16 ms on a 2-core
    AMD EPYC host), for a type the window does not otherwise touch before it paints.
    """
    return ["-style", STYLE]


def apply(app: QApplication, *, style_set: bool = False) -> None:
    """Style ``app`` once, before the first window shows; ``style_set``: it was built with :func:`qt_arguments`."""
    if not style_set:
        app.setStyle(STYLE)
    if QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark:
        app.setPalette(_dark_palette())
    else:
        palette = app.palette()
        palette.setColor(QPalette.ColorRole.Highlight, QColor("#2563eb"))
        palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#f1f3f6"))
        app.setPalette(palette)
    files = resources.files("voicelive_desktop.resources")
    app.setStyleSheet(files.joinpath("style.qss").read_text())
    app.setWindowIcon(app_icon.icon())  # drawn, not the SVG: no QtSvg in memory (see app_icon)
