"""What each kind of model accepts in ``session.update``: voices, transcription models, temperature.

Voice Live ties these to the model family (the Voice Live API reference, 2026-07-15, and the language-support
page): the realtime family (``gpt-realtime*``, or any deployment behind the ``byom-azure-openai-realtime``
profile) speaks with its own OpenAI voices or Azure voices and transcribes with the OpenAI transcription models;
every other model (the chat models, and any deployment behind ``byom-azure-openai-chat-completion``) is spoken
for by Azure text to speech and transcribed by Azure speech; ``phi4-mm-realtime`` transcribes with
``azure-speech`` only. The service refuses what does not fit, so the settings panel offers only what fits, and a
switch to another family replaces what no longer fits with that family's default, saying so.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from .config import OPENAI_VOICES, SessionConfig
from .modes import Mode

#: The documented session temperature range (API reference, ``RequestSession.temperature``); 0.8 by default.
TEMPERATURE_RANGE = (0.6, 1.2)
DEFAULT_AZURE_VOICE = "en-US-Ava:DragonHDLatestNeural"


class Family(enum.Enum):
    """How a deployment handles speech."""

    REALTIME = "realtime"  # native audio in and out
    PHI_MULTIMODAL = "phi-multimodal"  # native audio in, Azure voices out
    CHAT = "chat"  # Voice Live does speech to text and text to speech around a text model

    @property
    def label(self) -> str:
        """A few words for the settings panel."""
        return _FAMILY_LABELS[self]


_FAMILY_LABELS = {
    Family.REALTIME: "a realtime model",
    Family.PHI_MULTIMODAL: "phi4-mm-realtime",
    Family.CHAT: "a chat model (Voice Live speaks and listens for it)",
}

_TRANSCRIPTION = {
    Family.REALTIME: ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "mai-transcribe"),
    Family.PHI_MULTIMODAL: ("azure-speech",),
    Family.CHAT: ("azure-speech", "mai-transcribe"),
}


def family_of(mode: Mode, deployment: str) -> Family:
    """The family of ``deployment`` in ``mode`` (a BYOM profile says it; a managed model's name does)."""
    if mode is Mode.BYOM_REALTIME:
        return Family.REALTIME
    if mode is Mode.BYOM_CHAT_COMPLETION:
        return Family.CHAT
    name = deployment.strip().lower()
    if name.startswith("phi4-mm"):
        return Family.PHI_MULTIMODAL
    if name.startswith("gpt-realtime") or (name.startswith("gpt-4o") and "realtime" in name):
        return Family.REALTIME
    return Family.CHAT


def allows_openai_voices(family: Family) -> bool:
    """Only the realtime models have the OpenAI voices (alloy, marin...)."""
    return family is Family.REALTIME


def transcription_models(family: Family) -> tuple[str, ...]:
    """The input transcription models ``family`` accepts; the first is its default."""
    return _TRANSCRIPTION[family]


def is_openai_voice(voice: str) -> bool:
    """True for the OpenAI voice names."""
    return voice.strip().lower() in OPENAI_VOICES


@dataclass(frozen=True)
class Fitted:
    """A configuration made to fit a family, and what had to change (in words, for the user)."""

    config: SessionConfig
    changes: tuple[str, ...]


def problems(config: SessionConfig, family: Family) -> list[str]:
    """Why ``config`` cannot be used with ``family`` (empty when it can): for the settings panel to refuse."""
    found = []
    if is_openai_voice(config.voice) and not allows_openai_voices(family):
        found.append(
            f"The voice {config.voice!r} is an OpenAI voice: only realtime models have it. Pick an Azure voice."
        )
    if config.transcription_model and config.transcription_model not in transcription_models(family):
        found.append(
            f"Transcription with {config.transcription_model!r} is not available with {family.label}. Use one of: "
            f"{', '.join(transcription_models(family))}."
        )
    low, high = TEMPERATURE_RANGE
    if config.temperature is not None and not low <= config.temperature <= high:
        found.append(f"The temperature must be between {low} and {high} (or the model's default).")
    return found


def fit(config: SessionConfig, family: Family) -> Fitted:
    """``config`` with what ``family`` does not accept replaced by its defaults (after a model switch)."""
    changes = []
    if is_openai_voice(config.voice) and not allows_openai_voices(family):
        changes.append(f"voice {config.voice} \u2192 {DEFAULT_AZURE_VOICE} (OpenAI voices need a realtime model)")
        config = replace(config, voice=DEFAULT_AZURE_VOICE)
    default = transcription_models(family)[0]
    if not config.transcription_model:  # "automatic": the family's own, nothing to tell
        config = replace(config, transcription_model=default)
    elif config.transcription_model not in transcription_models(family):
        changes.append(f"transcription {config.transcription_model} \u2192 {default} (for {family.label})")
        config = replace(config, transcription_model=default)
    low, high = TEMPERATURE_RANGE
    if config.temperature is not None and not low <= config.temperature <= high:
        changes.append(f"temperature {config.temperature} \u2192 model default")
        config = replace(config, temperature=None)
    return Fitted(config, tuple(changes))
