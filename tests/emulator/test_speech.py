"""The emulator's voice: the espeak-ng bundled with the app first, the system's next, tones when neither works."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from voicelive_desktop.emulator.speech import Synthesizer, find_espeak, tone_speech


def test_a_bundle_speaks_with_its_own_espeak_and_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "espeak-ng"
    home.mkdir()
    (home / "espeak-ng").touch()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    espeak = find_espeak()
    assert espeak is not None and espeak.argv == (str(home / "espeak-ng"), f"--path={home}")
    assert espeak.env is not None and espeak.env["LD_LIBRARY_PATH"] == str(home / "lib")


def test_a_bundle_without_its_own_espeak_runs_the_system_one_with_the_system_libraries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))  # what the bundle's launcher sets
    monkeypatch.delenv("LD_LIBRARY_PATH_ORIG", raising=False)
    espeak = find_espeak()
    assert espeak is not None and espeak.argv[0].endswith("espeak-ng") and espeak.env is not None
    assert "LD_LIBRARY_PATH" not in espeak.env


async def test_an_espeak_that_fails_gives_tones_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    synth = Synthesizer("false")  # exits 1 without a sound
    assert synth.voice_name == "espeak-ng"
    assert await synth.synthesize("two words") == tone_speech("two words")
    assert synth.voice_name == "tone" and "espeak-ng failed" in caplog.text
