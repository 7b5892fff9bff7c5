"""Faults of processes and files: the service killed and brought back, the app killed mid-answer, the history
locked by another program. The same four checks as the link faults."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import API_KEY, Locker, until
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.devtools.speech import loud_ms
from voicelive_desktop.devtools.xserver import Xvfb
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.recorder import CUT_BY_EXIT
from voicelive_desktop.voicelive import session as session_module

Launcher = Callable[..., Any]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _emulator_process(port: int) -> subprocess.Popen[str]:
    """The emulator as its own process, as a person runs it (so that it can be killed for real)."""
    return subprocess.Popen(
        [sys.executable, "-m", "voicelive_desktop.emulator", "--port", str(port), "--api-key", API_KEY,
         "--realtime-factor", "8"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _service_process() -> AsyncIterator[tuple[subprocess.Popen[str], str]]:
    """The emulator as its own process on a free port, listening, and its endpoint; ended afterwards, even when it
    was left stopped (SIGSTOP)."""
    port = _free_port()
    service = await asyncio.to_thread(_emulator_process, port)
    try:
        assert service.stdout is not None and "listening" in (await asyncio.to_thread(service.stdout.readline))
        yield service, f"http://127.0.0.1:{port}"
    finally:
        if service.poll() is None:
            service.send_signal(signal.SIGCONT)
            service.kill()
            service.wait()


async def _launch_in_x(
    emulator: Emulator, pulse: Any, tmp_path: Path, **popen: Any
) -> tuple[Xvfb, subprocess.Popen[Any]]:
    """The app as its own process in a real X window on a private Xvfb, connected, its message field focused."""
    xvfb = Xvfb()
    env = {**xvfb.env, **pulse.env, "AZURE_VOICELIVE_API_KEY": API_KEY}
    argv = [
        sys.executable, "-m", "voicelive_desktop", "--endpoint", emulator.endpoint, "--model", "gpt-realtime",
        "--settings", str(tmp_path / "settings.toml"), "--history", str(tmp_path / "history.sqlite3"),
    ]  # fmt: skip
    app = await asyncio.to_thread(subprocess.Popen, argv, env=env, **popen)
    try:
        await until(lambda: bool(emulator.connections) and emulator.last().received, 30)
        window = ""
        deadline = time.monotonic() + 20
        while not window and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.CalledProcessError, IndexError):
                window = (
                    await asyncio.to_thread(xvfb.run, "xdotool", "search", "--onlyvisible", "--name", "^Voice Live$")
                ).split()[0]
            await asyncio.sleep(0.1)
        assert window, "the window did not appear"
        await asyncio.to_thread(xvfb.run, "xdotool", "windowfocus", "--sync", window)
        await asyncio.to_thread(xvfb.run, "xdotool", "key", "ctrl+l")  # to the message field, as a user would
    except BaseException:
        app.kill()
        xvfb.stop()
        raise
    return xvfb, app


def _first_answer_audio(sent: list[dict[str, Any]]) -> Any:
    """The first answer's audio as the service sent it (PCM16, 24 kHz)."""
    done = next(i for i, e in enumerate(sent) if e["type"] == "response.done")
    deltas = [base64.b64decode(e["delta"]) for e in sent[:done] if e["type"] == "response.audio.delta"]
    return np.frombuffer(b"".join(deltas), dtype=np.int16)


def _played_then_quiet(samples: Any, answer: Any, quiet_s: float = 1.0) -> bool:
    """Nearly all of ``answer`` sounded at the speaker, and nothing has for the last ``quiet_s`` (24 kHz
    recordings). Only quiet is not enough: an answer that streams slower than it plays has pauses of its own."""
    tail = int(24000 * quiet_s)
    return len(samples) > tail and loud_ms(samples) >= 0.8 * loud_ms(answer) and loud_ms(samples[-tail:]) == 0


async def _type_line(xvfb: Xvfb, text: str) -> None:
    """Type ``text`` into the focused window and press Return."""
    await asyncio.to_thread(xvfb.run, "xdotool", "type", "--delay", "20", text)
    await asyncio.to_thread(xvfb.run, "xdotool", "key", "Return")


