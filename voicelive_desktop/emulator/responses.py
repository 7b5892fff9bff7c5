"""One response, from ``response.created`` to ``response.done``, asynchronous as the service's.

``response.created`` goes out at once (the conversation sends it), then ``rate_limits.updated``; the rest runs in
a task. A cancel (``response.cancel`` or a barge-in) takes effect ``pace.cancel_delay_s`` later: deltas already
on their way still arrive, then the ``.done`` chain and ``response.done`` (cancelled). Until that
``response.done`` the response is active, so a ``response.create`` in between is refused.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from .items import OUT_BYTES_PER_MS, Event, Item, item_json, new_id
from .options import MALFORMED_FRAMES, failure_preset
from .responder import answer

if TYPE_CHECKING:
    from .conversation import RealtimeConversation
    from .transcripts import UserTurn

AUDIO_CHUNK_MS = 100
REQUESTS_PER_MIN = 1000
TOKENS_PER_MIN = 100_000  # the FAQ's default quota per resource


class RateLimits:
    """A one-minute window of requests and tokens, for ``rate_limits.updated`` (numbers only, never enforced)."""

    def __init__(self) -> None:
        self._spent: deque[tuple[float, int]] = deque()

    def event(self, tokens: int) -> Event:
        """Count one more request of ``tokens`` and say what is left."""
        now = time.monotonic()
        while self._spent and now - self._spent[0][0] > 60:
            self._spent.popleft()
        self._spent.append((now, tokens))
        reset = round(60 - (now - self._spent[0][0]), 3)
        used = sum(t for _, t in self._spent)
        left = {"requests": REQUESTS_PER_MIN - len(self._spent), "tokens": TOKENS_PER_MIN - used}
        limits = {"requests": REQUESTS_PER_MIN, "tokens": TOKENS_PER_MIN}
        return {
            "type": "rate_limits.updated",
            "rate_limits": [
                {"name": name, "limit": limits[name], "remaining": max(0, left[name]), "reset_seconds": reset}
                for name in ("requests", "tokens")
            ],
        }


class ResponseRun:
    """The running response: the conversation holds it as ``active`` until its ``response.done`` is sent."""

    def __init__(self, conv: RealtimeConversation, params: dict[str, Any], turns: list[UserTurn]) -> None:
        self.id = new_id("resp")
        self.conv = conv
        self.params = params
        self.turns = turns  # the user turns this response answers
        self.cancel_reason: str | None = None
        self.item: Item | None = None
        self.task: asyncio.Task[None] | None = None
        self._finishing = False
        self._outcome: tuple[str, dict[str, Any] | None] = ("completed", None)

    def setting(self, key: str, default: Any = None) -> Any:
        """A response parameter, else the session's."""
        session_key = "max_response_output_tokens" if key == "max_output_tokens" else key
        if key in self.params:
            return self.params[key]
        if key == "max_output_tokens" and "max_response_output_tokens" in self.params:
            return self.params["max_response_output_tokens"]
        return self.conv.session.get(session_key, default)

    def created_event(self) -> Event:
        """``response.created``: in progress, nothing out yet."""
        return {"type": "response.created", "response": self._body("in_progress", None, [])}

    def _body(self, status: str, details: dict[str, Any] | None, output: list[Event]) -> Event:
        return {
            "id": self.id,
            "object": "realtime.response",
            "status": status,
            "status_details": details,
            "output": output,
            "modalities": self.setting("modalities", ["text", "audio"]),
            "voice": self.setting("voice"),
            "output_audio_format": self.setting("output_audio_format", "pcm16"),
            "temperature": self.setting("temperature", 0.8),
            "max_output_tokens": self.setting("max_output_tokens", "inf"),
        }

    def start(self) -> None:
        """Run the rest of the response in its own task."""
        self.task = asyncio.create_task(self._run(), name="emulator-response")

    def cancel(self, reason: str) -> None:
        """Cancel (``client_cancelled`` or ``turn_detected``); it takes effect after ``pace.cancel_delay_s``."""
        if self.cancel_reason is not None or self._finishing:
            return
        self.cancel_reason = reason
        self.conv.spawn(self._cancel_later())

    async def _cancel_later(self) -> None:
        await asyncio.sleep(self.conv.options.pace.cancel_delay_s)
        if self.task is not None and not self.task.done() and not self._finishing:
            self.task.cancel()

    async def _run(self) -> None:
        try:
            failure = self._take_failure()
            if failure is not None:
                self._outcome = ("failed", {"type": "failed", "error": failure})
            else:
                await self._generate()
        except asyncio.CancelledError:
            if self.cancel_reason is None:
                raise  # the connection is closing: nothing more to send
            self._outcome = ("cancelled", {"type": "cancelled", "reason": self.cancel_reason})
        self._finishing = True
        await self._finish()

    def _take_failure(self) -> dict[str, Any] | None:
        opts = self.conv.options
        failure, opts.fail_next_response = opts.fail_next_response, None
        if failure is None or isinstance(failure, dict):
            return failure
        return failure_preset(failure, deployment=self.conv.deployment, retry_after_s=opts.retry_after_s)

    async def _generate(self) -> None:
        conv = self.conv
        heard, typed = await conv.latest_user_input()
        text = answer(
            heard, deployment=conv.deployment, profile=conv.profile, typed=typed, said_before=conv.last_answer()
        )
        with_audio = "audio" in self.setting("modalities", ["text", "audio"]) and not conv.answers_in_text_only()
        for turn in self.turns:
            if turn.order == "before":
                await turn.sent.wait()
        item = self.item = Item(new_id("item"), "assistant", text="", planned_text=text, spoken=with_audio)
        previous = conv.add_item(item)
        base = {"response_id": self.id, "output_index": 0}
        await conv.emit({"type": "response.output_item.added", **base, "item": item_json(item, "in_progress")})
        await conv.emit(
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item_json(item, "in_progress")}
        )
        part = {"type": "audio", "transcript": ""} if with_audio else {"type": "text", "text": ""}
        await conv.emit(
            {"type": "response.content_part.added", **base, "item_id": item.id, "content_index": 0, "part": part}
        )
        await asyncio.sleep(conv.options.pace.first_delta_delay_s)
        audio = await conv.synthesizer.synthesize(text) if with_audio else b""
        item.planned_audio_ms = len(audio) // OUT_BYTES_PER_MS
        await self._stream(item, base, audio, self._stop_fraction(text))

    def _stop_fraction(self, text: str) -> float:
        """How much of the answer is given: all, or less when the response is to end incomplete."""
        opts = self.conv.options
        reason, opts.incomplete_next_response = opts.incomplete_next_response, None
        if reason is not None:
            self._outcome = ("incomplete", {"type": "incomplete", "reason": reason})
            return 0.5
        limit = self.setting("max_output_tokens", "inf")
        words = len(text.split())
        if isinstance(limit, int) and words > limit:  # the emulator's "model" spends one token per word
            self._outcome = ("incomplete", {"type": "incomplete", "reason": "max_output_tokens"})
            return limit / words
        return 1.0

    async def _stream(self, item: Item, base: Event, audio: bytes, fraction: float) -> None:
        conv, opts, with_audio = self.conv, self.conv.options, item.spoken
        words = item.planned_text.split(" ")
        chunk = AUDIO_CHUNK_MS * OUT_BYTES_PER_MS
        n_chunks = max(1, -(-len(audio) // chunk)) if with_audio else len(words)
        last = max(1, round(n_chunks * fraction))
        ids = {**base, "item_id": item.id, "content_index": 0}
        delta_kind = "response.audio_transcript.delta" if with_audio else "response.text.delta"
        sent_words = 0
        for i in range(last):
            upto = round(len(words) * (i + 1) / n_chunks)
            if upto > sent_words:
                piece = " ".join(words[sent_words:upto]) + (" " if upto < len(words) else "")
                sent_words = upto
                if not item.truncated:
                    item.text = (item.text or "") + piece
                await conv.emit({"type": delta_kind, **ids, "delta": piece})
            if not with_audio:
                continue
            data = audio[i * chunk : (i + 1) * chunk]
            if not item.truncated:
                item.audio.extend(data)
            await conv.emit({"type": "response.audio.delta", **ids, "delta": base64.b64encode(data).decode("ascii")})
            conv.assistant_audio_sent = True
            await self._mid_answer_faults(i + 1)
            await asyncio.sleep(AUDIO_CHUNK_MS / 1000 / opts.pace.realtime_factor)

    async def _mid_answer_faults(self, chunks: int) -> None:
        opts, link = self.conv.options, self.conv.link
        if chunks == 1 and opts.malformed_mid_answer is not None:
            kind, opts.malformed_mid_answer = opts.malformed_mid_answer, None
            await link.send_raw(MALFORMED_FRAMES[kind])
        if chunks == 1 and opts.stall_mid_answer_s is not None:
            stall, opts.stall_mid_answer_s = opts.stall_mid_answer_s, None
            await asyncio.sleep(stall)
        if opts.drop_after_audio_chunks is not None and chunks >= opts.drop_after_audio_chunks:
            opts.drop_after_audio_chunks = None
            link.abort()

    async def _finish(self) -> None:
        conv, item = self.conv, self.item
        status, details = self._outcome
        output: list[Event] = []
        if item is not None:
            done_item = item_json(item, "completed" if status == "completed" else "incomplete")
            output.append(done_item)
            ids = {"response_id": self.id, "output_index": 0, "item_id": item.id, "content_index": 0}
            if item.spoken:
                await conv.emit({"type": "response.audio.done", **ids})
                await conv.emit({"type": "response.audio_transcript.done", **ids, "transcript": item.text or ""})
            else:
                await conv.emit({"type": "response.text.done", **ids, "text": item.text or ""})
            await conv.emit({"type": "response.content_part.done", **ids, "part": done_item["content"][0]})
            await conv.emit(
                {"type": "response.output_item.done", "response_id": self.id, "output_index": 0, "item": done_item}
            )
        body = self._body(status, details, output)
        body["usage"] = self._usage(item)
        await conv.emit({"type": "response.done", "response": body})
        conv.response_finished(self)

    def _usage(self, item: Item | None) -> Event:
        words = len((item.text or "").split()) if item else 0
        audio_tokens = item.audio_ms // 50 if item else 0  # about 20 output audio tokens a second
        heard = sum(len(t.audio) // 2 // t.rate for t in self.turns) * 10  # about 10 input audio tokens a second
        return {
            "total_tokens": 40 + heard + words + audio_tokens,
            "input_tokens": 40 + heard,
            "output_tokens": words + audio_tokens,
            "input_token_details": {"cached_tokens": 0, "text_tokens": 40, "audio_tokens": heard, "image_tokens": 0},
            "output_token_details": {"text_tokens": words, "audio_tokens": audio_tokens},
        }
