"""A baseline Voice Live client built the way the official Python quickstart builds its audio path.

    AZURE_VOICELIVE_API_KEY=demo python -m benchmarks.baseline_client --endpoint http://127.0.0.1:8765

The pattern it follows (azure-ai-voicelive's ``basic_voice_assistant_async.py`` and the Voice Live Python
quickstart; written here from scratch, nothing pasted):

- 24 kHz mono PCM16, 50 ms blocks (1200 frames) for both directions;
- the microphone callback base64-encodes each block and schedules one
  ``asyncio.run_coroutine_threadsafe(conn.input_audio_buffer.append(...), loop)`` per block, from the audio
  thread;
- ``response.audio.delta`` bytes go into a ``queue.Queue`` of numbered packets; the speaker callback takes
  them out and plays silence when the queue is empty; an interruption raises a "skip below this number" mark;
- one ``async for event in conn`` loop; nothing is rendered.

Two changes make it comparable with a push-to-talk app: the session asks for ``turn_detection: null``, and
the microphone blocks are only sent while the key is "held". The key is this process's stdin: a line
``down`` (skip queued answer audio, cancel an active response, clear the input buffer, start sending), ``up``
(stop sending, commit, ask for a response) or ``quit``. It prints ``ready`` once the session is configured.

The quickstart uses PyAudio, which has no Linux wheel on PyPI (it compiles against PortAudio's headers).
This uses sounddevice on the same PortAudio, with ``latency="low"`` as PyAudio asks for by default.
With ``--timings FILE`` it times its own audio callbacks and writes their figures there when it quits.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import queue
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import sounddevice as sd
from azure.ai.voicelive.aio import connect
from azure.ai.voicelive.models import (
    AzureStandardVoice,
    InputAudioFormat,
    Modality,
    OutputAudioFormat,
    RequestSession,
    ServerEventType,
)
from azure.core.credentials import AzureKeyCredential

RATE = 24000
BLOCK_FRAMES = 1200  # 50 ms, as in the quickstart


class CallbackTimer:
    """Start and duration of each callback in preallocated arrays (nothing allocated per call)."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.start = np.zeros(capacity, dtype=np.int64)
        self.end = np.zeros(capacity, dtype=np.int64)
        self.n = 0

    def wrap(self, callback: Any) -> Any:
        clock = time.perf_counter_ns

        def timed(*args: Any) -> None:
            t0 = clock()
            callback(*args)
            i = self.n
            if i < self.start.shape[0]:
                self.start[i], self.end[i] = t0, clock()
                self.n = i + 1

        return timed

    def summary(self) -> dict[str, float | int]:
        if self.n < 3:
            return {"callbacks": self.n}
        dur_us = (self.end[: self.n] - self.start[: self.n]) / 1000
        period_ms = np.diff(self.start[: self.n]) / 1e6
        return {
            "callbacks": self.n,
            "duration_us_p50": round(float(np.percentile(dur_us, 50)), 1),
            "duration_us_p99": round(float(np.percentile(dur_us, 99)), 1),
            "period_ms_median": round(float(np.median(period_ms)), 3),
            "period_ms_p99": round(float(np.percentile(period_ms, 99)), 3),
        }


class Packet:
    """A numbered piece of answer audio (data None: end of playback)."""

    __slots__ = ("data", "seq")

    def __init__(self, seq: int, data: bytes | None) -> None:
        self.seq = seq
        self.data = data


class AudioPath:
    """Microphone to ``append`` per block; answer audio through a packet queue to the speaker."""

    def __init__(self, conn: Any, loop: asyncio.AbstractEventLoop, timed: bool) -> None:
        self.conn = conn
        self.loop = loop
        self.sending = False
        self.packets: queue.Queue[Packet] = queue.Queue()
        self.skip_below = 0
        self.next_seq = 0
        self.leftover = b""
        self.mic_timer = CallbackTimer() if timed else None
        self.speaker_timer = CallbackTimer() if timed else None
        self.mic: sd.RawInputStream | None = None
        self.speaker: sd.RawOutputStream | None = None

    # ----------------------------------------------------------------- audio threads
    def _on_mic(self, indata: Any, _frames: int, _time: Any, _status: Any) -> None:
        if not self.sending:
            return
        audio = base64.b64encode(bytes(indata)).decode("ascii")
        asyncio.run_coroutine_threadsafe(self.conn.input_audio_buffer.append(audio=audio), self.loop)

    def _on_speaker(self, outdata: Any, frames: int, _time: Any, _status: Any) -> None:
        want = frames * 2
        out, self.leftover = self.leftover[:want], self.leftover[want:]
        while len(out) < want:
            try:
                packet = self.packets.get_nowait()
            except queue.Empty:
                out += bytes(want - len(out))
                break
            if packet.data is None:
                out += bytes(want - len(out))
                break
            if packet.seq < self.skip_below:  # interrupted: drop it, and what was left of the one before
                self.leftover = b""
                continue
            take = want - len(out)
            out += packet.data[:take]
            self.leftover = packet.data[take:]
        outdata[:] = out

    # ----------------------------------------------------------------- control (event loop)
    def open_speaker(self) -> None:
        callback = self.speaker_timer.wrap(self._on_speaker) if self.speaker_timer else self._on_speaker
        self.speaker = sd.RawOutputStream(
            samplerate=RATE, channels=1, dtype="int16", blocksize=BLOCK_FRAMES, latency="low", callback=callback
        )
        self.speaker.start()

    def open_mic(self) -> None:
        if self.mic is not None:
            return
        callback = self.mic_timer.wrap(self._on_mic) if self.mic_timer else self._on_mic
        self.mic = sd.RawInputStream(
            samplerate=RATE, channels=1, dtype="int16", blocksize=BLOCK_FRAMES, latency="low", callback=callback
        )
        self.mic.start()

    def queue_audio(self, data: bytes | None) -> None:
        self.packets.put(Packet(self.next_seq, data))
        self.next_seq += 1

    def skip_queued(self) -> None:
        self.skip_below = self.next_seq
        self.next_seq += 1

    def close(self) -> None:
        for stream in (self.mic, self.speaker):
            if stream is not None:
                stream.stop()
                stream.close()
        self.mic = self.speaker = None

    def timings(self) -> dict[str, Any]:
        return {
            "capture": self.mic_timer.summary() if self.mic_timer else None,
            "playback": self.speaker_timer.summary() if self.speaker_timer else None,
        }


