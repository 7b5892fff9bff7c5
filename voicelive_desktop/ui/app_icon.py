"""The app's icon, drawn with QPainter: the shapes of resources/voicelive-desktop.svg, without Qt's SVG module.

Showing the SVG as the window icon loads QtSvg and its icon-engine plugin: 1.6 MiB more resident memory than a
drawn icon in an empty window (the app's figure after its turns in ``benchmarks.compare`` fell by 1.0 MiB). The
icon is four shapes on a 128 x 128 grid, so the window and the tray draw it here. The SVG stays the icon a
desktop installs (hicolor, scalable): the two must look the same, which tests/ui/test_app_icon.py checks pixel by
pixel.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPen, QPixmap

APP_BLUE = "#2563eb"
"""The background in the SVG: the app's own colour."""
GRID = 128.0
"""The SVG's viewBox side."""
WINDOW_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
"""What docks, task bars and window switchers ask for (HiDPI included)."""


def draw(painter: QPainter, side: float, background: str = APP_BLUE) -> None:
    """The icon in the square (0, 0, side, side) of ``painter``, on a ``background`` tile."""
    white = QColor("#ffffff")
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(side / GRID, side / GRID)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(background))
    painter.drawRoundedRect(QRectF(4, 4, 120, 120), 28, 28)  # the tile
    painter.setBrush(white)
    painter.drawRoundedRect(QRectF(50, 24, 28, 52), 14, 14)  # the microphone's head
    pen = QPen(white, 7)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawArc(QRectF(38, 36, 52, 52), 180 * 16, 180 * 16)  # its holder: the lower half circle
    painter.drawLine(64, 88, 64, 104)  # the stand
    painter.drawLine(50, 104, 78, 104)  # its foot
    painter.restore()


def image(size: int, background: str = APP_BLUE) -> QImage:
    """The icon as a ``size`` x ``size`` image with a transparent surround."""
    picture = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    picture.fill(Qt.GlobalColor.transparent)
    painter = QPainter(picture)
    draw(painter, size, background)
    painter.end()
    return picture


def icon(background: str = APP_BLUE, sizes: Iterable[int] = WINDOW_SIZES) -> QIcon:
    """The icon at each of ``sizes`` (Qt scales the nearest one for any other)."""
    result = QIcon()
    for size in sizes:
        result.addPixmap(QPixmap.fromImage(image(size, background)))
    return result
