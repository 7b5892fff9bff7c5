"""What a session is told in ``session.update``: voice, instructions, turn detection and audio processing."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the SDK's models take a third of a second to import: only when a session is built
    from azure.ai.voicelive.models import AzureStandardVoice, OpenAIVoice, RequestSession, TurnDetection

OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
AZURE_VOICES = (
    "en-US-Ava:DragonHDLatestNeural",
    "en-US-Andrew:DragonHDLatestNeural",
    "en-US-AvaNeural",
    "en-US-AndrewNeural",
    "en-GB-SoniaNeural",
)


class TurnMode(enum.Enum):
    """Who decides where the user's turn ends."""

    PUSH_TO_TALK = "push-to-talk"
    SERVER_VAD = "server_vad"
    AZURE_SEMANTIC_VAD = "azure_semantic_vad"


@dataclass(frozen=True)
class TurnDetectionConfig:
    """Hands-free tuning; ignored for push-to-talk."""

    mode: TurnMode = TurnMode.PUSH_TO_TALK
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500

    def to_wire(self) -> TurnDetection | None:
        """The SDK model; None is sent as ``"turn_detection": null`` (push-to-talk)."""
        from azure.ai.voicelive.models import AzureSemanticVad, ServerVad

        kind: type[ServerVad] | type[AzureSemanticVad]
        if self.mode is TurnMode.SERVER_VAD:
            kind = ServerVad
        elif self.mode is TurnMode.AZURE_SEMANTIC_VAD:
            kind = AzureSemanticVad
        else:
            return None
        return kind(
            threshold=self.threshold,
            prefix_padding_ms=self.prefix_padding_ms,
            silence_duration_ms=self.silence_duration_ms,
            create_response=True,
            interrupt_response=True,
        )


def voice_model(name: str) -> AzureStandardVoice | OpenAIVoice | str:
    """Azure voice names (``en-US-AvaNeural``, ``en-US-Ava:DragonHDLatestNeural``) vs OpenAI names (``alloy``)."""
    from azure.ai.voicelive.models import AzureStandardVoice, OpenAIVoice

    name = name.strip()
    if name.lower() in OPENAI_VOICES:
        return OpenAIVoice(name=name.lower())
    if "Neural" in name or (len(name) > 6 and name[2] == "-" and name[5] == "-"):
        return AzureStandardVoice(name=name)
    return name


@dataclass(frozen=True)
class SessionConfig:
    """The conversation's configuration, applied at connect and whenever it changes."""

    instructions: str = "You are a helpful, concise voice assistant."
    voice: str = "en-US-Ava:DragonHDLatestNeural"
    temperature: float | None = None
    transcription_model: str = ""  # empty: the family's default (see families.fit, which the session applies)
    transcription_language: str = ""
    turn_detection: TurnDetectionConfig = field(default_factory=TurnDetectionConfig)
    noise_suppression: bool = True
    echo_cancellation: bool = True
    modalities: tuple[str, ...] = ("text", "audio")
    input_sample_rate: int = 24000

    def wire_fields(self) -> dict[str, object]:
        """Each ``session`` field this config decides, as a comparable plain value (for :meth:`changed`)."""
        return {
            "modalities": self.modalities,
            "instructions": self.instructions,
            "voice": self.voice,
            "temperature": self.temperature,
            "input_audio_transcription": (self.transcription_model, self.transcription_language),
            "turn_detection": self.turn_detection,
            "input_audio_noise_reduction": self.noise_suppression,
            "input_audio_echo_cancellation": self.echo_cancellation,
            "input_audio_sampling_rate": self.input_sample_rate,
        }

    def changed(self, old: SessionConfig) -> frozenset[str]:
        """The wire fields whose value differs from ``old``: all a live ``session.update`` needs to carry."""
        mine, theirs = self.wire_fields(), old.wire_fields()
        return frozenset(name for name, value in mine.items() if theirs[name] != value)

    def to_request_session(self, fields: frozenset[str] | None = None) -> RequestSession:
        """The ``session`` body of ``session.update``: every field, or only ``fields``.

        A field switched off travels as ``null`` (turn detection for push-to-talk, noise suppression, echo
        cancellation), so that a live update really turns it off.
        """
        from azure.ai.voicelive.models import (
            AudioEchoCancellation,
            AudioInputTranscriptionOptions,
            AudioNoiseReduction,
            RequestSession,
        )

        wanted = fields if fields is not None else frozenset(self.wire_fields())
        body: dict[str, object] = {}  # keyword arguments: the SDK sends an explicit None as null
        if "modalities" in wanted:
            body["modalities"] = list(self.modalities)
        if "instructions" in wanted:
            body["instructions"] = self.instructions
        if "voice" in wanted:
            body["voice"] = voice_model(self.voice)
        if "temperature" in wanted and self.temperature is not None:
            body["temperature"] = self.temperature
        if "input_audio_transcription" in wanted:
            transcription = AudioInputTranscriptionOptions(model=self.transcription_model)
            if self.transcription_language:
                transcription.language = self.transcription_language
            body["input_audio_transcription"] = transcription
        if "turn_detection" in wanted:
            body["turn_detection"] = self.turn_detection.to_wire()
        if "input_audio_noise_reduction" in wanted:
            body["input_audio_noise_reduction"] = (
                AudioNoiseReduction(type="azure_deep_noise_suppression") if self.noise_suppression else None
            )
        if "input_audio_echo_cancellation" in wanted:
            body["input_audio_echo_cancellation"] = AudioEchoCancellation() if self.echo_cancellation else None
        if "input_audio_sampling_rate" in wanted:
            body.update(input_audio_format="pcm16", output_audio_format="pcm16")
            body["input_audio_sampling_rate"] = self.input_sample_rate
        return RequestSession(**body)
