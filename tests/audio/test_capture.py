"""Capture on real PortAudio: what is spoken into the virtual microphone is what the session is given."""

from __future__ import annotations

import asyncio
import time
from types import ModuleType
from typing import Any

import numpy as np

from tests.helpers import Only48k, until
from voicelive_desktop.audio.capture import Capture
from voicelive_desktop.devtools.speech import dominant_frequency, loud_ms, matching_share, tone


async def _collect(capture: Capture) -> tuple[asyncio.Task[bytes], list[bytes]]:
    chunks: list[bytes] = []

    async def run() -> bytes:
        async for chunk in capture.turn_audio():
            chunks.append(chunk)
        return b"".join(chunks)

    return asyncio.create_task(run()), chunks


def _newest_is_loud(capture: Capture, ms: int = 20) -> bool:
    """Whether the newest ``ms`` the microphone delivered are loud (read from its ring, consumed or not)."""
    ring = capture._ring
    n = min(ring.written, capture.stream.device_rate * ms // 1000)
    newest = np.array([ring._buf[(ring.written - 1 - i) % ring.capacity] for i in range(n)], dtype=np.int16)
    return bool(n) and int(np.abs(newest).max()) > 1000


async def _speak_one_turn(capture: Capture, pulse: Any, speech: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Hold the key, speak ``speech`` into the virtual microphone, let go.

    Returns what the turn captured, and what the microphone carried meanwhile (a second, generously buffered
    recording of the same source): on a busy machine the player feeding the virtual microphone can stall, so
    the truth to compare with is what the microphone heard, not the file that was played. The key comes up as
    soon as the last sample has been handed to the sound server: the release tail must catch what is still on
    its way, as it does for a user who lets go on the last syllable.
    """
    assert capture.open()
    reference = pulse.record("micfeed.monitor", latency_ms=200)
    try:
        capture.begin_turn()
        task, _ = await _collect(capture)
        player = pulse.play(speech)
        await asyncio.to_thread(player.wait, 10)
        capture.release()
        captured = np.frombuffer(await asyncio.wait_for(task, 5), dtype=np.int16)
    finally:
        capture.close()
        heard = reference.stop()
    return captured, heard


async def test_speech_into_the_microphone_reaches_the_turn(sd: ModuleType, pulse: Any, speech_pcm: bytes) -> None:
    captured, heard = await _speak_one_turn(Capture(sd), pulse, speech_pcm)
    share = matching_share(heard, captured)
    assert share >= 0.95, f"only {share:.0%} of what the microphone heard reached the turn intact"


async def test_preroll_sends_the_audio_from_just_before_the_key_went_down(sd: ModuleType, pulse: Any) -> None:
    capture = Capture(sd, preroll_ms=300, tail_ms=200)
    assert capture.open()
    try:
        await until(lambda: capture.stream.callbacks * 20 >= 400)  # 400 ms of quiet history
        pulse.play(tone(880, 0.15))
        await until(lambda: _newest_is_loud(capture))
        await until(lambda: not _newest_is_loud(capture))
        capture.begin_turn()  # the burst has just ended: only the pre-roll can still hold it
        task, chunks = await _collect(capture)
        await until(lambda: sum(len(c) for c in chunks) >= 2 * 24000 * 600 // 1000)  # pre-roll and 300 ms held
        capture.release()
        captured = np.frombuffer(await asyncio.wait_for(task, 5), dtype=np.int16)
    finally:
        capture.close()
    head = captured[: 24000 * 300 // 1000]
    assert loud_ms(head) >= 60, "the tone heard before key down is missing from the turn"
    assert abs(dominant_frequency(head) - 880) < 20
    held_ms = len(captured) * 1000 / 24000 - 300 - 200
    assert held_ms >= 280, "pre-roll, the time held and the tail should all be in the turn"


async def test_release_tail_keeps_the_last_syllable(sd: ModuleType, pulse: Any) -> None:
    capture = Capture(sd, preroll_ms=0, tail_ms=200)
    assert capture.open()
    reference = pulse.record("micfeed.monitor", latency_ms=200)
    try:
        capture.begin_turn()
        task, _ = await _collect(capture)
        player = pulse.play(tone(660, 0.6))
        await until(lambda: _newest_is_loud(capture))
        capture.release()  # the word is still being spoken when the key comes up
        captured = np.frombuffer(await asyncio.wait_for(task, 5), dtype=np.int16)
        await asyncio.to_thread(player.wait, 5)  # leave the microphone quiet for the next test
    finally:
        capture.close()
        heard = reference.stop()
    tail = captured[-24000 * 200 // 1000 :]
    assert loud_ms(tail) >= 100 and abs(dominant_frequency(tail) - 660) < 20, "audio after key up was not sent"
    share = matching_share(tail, heard)
    assert share >= 0.9, f"only {share:.0%} of the tail is what the microphone heard then"


async def _kept_after_key_ms(sd: ModuleType, *, block_ms: int, tail_ms: int, key_into_block_ms: float) -> float:
    """A turn whose key comes up ``key_into_block_ms`` into a block, with blocks arriving for a while after:
    how much audio after the key the turn kept (the last block before the key arrived that long ago; sleeping
    instead could take longer on a busy machine)."""
    capture = Capture(sd, block_ms=block_ms, preroll_ms=0, tail_ms=tail_ms)
    frames = 24000 * block_ms // 1000
    block = np.zeros(frames, dtype=np.int16).tobytes()
    capture.begin_turn()
    capture._callback(block, frames, None, None)
    written, _ = capture._last_block
    capture._last_block = (written, time.monotonic() - key_into_block_ms / 1000)
    capture.release()
    for _ in range((tail_ms + 2 * block_ms) // block_ms):
        capture._callback(block, frames, None, None)
    turn = b"".join([chunk async for chunk in capture.turn_audio()])
    return len(turn) * 1000 / (2 * 24000) - block_ms - key_into_block_ms


async def test_the_release_tail_ends_with_a_block_and_does_not_wait_for_the_next_one(sd: ModuleType) -> None:
    # The key comes up 10 ms into a 40 ms block: 200 ms from the key ends 10 ms into the sixth block from there.
    # The turn ends with the fifth (190 ms after the key), within half a block of the tail, rather than keeping
    # the answer waiting 30 ms more for the sixth.
    kept = await _kept_after_key_ms(sd, block_ms=40, tail_ms=200, key_into_block_ms=10)
    assert kept == 190, f"{kept:.0f} ms after the key came up were kept"


async def test_the_release_tail_counts_from_the_key_not_from_the_last_block(sd: ModuleType) -> None:
    # The key comes up 30 ms into a 40 ms block: those 30 ms are still in the device, and come before the tail.
    kept = await _kept_after_key_ms(sd, block_ms=40, tail_ms=200, key_into_block_ms=30)
    assert kept == 210, f"{kept:.0f} ms after the key came up were kept"  # 170 if it counted from the block


async def test_a_tail_shorter_than_half_a_block_runs_to_the_end_of_the_keys_block(sd: ModuleType) -> None:
    kept = await _kept_after_key_ms(sd, block_ms=100, tail_ms=20, key_into_block_ms=10)
    assert kept == 90, f"{kept:.0f} ms after the key came up were kept (the tail was lost)"


async def test_with_no_release_tail_the_turn_ends_at_the_key(sd: ModuleType) -> None:
    kept = await _kept_after_key_ms(sd, block_ms=40, tail_ms=0, key_into_block_ms=15)
    assert abs(kept) < 0.1, f"{kept:.0f} ms after the key came up were kept"


async def test_a_device_that_only_runs_at_48khz_is_resampled(sd: ModuleType, pulse: Any, speech_pcm: bytes) -> None:
    capture = Capture(Only48k(sd), rate=24000)  # type: ignore[arg-type]
    captured, heard = await _speak_one_turn(capture, pulse, speech_pcm)
    assert capture.stream.device_rate == 48000
    share = matching_share(heard, captured)
    assert share >= 0.95, f"only {share:.0%} of what was spoken came through the resampler intact"


async def test_at_16khz_the_turn_is_sent_at_16khz(sd: ModuleType, pulse: Any, speech_pcm: bytes) -> None:
    import soxr

    capture = Capture(sd)
    assert await capture.configure(rate=16000)  # as Settings > Audio > Microphone rate does
    captured, heard = await _speak_one_turn(capture, pulse, speech_pcm)
    heard_16k = soxr.resample(heard, 24000, 16000).astype(np.int16)
    share = matching_share(heard_16k, captured, rate=16000)
    assert share >= 0.95, f"only {share:.0%} of what was spoken reached the 16 kHz turn intact"
    seconds = len(captured) / 16000
    assert len(speech_pcm) / 48000 <= seconds <= len(speech_pcm) / 48000 + 1.2, f"{seconds:.2f} s at 16 kHz"