class BaselineClient:
    """One connection: the event loop of the quickstart, plus push-to-talk commands from stdin."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.audio: AudioPath | None = None
        self.conn: Any = None
        self.response_active = False

    async def run(self) -> None:
        key = os.environ.get("AZURE_VOICELIVE_API_KEY", "")
        async with connect(
            endpoint=self.args.endpoint, credential=AzureKeyCredential(key), model=self.args.model
        ) as conn:
            self.conn = conn
            self.audio = AudioPath(conn, asyncio.get_running_loop(), timed=self.args.timings is not None)
            await conn.session.update(session=self._session())
            self.audio.open_speaker()
            events = asyncio.create_task(self._events())
            try:
                await self._commands()
            finally:
                events.cancel()
                await asyncio.gather(events, return_exceptions=True)
                self.audio.close()

    def write_timings(self) -> None:
        """Write the callbacks' figures where ``--timings`` says (after the loop has ended)."""
        if self.args.timings is not None and self.audio is not None:
            Path(self.args.timings).write_text(json.dumps(self.audio.timings(), indent=2) + "\n")

    def _session(self) -> RequestSession:
        return RequestSession(
            modalities=[Modality.TEXT, Modality.AUDIO],
            instructions=self.args.instructions,
            voice=AzureStandardVoice(name=self.args.voice),
            input_audio_format=InputAudioFormat.PCM16,
            output_audio_format=OutputAudioFormat.PCM16,
            turn_detection=None,  # push to talk: the client says where the turn ends
        )

    async def _events(self) -> None:
        assert self.audio is not None
        async for event in self.conn:
            kind = event.type
            if kind == ServerEventType.SESSION_UPDATED:
                self.audio.open_mic()
                print("ready", flush=True)
            elif kind == ServerEventType.RESPONSE_CREATED:
                self.response_active = True
            elif kind == ServerEventType.RESPONSE_AUDIO_DELTA:
                self.audio.queue_audio(event.delta)
            elif kind == ServerEventType.RESPONSE_DONE:
                self.response_active = False
            elif kind == ServerEventType.ERROR:
                print(f"error: {event.error.message}", file=sys.stderr, flush=True)

    async def _commands(self) -> None:
        assert self.audio is not None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while raw := await reader.readline():
            line = raw.decode().strip()
            if line == "down":
                self.audio.skip_queued()
                if self.response_active:
                    await self.conn.response.cancel()
                    self.response_active = False
                await self.conn.input_audio_buffer.clear()
                self.audio.sending = True
            elif line == "up":
                self.audio.sending = False
                await self.conn.input_audio_buffer.commit()
                await self.conn.response.create()
            elif line == "quit":
                return


def main() -> None:
    """Parse flags (the quickstart's names) and run until ``quit`` or the end of stdin."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", default=os.environ.get("AZURE_VOICELIVE_ENDPOINT", "http://127.0.0.1:8765"))
    parser.add_argument("--model", default=os.environ.get("AZURE_VOICELIVE_MODEL", "gpt-realtime"))
    parser.add_argument("--voice", default="en-US-Ava:DragonHDLatestNeural")
    parser.add_argument("--instructions", default="You are a helpful assistant. Answer briefly.")
    parser.add_argument("--timings", help="write the audio callbacks' timings (JSON) here on quit")
    client = BaselineClient(parser.parse_args())
    asyncio.run(client.run())
    client.write_timings()


if __name__ == "__main__":
    main()
