"""Conversation items as the emulated service stores and shows them, and its timing knobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]


def new_id(prefix: str) -> str:
    """An id in the service's style, e.g. ``item_3f2a...``."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass
class Pace:
    """Timing knobs: how fast audio streams relative to real time, and artificial delays."""

    realtime_factor: float = 8.0
    first_delta_delay_s: float = 0.05
    transcript_delay_s: float = 0.0


@dataclass
class Item:
    """One conversation item: a user or assistant message, with the audio kept for truncation."""

    id: str
    role: str
    text: str | None = None
    audio: bytearray = field(default_factory=bytearray)


def item_json(item: Item, status: str = "completed") -> Event:
    """The item as the service sends it in ``conversation.item.created`` and ``response.output_item.*``."""
    if item.role == "user":
        part: Event = (
            {"type": "input_text", "text": item.text}
            if item.text is not None
            else {"type": "input_audio", "transcript": None}
        )
    else:
        part = {"type": "audio", "transcript": item.text or ""}
    return {
        "id": item.id,
        "type": "message",
        "object": "realtime.item",
        "role": item.role,
        "status": status,
        "content": [part],
    }
