"""The app on a real X desktop (Xvfb): the global hold key while another application has the focus, a second
launch handing over to the first, the desktop entry from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.desktop.xserver import FocusWindow
from tests.helpers import API_KEY, until
from voicelive_desktop.audio.backend import AUDIO_START_LIMIT_S
from voicelive_desktop.devtools.pulse import PrivatePulse
from voicelive_desktop.devtools.speech import loud_ms
from voicelive_desktop.devtools.xserver import Xvfb
from voicelive_desktop.emulator import Emulator


@pytest.fixture
def xvfb() -> Iterator[Xvfb]:
    server = Xvfb()
    yield server
    server.stop()


def _app(xvfb: Xvfb, pulse: Any, tmp_path: Path, *args: str, stderr: Path | None = None) -> subprocess.Popen[str]:
    """The app in its own process; its log to ``stderr`` (readable while it runs), else to a pipe."""
    env = {**xvfb.env, **pulse.env, "AZURE_VOICELIVE_API_KEY": API_KEY}
    argv = [
        sys.executable, "-m", "voicelive_desktop", *args,
        "--settings", str(tmp_path / "settings.toml"), "--history", str(tmp_path / "history.sqlite3"),
    ]  # fmt: skip
    with open(stderr, "w") if stderr is not None else contextlib.nullcontext(subprocess.PIPE) as err:
        return subprocess.Popen(argv, env=env, stderr=err, text=True)


def _catches_sigterm(pid: int) -> bool:
    """The process has its SIGTERM handler in place (it closes the window, as a user would)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def _exited_cleanly(app: subprocess.Popen[str], log: Path) -> None:
    """The app ended with exit code 0, and no traceback in its log."""
    stderr = log.read_text()
    assert app.returncode == 0 and "Traceback" not in stderr, stderr


async def _stop(app: subprocess.Popen[str]) -> str:
    app.terminate()  # SIGTERM closes the window, which shuts down cleanly
    _, stderr = await asyncio.to_thread(app.communicate, timeout=20)
    return stderr


async def test_the_global_key_held_while_another_application_has_the_focus_runs_a_whole_turn(
    xvfb: Xvfb, pulse: Any, emulator: Emulator, tmp_path: Path, speech_pcm: bytes
) -> None:
    app = await asyncio.to_thread(
        _app, xvfb, pulse, tmp_path, "--endpoint", emulator.endpoint, "--model", "gpt-realtime", "--global-key", "F9"
    )
    focus = None
    try:
        await until(lambda: bool(emulator.connections) and "session.update" in emulator.last().received_types(), 30)
        focus = await asyncio.to_thread(FocusWindow, xvfb)  # another application takes the keyboard focus
        record = emulator.last()
        await asyncio.sleep(1.0)  # the pre-roll: the microphone has been open a while, as a user's would be
        await asyncio.to_thread(xvfb.run, "xdotool", "keydown", "F9")
        await until(lambda: "input_audio_buffer.append" in record.received_types(), 10)
        player = pulse.play(speech_pcm)
        await asyncio.to_thread(player.wait, 15)
        await asyncio.to_thread(xvfb.run, "xdotool", "keyup", "F9")
        await until(lambda: "input_audio_buffer.commit" in record.received_types(), 10)
        await until(lambda: any(e["type"] == "response.done" for e in record.sent), 30)
        assert focus.keys("F9") == [], "the grabbed key did not reach the focused application"
        transcripts = [e for e in record.sent if e["type"].endswith("input_audio_transcription.completed")]
        assert transcripts and transcripts[0]["transcript"], "the turn was heard"
        loaded = await asyncio.to_thread(Path(f"/proc/{app.pid}/maps").read_text)
        assert "numpy" not in loaded, "a turn at the devices' own rate loaded numpy (15 MiB): only resampling needs it"
    finally:
        stderr = await _stop(app)
        if focus is not None:
            focus.close()
    assert app.returncode == 0 and "Traceback" not in stderr, stderr


async def test_the_global_key_goes_back_to_other_applications_while_not_listening(
    xvfb: Xvfb, pulse: Any, tmp_path: Path, start_emulator: Any
) -> None:
    emulator = await start_emulator(api_key="a-key-the-app-does-not-have")
    app = await asyncio.to_thread(
        _app, xvfb, pulse, tmp_path, "--endpoint", emulator.endpoint, "--model", "m", "--global-key", "F9"
    )  # the key is refused: the app stops, "Not connected", and listens to nothing
    focus = None
    try:
        focus = await asyncio.to_thread(FocusWindow, xvfb)
        deadline = time.monotonic() + 15
        while not focus.keys("F9") and time.monotonic() < deadline:  # once the app has stopped, F9 is not taken
            await asyncio.to_thread(xvfb.run, "xdotool", "key", "F9")
            await asyncio.sleep(0.2)
        assert focus.keys("F9"), "the key was kept from the focused application while the app could not listen"
    finally:
        await _stop(app)
        if focus is not None:
            focus.close()


