"""The real app's ``main()`` in a fresh process, stopped at its window's first paint to look at the process then."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_TEMPLATE = """
import os, sys
from voicelive_desktop import app

paint_now = app._paint_now

def paint_and_report(window, *args, **kwargs):
    paint_now(window, *args, **kwargs)
{report}
    sys.stdout.flush()
    os._exit(0)

app._paint_now = paint_and_report
app.main(["--settings", sys.argv[1]])
"""


def at_first_paint(report: str, settings: Path, **env: str) -> str:
    """Launch the app offscreen (with ``env`` added), run ``report`` when its window has painted once, and return
    the last line it printed. ``report`` is Python with ``window`` (the main window) in scope; the process ends
    right after it, before the services start."""
    code = _TEMPLATE.format(report=textwrap.indent(textwrap.dedent(report), "    "))
    result = subprocess.run(
        [sys.executable, "-c", code, str(settings)],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]
