"""The emulator's voice: the espeak-ng bundled with the app first, the system's next, tones when neither works."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import warnings
from pathlib import Path

import pytest

from tests.helpers import until
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


async def test_an_answer_cancelled_mid_synthesis_leaves_no_process_or_pipe_behind() -> None:
    if find_espeak() is None:
        pytest.fail("espeak-ng is not installed; run scripts/setup.sh (Debian package espeak-ng)")
    synth = Synthesizer()
    before = set(asyncio.all_tasks())
    speaking = asyncio.create_task(synth.synthesize("a very long answer about the sea and the sky " * 60))
    await until(lambda: bool(_children_named("espeak-ng")), 5)  # espeak-ng is speaking
    speaking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await speaking
    assert not _children_named("espeak-ng"), "the cancelled synthesis was reaped, not left running"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # an unclosed subprocess pipe warns when collected
        gc.collect()
    assert set(asyncio.all_tasks()) <= before | {asyncio.current_task()}


def _children_named(name: str) -> list[int]:
    """This process's live (not zombie) children whose command is ``name``."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except FileNotFoundError:
                continue
            if stat.split("(", 1)[1].rsplit(")", 1)[0] == name[:15] and stat.rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(pid))
    return found


async def test_the_recogniser_loads_once_as_the_emulator_starts_not_at_the_first_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading pocketsphinx holds the GIL for half a second or more: every thread of the app stops. It happens
    while the demo connects, not just after the user's first turn, and once for every emulator in the process."""
    import pocketsphinx

    from voicelive_desktop.emulator import Emulator, EmulatorOptions, speech

    built: list[object] = []
    real = pocketsphinx.Decoder

    def counting(*args: object, **kwargs: object) -> object:
        decoder = real(*args, **kwargs)
        built.append(decoder)
        return decoder

    monkeypatch.setattr(pocketsphinx, "Decoder", counting)
    monkeypatch.setattr(speech._Decoder, "decoder", None)  # as in a process that has loaded none yet
    monkeypatch.setattr(speech._Decoder, "missing", False)
    first, second = Emulator(EmulatorOptions()), Emulator(EmulatorOptions())
    await first.start()
    try:
        await until(lambda: len(built) == 1, 30)  # no audio sent: loaded by the start alone
        await second.start()
        assert await second._recognizer.recognize(b"\0" * 4800) == "(0.1 s of audio)"  # silence: no words
        assert len(built) == 1, "one decoder for the process"
    finally:
        await first.stop()
        await second.stop()
