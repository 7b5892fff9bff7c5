"""Items: truncate, retrieve and delete with the service's errors; a truncate trims the transcript too."""

from __future__ import annotations

from typing import Any

from tests.emulator.wire import Wire, error_of


async def _answer(wire: Wire, text: str = "hello", count: int = 1) -> str:
    content = [{"type": "input_text", "text": text}]
    await wire.send("conversation.item.create", item={"type": "message", "role": "user", "content": content})
    await wire.send("response.create")
    done = await wire.wait("response.done", count)
    return str(done["response"]["output"][0]["id"])


async def test_truncate_an_unknown_item(open_wire: Any) -> None:
    _emulator, wire = await open_wire()
    event_id = await wire.send("conversation.item.truncate", item_id="item_nope", content_index=0, audio_end_ms=10)
    error = await wire.error_for(event_id)
    assert error_of(error) == ("item_truncate_invalid_item_id", "item_id")
    assert "item_nope" in error["error"]["message"]


async def test_truncate_a_user_item(open_wire: Any) -> None:
    emulator, wire = await open_wire()
    await _answer(wire)
    user = emulator.last().conversation.items[0]
    event_id = await wire.send("conversation.item.truncate", item_id=user.id, content_index=0, audio_end_ms=0)
    assert error_of(await wire.error_for(event_id)) == ("unsupported_content_type", None)


async def test_truncate_past_the_end_of_the_audio(open_wire: Any) -> None:
    emulator, wire = await open_wire()
    answer = await _answer(wire)
    item = emulator.last().conversation.items[-1]
    before = (bytes(item.audio), item.text)
    event_id = await wire.send(
        "conversation.item.truncate", item_id=answer, content_index=0, audio_end_ms=item.audio_ms + 500
    )
    error = await wire.error_for(event_id)
    assert error_of(error) == ("invalid_value", "audio_end_ms")
    assert (
        error["error"]["message"]
        == f"Audio content of {item.audio_ms}ms is already shorter than {item.audio_ms + 500}ms"
    )
    assert (bytes(item.audio), item.text) == before, "a refused truncate changes nothing"


async def test_truncate_keeps_the_heard_audio_and_words_and_the_next_answer_sees_only_them(open_wire: Any) -> None:
    emulator, wire = await open_wire()
    answer = await _answer(wire, "hello there")
    item = emulator.last().conversation.items[-1]
    full = item.text.split()
    half = item.audio_ms // 2
    await wire.send("conversation.item.truncate", item_id=answer, content_index=0, audio_end_ms=half)
    truncated = await wire.wait("conversation.item.truncated")
    assert truncated == {**truncated, "item_id": answer, "content_index": 0, "audio_end_ms": half}
    assert item.audio_ms == half
    kept = item.text.split()
    assert 0 < len(kept) < len(full) and kept == full[: len(kept)]
    assert abs(len(kept) - len(full) / 2) <= 1, "words kept in proportion to the audio heard"
    await wire.send("conversation.item.retrieve", item_id=answer)
    retrieved = await wire.wait("conversation.item.retrieved")
    assert retrieved["item"]["content"][0]["transcript"] == item.text
    await _answer(wire, "what did you say", count=2)
    recalled = wire.of("response.audio_transcript.done")[-1]["transcript"]
    assert recalled == f"Before, I said: {item.text}"


async def test_retrieve_and_delete_unknown_items(open_wire: Any) -> None:
    _emulator, wire = await open_wire()
    event_id = await wire.send("conversation.item.retrieve", item_id="item_nope")
    assert error_of(await wire.error_for(event_id)) == ("item_retrieve_invalid_item_id", "item_id")
    event_id = await wire.send("conversation.item.delete", item_id="item_nope")
    assert error_of(await wire.error_for(event_id)) == ("item_delete_invalid_item_id", "item_id")


async def test_delete_removes_the_item(open_wire: Any) -> None:
    emulator, wire = await open_wire()
    answer = await _answer(wire)
    await wire.send("conversation.item.delete", item_id=answer)
    deleted = await wire.wait("conversation.item.deleted")
    assert deleted["item_id"] == answer
    assert [i.role for i in emulator.last().conversation.items] == ["user"]


async def test_commit_with_too_little_audio(open_wire: Any) -> None:
    emulator, wire = await open_wire()
    await wire.update(turn_detection=None)
    await wire.append(b"\0\0" * 2400)  # 100 ms is the minimum; 99.96 ms is not enough
    await wire.send("input_audio_buffer.clear")
    await wire.append(b"\0\0" * 2399)
    event_id = await wire.send("input_audio_buffer.commit")
    error = await wire.error_for(event_id)
    assert error_of(error) == ("input_audio_buffer_commit_empty", None)
    assert "99.96ms" in error["error"]["message"]
    assert len(emulator.last().conversation.audio.buffer) == 4798, "the buffer is left as it was"


async def test_the_voice_cannot_change_once_assistant_audio_was_sent(open_wire: Any) -> None:
    _emulator, wire = await open_wire("gpt-realtime")
    assert (await wire.update(voice="alloy"))["type"] == "session.updated"
    assert (await wire.update(voice="cedar"))["type"] == "session.updated", "no audio yet: any voice"
    await _answer(wire)
    same = await wire.update(voice={"type": "openai", "name": "cedar"})
    assert same["type"] == "session.updated", "the same voice is fine"
    refused = await wire.update(voice="alloy", instructions="new")
    assert error_of(refused) == ("cannot_update_voice", None)
    assert refused["error"]["message"] == "Cannot update a conversation's voice if assistant audio is present."
    event_id = await wire.send("response.create", response={"voice": "alloy"})
    assert error_of(await wire.error_for(event_id)) == ("cannot_update_voice", None)


async def test_an_unknown_client_event_is_refused(open_wire: Any) -> None:
    _emulator, wire = await open_wire()
    event_id = await wire.send("response.start")
    error = await wire.error_for(event_id)
    assert error_of(error) == ("invalid_value", "type")
    await wire.ws.send_str("[1, 2]")
    await wire.until(lambda: any(e["error"]["code"] == "invalid_type" for e in wire.of("error")))
