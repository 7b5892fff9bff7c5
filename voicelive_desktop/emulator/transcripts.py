"""The user's side of a turn: recognising committed audio and sending its transcript on its own schedule.

Transcription runs beside the response, as in the service ("its events can come before or after the response
events"): ``transcript_order`` chooses which, so a client that assumes one order is caught.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .items import Event, Item
from .options import EmulatorOptions
from .speech import Recognizer

AFTER_GRACE_S = 1.0  # "after": with no response coming, the transcript is not held longer than this
AFTER_CAP_S = 30.0

TRANSCRIPTION_FAILED = {
    "type": "transcription_error",
    "code": "audio_unintelligible",
    "message": "The audio could not be transcribed.",
    "param": None,
}


@dataclass
class UserTurn:
    """One committed stretch of user audio, and what has become of it.

    Attributes:
        heard: what the recogniser made of the audio: what the "model" answers.
        sent: set once the transcript (or its failure) has been sent.
        answered: set once a response that had this turn as input has ended.
    """

    item: Item
    audio: bytes
    rate: int
    order: str
    heard: asyncio.Future[str]
    sent: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)


def pick_order(options: EmulatorOptions, rng: random.Random) -> str:
    """This turn's order: "timed" (the old default), "before" or "after"; "random" draws from the seeded rng."""
    order = options.transcript_order
    if order is None:
        return "timed"
    if order == "random":
        return rng.choice(("before", "after"))
    return order


async def transcribe(
    turn: UserTurn,
    *,
    recognizer: Recognizer,
    options: EmulatorOptions,
    emit: Callable[[Event], Awaitable[None]],
    send_events: bool,
    responding: Callable[[], bool],
) -> None:
    """Recognise ``turn`` and send its transcript events when its order says so.

    Args:
        send_events: False when transcription is off for the session (the model still hears the audio).
        responding: whether a response is running now (an "after" transcript waits only for one that is).
    """
    text = await recognizer.recognize(turn.audio, turn.rate)
    turn.item.text = text
    if not turn.heard.done():
        turn.heard.set_result(text)
    if turn.order == "after":
        await _after_the_answer(turn, responding)
    elif options.pace.transcript_delay_s:
        await asyncio.sleep(options.pace.transcript_delay_s)
    if send_events:
        await _send(turn, text, options, emit)
    turn.sent.set()


async def _after_the_answer(turn: UserTurn, responding: Callable[[], bool]) -> None:
    waited = 0.0
    while not turn.answered.is_set() and waited < AFTER_CAP_S:
        if waited >= AFTER_GRACE_S and not responding():
            return
        await asyncio.sleep(0.02)
        waited += 0.02


async def _send(turn: UserTurn, text: str, options: EmulatorOptions, emit: Callable[[Event], Awaitable[None]]) -> None:
    ids = {"item_id": turn.item.id, "content_index": 0}
    if options.fail_next_transcription:
        options.fail_next_transcription = False
        await emit({"type": "conversation.item.input_audio_transcription.failed", **ids, "error": TRANSCRIPTION_FAILED})
        return
    half = len(text) // 2
    for piece in (text[:half], text[half:]):
        await emit({"type": "conversation.item.input_audio_transcription.delta", **ids, "delta": piece})
    await emit({"type": "conversation.item.input_audio_transcription.completed", **ids, "transcript": text})