async def test_a_second_launch_raises_the_first_passes_its_flags_and_exits(
    xvfb: Xvfb, pulse: Any, emulator: Emulator, tmp_path: Path
) -> None:
    first = await asyncio.to_thread(_app, xvfb, pulse, tmp_path, "--endpoint", emulator.endpoint)
    try:
        await until(lambda: bool(emulator.connections), 30)
        started = time.monotonic()
        second = await asyncio.to_thread(
            _app, xvfb, pulse, tmp_path, "--byom", "byom-azure-openai-chat-completion", "--model", "grok-3"
        )
        _, stderr = await asyncio.to_thread(second.communicate, timeout=20)
        took = time.monotonic() - started
        assert second.returncode == 0, stderr
        await until(lambda: emulator.last().query.get("model") == "grok-3", 15)
        assert emulator.last().query.get("profile") == "byom-azure-openai-chat-completion"
        assert len([c for c in emulator.connections if c.open]) <= 1
        print(f"the second launch handed over and exited after {took:.2f} s")
    finally:
        stderr = await _stop(first)
    assert first.returncode == 0 and "Traceback" not in stderr, stderr


async def test_a_second_launch_while_the_first_is_still_starting_is_applied_once_it_has_started(
    xvfb: Xvfb, emulator: Emulator, tmp_path: Path
) -> None:
    """At login the sound server may still be starting while the first launch waits for it; a second launch (a
    menu entry for another model, say) then used to be acknowledged and lost: the first connected with its own
    model. Its flags now apply once the first has started."""
    log = tmp_path / "first.log"
    with _stuck_sound_server() as slow:
        first = await asyncio.to_thread(_app, xvfb, slow, tmp_path, "--endpoint", emulator.endpoint, stderr=log)
        try:
            await until(lambda: "first paint" in log.read_text(), 30)
            second = await asyncio.to_thread(
                _app, xvfb, slow, tmp_path, "--byom", "byom-azure-openai-chat-completion", "--model", "grok-3"
            )
            _, stderr = await asyncio.to_thread(second.communicate, timeout=20)
            assert second.returncode == 0, stderr
            assert not emulator.connections, "the first launch had not started yet"
            assert slow._pid is not None
            os.kill(slow._pid, signal.SIGCONT)  # the sound server answers: the first launch goes on
            await until(lambda: bool(emulator.connections) and emulator.last().query.get("model") == "grok-3", 30)
            assert emulator.last().query.get("profile") == "byom-azure-openai-chat-completion"
            await _stop(first)
        finally:
            if first.poll() is None:
                first.kill()
    _exited_cleanly(first, log)


async def test_a_logout_sigterm_with_the_display_gone_at_once_closes_down_cleanly_and_keeps_the_turn(
    pulse: Any, emulator: Emulator, tmp_path: Path, speech_pcm: bytes
) -> None:
    """A desktop logout: the session manager's SIGTERM and the X server's end arrive together."""
    xvfb = Xvfb()
    app = await asyncio.to_thread(
        _app, xvfb, pulse, tmp_path, "--endpoint", emulator.endpoint, "--model", "gpt-realtime", "--global-key", "F9"
    )
    try:
        await until(lambda: bool(emulator.connections) and "session.update" in emulator.last().received_types(), 30)
        record = emulator.last()
        await asyncio.to_thread(xvfb.run, "xdotool", "keydown", "F9")
        await until(lambda: "input_audio_buffer.append" in record.received_types(), 10)
        player = pulse.play(speech_pcm)
        await asyncio.to_thread(player.wait, 15)
        await asyncio.to_thread(xvfb.run, "xdotool", "keyup", "F9")
        await until(lambda: any(e["type"] == "response.done" for e in record.sent), 30)
        heard = next(e for e in record.sent if e["type"].endswith("input_audio_transcription.completed"))["transcript"]
        xvfb.process.kill()
        app.terminate()  # in the same instant
        _, stderr = await asyncio.to_thread(app.communicate, timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
        xvfb.stop()
    assert app.returncode == 0 and "Traceback" not in stderr, stderr
    await until(lambda: not [c for c in emulator.connections if c.open], 10)  # the session was closed, not leaked
    history = str(tmp_path / "history.sqlite3")
    exported = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "voicelive_desktop", "--export-history", "md", "--history", history],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert heard.strip() and heard.strip() in exported.stdout, "the turn spoken before the logout is in the history"
    assert (tmp_path / "settings.toml").exists(), "the settings were saved"


