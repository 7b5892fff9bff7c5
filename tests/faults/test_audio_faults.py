"""Faults in the middle of a spoken turn, on real audio: the link dropping while the user speaks, the microphone
going away. The user's words are not lost, and the user is told at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent

from tests.helpers import sent_audio_bytes, until
from tests.launching import send_space
from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.microphone import AudioOptions

Launcher = Callable[..., Any]


def _space(app: Any, kind: QEvent.Type) -> None:
    app.window.chat.setFocus()  # away from the message field, where Space types
    send_space(app.window, kind)


async def _hold_and_speak(app: Any, pulse: Any, speech: bytes, device: str = "micfeed") -> None:
    _space(app, QEvent.Type.KeyPress)
    await until(lambda: app.controller.assistant.turn is TurnState.LISTENING, 5)
    player = pulse.play(speech, device)
    await asyncio.to_thread(player.wait, 15)
    _space(app, QEvent.Type.KeyRelease)


async def test_a_drop_mid_utterance_resumes_the_utterance_on_the_new_session(
    fault_app: Launcher, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    app = await fault_app()
    await app.say("first, a typed question")
    emulator.options.drop_after_appends = 25  # half a second into the utterance, the link goes
    await _hold_and_speak(app, pulse, speech_pcm)
    await until(lambda: len(emulator.connections) == 2, 15)

    def spoken() -> list[Any]:
        return [m for m in app.messages if m.role is Role.USER and m.spoken]

    await until(lambda: bool(spoken()) and spoken()[0].final, 30)
    assert len(spoken()) == 1 and spoken()[0].text, "the utterance was replayed, heard and kept once"
    await until(lambda: "You said:" in app.answers()[-1].text and app.answers()[-1].final, 30)
    resumed = emulator.last().received_types()
    assert "input_audio_buffer.commit" in resumed and resumed.count("input_audio_buffer.append") >= 4
    await app.say("and the next turn works")
    await app.close()


async def test_a_microphone_that_goes_away_mid_turn_is_told_at_once_and_the_turn_goes_on(
    fault_app: Launcher, emulator: Emulator, pulse: Any, speech_pcm: bytes
) -> None:
    headset = pulse.add_sink("usb_headset_mic", "USB-Headset-Mic", rate=24000)
    try:
        app = await fault_app()
        await app.controller.microphone.apply(AudioOptions("usb_headset_mic.monitor", None, True))
        assert "USB-Headset-Mic" in app.window.devices_label.text()
        _space(app, QEvent.Type.KeyPress)
        await until(lambda: app.controller.assistant.turn is TurnState.LISTENING, 5)
        pulse.play(speech_pcm[: len(speech_pcm) // 2], "usb_headset_mic")
        heard = sent_audio_bytes(emulator)  # the pre-roll
        await until(lambda: sent_audio_bytes(emulator) >= heard + 24000, 5)  # half a second from the headset
        pulse.unplug(headset)
        headset = ""
        await until(lambda: any("stopped while you were speaking" in text for text in app.banner), 3)
        assert any("USB-Headset-Mic was disconnected" in text for text in app.banner)
        assert "Virtual-Mic" in app.window.devices_label.text(), "the status line shows the microphone now in use"
        player = pulse.play(speech_pcm[len(speech_pcm) // 2 :])  # the user goes on, now heard by the default mic
        await asyncio.to_thread(player.wait, 15)
        _space(app, QEvent.Type.KeyRelease)
        await until(lambda: bool(app.answers()) and "You said:" in app.answers()[-1].text, 30)
        await app.say("the next turn works")

        headset = pulse.add_sink("usb_headset_mic", "USB-Headset-Mic", rate=24000)  # plugged in again
        await until(lambda: any("USB-Headset-Mic is connected again" in text for text in app.banner), 10)
        assert not any("was disconnected" in text for text in app.banner), "the news replaces the loss's row"
        row = app.window.banner._rows["audio"]
        assert row.property("kind") == "notice", "good news is not shown as an error"
        await until(lambda: "USB-Headset-Mic" in app.window.devices_label.text(), 5)
        await app.close()
    finally:
        if headset:
            pulse.unplug(headset)
