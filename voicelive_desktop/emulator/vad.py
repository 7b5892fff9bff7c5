"""An energy-based voice activity detector honouring the session's ``turn_detection`` settings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_FRAME_MS = 20


@dataclass
class VadDecision:
    """What one chunk of audio changed: speech started and/or stopped at these offsets (ms since the last reset)."""

    started_at_ms: int | None = None
    stopped_at_ms: int | None = None


class EnergyVad:
    """Speech is 20 ms frames whose RMS is above a level set by ``threshold`` (0..1, higher = less sensitive).

    ``threshold`` 0.5 maps to -40 dBFS; each 0.1 moves the level by 6 dB.
    """

    def __init__(self, *, threshold: float, silence_duration_ms: int, prefix_padding_ms: int, rate: int) -> None:
        self.level = 32768.0 * 10 ** ((-40.0 + (threshold - 0.5) * 60.0) / 20.0)
        self.silence_ms = max(silence_duration_ms, _FRAME_MS)
        self.prefix_ms = prefix_padding_ms
        self._frame = rate * _FRAME_MS // 1000
        self._carry = np.zeros(0, dtype=np.int16)
        self._pos_ms = 0
        self._speaking = False
        self._voiced_run = 0
        self._quiet_ms = 0

    def feed(self, pcm16: bytes) -> VadDecision:
        """Feed audio as it arrives; returns where speech started or stopped inside it."""
        decision = VadDecision()
        samples = np.concatenate([self._carry, np.frombuffer(pcm16, dtype=np.int16)])
        whole = len(samples) // self._frame * self._frame
        self._carry = samples[whole:]
        for frame in samples[:whole].reshape(-1, self._frame):
            rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
            voiced = rms >= self.level
            self._pos_ms += _FRAME_MS
            if not self._speaking:
                self._voiced_run = self._voiced_run + 1 if voiced else 0
                if self._voiced_run >= 3:  # 60 ms of sound: not a click
                    self._speaking = True
                    self._quiet_ms = 0
                    decision.started_at_ms = max(0, self._pos_ms - 3 * _FRAME_MS - self.prefix_ms)
            else:
                self._quiet_ms = 0 if voiced else self._quiet_ms + _FRAME_MS
                if self._quiet_ms >= self.silence_ms:
                    self._speaking = False
                    self._voiced_run = 0
                    # the service's audio_end_ms includes the silence that ended the turn
                    decision.stopped_at_ms = self._pos_ms
        return decision

    def reset(self) -> None:
        """Forget everything (the input buffer was cleared or committed)."""
        self._carry = np.zeros(0, dtype=np.int16)
        self._pos_ms = 0
        self._speaking = False
        self._voiced_run = 0
        self._quiet_ms = 0
