"""Shared fixtures: a private PulseAudio, an event loop that fails the test on any unhandled task error, the
emulator, and speech. Helpers that tests call (rather than receive) live in tests/helpers.py."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_loop_errors: list[str] = []
_pulse: Any = None


def pytest_configure(config: pytest.Config) -> None:
    """Start a private PulseAudio before anything imports sounddevice (PortAudio lists devices at import)."""
    global _pulse
    if os.environ.get("VOICELIVE_TEST_NO_PULSE") or shutil.which("pulseaudio") is None:
        return
    from voicelive_desktop.devtools.pulse import PrivatePulse

    _pulse = PrivatePulse()
    _pulse.start()
    os.environ.update(_pulse.env)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the PulseAudio this run started."""
    if _pulse is not None:
        _pulse.stop()


@pytest.fixture(autouse=True)
def _pulse_survives() -> Iterator[None]:
    """Blame the test during which the sound server died, with its log, and start it again for the rest."""
    yield
    if _pulse is not None and not _pulse.alive():
        tail = _pulse.log_tail()
        _pulse.restart()
        pytest.fail(f"the private PulseAudio died during this test; its log ended with:\n{tail}")


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
    from PySide6.QtWidgets import QApplication

    from voicelive_desktop.ui.eventloop import QtEventLoop

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # as the app itself does: closing is handled, not a quit

    class QtLoop(QtEventLoop):
        """The app's loop, except that the Qt events it processes once more after stopping are processed as the
        running loop. A test body ends while the app still runs (fixtures close it later); qasync would step its
        tasks there with no running loop, which never happens in the app (its loop stops after closing down)."""

        def _after_run_forever(self) -> None:
            super()._after_run_forever()
            asyncio.events._set_running_loop(self)

        def run_until_complete(self, future: Any) -> Any:
            try:
                return super().run_until_complete(future)
            finally:
                asyncio.events._set_running_loop(None)

    loop = QtLoop(app, already_running=False)
    loop.set_exception_handler(_record_loop_error)
    global _qt_loop_now
    _qt_loop_now = loop
    return loop


_qt_loop_now: asyncio.AbstractEventLoop | None = None


def _process_events_within_the_loop() -> None:
    """pytest-qt processes Qt events between a test's phases, where no asyncio loop runs. Under qasync those
    events also step the app's tasks (a session still open when the test body ends), which then find no
    running loop. In the app, Qt's event processing *is* the running loop: process them the same way here."""
    loop = _qt_loop_now
    if loop is None or loop.is_closed() or asyncio._get_running_loop() is not None:
        _qt_process_events()
        return
    asyncio.events._set_running_loop(loop)
    try:
        _qt_process_events()
    finally:
        asyncio.events._set_running_loop(None)


try:
    import pytestqt.plugin as _qt_plugin
except ImportError:  # pytest-qt is a dev dependency; without it the Qt tests fail with their own message
    pass
else:
    _qt_process_events = _qt_plugin._process_events
    _qt_plugin._process_events = _process_events_within_the_loop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    """Tests of the window (tests/ui, tests/e2e, tests/faults) run on the Qt event loop (qasync); the rest on
    plain asyncio."""
    parts = Path(str(item.path)).parts
    if {"ui", "e2e", "faults"} & set(parts):
        return {"qasync": _qt_loop}
    return {"asyncio": _plain_loop}


@pytest.fixture(autouse=True)
def _private_user_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings and history go to this test's own folders, never the user's (nor another test's)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture(autouse=True)
def _fail_on_unhandled_task_errors() -> Iterator[None]:
    """An exception nobody awaited is a bug: fail the test that caused it."""
    _loop_errors.clear()
    yield
    if _loop_errors:
        errors = list(_loop_errors)
        _loop_errors.clear()
        pytest.fail("unhandled errors in the event loop:\n" + "\n".join(errors))


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


@pytest.fixture
async def emulator(start_emulator: Callable[..., Awaitable[Any]]) -> Any:
    """A running emulator that accepts the tests' API key."""
    from tests.helpers import API_KEY

    return await start_emulator(api_key=API_KEY)


@pytest.fixture
def sd(pulse: Any) -> ModuleType:
    """The real sounddevice module, talking to the private PulseAudio."""
    from voicelive_desktop.audio.backend import load_sounddevice

    return load_sounddevice()


@pytest.fixture(scope="session")
def speech_pcm() -> bytes:
    """About two seconds of English speech, PCM16 mono 24 kHz."""
    from voicelive_desktop.devtools.speech import espeak_pcm

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed; run scripts/setup.sh (Debian package espeak-ng)")
    return espeak_pcm("what is the weather like in seattle today")


@pytest.fixture
async def voiced(sd: ModuleType) -> AsyncIterator[Any]:
    """The Qt-free core (tests.helpers.Core) with the private PulseAudio's microphone and speaker, both open."""
    from tests.helpers import build_core

    core = build_core(sd)
    assert core.microphone is not None
    await core.microphone.start()
    yield core
    await core.close()


@pytest.fixture
async def textonly() -> AsyncIterator[Any]:
    """The Qt-free core without any audio device."""
    from tests.helpers import build_core

    core = build_core()
    yield core
    await core.close()
