"""Style: the Fusion style on the system palette (dark when the system is dark), plus the app's style sheet."""

from __future__ import annotations

from importlib import resources

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication


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


def apply(app: QApplication) -> None:
    """Style ``app`` once, before the first window shows."""
    app.setStyle("Fusion")
    if QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark:
        app.setPalette(_dark_palette())
    else:
        palette = app.palette()
        palette.setColor(QPalette.ColorRole.Highlight, QColor("#2563eb"))
        palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#f1f3f6"))
        app.setPalette(palette)
    files = resources.files("voicelive_desktop.resources")
    app.setStyleSheet(files.joinpath("style.qss").read_text())
    with resources.as_file(files.joinpath("voicelive-desktop.svg")) as icon:
        app.setWindowIcon(QIcon(str(icon)))
