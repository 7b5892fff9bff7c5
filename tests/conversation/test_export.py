"""Exports: Markdown a person can read, with cut answers marked, and JSON in the documented shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.conversation.conftest import Clock
from voicelive_desktop.conversation.export import FORMAT, export_json, export_markdown
from voicelive_desktop.conversation.store import HistoryStore, StoredMessage

AT = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def _conversation(store: HistoryStore) -> str:
    cid = store.new_conversation()
    store.save_message(
        cid, StoredMessage("u1", "user", "Tell me about the tides", final=True, spoken=True, started_at=AT)
    )
    store.save_message(
        cid,
        StoredMessage(
            "a1",
            "assistant",
            "Tides come from the pull of the moon and, to a lesser degree, the sun.",
            final=True,
            cut_reason="interrupted",
            heard_ms=1200,
            audio_ms=5000,
            heard_text="Tides come from the pull of the moon",
            mode="managed",
            deployment="gpt-4o",
            started_at=AT,
        ),
    )
    store.save_message(cid, StoredMessage("d1", "divider", "Now talking to gpt-4.1 (BYOM chat completion)"))
    store.save_message(cid, StoredMessage("u2", "user", "And storms?", final=True, started_at=AT))
    store.save_message(
        cid, StoredMessage("a2", "assistant", "Storms raise the", cut_reason="connection_lost", started_at=AT)
    )
    store.save_message(cid, StoredMessage("a3", "assistant", "Half an ans", started_at=AT))
    return cid


def test_markdown_reads_as_the_user_heard_it(store: HistoryStore) -> None:
    cid = _conversation(store)
    text = export_markdown(store, [cid])
    local = AT.astimezone()
    assert text.startswith(f"# Tell me about the tides\n\n*{local:%Y-%m-%d %H:%M}*\n")
    assert f"**You** ({local:%H:%M}): Tell me about the tides\n" in text
    assert f"**Assistant** ({local:%H:%M}): Tides come from the pull of the moon *(cut: interrupted)*\n" in text
    assert "lesser degree" not in text  # the part the user did not hear
    assert "---\n\n*Now talking to gpt-4.1 (BYOM chat completion)*\n" in text
    assert "Storms raise the *(cut: connection lost)*" in text
    assert "Half an ans *(unfinished)*" in text


def test_json_has_the_documented_shape_and_every_field(store: HistoryStore) -> None:
    cid = _conversation(store)
    data = json.loads(export_json(store, [cid]))
    assert set(data) == {"format", "version", "conversations"}
    assert (data["format"], data["version"]) == (FORMAT, 1)
    [conversation] = data["conversations"]
    assert set(conversation) == {"id", "title", "created_at", "updated_at", "messages"}
    assert conversation["id"] == cid and conversation["title"] == "Tell me about the tides"
    assert datetime.fromisoformat(conversation["created_at"]).tzinfo is not None
    first_answer = conversation["messages"][1]
    assert first_answer == {
        "message_id": "a1",
        "role": "assistant",
        "text": "Tides come from the pull of the moon and, to a lesser degree, the sun.",
        "final": True,
        "spoken": False,
        "failed": False,
        "cut_reason": "interrupted",
        "heard_ms": 1200,
        "audio_ms": 5000,
        "heard_text": "Tides come from the pull of the moon",
        "mode": "managed",
        "deployment": "gpt-4o",
        "voice": None,
        "started_at": "2025-03-14T09:30:00+00:00",
        "finished_at": None,
        "latency_ms": None,
    }
    roles = [m["role"] for m in conversation["messages"]]
    assert roles == ["user", "assistant", "divider", "user", "assistant", "assistant"]


def test_exporting_everything_skips_deleted_conversations_and_runs_oldest_first(
    store: HistoryStore, clock: Clock
) -> None:
    first = _conversation(store)
    clock.advance(hours=1)
    second = store.new_conversation("Second")
    clock.advance(hours=1)
    deleted = store.new_conversation("Gone")
    store.delete(deleted)

    data = json.loads(export_json(store))
    assert [c["id"] for c in data["conversations"]] == [first, second]
    markdown = export_markdown(store)
    assert markdown.index("# Tell me about the tides") < markdown.index("# Second")
    assert "Gone" not in markdown
    assert json.loads(export_json(store, ["no-such-id"]))["conversations"] == []
