"""What the emulator hears and says: offline recognition and speech synthesis, each with a fallback.

pocketsphinx (its wheel ships an English model) recognises; espeak-ng speaks: the copy bundled with the app
(packaging/) when there is one, else the system's. Without either the emulator still works: it describes the
audio it got ("(2.4 s of audio)") and answers with an audible tone pattern.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

log = logging.getLogger(__name__)

RATE = 24000
_WAV_HEADER = 44


def describe_duration(pcm16: bytes, rate: int = RATE) -> str:
    """The transcript used when no recogniser is installed."""
    return f"({len(pcm16) / 2 / rate:.1f} s of audio)"


class _Decoder:
    """pocketsphinx's decoder, one per process, loaded once (or found missing once)."""

    lock = threading.Lock()  # held while loading, and while a recognition runs (a decoder is not thread-safe)
    decoder: Any = None
    missing = False

    @classmethod
    def load(cls) -> Any:
        """The decoder, loading it on the first call; None without pocketsphinx. Call with :attr:`lock` held."""
        if cls.decoder is None and not cls.missing:
            try:
                from pocketsphinx import Decoder

                cls.decoder = Decoder(samprate=16000, loglevel="FATAL")
            except Exception as exc:  # not installed, or its model missing (AttributeError in a broken bundle)
                log.info("pocketsphinx unavailable (%r); transcripts will describe the audio", exc)
                cls.missing = True
        return cls.decoder


class Recognizer:
    """Offline speech recognition with pocketsphinx, in a worker thread.

    Loading the decoder holds the GIL for half a second or more (pocketsphinx reads its model without letting go
    of it): every thread of the process stops meanwhile, the app's window and asyncio loop with the emulator's.
    :meth:`warm_up` loads it when the emulator starts, so that this happens while the app connects rather than
    just after the user's first turn; and one decoder serves every emulator in the process. The price: the
    decoder's 90 MiB are taken at the start of the offline demo even by someone who only types.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self._enabled = enabled

    @property
    def available(self) -> bool:
        """False when disabled, or once loading failed (no pocketsphinx): transcripts then describe the audio."""
        return self._enabled and not _Decoder.missing

    def _load(self) -> Any:
        if not self._enabled:
            return None
        with _Decoder.lock:
            return _Decoder.load()

    async def warm_up(self) -> None:
        """Load the decoder now (in a worker thread), if it is enabled and not loaded yet."""
        if self._enabled and _Decoder.decoder is None and not _Decoder.missing:
            await asyncio.to_thread(self._load)

    def _recognize_sync(self, pcm16: bytes, rate: int) -> str:
        if not self._enabled:
            return describe_duration(pcm16, rate)
        with _Decoder.lock:
            decoder = _Decoder.load()
            if decoder is None:
                return describe_duration(pcm16, rate)
            audio = np.frombuffer(pcm16, dtype=np.int16)
            mono16k = soxr.resample(audio, rate, 16000).astype(np.int16)
            decoder.start_utt()
            decoder.process_raw(mono16k.tobytes(), full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
            text = hyp.hypstr.strip() if hyp is not None else ""
        return text or describe_duration(pcm16, rate)

    async def recognize(self, pcm16: bytes, rate: int = RATE) -> str:
        """Words heard in ``pcm16`` (mono, ``rate`` Hz); never raises, never blocks the loop."""
        return await asyncio.to_thread(self._recognize_sync, pcm16, rate)


@dataclass(frozen=True)
class Espeak:
    """How to run espeak-ng: the command line before the options, and the environment it needs (None: ours)."""

    argv: tuple[str, ...]
    env: dict[str, str] | None = None


def find_espeak() -> Espeak | None:
    """The espeak-ng bundled with the app (``espeak-ng/`` in a PyInstaller bundle) first, else the system's.

    The bundled one brings its own libraries (``espeak-ng/lib``) and English voice data; a system one started
    from a bundle gets back the library path the bundle's launcher replaced.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        home = Path(bundle) / "espeak-ng"
        if (home / "espeak-ng").is_file():
            env = {**os.environ, "LD_LIBRARY_PATH": str(home / "lib")}
            return Espeak((str(home / "espeak-ng"), f"--path={home}"), env)
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    if bundle is None:
        return Espeak((exe,))
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    if os.environ.get("LD_LIBRARY_PATH_ORIG"):
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH_ORIG"]
    return Espeak((exe,), env)


class Synthesizer:
    """Text to PCM16 mono 24 kHz: espeak-ng when present, else a tone per word."""

    def __init__(self, espeak: str | None = None, *, use_espeak: bool = True) -> None:
        self._espeak = (Espeak((espeak,)) if espeak else find_espeak()) if use_espeak else None

    @property
    def voice_name(self) -> str:
        """What actually speaks, for the emulator's banner: "espeak-ng", or "tone" (also after espeak-ng failed)."""
        return "espeak-ng" if self._espeak else "tone"

    async def synthesize(self, text: str) -> bytes:
        """Speech for ``text``; falls back to tones for good (and says so) if espeak-ng is missing or fails."""
        if self._espeak:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self._espeak.argv,
                    "--stdout",
                    "-s",
                    "170",
                    text,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=self._espeak.env,
                )
                try:
                    wav, err = await proc.communicate()
                except asyncio.CancelledError:  # the answer is no longer wanted (cancelled, connection gone)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.communicate()  # reaped and its pipes closed here, not by the GC on a closed loop
                    raise
                if proc.returncode == 0 and len(wav) > _WAV_HEADER:
                    return espeak_wav_to_pcm(wav)
                problem = f"exit {proc.returncode}: {err.decode(errors='replace').strip()[:200]}"
            except OSError as exc:
                problem = str(exc)
            log.warning("espeak-ng failed (%s); speaking in tones from now on", problem)
            self._espeak = None
        return tone_speech(text)


def espeak_wav_to_pcm(wav: bytes, rate: int = RATE) -> bytes:
    """PCM16 mono at ``rate`` from what ``espeak-ng --stdout`` wrote (a 22050 Hz WAV).

    espeak-ng streams its WAV with a bogus length in the header: trust the bytes after it, not the header.
    """
    body = wav[_WAV_HEADER:]
    samples = np.frombuffer(body[: len(body) // 2 * 2], dtype=np.int16)
    return _to_int16(soxr.resample(samples, 22050, rate)).tobytes()


def _to_int16(samples: npt.NDArray[Any]) -> npt.NDArray[np.int16]:
    clipped: npt.NDArray[np.int16] = np.clip(samples, -32768, 32767).astype(np.int16)
    return clipped


def tone_speech(text: str, rate: int = RATE) -> bytes:
    """A clearly audible stand-in for speech: one 160 ms tone per word, pitch from the word, short gaps."""
    words = text.split() or ["..."]
    pieces: list[npt.NDArray[np.int16]] = []
    t = np.arange(int(0.16 * rate)) / rate
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    gap = np.zeros(int(0.05 * rate), dtype=np.int16)
    for word in words:
        freq = 300 + (sum(map(ord, word)) % 12) * 40
        pieces.append(_to_int16(0.3 * 32767 * envelope * np.sin(2 * np.pi * freq * t)))
        pieces.append(gap)
    return np.concatenate(pieces).tobytes()
