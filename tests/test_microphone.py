"""The microphone policy over real PortAudio: mute, staying open between turns, and what the status line says."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from tests.helpers import Core, build_core, target
from voicelive_desktop.assistant import MUTED
from voicelive_desktop.assistant_events import AudioStatus, TurnState
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.microphone import AudioOptions, Microphone
from voicelive_desktop.voicelive.events import ErrorCategory, ErrorRaised
from voicelive_desktop.voicelive.modes import Mode


def _mic(core: Core) -> Microphone:
    assert core.microphone is not None
    return core.microphone


def _status(core: Core) -> AudioStatus:
    return core.events.of(AudioStatus)[-1]


async def test_muting_closes_the_microphone_and_the_status_line_says_so(voiced: Core) -> None:
    mic = _mic(voiced)
    assert mic.capture is not None and mic.capture.is_open
    assert _status(voiced).mic_open and not _status(voiced).muted

    await mic.set_muted(True)

    assert not mic.capture.is_open  # nothing is recorded while muted, not even the pre-roll
    assert _status(voiced).input_label == "Microphone muted"
    assert not _status(voiced).mic_open and _status(voiced).muted


async def test_pressing_the_key_while_muted_says_how_to_unmute_and_records_nothing(
    voiced: Core, emulator: Emulator
) -> None:
    assert await voiced.connect(target(emulator, Mode.MANAGED))
    mic = _mic(voiced)
    await mic.set_muted(True)

    voiced.assistant.press()
    await voiced.assistant.release()

    errors = voiced.events.of(ErrorRaised)
    assert [e.message for e in errors] == [MUTED]
    assert errors[0].category is ErrorCategory.AUDIO
    assert "unmute" in errors[0].message and "Typing works" in errors[0].message
    assert TurnState.LISTENING not in voiced.events.turns()
    assert mic.capture is not None and not mic.capture.is_open
    assert not [e for e in emulator.last().received if e["type"] == "input_audio_buffer.append"]


async def test_unmuting_opens_the_microphone_again_and_the_next_turn_listens(voiced: Core, emulator: Emulator) -> None:
    assert await voiced.connect(target(emulator, Mode.MANAGED))
    mic = _mic(voiced)
    await mic.set_muted(True)
    await mic.set_muted(False)

    assert mic.capture is not None and mic.capture.is_open
    assert _status(voiced).input_label == mic.capture.label and not _status(voiced).muted
    voiced.assistant.press()
    await voiced.events.until(lambda: TurnState.LISTENING in voiced.events.turns())
    await voiced.assistant.release()


async def test_a_microphone_set_to_close_between_turns_is_open_only_for_the_turn(
    sd: ModuleType, emulator: Emulator
) -> None:
    core = build_core(sd, options=AudioOptions(keep_mic_open=False))
    try:
        mic = _mic(core)
        await mic.start()
        assert mic.capture is not None and not mic.capture.is_open
        assert _status(core).input_label == "Microphone closed"

        assert await core.connect(target(emulator, Mode.MANAGED))
        core.assistant.press()
        await core.events.until(lambda: mic.capture is not None and mic.capture.is_open)
        await core.assistant.release()
        await core.events.until(lambda: mic.capture is not None and not mic.capture.is_open)
        assert _status(core).input_label == "Microphone closed"
    finally:
        await core.close()


async def test_a_chosen_microphone_that_is_not_connected_gives_way_to_the_default_and_says_so(
    sd: ModuleType, pulse: Any
) -> None:
    core = build_core(sd, options=AudioOptions(input_device="USB headset that is unplugged"))
    try:
        mic = _mic(core)
        await mic.start()
        assert mic.capture is not None and mic.capture.is_open
        assert not mic.missing
        assert _status(core).mic_open and _status(core).input_label == mic.capture.label
        told = [e.message for e in core.events.of(ErrorRaised)]
        assert any("USB headset that is unplugged is not connected; using" in m for m in told), told
    finally:
        await core.close()