async def test_the_service_killed_for_30_s_then_back_on_the_same_port(
    fault_app: Launcher, emulator: Emulator, tmp_path: Path
) -> None:
    port = _free_port()
    service = await asyncio.to_thread(_emulator_process, port)
    assert service.stdout is not None and "listening" in (await asyncio.to_thread(service.stdout.readline))
    app = await fault_app("--endpoint", f"http://127.0.0.1:{port}")
    try:
        await app.say("before the outage")
        service.send_signal(signal.SIGKILL)
        await asyncio.to_thread(service.wait, 10)
        await until(lambda: app.status.startswith("Reconnecting"), 10)
        started = time.monotonic()
        await asyncio.sleep(30)  # the outage: the app keeps trying, with growing pauses, and never gives up
        assert app.status.startswith("Reconnecting") and "Not connected" not in app.status
        service = await asyncio.to_thread(_emulator_process, port)
        assert service.stdout is not None and "listening" in (await asyncio.to_thread(service.stdout.readline))
        await app.connected(timeout=45)  # the backoff is capped: it notices within one capped pause
        assert time.monotonic() - started < 30 + 45
        await app.say("after the outage")
        texts = [m.text for m in app.messages]
        assert texts[0] == "before the outage", "the conversation on screen survived the outage"
        await app.close()
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()


