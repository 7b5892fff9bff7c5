"""The opt-in callback timings (VOICELIVE_AUDIO_TIMINGS): figures written when the stream closes; off, nothing."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import resident_kib, until
from voicelive_desktop.audio.capture import Capture
from voicelive_desktop.audio.timings import ENV, CallbackTimings


async def test_with_the_variable_each_stream_writes_its_callback_figures_when_it_closes(
    sd: ModuleType, pulse: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "timings.jsonl"
    monkeypatch.setenv(ENV, str(out))
    capture = Capture(sd)
    assert capture.open()
    try:
        await until(lambda: capture.stream.callbacks >= 20, 5)
    finally:
        capture.close()
    (line,) = out.read_text().splitlines()
    figures = json.loads(line)
    assert figures["stream"] == "input" and figures["callbacks"] >= 20
    assert 0 < figures["duration_us_p50"] <= figures["duration_us_p99"] <= figures["duration_us_max"]
    assert figures["block_ms"] == 20 and figures["period_ms_median"] > 0


def test_without_the_variable_the_callback_is_not_wrapped(sd: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert Capture(sd).stream._timings is None


def test_the_recorder_takes_memory_only_for_the_calls_it_has_recorded(tmp_path: Path) -> None:
    timings = CallbackTimings(str(tmp_path / "timings.jsonl"), "input")  # room for 200,000 calls: 3.2 MB
    timed = timings.wrap(lambda *args: None)
    for _ in range(1000):
        timed(None, 960, None, None)
    held = resident_kib(timings._start) + resident_kib(timings._end)
    assert held <= 64, f"the recorder holds {held} KiB after 1,000 calls (16 KB of figures)"
    timings.write("mic", 960, 24000)
    assert json.loads((tmp_path / "timings.jsonl").read_text())["callbacks"] == 1000
