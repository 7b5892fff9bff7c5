"""The managed PortAudio stream under a sound system that misbehaves: nothing PortAudio still calls is freed."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import until
from voicelive_desktop.audio import stream as stream_module
from voicelive_desktop.audio.capture import Capture
from voicelive_desktop.audio.playback import Playback


class _Stubborn:
    """A real PortAudio stream whose close fails, as it can when the sound server is starved or gone. Like
    sounddevice's, ``close()`` says so only when asked not to ignore errors (its default is to ignore them)."""

    def __init__(self, real: Any, sd: ModuleType) -> None:
        self.real, self._sd = real, sd

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def close(self, ignore_errors: bool = True) -> None:
        if not ignore_errors:
            raise self._sd.PortAudioError("Error closing stream: Unanticipated host error")


async def test_a_stream_that_will_not_close_is_kept_rather_than_freed_under_portaudio(
    sd: ModuleType, pulse: Any
) -> None:
    made: list[_Stubborn] = []

    class StubbornSd:
        def __getattr__(self, name: str) -> Any:
            return getattr(sd, name)

        def RawInputStream(self, **kwargs: Any) -> Any:
            made.append(_Stubborn(sd.RawInputStream(**kwargs), sd))
            return made[-1]

    capture = Capture(StubbornSd())  # type: ignore[arg-type]
    assert capture.open()
    assert made[-1] in stream_module._HELD
    await until(lambda: capture.stream.callbacks > 2)
    stream = weakref.ref(made.pop())
    capture.close()  # abort() works, close() fails: PortAudio may still hold the stream's callback
    gc.collect()
    try:
        assert stream() is not None, "a stream PortAudio did not let go of was freed: its callback with it"
        assert not capture.is_open
        assert capture.open(), "the microphone opens again after a failed close"
        capture.close()
    finally:
        for kept in [stream(), *made]:
            if kept is not None:
                kept.real.close()  # the test's own streams: really closed now
                stream_module._HELD.discard(kept)


def test_a_capture_dropped_while_open_does_not_free_the_stream_portaudio_calls(sd: ModuleType, pulse: Any) -> None:
    """Garbage collection must never free a running stream's callback: PortAudio's thread would call freed
    memory and crash the process (no event loop here, so no watchdog task keeps the stream alive)."""
    earlier = set(stream_module._HELD)  # streams an earlier test may have left (not this test's business)
    capture = Capture(sd)
    assert capture.open()
    deadline = time.monotonic() + 5
    while capture.stream.callbacks < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    held = stream_module._HELD - earlier
    assert len(held) == 1, "the open stream is held"
    running = weakref.ref(next(iter(held)))
    del capture, held
    gc.collect()
    kept = running()
    try:
        assert kept is not None and kept.active, "the running stream was freed with its owner"
    finally:
        if kept is not None:
            stream_module._shut(kept)
    assert kept not in stream_module._HELD, "a closed stream is let go"


def _unclosed(before: set[Any]) -> list[Any]:
    """Streams opened since ``before`` that are still open (a stream leaves ``_HELD`` only once closed)."""
    return [stream for stream in stream_module._HELD - before if not stream.closed]


async def test_two_opens_at_once_leave_one_stream(sd: ModuleType, pulse: Any) -> None:
    """A late sound server answering while the app starts, or a restart seen by the watchdog and the device watch,
    can open the same device twice at once: one stream must remain, not a second one nobody can close."""
    before = set(stream_module._HELD)
    speaker = Playback(sd)
    try:
        assert await asyncio.gather(speaker.open_async(None), speaker.open_async(None)) == [True, True]
        assert len(_unclosed(before)) == 1
    finally:
        speaker.close()
    await until(lambda: not _unclosed(before), 5)


async def test_a_close_while_the_device_opens_wins(sd: ModuleType, pulse: Any) -> None:
    """The window closes (or the settings change) while the sound server is still opening the device: the stream
    it opens then is closed again, not left running after the close."""
    before = set(stream_module._HELD)
    speaker = Playback(sd)
    opening = asyncio.ensure_future(speaker.open_async(None))
    await asyncio.sleep(0)  # the open has started in its thread
    speaker.close()
    assert await opening is False
    assert not speaker.is_open
    await until(lambda: not _unclosed(before), 5)


async def test_a_plain_open_and_close_keep_portaudios_own_exit(
    sd: ModuleType, pulse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PortAudio's exit is skipped only when a worker may be stuck inside it, never after a normal open and close."""
    skipped: list[object] = []
    monkeypatch.setattr(stream_module, "_skip_portaudio_exit", skipped.append)
    speaker = Playback(sd)
    assert await speaker.open_async(None)
    await speaker.configure(block_ms=20)  # a reopen
    speaker.close()
    assert skipped == []
