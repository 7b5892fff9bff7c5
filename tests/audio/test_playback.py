"""Playback on real PortAudio: what is queued is what the virtual speaker records; flush cuts it at once."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.helpers import Only48k, resident_kib, until
from voicelive_desktop.audio.backend import AudioProblem
from voicelive_desktop.audio.playback import Playback
from voicelive_desktop.devtools.speech import dominant_frequency, loud_ms, tone


async def _heard(recording: Any, at_least_ms: float, timeout: float = 5.0) -> None:
    """Wait until the speaker has sounded ``at_least_ms`` (the test's assertions then say what went wrong)."""
    with contextlib.suppress(TimeoutError):
        await until(lambda: loud_ms(recording.samples()) >= at_least_ms, timeout)


async def _settled(recording: Any) -> None:
    """Wait until the speaker's recording stops growing louder (what was handed over has been heard)."""
    last = -1.0
    for _ in range(50):
        now = loud_ms(recording.samples())
        if now == last:
            return
        last = now
        await asyncio.sleep(0.1)  # a poll interval, not a bound: the loop ends as soon as nothing changes


async def _idle(playback: Playback) -> None:
    """Wait until the speaker just opened has settled, suspended, as an app's speaker waits for its first answer."""
    await until(lambda: playback.stream.suspended and not playback.stream.switching, 5)


async def test_a_speaker_just_opened_stops_calling_back_once_it_has_shown_it_works(
    sd: ModuleType, pulse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until the first answer a running speaker only plays silence, at a cost in CPU on every connect: it is
    suspended as soon as it has called back, not after the quiet time kept between answers."""
    from voicelive_desktop.audio import playback as playback_module

    monkeypatch.setattr(playback_module, "IDLE_SUSPEND_S", 30.0)
    playback = Playback(sd)
    assert playback.open()
    try:
        await _idle(playback)
        assert playback.stream.callbacks > 0, "suspended before the device had shown that it works"
        callbacks = playback.stream.callbacks
        await asyncio.sleep(0.3)
        assert playback.stream.callbacks == callbacks, "a suspended stream must not call back"
    finally:
        playback.close()


async def test_a_tone_is_played_at_its_frequency(sd: ModuleType, pulse: Any) -> None:
    drained = asyncio.Event()
    playback = Playback(sd, on_drained=drained.set)
    assert playback.open()
    recording = pulse.record()
    try:
        await _idle(playback)
        playback.enqueue("item_1", tone(440, 1.0))
        await asyncio.wait_for(drained.wait(), 5)
        await _heard(recording, 1000, 2)
    finally:
        playback.close()
        recorded = recording.stop()
    assert abs(dominant_frequency(recorded) - 440) < 5
    assert 960 <= loud_ms(recorded) <= 1040, "one second of tone should sound for one second"
    assert playback.underruns == 0


async def test_a_speaker_that_only_runs_at_48khz_gets_the_whole_answer_at_its_pitch(sd: ModuleType, pulse: Any) -> None:
    drained = asyncio.Event()
    playback = Playback(Only48k(sd), on_drained=drained.set)  # type: ignore[arg-type]
    assert playback.open()
    recording = pulse.record()
    try:
        assert playback.stream.device_rate == 48000
        await _idle(playback)
        answer = tone(440, 1.0)  # one second at 24 kHz, in 100 ms deltas as answers arrive
        for start in range(0, len(answer), 4800):
            playback.enqueue("item_1", answer[start : start + 4800])
        playback.answer_complete()
        await asyncio.wait_for(drained.wait(), 5)
        await _heard(recording, 900, 2)
    finally:
        playback.close()
        recorded = recording.stop()
    ring = playback._ring
    assert ring.written == ring.read == 48000, "the answer was not handed to the speaker whole (its end stayed behind)"
    handed = np.frombuffer(ring._buf[:48000].tobytes(), dtype=np.int16)
    assert abs(dominant_frequency(handed, rate=48000) - 440) < 5, "the answer was handed over at the wrong pitch"
    assert loud_ms(recorded) > 0, "the speaker did not sound"
    # The recording's length and pitch are not asserted: here a 48 kHz stream through ALSA's pulse plugin
    # underruns now and then (ALSA's recovery drops what it had buffered), so the test server can record only
    # part of what was handed over (75 ms of the second once, with the machine busy). Streams at 24 kHz, which
    # every other test plays, do not.


async def test_flush_silences_at_once_and_reports_the_ms_heard(sd: ModuleType, pulse: Any) -> None:
    playback = Playback(sd)
    assert playback.open()
    recording = pulse.record()
    try:
        await _idle(playback)
        playback.enqueue("item_answer", tone(500, 3.0))
        await _heard(recording, 600)
        heard = playback.flush()
        await until(lambda: not playback.is_playing)
        await _settled(recording)
    finally:
        playback.close()
        recorded = recording.stop()
    sounded = loud_ms(recorded)
    assert heard is not None
    assert sounded < 1500, "the answer kept playing after flush"
    assert abs(heard - sounded) <= 20, f"reported {heard} ms heard, the speaker sounded {sounded} ms"


async def test_flush_counts_only_the_current_item(sd: ModuleType, pulse: Any) -> None:
    playback = Playback(sd)
    assert playback.open()
    recording = pulse.record()
    try:
        await _idle(playback)
        playback.enqueue("first", tone(300, 0.3))
        playback.enqueue("second", tone(600, 2.0))
        await _heard(recording, 800)
        heard = playback.flush()
        await _settled(recording)
    finally:
        playback.close()
        recorded = recording.stop()
    assert heard is not None
    assert abs(heard - (loud_ms(recorded) - 300)) <= 40, "the first item's 300 ms are not part of the second's"


async def test_an_unplugged_speaker_falls_back_to_the_default(sd: ModuleType, pulse: Any) -> None:
    module = pulse.add_sink("usb_headset", "USB-Headset")
    problems: list[AudioProblem] = []
    playback = Playback(sd, on_problem=problems.append)
    recording = None
    try:
        assert playback.open("usb_headset")
        assert "USB-Headset" in playback.label
        playback.enqueue("item", tone(700, 4.0))
        await until(lambda: playback.stream.callbacks >= 10)  # the headset is playing
        recording = pulse.record()
        pulse.unplug(module)
        module = ""
        await _heard(recording, 1500, 8)
        assert playback.is_open
    finally:
        playback.close()
        recorded = recording.stop() if recording is not None else np.zeros(0, np.int16)
        if module:
            pulse.unplug(module)
    assert loud_ms(recorded) >= 1500, "after the headset went away the answer should go on from the default speaker"
    assert abs(dominant_frequency(recorded) - 700) < 10


async def test_a_device_that_never_calls_back_is_reported_once_not_reopened_forever(sd: ModuleType, pulse: Any) -> None:
    class DeadDevice:
        """The real sounddevice, but the device opens and then never asks for audio (a hung driver)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(sd, name)

        def RawOutputStream(self, *, callback: Any, **kwargs: Any) -> Any:
            def hung(outdata: Any, frames: int, time_info: Any, status: Any) -> None:
                outdata[:] = b"\0" * len(outdata)

            return sd.RawOutputStream(callback=hung, **kwargs)

    problems: list[AudioProblem] = []
    drained = asyncio.Event()
    playback = Playback(DeadDevice(), on_problem=problems.append, on_drained=drained.set)  # type: ignore[arg-type]
    playback.stream.FIRST_CALLBACK_S = 0.5  # be quicker to give up than with a real device, to keep the test short
    try:
        assert playback.open()
        playback.enqueue("item_1", tone(440, 0.5))  # an answer nobody will hear
        await until(lambda: len(problems) >= 3, 10)
        messages = [p.message for p in problems]
        assert len(messages) == 3, messages
        assert "stopped working" in messages[0] and "not responding" in messages[-1]
        # the conversation must not wait for that answer to end: it counts as played, and the speaker as closed
        await asyncio.wait_for(drained.wait(), 2)
        assert not playback.is_playing and not playback.is_open
        with pytest.raises(TimeoutError):
            await until(lambda: len(problems) > 3, 2.0)  # it must not keep reopening after giving up
    finally:
        playback.close()


async def test_between_answers_the_speaker_stops_calling_back_and_the_next_answer_starts_it(
    sd: ModuleType, pulse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voicelive_desktop.audio import playback as playback_module

    monkeypatch.setattr(playback_module, "IDLE_SUSPEND_S", 0.2)
    playback = Playback(sd)
    assert playback.open()
    recording = pulse.record()
    try:
        await until(lambda: playback.stream.suspended and not playback.stream.switching, 5)
        callbacks = playback.stream.callbacks
        await asyncio.sleep(0.3)
        assert playback.stream.callbacks == callbacks, "a suspended stream must not call back"
        playback.enqueue("item_1", tone(440, 0.5))
        assert not playback.stream.suspended
        assert resident_kib(playback._ring) >= 20, "the answer was queued somewhere else"
        await _heard(recording, 500, 5)
        await until(lambda: playback.stream.suspended, 5)
        assert resident_kib(playback._ring) < 8, "the suspended speaker kept the played answer's memory"
    finally:
        playback.close()
        recorded = recording.stop()
    assert 480 <= loud_ms(recorded) <= 520, "the answer after a suspension must sound whole"
    assert playback.stream.is_open is False


async def test_a_speaker_stuck_inside_portaudio_is_left_behind_and_the_answer_plays_on_a_new_stream(
    sd: ModuleType, pulse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sound server that died under a stream can leave PortAudio's start waiting for ever (ALSA's pulse plugin
    waits on the dead server). The answer that resumed the speaker must still be heard, on a new stream, and the
    loop must never wait on the stuck thread."""
    from voicelive_desktop.audio import playback as playback_module

    monkeypatch.setattr(playback_module, "IDLE_SUSPEND_S", 0.2)
    unstuck = threading.Event()
    streams: list[Any] = []

    class StuckOnResume:
        """The real sounddevice; the first output stream's second start (its resume) never returns."""

        def __getattr__(self, name: str) -> Any:
            return getattr(sd, name)

        def RawOutputStream(self, **kwargs: Any) -> Any:
            stream = sd.RawOutputStream(**kwargs)
            streams.append(stream)
            if len(streams) == 1:
                starts = [0]
                real_start = stream.start

                def start() -> None:
                    starts[0] += 1
                    if starts[0] == 2:
                        unstuck.wait()
                    real_start()

                stream.start = start
            return stream

    problems: list[AudioProblem] = []
    drained = asyncio.Event()
    playback = Playback(StuckOnResume(), on_problem=problems.append, on_drained=drained.set)  # type: ignore[arg-type]
    playback.stream.SWITCH_LIMIT_S = 0.5
    recording = pulse.record()
    try:
        assert await playback.open_async(None)
        await until(lambda: playback.stream.suspended and not playback.stream.switching, 5)
        playback.enqueue("item_1", tone(440, 0.5))  # resumes the speaker: that start never returns
        await asyncio.wait_for(drained.wait(), 10)
        await _heard(recording, 450, 5)
        assert len(streams) == 2, "the answer was not played on a new stream"
        assert [p.kind for p in problems] == ["device-lost"] and "switched to the system default" in problems[0].message
    finally:
        unstuck.set()  # the stuck thread finishes, and closes the stream it was left with
        playback.close()
        recorded = recording.stop()
        with contextlib.suppress(AttributeError):
            atexit.register(sd._exit_handler)  # the test process ends with PortAudio's own exit again
    assert loud_ms(recorded) >= 450, "the answer was not heard"
    await until(lambda: streams[0].closed, 5)
