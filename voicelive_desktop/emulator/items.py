"""Conversation items as the emulated service stores and shows them, and its timing knobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

Event = dict[str, Any]

OUTPUT_RATE = 24000
OUT_BYTES_PER_MS = OUTPUT_RATE * 2 // 1000


def new_id(prefix: str) -> str:
    """An id in the service's style, e.g. ``item_3f2a...``."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass
class Pace:
    """Timing knobs: how fast audio streams relative to real time, and artificial delays.

    Attributes:
        realtime_factor: how many times faster than real time assistant audio streams.
        first_delta_delay_s: the "model's" thinking time before the first delta.
        transcript_delay_s: extra delay before the user's transcript is sent (after recognition).
        cancel_delay_s: how long after ``response.cancel`` (or a barge-in) the cancelled response ends. The
            service does not stop at once: deltas already on their way still arrive, and a client that takes
            ``response.cancel`` as the end of the response is wrong.
    """

    realtime_factor: float = 8.0
    first_delta_delay_s: float = 0.05
    transcript_delay_s: float = 0.0
    cancel_delay_s: float = 0.05


@dataclass
class Item:
    """One conversation item: a user or assistant message, with the audio kept for truncation.

    Attributes:
        text: what the item says as the model's context holds it (a transcript or typed text).
        audio: for an assistant item, the audio streamed so far (PCM16 24 kHz); trimmed by a truncate.
        planned_text / planned_audio_ms: the whole answer the "model" meant to give, so that a truncate can keep
            the words heard in proportion to the audio heard.
        truncated: set by a truncate; audio still streaming afterwards is not stored (the client did not hear it).
        typed: a user item created from text (``conversation.item.create``), not from committed audio.
        spoken: an assistant item answered in audio (else in text only).
    """

    id: str
    role: str
    text: str | None = None
    audio: bytearray = field(default_factory=bytearray)
    planned_text: str = ""
    planned_audio_ms: int = 0
    truncated: bool = False
    typed: bool = False
    spoken: bool = True

    @property
    def audio_ms(self) -> int:
        """Milliseconds of assistant audio the item holds."""
        return len(self.audio) // OUT_BYTES_PER_MS


def item_json(item: Item, status: str = "completed") -> Event:
    """The item as the service sends it in ``conversation.item.created`` and ``response.output_item.*``."""
    if item.role == "assistant":
        part: Event = (
            {"type": "audio", "transcript": item.text or ""}
            if item.spoken
            else {"type": "text", "text": item.text or ""}
        )
    elif item.typed or item.role == "system":
        part = {"type": "input_text", "text": item.text}
    else:
        part = {"type": "input_audio", "transcript": item.text}
    return {
        "id": item.id,
        "type": "message",
        "object": "realtime.item",
        "role": item.role,
        "status": status,
        "content": [part],
    }


class Link(Protocol):
    """The emulator's side of one websocket, as the conversation needs it (the server implements it)."""

    async def send(self, event: Event) -> None:
        """Send one server event (recorded, subject to the event-count fault knobs)."""

    async def send_raw(self, text: str) -> None:
        """Send a text frame as is: how malformed frames are injected."""

    def abort(self) -> None:
        """Drop the transport without a close frame (the client sees close code 1006)."""

    async def close(self, code: int, reason: str) -> None:
        """Close the websocket cleanly with ``code`` and ``reason``."""