async def test_a_service_that_hangs_without_closing_is_noticed_in_seconds_and_the_message_is_sent_again(
    fault_app: Launcher, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service stops answering but keeps the socket open (a hung process, a dead route): the websocket's
    heartbeat takes about 45 s to notice, while the user watches "Thinking". The link counts as stuck when nothing
    at all comes back within seconds of asking for an answer; the message is kept, sent again, and answered."""
    monkeypatch.setattr(session_module, "RESPONSE_START_TIMEOUT_S", 2.0)
    async with _service_process() as (service, endpoint):
        app = await fault_app("--endpoint", endpoint)
        await app.say("before the hang")
        service.send_signal(signal.SIGSTOP)
        app.type("are you there")
        await until(lambda: any("has not answered" in t for t in app.window.banner.texts()), 10)
        await until(lambda: app.status.startswith("Reconnecting"), 5)  # the header follows the banner
        service.send_signal(signal.SIGCONT)  # the service comes back; the message goes out again on a new session
        await app.connected(timeout=30)
        await until(lambda: any("are you there" in m.text for m in app.answers()), 20)
        users = [m.text for m in app.messages if m.role is Role.USER]
        assert users == ["before the hang", "are you there"], "the message was lost or doubled"
        await app.close()


async def test_a_service_that_hangs_mid_answer_is_noticed_by_the_heartbeat_in_seconds(
    fault_app: Launcher, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service hangs while an answer streams: nothing says an answer is due, only the websocket's heartbeat
    can tell. With the SDK's default it took about 45 s; the app's pings notice within one and a half beats."""
    monkeypatch.setattr(session_module, "HEARTBEAT_S", 2.0)
    async with _service_process() as (service, endpoint):
        app = await fault_app("--endpoint", endpoint)
        app.type("tell me about the weather in some detail")
        await until(lambda: any(m.text and not m.final for m in app.answers()), 15)  # the answer is streaming
        service.send_signal(signal.SIGSTOP)
        hung_at = time.monotonic()
        await until(lambda: app.status.startswith("Reconnecting"), 10)
        print(f"noticed {time.monotonic() - hung_at:.1f} s after the service hung")
        service.send_signal(signal.SIGCONT)
        await app.connected(timeout=30)
        await app.say("and now")
        await app.close()


def _answer_checkpointed(history: Path) -> bool:
    """The running app has saved part of an answer still arriving (read from its history file, read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{history}?mode=ro", uri=True, timeout=5)) as db:
        rows = db.execute("SELECT text FROM messages WHERE role = 'assistant' AND final = 0").fetchall()
    return any(text.startswith("You wrote:") for (text,) in rows)


async def test_kill_9_of_the_app_mid_answer_then_relaunch(
    fault_app: Launcher, emulator: Emulator, pulse: Any, tmp_path: Path
) -> None:
    emulator.options.pace.realtime_factor = 0.5  # a long, slow answer: the kill lands while it streams
    xvfb, app = await _launch_in_x(emulator, pulse, tmp_path)
    speaker = pulse.record()
    try:
        for text in ("a first question", "tell me about the sea"):
            await _type_line(xvfb, text)
            if text == "a first question":
                await until(lambda: any(e["type"] == "response.done" for e in emulator.last().sent), 60)
                # Typing while an answer plays cuts it: the next question waits until this one has been heard.
                answer = _first_answer_audio(emulator.last().sent)
                await until(lambda answer=answer: _played_then_quiet(speaker.samples(), answer), 60)
                emulator.options.pace.realtime_factor = 0.25

        def second_answer_streaming() -> bool:
            sent = emulator.last().sent
            after = [i for i, e in enumerate(sent) if e["type"] == "response.created"]
            return len(after) >= 2 and sum(e["type"] == "response.audio.delta" for e in sent[after[1] :]) >= 6

        await until(second_answer_streaming, 30)
        await until(lambda: _answer_checkpointed(tmp_path / "history.sqlite3"), 10)  # at least once a second
        os.kill(app.pid, signal.SIGKILL)
        await asyncio.to_thread(app.wait, 10)
    finally:
        speaker.stop()
        if app.poll() is None:
            app.kill()
        xvfb.stop()
    emulator.options.pace.realtime_factor = 8.0
    again = await fault_app()
    messages = again.messages
    assert [m.role for m in messages[:4]] == [Role.USER, Role.ASSISTANT, Role.USER, Role.ASSISTANT]
    assert messages[0].text == "a first question" and messages[1].final and not messages[1].cut
    assert "a first question" in messages[1].text, "every finished message is there"
    assert messages[2].text == "tell me about the sea"
    assert messages[3].text.startswith("You wrote:") and messages[3].cut == CUT_BY_EXIT  # up to its last checkpoint
    await until(
        lambda: any(CUT_BY_EXIT in b.plain_text() for b in again.window.chat.bubbles() if hasattr(b, "plain_text"))
    )
    await again.say("and the app goes on")
    await again.close()


async def test_a_history_locked_by_another_program_is_said_and_nothing_is_lost(
    fault_app: Launcher, emulator: Emulator, tmp_path: Path
) -> None:
    history = tmp_path / "history.sqlite3"
    locker = Locker(history)  # another program holds the file before the app starts
    try:
        app = await fault_app()
        await until(lambda: any("history" in text.lower() for text in app.banner), 10)
        await app.say("said while the file was locked")
        locker.release()
        await until(lambda: not app.window.banner.has("history"), 20)  # the problem is resolved: its message goes
        await app.say("said after it was released")
        await app.close()  # checks every finished message is in the file
    finally:
        locker.kill()


async def test_the_display_going_away_closes_the_app_down_cleanly(
    emulator: Emulator, pulse: Any, tmp_path: Path
) -> None:
    xvfb, app = await _launch_in_x(emulator, pulse, tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        await _type_line(xvfb, "before the logout")
        await until(lambda: any(e["type"] == "response.done" for e in emulator.last().sent), 30)
        xvfb.process.kill()  # the user logs out; the X server goes away
        _, stderr = await asyncio.to_thread(app.communicate, timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
        xvfb.stop()
    assert app.returncode == 0, stderr
    assert "Traceback" not in stderr
    await until(lambda: emulator.open_sockets == 0, 5)  # the session was closed, not left to time out
    assert (tmp_path / "settings.toml").exists(), "the settings were saved on the way out"
    from voicelive_desktop.conversation.store import HistoryStore

    store = HistoryStore(tmp_path / "history.sqlite3")
    try:
        last = store.last_conversation_id()
        assert last is not None
        texts = [m.text for m in store.load(last)]
    finally:
        store.close()
    assert texts[0] == "before the logout" and "before the logout" in texts[1]
