"""What the app imports before its window first paints: Qt and the window's own modules, nothing more; and the
style it paints in.

The SDK, azure.core, numpy, the audio stack, the emulator, the durable history (sqlite3), asyncio, qasync and
importlib.metadata (package versions, for a diagnostics report) all load after the first paint. The app runs
its real ``main()`` in a fresh process, which reports the modules loaded the moment the window has painted,
and stops there.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.paint_probe import at_first_paint

PROBE = """
import json
print(json.dumps(sorted(sys.modules)))
"""
NOT_BEFORE_PAINT = (
    "azure",
    "aiohttp",
    "numpy",
    "sounddevice",
    "soxr",
    "sqlite3",
    "keyring",
    "asyncio",
    "qasync",
    "pocketsphinx",
    "voicelive_desktop.emulator",
    "voicelive_desktop.audio.capture",
    "voicelive_desktop.audio.playback",
    "voicelive_desktop.voicelive.session",
    "voicelive_desktop.conversation.store",
    "voicelive_desktop.conversation.history",
    "voicelive_desktop.controller",
    "voicelive_desktop.assistant",
    "importlib.metadata",  # package versions, for a diagnostics report only
)


def test_only_qt_and_the_window_are_imported_before_the_first_paint(tmp_path: Path) -> None:
    loaded = json.loads(at_first_paint(PROBE, tmp_path / "settings.toml"))
    assert "voicelive_desktop.ui.main_window" in loaded and "PySide6.QtWidgets" in loaded
    early = [m for m in loaded if any(m == name or m.startswith(name + ".") for name in NOT_BEFORE_PAINT)]
    assert early == [], f"imported before the first paint: {early}"


def test_the_window_paints_in_the_apps_own_style_whatever_the_desktop_asks(tmp_path: Path) -> None:
    """The palette and style sheet are made for Fusion: a desktop's own style (Breeze, Windows...) must not show
    through, even when the environment asks Qt for it."""
    report = """
    from PySide6.QtWidgets import QApplication
    QApplication.instance().setStyleSheet("")  # the style under the app's style sheet
    print(QApplication.style().name())
    """
    assert at_first_paint(report, tmp_path / "settings.toml", QT_STYLE_OVERRIDE="Windows") == "fusion"
