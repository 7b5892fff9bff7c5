"""Loading PortAudio (through sounddevice) without taking the app down when it is missing."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class AudioProblem:
    """Something the user must know about audio; ``message`` says what to do about it."""

    kind: str  # "missing-portaudio" | "no-device" | "device-lost" | "open-failed"
    message: str


class AudioUnavailable(Exception):
    """Audio cannot work at all here; the app keeps working in text mode."""

    def __init__(self, problem: AudioProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _install_hint() -> str:
    if sys.platform == "darwin":
        return "brew install portaudio"
    if sys.platform.startswith("win"):
        return "pip install --force-reinstall sounddevice"
    return "sudo apt install libportaudio2 (Debian/Ubuntu) or sudo dnf install portaudio (Fedora)"


def load_sounddevice() -> ModuleType:
    """Import sounddevice; a missing PortAudio raises OSError there, which becomes :class:`AudioUnavailable`."""
    try:
        import sounddevice
    except OSError as exc:
        raise AudioUnavailable(
            AudioProblem(
                "missing-portaudio",
                f"Voice is off: the PortAudio library is missing ({exc}). Install it with: {_install_hint()}. "
                "You can still type messages.",
            )
        ) from exc
    module: ModuleType = sounddevice
    return module
