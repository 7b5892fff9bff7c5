"""Playback on real PortAudio: what is queued is what the virtual speaker records; flush cuts it at once."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import numpy as np

from tests.pulse import tone
from voicelive_desktop.audio.backend import AudioProblem
from voicelive_desktop.audio.playback import Playback

from .conftest import dominant_frequency, loud_ms


async def test_a_tone_is_played_at_its_frequency(sd: ModuleType, pulse: Any) -> None:
    drained = asyncio.Event()
    playback = Playback(sd, on_drained=drained.set)
    assert playback.open()
    recording = pulse.record()
    try:
        await asyncio.sleep(0.2)
        playback.enqueue("item_1", tone(440, 1.0))
        await asyncio.wait_for(drained.wait(), 5)
        await asyncio.sleep(0.2)
    finally:
        playback.close()
        recorded = recording.stop()
    assert abs(dominant_frequency(recorded) - 440) < 5
    assert 960 <= loud_ms(recorded) <= 1040, "one second of tone should sound for one second"
    assert playback.underruns == 0


async def test_flush_silences_at_once_and_reports_the_ms_heard(sd: ModuleType, pulse: Any) -> None:
    playback = Playback(sd)
    assert playback.open()
    recording = pulse.record()
    try:
        await asyncio.sleep(0.2)
        playback.enqueue("item_answer", tone(500, 3.0))
        await asyncio.sleep(0.7)
        heard = playback.flush()
        await asyncio.sleep(0.5)
        assert not playback.is_playing
    finally:
        playback.close()
        recorded = recording.stop()
    sounded = loud_ms(recorded)
    assert heard is not None
    assert 500 <= heard <= 900
    assert sounded < 1000, "the answer kept playing after flush"
    assert abs(heard - sounded) <= 20, f"reported {heard} ms heard, the speaker sounded {sounded} ms"


async def test_heard_ms_counts_only_the_current_item(sd: ModuleType, pulse: Any) -> None:
    playback = Playback(sd)
    assert playback.open()
    try:
        playback.enqueue("first", tone(300, 0.3))
        playback.enqueue("second", tone(600, 2.0))
        await asyncio.sleep(0.8)
        heard = playback.flush()
    finally:
        playback.close()
    assert heard is not None and 300 <= heard <= 650  # ~0.8 s played, 0.3 s of it was the first item


async def test_an_unplugged_speaker_falls_back_to_the_default(sd: ModuleType, pulse: Any) -> None:
    module = pulse.add_sink("usb_headset", "USB-Headset")
    problems: list[AudioProblem] = []
    playback = Playback(sd, on_problem=problems.append)
    recording = None
    try:
        assert playback.open("usb_headset")
        assert "USB-Headset" in playback.stream.label
        playback.enqueue("item", tone(700, 4.0))
        await asyncio.sleep(0.5)
        assert playback.heard_ms() > 200, "the headset should be playing before it is unplugged"
        recording = pulse.record()
        pulse.unplug(module)
        module = ""
        await asyncio.sleep(2.5)
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
    playback = Playback(DeadDevice(), on_problem=problems.append)  # type: ignore[arg-type]
    playback.stream.FIRST_CALLBACK_S = 0.5  # be quicker to give up than with a real device, to keep the test short
    try:
        assert playback.open()
        await asyncio.sleep(3.5)
        messages = [p.message for p in problems]
        assert len(messages) == 3, messages
        assert "stopped working" in messages[0] and "not responding" in messages[-1]
        await asyncio.sleep(2.0)
        assert len(problems) == 3, "it kept reopening after saying the device is not responding"
    finally:
        playback.close()
