"""The X server going away mid-call: Xlib must not exit the app before it has closed down."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from voicelive_desktop.devtools.xserver import Xvfb

# A Qt window on the display; the X server is killed; then an Xlib call on Qt's own display meets the dead server
# (as Qt's own calls do now and then at a logout). Prints what it lived to see.
_CHILD = textwrap.dedent(
    """
    import ctypes, os, signal, sys, time
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QWidget
    from voicelive_desktop.ui.x11_errors import outlive_the_x_server

    app = QApplication([])
    window = QWidget()
    window.show()
    if sys.argv[1] == "outlive":
        print("handlers", outlive_the_x_server(app), flush=True)
    xlib = ctypes.CDLL("libX11.so.6")
    xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    display = ctypes.c_void_p(int(app.nativeInterface().display()))

    def server_gone():
        os.kill(int(sys.argv[2]), signal.SIGKILL)
        time.sleep(0.3)
        xlib.XSync(display, 0)
        print("survived the call", flush=True)

    QTimer.singleShot(200, server_gone)
    app.exec()
    print("the loop ended by itself", flush=True)
    """
)


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    xvfb = Xvfb()
    try:
        return subprocess.run(
            [sys.executable, "-c", _CHILD, mode, str(xvfb.process.pid)],
            env=xvfb.env,
            check=False,  # the exit code is what is under test
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        xvfb.stop()


def test_an_xlib_call_that_meets_a_dead_x_server_leaves_the_closing_down_to_the_app() -> None:
    without = _run("as-is")
    assert without.returncode == 1 and "XIO" in without.stderr, "Xlib's own handler exits on the spot"
    assert "survived the call" not in without.stdout

    kept = _run("outlive")
    assert "handlers True" in kept.stdout, kept.stderr
    assert "survived the call" in kept.stdout, kept.stderr
    assert "the loop ended by itself" in kept.stdout, "Qt noticed the lost display and left its loop"
    assert kept.returncode == 0, kept.stderr
