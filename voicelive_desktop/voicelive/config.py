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
TRANSCRIPTION_MODELS = ("azure-speech", "whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")


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
    transcription_model: str = "azure-speech"
    transcription_language: str = ""
    turn_detection: TurnDetectionConfig = field(default_factory=TurnDetectionConfig)
    noise_suppression: bool = True
    echo_cancellation: bool = True
    modalities: tuple[str, ...] = ("text", "audio")
    input_sample_rate: int = 24000

    def to_request_session(self) -> RequestSession:
        """The ``session`` body of ``session.update``."""
        from azure.ai.voicelive.models import (
            AudioEchoCancellation,
            AudioInputTranscriptionOptions,
            AudioNoiseReduction,
            RequestSession,
        )

        transcription = AudioInputTranscriptionOptions(model=self.transcription_model)
        if self.transcription_language:
            transcription.language = self.transcription_language
        session = RequestSession(
            modalities=list(self.modalities),
            instructions=self.instructions,
            voice=voice_model(self.voice),
            input_audio_format="pcm16",
            output_audio_format="pcm16",
            input_audio_sampling_rate=self.input_sample_rate,
            turn_detection=self.turn_detection.to_wire(),
            input_audio_transcription=transcription,
        )
        if self.temperature is not None:
            session.temperature = self.temperature
        if self.noise_suppression:
            session.input_audio_noise_reduction = AudioNoiseReduction(type="azure_deep_noise_suppression")
        if self.echo_cancellation:
            session.input_audio_echo_cancellation = AudioEchoCancellation()
        return session
