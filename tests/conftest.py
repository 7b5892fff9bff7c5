"""Shared test set-up: an event loop that fails the test on any unhandled task error, and speech fixtures."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_loop_errors: list[str] = []
_pulse: Any = None


def pytest_configure(config: pytest.Config) -> None:
    """Start a private PulseAudio before anything imports sounddevice (PortAudio lists devices at import)."""
    global _pulse
    if os.environ.get("VOICELIVE_TEST_NO_PULSE") or shutil.which("pulseaudio") is None:
        return
    from tests.pulse import PrivatePulse

    _pulse = PrivatePulse()
    _pulse.start()
    os.environ.update(_pulse.env)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the PulseAudio this run started."""
    if _pulse is not None:
        _pulse.stop()


@pytest.fixture(scope="session")
def pulse() -> Any:
    """The private PulseAudio (virtual microphone ``micfeed``, virtual speaker ``speaker``)."""
    if _pulse is None:
        pytest.fail("the audio tests need PulseAudio: run scripts/setup.sh (it installs pulseaudio)")
    return _pulse


def _record_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    _loop_errors.append(f"{context.get('message')}: {exc!r}")
    loop.default_exception_handler(context)


def _plain_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_record_loop_error)
    return loop


def _qt_loop() -> asyncio.AbstractEventLoop:
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # as the app itself does: closing is handled, not a quit
    loop = qasync.QEventLoop(app, already_running=False)
    loop.set_exception_handler(_record_loop_error)
    return loop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    """Tests under tests/ui and tests/e2e run on the Qt event loop (qasync); the rest on plain asyncio."""
    parts = Path(str(item.path)).parts
    if "ui" in parts or "e2e" in parts:
        return {"qasync": _qt_loop}
    return {"asyncio": _plain_loop}


@pytest.fixture(autouse=True)
def _fail_on_unhandled_task_errors() -> Iterator[None]:
    """An exception nobody awaited is a bug: fail the test that caused it."""
    _loop_errors.clear()
    yield
    if _loop_errors:
        errors = list(_loop_errors)
        _loop_errors.clear()
        pytest.fail("unhandled errors in the event loop:\n" + "\n".join(errors))


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds (polled every 10 ms), or fail with TimeoutError after ``timeout`` s."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def espeak_pcm(text: str, rate: int = 24000) -> bytes:
    """Speech for ``text`` from espeak-ng as PCM16 mono at ``rate``."""
    import soxr

    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail("espeak-ng is not installed; run .ci/run or install the Debian package espeak-ng")
    wav = subprocess.run([exe, "--stdout", text], check=True, capture_output=True).stdout
    body = wav[44:]
    samples = np.frombuffer(body[: len(body) // 2 * 2], dtype=np.int16)
    return np.clip(soxr.resample(samples, 22050, rate), -32768, 32767).astype(np.int16).tobytes()


@pytest.fixture
async def start_emulator() -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Start emulators with the given options; each is stopped at teardown."""
    from voicelive_desktop.emulator import Emulator, EmulatorOptions

    started: list[Emulator] = []

    async def start(**options: Any) -> Emulator:
        emulator = Emulator(EmulatorOptions(**options))
        await emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        await emulator.stop()


@pytest.fixture(scope="session")
def speech_pcm() -> bytes:
    """About two seconds of English speech, PCM16 mono 24 kHz."""
    return espeak_pcm("what is the weather like in seattle today")