@contextlib.contextmanager
def _stuck_sound_server() -> Iterator[PrivatePulse]:
    """A PulseAudio that accepts connections and never answers (stopped with SIGSTOP)."""
    stuck = PrivatePulse(prefix="vl-stuck-pulse-")
    stuck.start()
    assert stuck._pid is not None
    os.kill(stuck._pid, signal.SIGSTOP)
    try:
        yield stuck
    finally:
        os.kill(stuck._pid, signal.SIGCONT)
        stuck.stop()


async def test_a_sound_server_that_never_answers_leaves_the_app_working_and_closable(
    xvfb: Xvfb, emulator: Emulator, tmp_path: Path
) -> None:
    """PulseAudio hung (stopped here): PortAudio's start never returns. The app goes on without voice after its
    time limit, connects, and closes on SIGTERM; it used to freeze after the first paint, deaf to SIGTERM."""
    with _stuck_sound_server() as stuck:
        app = await asyncio.to_thread(_app, xvfb, stuck, tmp_path, "--endpoint", emulator.endpoint, "--model", "m")
        try:
            await until(lambda: bool(emulator.connections), AUDIO_START_LIMIT_S + 20)
            stderr = await _stop(app)
        finally:
            if app.poll() is None:
                app.kill()
    assert app.returncode == 0 and "Traceback" not in stderr, stderr


async def test_a_sound_server_that_answers_after_the_start_limit_turns_voice_on(
    xvfb: Xvfb, emulator: Emulator, tmp_path: Path, speech_pcm: bytes
) -> None:
    """PulseAudio still starting (stopped here, then let go) when the app starts at login: the app goes on text-only
    after its time limit, and once the sound server answers, voice comes on by itself: a held key is a whole
    spoken turn. It used to stay text-only until the app was restarted."""
    log = tmp_path / "app.log"
    with _stuck_sound_server() as late:
        app = await asyncio.to_thread(
            _app, xvfb, late, tmp_path, "--endpoint", emulator.endpoint, "--model", "m", "--global-key", "F9",
            stderr=log,
        )  # fmt: skip
        try:
            await until(lambda: bool(emulator.connections), AUDIO_START_LIMIT_S + 20)
            assert "voice is on" not in log.read_text()
            assert late._pid is not None
            os.kill(late._pid, signal.SIGCONT)
            await until(lambda: "voice is on" in log.read_text(), 20)
            record = emulator.last()
            await asyncio.sleep(1.0)  # the pre-roll fills, as it would for a user
            await asyncio.to_thread(xvfb.run, "xdotool", "keydown", "F9")
            await until(lambda: "input_audio_buffer.append" in record.received_types(), 10)
            player = late.play(speech_pcm)
            await asyncio.to_thread(player.wait, 15)
            await asyncio.to_thread(xvfb.run, "xdotool", "keyup", "F9")
            await until(lambda: any(e["type"] == "response.done" for e in record.sent), 30)
            heard = [e for e in record.sent if e["type"].endswith("input_audio_transcription.completed")]
            assert heard and heard[0]["transcript"].strip(), "the turn spoken after the late start was heard"
            await _stop(app)
        finally:
            if app.poll() is None:
                app.kill()
    _exited_cleanly(app, log)


async def _spoken_turn(xvfb: Xvfb, pulse: PrivatePulse, emulator: Emulator, speech: bytes) -> None:
    """Hold the global key, speak, let go; returns once the service has the turn and answered it."""
    record = emulator.last()
    commits, answers = (record.received_types().count("input_audio_buffer.commit"), _answers(emulator))
    await asyncio.to_thread(xvfb.run, "xdotool", "keydown", "F9")
    await until(lambda: record.received_types().count("input_audio_buffer.append") > 0, 10)
    player = pulse.play(speech)
    await asyncio.to_thread(player.wait, 15)
    await asyncio.to_thread(xvfb.run, "xdotool", "keyup", "F9")
    await until(lambda: record.received_types().count("input_audio_buffer.commit") > commits, 10)
    await until(lambda: _answers(emulator) > answers, 30)


def _answers(emulator: Emulator) -> int:
    return sum(e["type"] == "response.done" for c in emulator.connections for e in c.sent)


