"""Single instance with real processes: a second launch hands over its argv; a kill -9 blocks nothing.

Both ways launches can talk are tried here: the Unix socket (Linux and macOS) and QtNetwork's local socket
(what Windows uses, as a named pipe; on Linux it is a Unix socket too, so only the code is the same)."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from tests.desktop.xserver import wait_for
from voicelive_desktop.desktop.single_instance import SingleInstance, Transport

HELPER = [sys.executable, "-m", "tests.desktop.instance_helper"]


class Launch:
    """One app process and the lines it printed."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen([*HELPER, *args], env=env, stdout=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def finish(self) -> list[str]:
        self.process.wait(timeout=30)
        self._reader.join(timeout=5)
        return self.lines


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    root = Path(__file__).resolve().parents[2]
    return {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(root)}


@pytest.fixture(params=["unix", "qt"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def name() -> str:
    return f"voicelive-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def launches() -> Iterator[list[Launch]]:
    started: list[Launch] = []
    yield started
    for launch in started:  # only the processes this test started
        if launch.process.poll() is None:
            launch.process.kill()
        launch.process.wait()


def test_a_second_launch_hands_its_argv_to_the_first(
    env: dict[str, str], transport: str, name: str, launches: list[Launch]
) -> None:
    first = Launch(env, "first", transport, name)
    launches.append(first)
    wait_for(lambda: first.lines == ["claimed"], what="the first instance")

    argv = ["--model", "gpt-realtime", "--instructions", "réponds en français"]
    second = Launch(env, "second", transport, name, *argv)
    launches.append(second)
    assert second.finish() == ["taken", "sent"]
    wait_for(lambda: len(first.lines) == 2, what="the message")
    assert first.lines[1] == "message " + json.dumps(argv)


def test_a_killed_first_instance_does_not_block_the_next_start(
    env: dict[str, str], transport: str, name: str, launches: list[Launch]
) -> None:
    crashed = Launch(env, "first", transport, name)
    launches.append(crashed)
    wait_for(lambda: crashed.lines == ["claimed"], what="the first instance")
    crashed.process.send_signal(signal.SIGKILL)
    crashed.process.wait()
    runtime = Path(env["XDG_RUNTIME_DIR"])
    assert list(runtime.glob(f"{name}-*.sock")), "the crash should have left its socket file behind"
    assert list(runtime.glob(f"{name}-*.lock")), "and its lock file"

    nobody = Launch(env, "second", transport, name, "--demo")  # nothing serves: the lock is stale, so this one claims
    launches.append(nobody)
    assert nobody.finish() == ["claimed"]

    after = Launch(env, "first", transport, name)
    launches.append(after)
    wait_for(lambda: after.lines == ["claimed"], what="a new first instance")
    second = Launch(env, "second", transport, name, "--demo")
    launches.append(second)
    assert second.finish() == ["taken", "sent"]
    wait_for(lambda: after.lines[1:] == ['message ["--demo"]'], what="the message")


@pytest.mark.parametrize("transport", ["unix", "qt"])
def test_socket_names_are_per_user_and_nothing_running_means_not_sent(qapp: object, transport: Transport) -> None:
    instance = SingleInstance(f"voicelive-test-{uuid.uuid4().hex[:8]}", transport=transport)
    assert str(os.getuid()) in instance.socket_name
    assert not instance.send_to_running(["x"], timeout_s=0.2)
    assert instance.claim()
    assert instance.claim()  # asking twice is harmless
    instance.close()


@pytest.mark.parametrize("transport", ["unix", "qt"])
def test_a_malformed_or_endless_message_is_cut_off_and_the_next_launch_still_gets_through(
    qtbot: QtBot, transport: Transport
) -> None:
    instance = SingleInstance(f"voicelive-test-{uuid.uuid4().hex[:8]}", transport=transport)
    assert instance.claim()
    received: list[list[str]] = []
    instance.message.connect(received.append)

    def talk(payload: bytes) -> bytes | str:
        """What the first instance answers ``payload`` with, or "cut" when it closed the line on the sender (at
        once: a sender left waiting fails); the app's loop runs meanwhile."""
        replies: list[bytes | str] = []

        def client() -> None:
            reply = b""
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
                    peer.settimeout(5)
                    peer.connect(instance.socket_name)
                    peer.sendall(payload)
                    while b"ok\n" not in reply and (chunk := peer.recv(64)):
                        reply += chunk
            except TimeoutError:
                replies.append("left waiting")
                return
            except (BrokenPipeError, ConnectionResetError):
                replies.append("cut")  # while it was still sending
                return
            replies.append(reply or "cut")

        thread = threading.Thread(target=client)
        thread.start()
        qtbot.waitUntil(lambda: not thread.is_alive(), timeout=15_000)
        return replies[0]

    try:
        assert talk(b"rm -rf /\n") == "cut"
        assert talk(b'{"not": "a list"}\n') == "cut"
        assert talk(b"[" + b'"x",' * (1 << 19)) == "cut"  # over 1 MiB and no end of line
        assert received == []
        assert talk(json.dumps(["--demo"]).encode() + b"\n") == b"ok\n"
        qtbot.waitUntil(lambda: received == [["--demo"]])
    finally:
        instance.close()


@pytest.mark.parametrize("transport", ["unix", "qt"])
def test_something_else_where_the_socket_goes_does_not_stop_the_app(
    qapp: object, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    instance = SingleInstance(f"voicelive-test-{uuid.uuid4().hex[:8]}", transport=transport)
    os.mkdir(instance.socket_name)  # left by another program, or a user's mistake
    try:
        assert instance.claim(), "the first launch still starts"
        assert "later launches will start their own window" in caplog.text
    finally:
        instance.close()
        os.rmdir(instance.socket_name)


def test_a_launch_that_cannot_be_taken_now_is_taken_later_without_spinning(qtbot: QtBot) -> None:
    """Out of file descriptors, accept() fails while the launch stays queued: the first instance must not
    look again at once, over and over (the GUI thread would spin), and must take the launch once it can."""
    name = f"voicelive-test-{uuid.uuid4().hex[:8]}"
    instance, later = SingleInstance(name, transport="unix"), SingleInstance(name, transport="unix")
    assert instance.claim()
    server = instance._server
    assert server is not None
    listening = server._sock
    assert listening is not None
    tries: list[float] = []

    class OutOfDescriptors:
        def accept(self) -> None:
            tries.append(time.monotonic())
            raise OSError(errno.EMFILE, "Too many open files")

        def fileno(self) -> int:
            return listening.fileno()

        def close(self) -> None:
            listening.close()

    received: list[list[str]] = []
    instance.message.connect(received.append)
    server._sock = OutOfDescriptors()  # type: ignore[assignment]
    sent: list[bool] = []
    sender = threading.Thread(target=lambda: sent.append(later.send_to_running(["--demo"], timeout_s=10)))
    try:
        sender.start()
        qtbot.waitUntil(lambda: len(tries) >= 1)
        qtbot.wait(500)
        assert len(tries) == 1, f"looked again {len(tries) - 1} times within half a second"
        server._sock = listening
        qtbot.waitUntil(lambda: received == [["--demo"]], timeout=5_000)
        qtbot.waitUntil(lambda: not sender.is_alive(), timeout=15_000)
        assert sent == [True]
    finally:
        instance.close()
