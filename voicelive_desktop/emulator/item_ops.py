"""``conversation.item.*``: creating, truncating, retrieving and deleting items, with the service's errors.

A truncate trims the item's audio AND its transcript: the service "removes the server-side text transcript to
ensure there's no text in the context that the user doesn't know about". The emulator keeps the words in
proportion to the audio kept, so the next answer's context holds only what was heard.
"""

from __future__ import annotations

from typing import Any

from . import checks
from .items import OUT_BYTES_PER_MS, Event, Item, item_json, new_id
from .protocol import RequestError, invalid_type, invalid_value

ROLES = ("user", "assistant", "system")
PART_TYPES = {"user": ("input_text", "input_audio"), "system": ("input_text",), "assistant": ("text", "audio")}


class ItemOps:
    """The item events of a conversation (mixed into :class:`RealtimeConversation`)."""

    items: list[Item]

    async def emit(self, event: Event) -> None:
        """Send one server event (provided by the conversation)."""
        raise NotImplementedError

    def add_item(self, item: Item, after: str | None = None) -> str | None:
        """Insert ``item`` (at the end, or after the item ``after``; "root" is the start); returns its predecessor."""
        if after is None:
            index = len(self.items)
        elif after == "root":
            index = 0
        else:
            index = next(i for i, it in enumerate(self.items) if it.id == after) + 1
        previous = self.items[index - 1].id if index > 0 else None
        self.items.insert(index, item)
        return previous

    def _find(self, item_id: Any, code: str, verb: str) -> Item:
        item = next((i for i in self.items if i.id == item_id), None)
        if item is None:
            raise RequestError(code, f"Error {verb} item: the item with id '{item_id}' does not exist.", "item_id")
        return item

    async def on_item_create(self, event: Event) -> None:
        """Add a typed message (or a system message) to the conversation."""
        spec = checks.obj(checks.required(event, "item", "event"), "item")
        kind = spec.get("type", "message")
        if kind != "message":
            raise invalid_value("item.type", kind, ["message"], "The emulator only stores messages.")
        role = checks.choice(checks.required(spec, "role", "item"), ROLES, "item.role")
        parts = spec.get("content", [])
        if not isinstance(parts, list):
            raise invalid_type("item.content", "an array", parts)
        texts: list[str] = []
        for i, raw in enumerate(parts):
            part = checks.obj(raw, f"item.content[{i}]")
            checks.choice(part.get("type"), PART_TYPES[role], f"item.content[{i}].type")
            text = part.get("text", part.get("transcript"))
            if text:
                texts.append(checks.string(text, f"item.content[{i}].text"))
        after = event.get("previous_item_id")
        if after is not None and after != "root" and not any(i.id == after for i in self.items):
            raise invalid_value("previous_item_id", after, why="No item with this id exists.")
        item_id = spec.get("id") or new_id("item")
        if any(i.id == item_id for i in self.items):
            raise invalid_value("item.id", item_id, why="An item with this id already exists.")
        stored = Item(item_id, role, " ".join(texts), typed=True, spoken=False)
        previous = self.add_item(stored, after)
        await self.emit({"type": "conversation.item.created", "previous_item_id": previous, "item": item_json(stored)})

    async def on_item_truncate(self, event: Event) -> None:
        """Cut an assistant item's audio at what the user heard, and its transcript with it."""
        item_id = checks.required(event, "item_id", "event")
        content_index = checks.integer(checks.required(event, "content_index", "event"), "content_index", 0)
        end_ms = checks.integer(checks.required(event, "audio_end_ms", "event"), "audio_end_ms", 0)
        item = self._find(item_id, "item_truncate_invalid_item_id", "truncating")
        if item.role != "assistant" or not item.spoken or not item.audio:
            raise RequestError("unsupported_content_type", "Only model output audio messages can be truncated")
        if content_index != 0:
            raise invalid_value("content_index", content_index, [0])
        if end_ms > item.audio_ms:
            raise RequestError(
                "invalid_value",
                f"Audio content of {item.audio_ms}ms is already shorter than {end_ms}ms",
                "audio_end_ms",
            )
        del item.audio[end_ms * OUT_BYTES_PER_MS :]
        item.text = heard_words(item, end_ms)
        item.truncated = True
        await self.emit(
            {"type": "conversation.item.truncated", "item_id": item.id, "content_index": 0, "audio_end_ms": end_ms}
        )

    async def on_item_retrieve(self, event: Event) -> None:
        """Show an item as the server holds it (after any truncation)."""
        item = self._find(checks.required(event, "item_id", "event"), "item_retrieve_invalid_item_id", "retrieving")
        await self.emit({"type": "conversation.item.retrieved", "item": item_json(item)})

    async def on_item_delete(self, event: Event) -> None:
        """Remove an item from the conversation."""
        item = self._find(checks.required(event, "item_id", "event"), "item_delete_invalid_item_id", "deleting")
        self.items.remove(item)
        await self.emit({"type": "conversation.item.deleted", "item_id": item.id})


def heard_words(item: Item, end_ms: int) -> str:
    """The words of the planned answer in proportion to the audio kept (whole words only)."""
    words = item.planned_text.split()
    if item.planned_audio_ms <= 0:
        return ""
    keep = len(words) * end_ms // item.planned_audio_ms
    return " ".join(words[:keep])