async def test_the_sound_server_killed_while_an_answer_plays_and_back_leaves_voice_working(
    xvfb: Xvfb, emulator: Emulator, tmp_path: Path, speech_pcm: bytes
) -> None:
    """PulseAudio killed (kill -9) while an answer plays, then started again, as a crash and its restart. The
    speaker's stream can then hang inside PortAudio for good; the app used to wait on it for ever: the button said
    "Speaking" from then on, no answer was heard again, and the app could not be closed. Now the next spoken turn
    is answered out loud, and the app closes at once."""
    log = tmp_path / "app.log"
    pulse = PrivatePulse(prefix="vl-dying-pulse-")
    pulse.start()
    app = await asyncio.to_thread(
        _app, xvfb, pulse, tmp_path, "--endpoint", emulator.endpoint, "--model", "m", "--global-key", "F9",
        stderr=log,
    )  # fmt: skip
    try:
        await until(lambda: bool(emulator.connections) and "session.update" in emulator.last().received_types(), 30)
        await asyncio.sleep(1.0)  # the pre-roll fills
        await _spoken_turn(xvfb, pulse, emulator, speech_pcm)
        record = emulator.last()
        deltas = sum(e["type"] == "response.audio.delta" for e in record.sent)
        answers = _answers(emulator)
        await asyncio.to_thread(xvfb.run, "xdotool", "keydown", "F9")  # interrupts the end of the answer
        player = pulse.play(speech_pcm)
        await asyncio.to_thread(player.wait, 15)
        await asyncio.to_thread(xvfb.run, "xdotool", "keyup", "F9")
        await until(lambda: sum(e["type"] == "response.audio.delta" for e in record.sent) > deltas + 5, 30)
        assert pulse._pid is not None
        os.kill(pulse._pid, signal.SIGKILL)  # while the answer plays
        await until(lambda: _answers(emulator) > answers, 30)
        await asyncio.sleep(3)
        await asyncio.to_thread(pulse.restart)
        # the app's microphone (kept open for the pre-roll) is back on the server once the app saw it return
        await until(lambda: bool(pulse.pactl("list", "short", "source-outputs").strip()), 30)
        await asyncio.sleep(1.0)
        speaker = pulse.record()
        await _spoken_turn(xvfb, pulse, emulator, speech_pcm)
        with contextlib.suppress(TimeoutError):  # the answer plays; the assertion below says if it did not
            await until(lambda: loud_ms(speaker.samples(), threshold=1000) > 500, 10)
        heard = loud_ms(speaker.stop(), threshold=1000)
        assert heard > 500, f"the answer after the sound server came back was not heard ({heard:.0f} ms loud)"
        closed_at = time.monotonic()
        await _stop(app)
        took = time.monotonic() - closed_at
    finally:
        if app.poll() is None:
            app.kill()
        pulse.stop()
    _exited_cleanly(app, log)
    assert took < 10, f"the app took {took:.1f} s to close"


async def test_closing_the_window_while_the_sound_system_hangs_does_not_wait_for_it(
    xvfb: Xvfb, emulator: Emulator, tmp_path: Path
) -> None:
    """PulseAudio hung: a user who closes the window while PortAudio's start waits on it sees the app go at once;
    it used to wait out the whole audio start limit (10 s) first."""
    log = tmp_path / "app.log"
    with _stuck_sound_server() as stuck:
        app = await asyncio.to_thread(
            _app, xvfb, stuck, tmp_path, "--endpoint", emulator.endpoint, "--model", "m", stderr=log
        )
        try:
            await until(lambda: "first paint" in log.read_text() and _catches_sigterm(app.pid), 30)
            closed_at = time.monotonic()
            await _stop(app)
            took = time.monotonic() - closed_at
        finally:
            if app.poll() is None:
                app.kill()
    _exited_cleanly(app, log)
    assert took < AUDIO_START_LIMIT_S / 2, f"the app took {took:.1f} s to close"
    assert not emulator.connections, "it connected after the window closed"


def test_the_desktop_entry_is_installed_and_removed_from_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    for _ in range(2):  # installing twice changes nothing
        done = subprocess.run(
            [sys.executable, "-m", "voicelive_desktop", "--install-desktop-entry"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    entry = tmp_path / "data" / "applications" / "voicelive-desktop.desktop"
    assert entry.exists() and "Exec=" in entry.read_text()
    assert list((tmp_path / "data" / "icons" / "hicolor").glob("*/apps/voicelive-desktop.*"))
    assert list((tmp_path / "data" / "metainfo").glob("*.xml"))
    done = subprocess.run(
        [sys.executable, "-m", "voicelive_desktop", "--uninstall-desktop-entry"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and not entry.exists()
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file()], "nothing left behind"
