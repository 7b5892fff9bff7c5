"""The level meter on a real X server, which draws it: it follows the microphone's level, and goes with the turn.

The app's window runs in its own process on a private Xvfb (``hold_key_window.py``); what it shows is read from
a screenshot of the window, as a person would see it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest
from PySide6.QtGui import QColor, QImage

from tests.desktop.xserver import Xvfb
from tests.ui.window_process import WindowProcess


@pytest.fixture
def xvfb() -> Iterator[Xvfb]:
    server = Xvfb()
    yield server
    server.stop()


def _screenshot(xvfb: Xvfb, window_id: str) -> QImage:
    png = subprocess.run(["import", "-window", window_id, "png:-"], env=xvfb.env, capture_output=True, check=True)
    image = QImage.fromData(png.stdout)
    assert not image.isNull()
    return image


def _lit(color: QColor) -> bool:
    """The level's colour (white, mostly opaque, over the listening red), not the red around it."""
    return color.green() > 150 and color.red() > 200


def _level_pixels(image: QImage, strip: tuple[int, int, int, int]) -> int:
    x, y, width, height = strip
    row = y + height // 2
    return sum(_lit(image.pixelColor(px, row)) for px in range(x, x + width))


def _mapped_children(xvfb: Xvfb, window_id: str) -> list[tuple[int, int]]:
    """The (width, height) of each mapped child window of the app's window, as the X server has them."""
    tree = xvfb.run("xwininfo", "-children", "-id", window_id)
    sizes = []
    for child in re.findall(r"^\s+(0x[0-9a-f]+) .*?: \(.*?\)\s+(\d+)x(\d+)", tree, flags=re.MULTILINE):
        state = xvfb.run("xwininfo", "-id", child[0])
        if "IsViewable" in state:
            sizes.append((int(child[1]), int(child[2])))
    return sizes


def test_the_meter_follows_the_level_and_goes_with_the_turn(xvfb: Xvfb) -> None:
    app = WindowProcess(xvfb)
    try:
        strip = app.show_level("level -96")
        _, _, width, height = strip
        track = width - 2  # the level is drawn a pixel inside the strip
        assert _level_pixels(_screenshot(xvfb, app.window_id), strip) == 0, "silence shows no level"
        assert (width, height) in _mapped_children(xvfb, app.window_id), "the X server draws the meter"

        for db, share in ((-30, 0.5), (0, 1.0), (-45, 0.25), (-30, 0.5)):  # the scale runs from -60 to 0 dBFS
            app.show_level(f"level {db}")
            lit = _level_pixels(_screenshot(xvfb, app.window_id), strip)
            assert abs(lit - track * share) <= 2, f"at {db} dBFS the meter shows {lit} of {track} pixels"

        app.show_level("idle")
        image = _screenshot(xvfb, app.window_id)
        assert _level_pixels(image, strip) == 0, "the level stays on screen after the turn"
        x, y, _, _ = strip
        assert image.pixelColor(x + width // 2, y + height // 2) == image.pixelColor(x + width // 2, y - 4), (
            "the meter's strip stays on the idle button"
        )
        assert (width, height) not in _mapped_children(xvfb, app.window_id)
    finally:
        app.close()
