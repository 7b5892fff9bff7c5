"""Smoke test of the built bundle, used as a user would: the offline demo, one typed and one spoken turn.

    .venv/bin/python packaging/smoke.py      (packaging/smoke.sh sets up and runs this)

The bundle is a black box started on its own Xvfb and private PulseAudio, with a PATH holding nothing (so the
espeak-ng it speaks with can only be its own) and an empty home. What it did is read from the history file
it wrote (--history), its log on stderr, and what came out of the virtual speaker. Everything is kept in
build/smoke/ for a look afterwards; the first thing that is wrong ends the run with exit code 1 and says so.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from third_party import SYSTEM_LIBRARIES  # packaging/, this script's folder

from voicelive_desktop.devtools.pulse import PrivatePulse, Recording
from voicelive_desktop.devtools.speech import espeak_pcm, loud_ms, matching_share
from voicelive_desktop.devtools.xserver import Xvfb
from voicelive_desktop.emulator.speech import espeak_wav_to_pcm

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "dist" / "voicelive-desktop" / "voicelive-desktop"
WORK = ROOT / "build" / "smoke"
TYPED = "Which model am I talking to?"
SPOKEN = "what is the weather like in seattle today"
RATE = 24000
T = TypeVar("T")


class SmokeFailure(Exception):
    """Something the bundle should have done and did not."""


def check(ok: object, problem: str) -> None:
    """Fail with ``problem`` unless ``ok``."""
    if not ok:
        raise SmokeFailure(problem)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, seen: Callable[[], str] | None = None) -> T:
    """Poll ``probe`` until it returns something, or fail saying ``what`` did not happen in time (and ``seen()``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise SmokeFailure(f"{what}: not seen within {timeout:.0f} s" + (f" {seen()}" if seen else ""))


def messages(history: Path) -> list[tuple[str, str, int]]:
    """(role, text, final) of every message the bundle saved so far, in order."""
    if not history.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{history}?mode=ro", uri=True)) as con:
        try:
            return con.execute("SELECT role, text, final FROM messages WHERE role != 'divider' ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # not created yet
            return []


def answered(history: Path, count: int) -> list[tuple[str, str, int]] | None:
    """The saved messages once there are ``count`` of them and all are final."""
    rows = messages(history)
    return rows if len(rows) >= count and all(final for _, _, final in rows) else None


def wait_for_turn(history: Path, count: int, kind: str) -> None:
    """Wait until the history holds ``count`` final messages: the ``kind`` question and its answer are saved."""
    question = f"the {kind} question and its answer in the history"
    wait_for(question, lambda: answered(history, count), 30, lambda: f"(saved: {messages(history)})")


def wait_for_spoken_answer(speaker: Recording, since: int, timeout: float = 30) -> None:
    """Wait until an answer has been played after sample ``since``, and the speaker has been silent for 1 s."""

    def played() -> bool:
        heard = speaker.samples()[since:]
        return loud_ms(heard) > 500 and loud_ms(heard[-RATE:]) == 0

    wait_for("an answer played to the end on the speaker", played, timeout)


def espeak_answer(text: str) -> np.ndarray:
    """What the emulator's espeak-ng makes of ``text`` (the same options), rendered by the system's espeak-ng."""
    wav = subprocess.run(["espeak-ng", "--stdout", "-s", "170", text], check=True, capture_output=True).stdout
    return np.frombuffer(espeak_wav_to_pcm(wav), dtype=np.int16)


def run_bundle(xvfb: Xvfb, pulse: PrivatePulse) -> None:
    """Start the bundle, hold the two turns, quit it; check the exit and the log."""
    (WORK / "empty-path").mkdir()
    env = {
        "PATH": str(WORK / "empty-path"),
        "HOME": str(WORK / "home"),
        "LANG": "C.UTF-8",
        "DISPLAY": xvfb.display,
        **pulse.env,
    }
    log = WORK / "app.log"
    history = WORK / "history.db"
    speaker = pulse.record("speaker.monitor")
    with log.open("wb") as out:
        app = subprocess.Popen(
            [str(BUNDLE), "--demo", "--settings", str(WORK / "settings.toml"), "--history", str(history)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wid = wait_for("the window", lambda: _window(xvfb), 30)
        wait_for("a connection to the built-in emulator", lambda: "connected to" in log.read_text(), 30)
        xvfb.run("xdotool", "windowmove", wid, "0", "0", "windowsize", wid, "1100", "760")
        xvfb.run("xdotool", "windowfocus", "--sync", wid)  # there is no window manager to do it

        since = len(speaker.samples())
        xvfb.run("xdotool", "key", "ctrl+l", "type", "--delay", "20", TYPED)
        xvfb.run("xdotool", "key", "Return")
        wait_for_turn(history, 2, "typed")
        wait_for_spoken_answer(speaker, since)

        xvfb.run("xdotool", "mousemove", "--window", wid, "550", "300", "click", "1")  # out of the text field
        xvfb.run("xdotool", "keydown", "space")
        time.sleep(0.3)
        pulse.play(espeak_pcm(SPOKEN)).wait(15)
        time.sleep(0.4)
        since = len(speaker.samples())
        xvfb.run("xdotool", "keyup", "space")
        wait_for_turn(history, 4, "spoken")
        wait_for_spoken_answer(speaker, since)

        xvfb.run("xdotool", "key", "ctrl+q")
        code = app.wait(30)
    except (SmokeFailure, subprocess.TimeoutExpired):
        subprocess.run(["import", "-window", "root", str(WORK / "screen.png")], env=xvfb.env, check=False)
        raise
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        recorded = speaker.stop()
        (WORK / "speaker.raw").write_bytes(recorded.tobytes())
    text = log.read_text()
    check(code == 0, f"the bundle exited with code {code} after Ctrl+Q (log: {log})")
    check("Traceback" not in text, f"a Python traceback in the bundle's log: {log}")
    check("answers are spoken with espeak-ng" in text, "the demo did not say that espeak-ng speaks its answers")
    check("espeak-ng failed" not in text, "the bundled espeak-ng failed: the answers were tones")
    check_history(history, recorded)


def _window(xvfb: Xvfb) -> str | None:
    # Visible only: Qt's unmapped 1x1 client-leader window bears the application's name too, and focusing it fails.
    try:
        return xvfb.run("xdotool", "search", "--onlyvisible", "--name", "^Voice Live$").split()[0]
    except (subprocess.CalledProcessError, IndexError):
        return None


def check_history(history: Path, recorded: np.ndarray) -> None:
    """Both turns saved and searchable; each answer heard on the speaker as espeak-ng speech."""
    rows = messages(history)
    check([role for role, _, _ in rows] == ["user", "assistant"] * 2, f"unexpected messages saved: {rows}")
    (_, typed, _), (_, typed_answer, _), (_, heard, _), (_, heard_answer, _) = rows
    check(typed == TYPED, f"the typed question was saved as {typed!r}")
    check("You wrote: Which model am I talking to" in typed_answer, f"the typed answer is {typed_answer!r}")
    check(heard and "s of audio)" not in heard, f"pocketsphinx did not recognise the speech (saved: {heard!r})")
    check("You said:" in heard_answer, f"the spoken answer is {heard_answer!r}")
    with contextlib.closing(sqlite3.connect(f"file:{history}?mode=ro", uri=True)) as con:
        found = con.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'talking'").fetchone()[0]
    check(found >= 2, f"the full-text index (FTS5) finds {found} messages with 'talking', not the 2 saved")
    for answer in (typed_answer, heard_answer):
        share = matching_share(espeak_answer(answer), recorded)
        check(share >= 0.8, f"only {share:.0%} of the espeak-ng speech for {answer!r} came out of the speaker")


def check_espeak_is_self_contained() -> None:
    """The bundled espeak-ng loads its own libraries, and from the system only the C library.

    On this machine a library missing from the bundle would quietly come from the system: ask the loader.
    """
    home = BUNDLE.parent / "_internal" / "espeak-ng"
    env = {"LD_LIBRARY_PATH": str(home / "lib")}
    listing = subprocess.run(
        ["ldd", str(home / "espeak-ng")], check=False, env=env, capture_output=True, text=True
    ).stdout
    lines = [line.strip() for line in listing.splitlines() if "=>" in line and str(home) not in line]
    foreign = [line for line in lines if not SYSTEM_LIBRARIES.match(line.split()[0])]
    check(not foreign, "the bundled espeak-ng needs libraries the bundle lacks:\n" + "\n".join(foreign))


def check_desktop_entry() -> None:
    """The bundle adds itself to the app menu: a valid entry whose Exec is the bundle, icons, metainfo."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(WORK / "home"), "XDG_DATA_HOME": str(WORK / "data")}
    subprocess.run([str(BUNDLE), "--install-desktop-entry"], env=env, check=True, capture_output=True, timeout=60)
    entry = WORK / "data" / "applications" / "voicelive-desktop.desktop"
    check(f"Exec={BUNDLE}\n" in entry.read_text(), f"the desktop entry does not start the bundle: {entry}")
    metainfo = next((WORK / "data" / "metainfo").glob("*.metainfo.xml"))
    for validate in (["desktop-file-validate", str(entry)], ["appstreamcli", "validate", "--no-net", str(metainfo)]):
        result = subprocess.run(validate, check=False, capture_output=True, text=True)
        check(result.returncode == 0, f"{' '.join(validate)} failed:\n{result.stdout}{result.stderr}")
    check((WORK / "data/icons/hicolor/48x48/apps/voicelive-desktop.png").is_file(), "no 48x48 icon was installed")


def main() -> int:
    """Run every check; returns the exit code."""
    if not BUNDLE.is_file():
        print(f"smoke: no bundle at {BUNDLE}: run packaging/build.sh first", file=sys.stderr)
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "home").mkdir(parents=True)
    started = time.monotonic()
    xvfb = Xvfb()
    pulse = PrivatePulse()
    try:
        pulse.start()
        check_espeak_is_self_contained()
        run_bundle(xvfb, pulse)
        check_desktop_entry()
    except (SmokeFailure, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"SMOKE TEST FAILED: {exc}\n(what the bundle did is in {WORK})", file=sys.stderr)
        log = WORK / "app.log"
        if log.exists():
            print("--- last lines of the bundle's log:", *log.read_text().splitlines()[-25:], sep="\n", file=sys.stderr)
        return 1
    finally:
        pulse.stop()
        xvfb.stop()
    print(f"smoke: the bundle passed in {time.monotonic() - started:.0f} s (typed and spoken turns, clean exit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
