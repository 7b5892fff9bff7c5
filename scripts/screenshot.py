"""Start the app in demo mode in a real X window (Xvfb), hold a conversation, and save a screenshot.

    .venv/bin/python scripts/screenshot.py [docs/screenshot.png]

It starts its own Xvfb and private PulseAudio, types a message, then holds Space while espeak-ng speaks
into the virtual microphone, and captures the window while the answer is still streaming in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from voicelive_desktop.devtools.pulse import PrivatePulse
from voicelive_desktop.devtools.speech import espeak_pcm

ROOT = Path(__file__).resolve().parent.parent


def _xdotool(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(["xdotool", *args], env=env, check=True, capture_output=True, text=True).stdout


def main() -> int:
    """Run the scenario; returns the exit code."""
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshot.png").resolve()
    for tool in ("Xvfb", "xdotool", "import"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: run scripts/setup.sh first", file=sys.stderr)
            return 1
    display = ":87"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1100x760x24", "-nolisten", "tcp", "-noreset"])
    pulse = PrivatePulse()
    app = None
    try:
        pulse.start()
        settings = Path(tempfile.mkdtemp()) / "settings.toml"
        env = {**os.environ, **pulse.env, "DISPLAY": display}
        env.pop("QT_QPA_PLATFORM", None)  # a real X window, not offscreen
        app = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voicelive_desktop",
                "--demo",
                *sys.argv[2:],
                "--settings",
                str(settings),
                "--history",
                str(settings.with_name("history.sqlite3")),
            ],
            env=env,
            cwd=ROOT,
        )
        wid = ""
        for _ in range(100):
            time.sleep(0.2)
            try:
                wid = _xdotool("search", "--onlyvisible", "--name", "^Voice Live$", env=env).split()[0]
                break
            except (subprocess.CalledProcessError, IndexError):
                continue
        if not wid:
            print("the window did not appear", file=sys.stderr)
            return 1
        _xdotool("windowmove", wid, "0", "0", env=env)
        _xdotool("windowsize", wid, "1100", "760", env=env)
        time.sleep(3.0)  # connect to the built-in emulator
        _xdotool("windowfocus", "--sync", wid, env=env)  # there is no window manager to activate it
        inp_x, inp_y = 400, 640
        _xdotool("mousemove", "--window", wid, str(inp_x), str(inp_y), "click", "1", env=env)
        _xdotool("type", "--delay", "20", "Which model am I talking to?", env=env)
        _xdotool("key", "Return", env=env)
        time.sleep(8.0)  # let the first answer finish
        _xdotool("mousemove", "--window", wid, "550", "300", "click", "1", env=env)  # focus away from the text box
        speech = espeak_pcm("what is the weather like in seattle today")
        _xdotool("keydown", "space", env=env)
        time.sleep(0.3)
        player = pulse.play(speech)
        player.wait(15)
        time.sleep(0.4)
        _xdotool("keyup", "space", env=env)
        time.sleep(2.0)  # the answer is streaming in
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", wid, str(out)], env=env, check=True)
        print(f"saved {out}")
        return 0
    finally:
        if app is not None:
            app.terminate()
            try:
                app.wait(10)
            except subprocess.TimeoutExpired:
                app.kill()
        pulse.stop()
        xvfb.terminate()


if __name__ == "__main__":
    sys.exit(main())
