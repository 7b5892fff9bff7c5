"""Every event the emulator emits deserializes into the SDK's typed class for that type, with its required fields.

The session is driven with the SDK itself (``azure.ai.voicelive.aio.connect``), not the app, so that what is
checked is the emulator against the SDK. It walks through every kind of event: a hands-free turn, a push-to-talk
turn, a cancel and truncate, refusals, failed and incomplete responses, a failed transcription, a warning,
item retrieval and deletion, and the session's expiry.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from azure.ai.voicelive.aio import ConnectionClosed, connect
from azure.ai.voicelive.models import (
    AudioInputTranscriptionOptions,
    InputTextContentPart,
    RequestSession,
    ServerEvent,
    ServerVad,
    UserMessageItem,
)
from azure.core.credentials import AzureKeyCredential

from tests.helpers import API_KEY, until
from voicelive_desktop.emulator import control

UNTYPED = {"rate_limits.updated"}  # documented by the service, but the SDK has no class for it


def _required_fields(cls: type) -> set[str]:
    """Fields the SDK model declares without Optional (its annotations hold forward references as text)."""
    required = set()
    for klass in reversed(cls.__mro__):
        for name, hint in vars(klass).get("__annotations__", {}).items():
            text = hint if isinstance(hint, str) else repr(hint)
            if name.startswith("_") or name == "type":
                continue
            if "Optional" in text or "None" in text:
                required.discard(name)
            else:
                required.add(name)
    return required


async def test_every_emitted_event_is_a_typed_sdk_event(start_emulator: Any, speech_pcm: bytes) -> None:
    emulator = await start_emulator(api_key=API_KEY, warning_after=4, session_lifetime_s=60)
    opts = emulator.options
    opts.pace.realtime_factor = 4.0
    got: list[Any] = []
    closed: list[ConnectionClosed] = []

    def seen(kind: str, status: str | None = None) -> int:
        return sum(1 for e in got if e.type == kind and (status is None or e.response.status == status))

    async with connect(
        endpoint=emulator.endpoint, credential=AzureKeyCredential(API_KEY), model="gpt-realtime"
    ) as conn:

        async def read() -> None:
            try:
                while True:
                    got.append(await conn.recv())
            except ConnectionClosed as exc:
                closed.append(exc)

        reader = asyncio.create_task(read())
        await conn.session.update(
            session=RequestSession(
                voice="alloy",
                turn_detection=ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500),
                input_audio_transcription=AudioInputTranscriptionOptions(model="whisper-1"),
            )
        )
        audio = speech_pcm + b"\0" * 48000
        for i in range(0, len(audio), 9600):  # a hands-free turn
            await conn.input_audio_buffer.append(audio=base64.b64encode(audio[i : i + 9600]).decode())
        await until(lambda: seen("response.done") >= 1, 15)
        await conn.session.update(session=RequestSession(turn_detection=None))
        await conn.conversation.item.create(item=UserMessageItem(content=[InputTextContentPart(text="interrupt me")]))
        await conn.response.create()
        await until(lambda: seen("response.audio.delta") > 5)
        await conn.response.cancel()
        answer = next(e for e in reversed(got) if e.type == "response.output_item.added").item.id
        await conn.conversation.item.truncate(item_id=answer, content_index=0, audio_end_ms=100)
        await conn.input_audio_buffer.clear()
        await until(lambda: seen("response.done", "cancelled") == 1)
        await conn.input_audio_buffer.commit()  # empty: refused
        await conn.response.cancel()  # nothing active: refused
        opts.fail_next_response = "rate_limit"
        await conn.response.create()
        await until(lambda: seen("response.done", "failed") == 1)
        opts.incomplete_next_response = "content_filter"
        await conn.response.create()
        await conn.response.create()  # overlapping: refused
        await until(lambda: seen("response.done", "incomplete") == 1)
        opts.fail_next_transcription = True
        await conn.input_audio_buffer.append(audio=base64.b64encode(speech_pcm).decode())
        await conn.input_audio_buffer.commit()
        await conn.response.create()
        await until(lambda: seen("conversation.item.input_audio_transcription.failed") == 1)
        await until(lambda: seen("response.done") == 5, 15)
        await conn.conversation.item.retrieve(item_id=answer)
        await conn.conversation.item.delete(item_id=answer)
        await conn.output_audio_buffer.clear()
        await until(lambda: seen("output_audio_buffer.cleared") == 1)
        await control.run_action(emulator, {"action": "expire"})
        await asyncio.wait_for(reader, 5)

    assert closed and closed[0].code == 1001
    sent = emulator.last().sent
    kinds = {e["type"] for e in sent}
    assert {
        "session.created",
        "session.updated",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "conversation.item.created",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
        "conversation.item.truncated",
        "conversation.item.retrieved",
        "conversation.item.deleted",
        "response.created",
        "rate_limits.updated",
        "response.output_item.added",
        "response.content_part.added",
        "response.audio_transcript.delta",
        "response.audio.delta",
        "response.audio.done",
        "response.audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
        "output_audio_buffer.cleared",
        "warning",
        "error",
    } <= kinds
    errors = [e["error"]["code"] for e in sent if e["type"] == "error"]
    assert {
        "input_audio_buffer_commit_empty",
        "response_cancel_not_active",
        "conversation_already_has_active_response",
        "session_expired",
    } <= set(errors)
    statuses = [e["response"]["status"] for e in sent if e["type"] == "response.done"]
    assert {"completed", "cancelled", "failed", "incomplete"} <= set(statuses)
    for payload in sent:
        event: Any = ServerEvent._deserialize(payload, [])
        cls = type(event)
        if payload["type"] in UNTYPED:
            assert cls is ServerEvent and event.type == payload["type"]
            assert all({"name", "limit", "remaining", "reset_seconds"} <= r.keys() for r in event["rate_limits"])
            continue
        assert cls is not ServerEvent, f"{payload['type']} has no typed SDK class"
        missing = {f for f in _required_fields(cls) if f not in payload}
        assert not missing, f"{payload['type']} lacks required fields {missing}"
        assert event.type == payload["type"]
        if payload["type"] == "response.done" and payload["response"]["status_details"]:
            details = event.response.status_details
            assert type(details).__name__ != "ResponseStatusDetails", "status_details should be a typed subclass"
            assert {
                f for f in _required_fields(type(details)) if f not in payload["response"]["status_details"]
            } == set()
        if payload["type"] == "error":
            assert {"type", "code", "message", "param", "event_id"} <= payload["error"].keys()
