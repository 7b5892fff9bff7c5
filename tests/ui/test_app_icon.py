"""The icon the window and the tray draw looks like the SVG a desktop installs, and showing it costs no QtSvg."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter
from pytestqt.qtbot import QtBot

from tests.paint_probe import at_first_paint
from voicelive_desktop.desktop.desktop_entry import render_png
from voicelive_desktop.ui import app_icon


def _svg_image(size: int, background: str = app_icon.APP_BLUE) -> QImage:
    """The SVG as a desktop gets it: drawn by QtSvg (as the desktop entry's PNGs are), in ``background``."""
    svg = resources.files("voicelive_desktop.resources").joinpath("voicelive-desktop.svg").read_text()
    png = render_png(svg.replace(app_icon.APP_BLUE, background).encode(), size)
    assert png is not None
    return QImage.fromData(png, "PNG")


def _differences(a: QImage, b: QImage) -> tuple[float, int, int]:
    """Mean and largest channel difference (0-255), and how many pixels differ by more than a quarter."""
    total, largest, far = 0, 0, 0
    for y in range(a.height()):
        for x in range(a.width()):
            pa, pb = a.pixelColor(x, y), b.pixelColor(x, y)
            diff = max(
                abs(pa.red() - pb.red()),
                abs(pa.green() - pb.green()),
                abs(pa.blue() - pb.blue()),
                abs(pa.alpha() - pb.alpha()),
            )
            total += diff
            largest = max(largest, diff)
            far += diff > 64
    return total / (a.width() * a.height()), largest, far


@pytest.mark.parametrize("size", [16, 32, 64, 256])
@pytest.mark.parametrize("background", [app_icon.APP_BLUE, "#dc2626"])
def test_the_drawn_icon_matches_the_svg(qtbot: QtBot, size: int, background: str) -> None:
    drawn, svg = app_icon.image(size, background), _svg_image(size, background)
    mean, _, far = _differences(drawn, svg)
    # Anti-aliasing may differ along edges; a shape out of place or missing differs over whole areas.
    assert mean < 1.0, (size, mean)
    assert far <= max(2, size * size // 500), (size, far)


def test_a_shape_out_of_place_would_show(qtbot: QtBot) -> None:
    """The comparison above sees a wrong drawing: a white dot the size of the stand's width on the tile."""
    size = 64
    wrong = app_icon.image(size)
    painter = QPainter(wrong)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(size / app_icon.GRID, size / app_icon.GRID)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(Qt.GlobalColor.white)
    painter.drawEllipse(36, 10, 8, 8)  # a white dot where the tile is blue
    painter.end()
    mean, _, far = _differences(wrong, _svg_image(size))
    assert far > max(2, size * size // 500) or mean >= 1.0


PROBE = """
for side in (16, 32, 64, 256):  # what a dock or task bar asks the window's icon for
    assert not window.windowIcon().pixmap(side, side).isNull()
from voicelive_desktop.ui.tray import state_icon  # (offscreen there is no tray: its icons are drawn here)
assert not state_icon("listening").pixmap(22, 22).isNull()
maps = open("/proc/self/maps").read()
print("QtSvg loaded" if "libQt6Svg" in maps else "no QtSvg")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_the_window_shows_its_icon_without_loading_qtsvg(tmp_path: Path) -> None:
    assert at_first_paint(PROBE, tmp_path / "settings.toml") == "no QtSvg"
