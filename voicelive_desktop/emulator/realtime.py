"""One emulated realtime conversation: the server side of the Voice Live event protocol."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .items import Event, Item, Pace, item_json, new_id
from .responder import answer
from .speech import RATE, Recognizer, Synthesizer
from .vad import EnergyVad

log = logging.getLogger(__name__)

MIN_COMMIT_MS = 100
_AUDIO_CHUNK_MS = 100


class RealtimeConversation:
    """Speaks the documented flow over ``send`` for one websocket; ``handle`` takes each client event."""

    def __init__(
        self,
        send: Callable[[Event], Awaitable[None]],
        *,
        deployment: str,
        profile: str | None,
        recognizer: Recognizer,
        synthesizer: Synthesizer,
        pace: Pace,
    ) -> None:
        self._send = send
        self.deployment = deployment
        self.profile = profile
        self._recognizer = recognizer
        self._synth = synthesizer
        self._pace = pace
        self.session: dict[str, Any] = {
            "id": new_id("sess"),
            "model": deployment,
            "modalities": ["text", "audio"],
            "voice": {"name": "en-US-Ava:DragonHDLatestNeural", "type": "azure-standard"},
            "instructions": "",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_sampling_rate": RATE,
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "silence_duration_ms": 500,
                "prefix_padding_ms": 300,
                "create_response": True,
                "interrupt_response": True,
            },
        }
        self.items: list[Item] = []
        self._buffer = bytearray()
        self._vad: EnergyVad | None = None
        self._response_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending_transcripts: dict[str, asyncio.Future[str]] = {}
        self._speech_item = ""
        self._configure_vad()

    # ------------------------------------------------------------------ events out
    async def emit(self, event: Event) -> None:
        """Send one server event, stamping its event id."""
        await self._send({"event_id": new_id("event"), **event})

    async def error(self, code: str, message: str, *, event_id: str | None = None) -> None:
        """Send an ``error`` event as the service does for a bad request."""
        await self.emit(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": code,
                    "message": message,
                    "event_id": event_id,
                },
            }
        )

    async def start(self) -> None:
        """Greet a new connection with ``session.created``."""
        await self.emit({"type": "session.created", "session": self.session})

    async def close(self) -> None:
        """Stop everything this conversation started."""
        tasks = [*self._tasks, *([self._response_task] if self._response_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ events in
    async def handle(self, event: Event) -> None:
        """Act on one client event."""
        kind = event.get("type", "")
        handler = getattr(self, "_on_" + kind.replace(".", "_"), None)
        if handler is None:
            await self.error("unknown_event", f"Unsupported event type '{kind}'.", event_id=event.get("event_id"))
            return
        await handler(event)

    async def _on_session_update(self, event: Event) -> None:
        for key, value in (event.get("session") or {}).items():
            self.session[key] = value
        self._configure_vad()
        await self.emit({"type": "session.updated", "session": self.session})

    async def _on_input_audio_buffer_append(self, event: Event) -> None:
        try:
            chunk = base64.b64decode(event.get("audio", ""), validate=True)
        except (binascii.Error, ValueError):
            await self.error("invalid_audio", "Audio must be base64-encoded PCM16.", event_id=event.get("event_id"))
            return
        self._buffer.extend(chunk)
        if self._vad is None:
            return
        decision = self._vad.feed(chunk)
        if decision.started_at_ms is not None:
            await self._speech_started(decision.started_at_ms)
        if decision.stopped_at_ms is not None:
            await self._speech_stopped(decision.stopped_at_ms)

    async def _on_input_audio_buffer_clear(self, _event: Event) -> None:
        self._buffer.clear()
        if self._vad:
            self._vad.reset()
        await self.emit({"type": "input_audio_buffer.cleared"})

    async def _on_input_audio_buffer_commit(self, event: Event) -> None:
        ms = len(self._buffer) * 1000 // (2 * self._rate)
        if ms < MIN_COMMIT_MS:
            await self.error(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms "
                f"of audio, but buffer only has {ms:.2f}ms of audio.",
                event_id=event.get("event_id"),
            )
            return
        await self._commit(bytes(self._buffer))

    async def _on_conversation_item_create(self, event: Event) -> None:
        item = event.get("item") or {}
        texts = [p.get("text", "") for p in item.get("content", []) if isinstance(p, dict)]
        role = item.get("role", "user")
        stored = Item(item.get("id") or new_id("item"), role, " ".join(t for t in texts if t))
        previous = self.items[-1].id if self.items else None
        self.items.append(stored)
        await self.emit(
            {
                "type": "conversation.item.created",
                "previous_item_id": previous,
                "item": item_json(stored),
            }
        )

    async def _on_conversation_item_truncate(self, event: Event) -> None:
        item_id = event.get("item_id", "")
        target = next((i for i in self.items if i.id == item_id), None)
        if target is None:
            await self.error("item_not_found", f"No item with id '{item_id}'.", event_id=event.get("event_id"))
            return
        end_ms = int(event.get("audio_end_ms", 0))
        del target.audio[end_ms * self._out_bytes_per_ms :]
        await self.emit(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": int(event.get("content_index", 0)),
                "audio_end_ms": end_ms,
            }
        )

    async def _on_response_create(self, event: Event) -> None:
        if self._response_task is not None and not self._response_task.done():
            await self.error(
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress.",
                event_id=event.get("event_id"),
            )
            return
        self._start_response()

    async def _on_response_cancel(self, _event: Event) -> None:
        task = self._response_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _on_output_audio_buffer_clear(self, _event: Event) -> None:
        await self.emit({"type": "output_audio_buffer.cleared"})

    # ------------------------------------------------------------------ turns
    @property
    def _rate(self) -> int:
        return int(self.session.get("input_audio_sampling_rate") or RATE)

    @property
    def _out_bytes_per_ms(self) -> int:
        return RATE * 2 // 1000

    def _configure_vad(self) -> None:
        td = self.session.get("turn_detection")
        if not td:
            self._vad = None
            return
        self._vad = EnergyVad(
            threshold=float(td.get("threshold", 0.5)),
            silence_duration_ms=int(td.get("silence_duration_ms", 500)),
            prefix_padding_ms=int(td.get("prefix_padding_ms", 300)),
            rate=self._rate,
        )

    async def _speech_started(self, at_ms: int) -> None:
        td = self.session.get("turn_detection") or {}
        if td.get("interrupt_response", True):
            await self._on_response_cancel({})
        self._speech_item = new_id("item")
        await self.emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": at_ms,
                "item_id": self._speech_item,
            }
        )

    async def _speech_stopped(self, at_ms: int) -> None:
        await self.emit(
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": at_ms, "item_id": self._speech_item}
        )
        audio = bytes(self._buffer)
        await self._commit(audio, item_id=self._speech_item)
        wants_answer = (self.session.get("turn_detection") or {}).get("create_response", True)
        if wants_answer and (self._response_task is None or self._response_task.done()):
            self._start_response()

    async def _commit(self, audio: bytes, item_id: str | None = None) -> None:
        item = Item(item_id or new_id("item"), "user")
        previous = self.items[-1].id if self.items else None
        self.items.append(item)
        self._buffer.clear()
        if self._vad:
            self._vad.reset()
        await self.emit({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item.id})
        await self.emit({"type": "conversation.item.created", "previous_item_id": previous, "item": item_json(item)})
        loop = asyncio.get_running_loop()
        self._pending_transcripts[item.id] = loop.create_future()
        self._spawn(self._transcribe(item, audio))

    async def _transcribe(self, item: Item, audio: bytes) -> None:
        text = await self._recognizer.recognize(audio, self._rate)
        item.text = text
        future = self._pending_transcripts.pop(item.id)
        if not future.done():
            future.set_result(text)
        if self._pace.transcript_delay_s:
            await asyncio.sleep(self._pace.transcript_delay_s)
        half = len(text) // 2
        for piece in (text[:half], text[half:]):
            await self.emit(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item.id,
                    "content_index": 0,
                    "delta": piece,
                }
            )
        await self.emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item.id,
                "content_index": 0,
                "transcript": text,
            }
        )

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_response(self) -> None:
        self._response_task = asyncio.create_task(self._respond(), name="emulator-response")

    async def _latest_user_text(self) -> tuple[str | None, bool]:
        last = self.items[-1] if self.items else None
        if last is None or last.role != "user":
            return None, False
        pending = self._pending_transcripts.get(last.id)
        if pending is not None:
            return await pending, False
        return last.text, bool(last.text) and not last.audio

    async def _respond(self) -> None:
        response_id = new_id("resp")
        heard, typed = await self._latest_user_text()
        text = answer(heard, deployment=self.deployment, profile=self.profile, typed=typed)
        with_audio = "audio" in (self.session.get("modalities") or ["audio"])
        item = Item(new_id("item"), "assistant")
        base = {"response_id": response_id, "output_index": 0}
        status, reason = "completed", None
        await self.emit(
            {
                "type": "response.created",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": "in_progress",
                    "output": [],
                },
            }
        )
        try:
            previous = self.items[-1].id if self.items else None
            self.items.append(item)
            await self.emit({"type": "response.output_item.added", **base, "item": item_json(item, "in_progress")})
            await self.emit(
                {
                    "type": "conversation.item.created",
                    "previous_item_id": previous,
                    "item": item_json(item, "in_progress"),
                }
            )
            part_type = "audio" if with_audio else "text"
            await self.emit(
                {
                    "type": "response.content_part.added",
                    **base,
                    "item_id": item.id,
                    "content_index": 0,
                    "part": {"type": part_type, "transcript": ""},
                }
            )
            await asyncio.sleep(self._pace.first_delta_delay_s)
            audio = await self._synth.synthesize(text) if with_audio else b""
            await self._stream(item, base, text, audio, with_audio)
            item.text = text
        except asyncio.CancelledError:
            status, reason = "cancelled", "client_cancelled"
        done_item = item_json(item, "completed" if status == "completed" else "incomplete")
        if with_audio:
            await self.emit({"type": "response.audio.done", **base, "item_id": item.id, "content_index": 0})
            await self.emit(
                {
                    "type": "response.audio_transcript.done",
                    **base,
                    "item_id": item.id,
                    "content_index": 0,
                    "transcript": item.text or "",
                }
            )
        else:
            await self.emit(
                {
                    "type": "response.text.done",
                    **base,
                    "item_id": item.id,
                    "content_index": 0,
                    "text": item.text or "",
                }
            )
        await self.emit(
            {
                "type": "response.content_part.done",
                **base,
                "item_id": item.id,
                "content_index": 0,
                "part": done_item["content"][0],
            }
        )
        await self.emit({"type": "response.output_item.done", **base, "item": done_item})
        words = len(text.split())
        await self.emit(
            {
                "type": "response.done",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": status,
                    "status_details": {"type": status, "reason": reason} if reason else None,
                    "output": [done_item],
                    "usage": {"total_tokens": 40 + words, "input_tokens": 40, "output_tokens": words},
                },
            }
        )

    async def _stream(self, item: Item, base: Event, text: str, audio: bytes, with_audio: bool) -> None:
        words = text.split(" ")
        chunk = _AUDIO_CHUNK_MS * self._out_bytes_per_ms
        n_chunks = max(1, -(-len(audio) // chunk)) if with_audio else len(words)
        delta_kind = "response.audio_transcript.delta" if with_audio else "response.text.delta"
        sent_words = 0
        item.text = ""
        for i in range(n_chunks):
            upto = round(len(words) * (i + 1) / n_chunks)
            if upto > sent_words:
                piece = " ".join(words[sent_words:upto]) + (" " if upto < len(words) else "")
                sent_words = upto
                item.text += piece
                await self.emit({"type": delta_kind, **base, "item_id": item.id, "content_index": 0, "delta": piece})
            if with_audio:
                data = audio[i * chunk : (i + 1) * chunk]
                item.audio.extend(data)
                await self.emit(
                    {
                        "type": "response.audio.delta",
                        **base,
                        "item_id": item.id,
                        "content_index": 0,
                        "delta": base64.b64encode(data).decode("ascii"),
                    }
                )
                await asyncio.sleep(_AUDIO_CHUNK_MS / 1000 / self._pace.realtime_factor)
