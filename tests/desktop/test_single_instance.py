"""Single instance with real processes: a second launch hands over its argv; a kill -9 blocks nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.desktop.xserver import wait_for

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


def test_a_second_launch_hands_its_argv_to_the_first(env: dict[str, str], name: str, launches: list[Launch]) -> None:
    first = Launch(env, "first", name)
    launches.append(first)
    wait_for(lambda: first.lines == ["claimed"], what="the first instance")

    argv = ["--model", "gpt-realtime", "--instructions", "réponds en français"]
    second = Launch(env, "second", name, *argv)
    launches.append(second)
    assert second.finish() == ["taken", "sent"]
    wait_for(lambda: len(first.lines) == 2, what="the message")
    assert first.lines[1] == "message " + json.dumps(argv)


def test_a_killed_first_instance_does_not_block_the_next_start(
    env: dict[str, str], name: str, launches: list[Launch]
) -> None:
    crashed = Launch(env, "first", name)
    launches.append(crashed)
    wait_for(lambda: crashed.lines == ["claimed"], what="the first instance")
    crashed.process.send_signal(signal.SIGKILL)
    crashed.process.wait()
    runtime = Path(env["XDG_RUNTIME_DIR"])
    assert list(runtime.glob(f"{name}-*.sock")), "the crash should have left its socket file behind"
    assert list(runtime.glob(f"{name}-*.lock")), "and its lock file"

    nobody = Launch(env, "second", name, "--demo")  # nothing serves: the lock is stale, so this one claims
    launches.append(nobody)
    assert nobody.finish() == ["claimed"]

    after = Launch(env, "first", name)
    launches.append(after)
    wait_for(lambda: after.lines == ["claimed"], what="a new first instance")
    second = Launch(env, "second", name, "--demo")
    launches.append(second)
    assert second.finish() == ["taken", "sent"]
    wait_for(lambda: after.lines[1:] == ['message ["--demo"]'], what="the message")


def test_socket_names_are_per_user_and_nothing_running_means_not_sent(qapp: object, tmp_path: Path) -> None:
    from voicelive_desktop.desktop.single_instance import SingleInstance

    instance = SingleInstance(f"voicelive-test-{uuid.uuid4().hex[:8]}")
    assert str(os.getuid()) in instance.socket_name
    assert not instance.send_to_running(["x"], timeout_s=0.2)
    assert instance.claim()
    assert instance.claim()  # asking twice is harmless
    instance.close()
