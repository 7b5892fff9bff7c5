"""The ring's contract: order, wrap-around, and each overflow policy counting what it lost."""

from __future__ import annotations

import numpy as np

from tests.helpers import resident_kib
from voicelive_desktop.audio.ring import FrameRing, Overflow


def _frames(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int16)


def test_frames_come_out_in_order_across_the_wrap() -> None:
    ring = FrameRing(10)
    out = np.zeros(10, dtype=np.int16)
    got: list[int] = []
    for i in range(0, 35, 7):
        ring.write(_frames(i, 7))
        n = ring.read_into(out)
        got.extend(out[:n].tolist())
    assert got == list(range(35))
    assert ring.dropped == 0


def test_overwrite_oldest_keeps_the_newest_and_counts_the_rest() -> None:
    ring = FrameRing(10)
    ring.write(_frames(0, 25))
    out = np.zeros(20, dtype=np.int16)
    n = ring.read_into(out)
    assert out[:n].tolist() == list(range(15, 25))
    assert ring.dropped == 15


def test_drop_newest_never_overwrites_queued_audio() -> None:
    ring = FrameRing(10, Overflow.DROP_NEWEST)
    assert ring.write(_frames(0, 8)) == 8
    assert ring.write(_frames(8, 8)) == 2
    out = np.zeros(20, dtype=np.int16)
    assert out[: ring.read_into(out)].tolist() == list(range(10))
    assert ring.dropped == 6


def test_rewind_gives_back_recent_history() -> None:
    ring = FrameRing(100)
    ring.write(_frames(0, 60))
    ring.skip_to(ring.written)
    assert ring.available() == 0
    assert ring.rewind_to(20) == 20
    out = np.zeros(100, dtype=np.int16)
    assert out[: ring.read_into(out)].tolist() == list(range(40, 60))


def test_write_and_read_copy_no_block_sized_buffers() -> None:
    import tracemalloc

    ring = FrameRing(24000 * 4)
    block = np.ones(4800, dtype=np.int16)  # 9.6 kB: a copy of it would stand out
    out = np.zeros(4800, dtype=np.int16)
    for _ in range(10):
        ring.write(block)
        ring.read_into(out)
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    for _ in range(2000):
        ring.write(block)
        ring.read_into(out)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak - base < 2048, f"a block-sized temporary was allocated (peak +{peak - base} B)"
    assert current - base < 512, f"memory grew by {current - base} B over 2000 blocks"


def test_a_ring_for_minutes_of_audio_holds_memory_only_for_what_was_queued_and_gives_it_back() -> None:
    ring = FrameRing(24000 * 300, Overflow.DROP_NEWEST)  # the speaker's: five minutes, 14 MiB
    assert resident_kib(ring) < 100, "an empty ring already holds its whole size in memory"
    ring.write(np.full(24000 * 60, 1000, dtype=np.int16))  # a one-minute answer
    assert 2700 <= resident_kib(ring) <= 3000, "a minute of 24 kHz audio is 2.8 MiB"
    assert not ring.give_back_memory(), "gave back memory that still held unplayed audio"
    out = np.zeros(24000, dtype=np.int16)
    while ring.read_into(out):
        pass
    assert ring.give_back_memory()
    assert resident_kib(ring) < 100, "the played answer's memory was kept"
    ring.write(_frames(0, 10))
    got = np.zeros(30, dtype=np.int16)
    assert got[: ring.read_into(got)].tolist() == list(range(10)), "the ring works as before once given back"
