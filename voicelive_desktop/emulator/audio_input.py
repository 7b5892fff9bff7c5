"""The input audio buffer, its session clock and the server VAD that listens to it.

The service counts ``audio_start_ms`` / ``audio_end_ms`` "from the start of all audio written to the buffer
during the session": a clock of input audio (at the session's sampling rate, not wall time) that keeps running
across commits and clears. This module keeps that clock; the VAD only sees the audio since its last reset and
its offsets are moved onto the clock here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .vad import EnergyVad

MIN_COMMIT_MS = 100


@dataclass
class Speech:
    """Where speech started and/or stopped in the chunk just appended, in session milliseconds."""

    started_at_ms: int | None = None
    stopped_at_ms: int | None = None


class InputAudio:
    """PCM16 mono input: the uncommitted buffer, the session's audio clock and the optional VAD."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.buffer = bytearray()
        self.appended_bytes = 0  # every byte appended in the session
        self.buffer_start_ms = 0  # session time of the buffer's first byte
        self._vad: EnergyVad | None = None
        self._vad_base_ms = 0

    @property
    def clock_ms(self) -> int:
        """Milliseconds of input audio appended in the whole session."""
        return self.appended_bytes * 1000 // (2 * self.rate)

    @property
    def buffered_ms(self) -> float:
        """Milliseconds of audio waiting in the buffer."""
        return len(self.buffer) * 1000 / (2 * self.rate)

    @property
    def listening(self) -> bool:
        """True when server VAD is on."""
        return self._vad is not None

    def configure(self, turn_detection: dict[str, Any] | None, rate: int) -> None:
        """Apply the session's ``turn_detection`` (None: push-to-talk) and sampling rate."""
        if rate != self.rate:
            # only allowed before any audio is appended (the rules refuse a change later): the clock restarts
            self.rate = rate
        if not turn_detection:
            self._vad = None
            return
        self._vad = EnergyVad(
            threshold=float(turn_detection.get("threshold", 0.5)),
            silence_duration_ms=int(turn_detection.get("silence_duration_ms", 500)),
            prefix_padding_ms=int(turn_detection.get("prefix_padding_ms", 300)),
            rate=self.rate,
        )
        self._vad_base_ms = self.clock_ms

    def append(self, chunk: bytes) -> Speech:
        """Add audio; with VAD on, say where speech started or stopped in it."""
        self.buffer.extend(chunk)
        self.appended_bytes += len(chunk)
        if self._vad is None:
            return Speech()
        decision = self._vad.feed(chunk)
        speech = Speech()
        if decision.started_at_ms is not None:
            speech.started_at_ms = max(self.buffer_start_ms, self._vad_base_ms + decision.started_at_ms)
        if decision.stopped_at_ms is not None:
            speech.stopped_at_ms = self._vad_base_ms + decision.stopped_at_ms
        return speech

    def take(self, upto_ms: int | None = None) -> bytes:
        """Remove and return the buffered audio (up to session time ``upto_ms``): a commit."""
        if upto_ms is None:
            cut = len(self.buffer)
        else:
            cut = min(len(self.buffer), (upto_ms - self.buffer_start_ms) * self.rate // 1000 * 2)
        audio = bytes(self.buffer[:cut])
        del self.buffer[:cut]
        self.buffer_start_ms = self.clock_ms - round(self.buffered_ms)
        self._reset_vad()
        return audio

    def clear(self) -> None:
        """Forget the buffered audio (the clock keeps running)."""
        self.buffer.clear()
        self.buffer_start_ms = self.clock_ms
        self._reset_vad()

    def _reset_vad(self) -> None:
        if self._vad is not None:
            self._vad.reset()
            self._vad_base_ms = self.clock_ms
