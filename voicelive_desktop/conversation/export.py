"""Conversations out of the app: Markdown to read or paste, JSON for other programs and for backups.

The JSON shape is a contract with whatever reads the files later, so it only ever grows (new keys) within a
version; anything else raises ``version``::

    {
      "format": "voicelive-desktop-history",
      "version": 1,
      "conversations": [
        {
          "id": "…", "title": "…",
          "created_at": "2025-01-31T09:15:00.250000+00:00", "updated_at": "…",
          "messages": [
            {
              "message_id": "…", "role": "user" | "assistant" | "divider", "text": "…",
              "final": true, "spoken": true, "failed": false,
              "cut_reason": null | "interrupted" | "connection_lost" | "content_filter" | "max_output_tokens"
                            | "failed: <code>" | "app_closed",
              "heard_ms": null | 1234, "audio_ms": 0, "heard_text": null | "…",
              "mode": null | "…", "deployment": null | "…", "voice": null | "…",
              "started_at": null | "<ISO 8601>", "finished_at": null | "<ISO 8601>", "latency_ms": null | 850
            }
          ]
        }
      ]
    }

Times are ISO 8601 in UTC. ``text`` is everything the model produced; for an interrupted answer ``heard_text``
is the part the user heard. The functions taking a store run on the history's worker thread:
``await history.call(export_json)``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .store import ConversationSummary, HistoryStore, StoredMessage

FORMAT = "voicelive-desktop-history"
VERSION = 1

Exported = tuple[ConversationSummary, list[StoredMessage]]

_REASONS = {
    "interrupted": "interrupted",
    "connection_lost": "connection lost",
    "content_filter": "stopped by the content filter",
    "max_output_tokens": "reached the answer length limit",
    "app_closed": "the app was closed",
}


def gather(store: HistoryStore, conversation_ids: Sequence[str] | None = None) -> list[Exported]:
    """The conversations to export with their messages: the given ones, or all not deleted, oldest first."""
    if conversation_ids is None:
        summaries = list(reversed(store.list_conversations(limit=-1)))
    else:
        found = (store.conversation(cid) for cid in conversation_ids)
        summaries = [summary for summary in found if summary is not None]
    return [(summary, store.load(summary.id)) for summary in summaries]


def _value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def to_dict(conversations: Sequence[Exported]) -> dict[str, Any]:
    """The documented JSON shape, as Python data."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "conversations": [
            {
                "id": summary.id,
                "title": summary.title,
                "created_at": summary.created_at.isoformat(),
                "updated_at": summary.updated_at.isoformat(),
                "messages": [
                    {field.name: _value(getattr(message, field.name)) for field in dataclasses.fields(message)}
                    for message in messages
                ],
            }
            for summary, messages in conversations
        ],
    }


def to_json(conversations: Sequence[Exported]) -> str:
    """The conversations as JSON text (UTF-8 safe, indented for people who open it)."""
    return json.dumps(to_dict(conversations), ensure_ascii=False, indent=2) + "\n"


def cut_label(reason: str) -> str:
    """How a cut reason reads to a person: 'connection_lost' -> 'connection lost'."""
    return _REASONS.get(reason, reason.replace("_", " "))


def _message_markdown(message: StoredMessage) -> str:
    if message.role == "divider":
        return f"---\n\n*{message.text}*\n"
    who = "You" if message.role == "user" else "Assistant"
    at = f" ({message.started_at.astimezone():%H:%M})" if message.started_at else ""
    text = message.heard_text if message.heard_text is not None else message.text
    notes: list[str] = []
    if message.cut_reason:
        notes.append(f"cut: {cut_label(message.cut_reason)}")
    elif message.role == "assistant" and not message.final:
        notes.append("unfinished")
    if message.failed:
        notes.append("not understood" if message.role == "user" else "failed")
    if not text.strip() and message.spoken and not message.failed:
        notes.append("spoken, no transcript")
    note = "".join(f" *({n})*" for n in notes)
    return f"**{who}**{at}: {text.strip()}{note}\n"


def conversation_markdown(summary: ConversationSummary, messages: Sequence[StoredMessage]) -> str:
    """One conversation as Markdown: a title, when it started, then each message as it was heard."""
    lines = [f"# {summary.title}\n", f"*{summary.created_at.astimezone():%Y-%m-%d %H:%M}*\n"]
    lines.extend(_message_markdown(message) for message in messages)
    return "\n".join(lines)


def to_markdown(conversations: Sequence[Exported]) -> str:
    """Conversations as one Markdown document, one after another."""
    return "\n\n".join(conversation_markdown(summary, messages) for summary, messages in conversations)


def export_json(store: HistoryStore, conversation_ids: Sequence[str] | None = None) -> str:
    """Export the given conversations (all not deleted by default) as JSON text."""
    return to_json(gather(store, conversation_ids))


def export_markdown(store: HistoryStore, conversation_ids: Sequence[str] | None = None) -> str:
    """Export the given conversations (all not deleted by default) as Markdown."""
    return to_markdown(gather(store, conversation_ids))
