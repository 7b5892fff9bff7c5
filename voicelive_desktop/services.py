"""The app's services, built from the settings: the audio stack's start, controller, assistant, supervisor,
microphone, history.

Qt-free: app.py starts and builds them after the first paint (the Voice Live SDK and the audio stack are imported
here) and wires the window to them; tests and benchmarks build them without a window.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .audio.backend import AudioProblem
    from .audio.capture import Capture
    from .audio.playback import Playback
    from .controller import Controller, DemoService
    from .keystore import SecretStore
    from .settings import Settings, SettingsStore


@dataclass(frozen=True)
class AudioStart:
    """How PortAudio's start went: ``problem`` None means voice works."""

    problem: AudioProblem | None = None
    late: asyncio.Future[ModuleType] | None = None
    """Set when the sound server missed the time limit: gets sounddevice if it answers after all."""


async def start_audio(closed: asyncio.Event | None) -> AudioStart:
    """Start PortAudio, unless the window closes first; what went wrong with audio, if anything.

    A stuck sound server holds PortAudio's start for up to ``AUDIO_START_LIMIT_S``; a user who closes the
    window meanwhile should not wait it out. The loader's daemon thread is left behind (it cannot be stopped;
    the process ends without it).
    """
    from .audio.backend import AudioUnavailable, load_sounddevice_in_background

    if closed is not None and closed.is_set():
        return AudioStart()  # closed already: PortAudio is not even started
    loading = asyncio.ensure_future(load_sounddevice_in_background())  # a stuck sound server must not freeze
    closing = asyncio.ensure_future(closed.wait()) if closed is not None else None
    try:
        await asyncio.wait({loading} if closing is None else {loading, closing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (loading, closing):
            if task is not None and not task.done():
                task.cancel()
    if not loading.done():
        await asyncio.wait({loading})  # let its cancellation finish (a cancellation of this caller still raises)
    if loading.cancelled():
        return AudioStart()
    try:
        loading.result()
    except AudioUnavailable as exc:
        return AudioStart(exc.problem, exc.late)
    return AudioStart()


def audio_devices(sd: ModuleType, settings: Settings) -> tuple[Capture, Playback]:
    """The microphone and the speaker as the settings want them (not opened yet).

    Raises:
        AudioUnavailable: PortAudio cannot serve them.
    """
    from .audio.capture import Capture
    from .audio.playback import Playback

    a = settings.audio
    capture = Capture(sd, rate=a.input_rate, block_ms=a.block_ms, preroll_ms=a.preroll_ms, tail_ms=a.tail_ms)
    return capture, Playback(sd, block_ms=a.block_ms)


def demo_service() -> DemoService:
    """The built-in Voice Live emulator (imported only when the demo is used)."""
    from .controller import DEMO_API_KEY
    from .emulator import Emulator, EmulatorOptions

    # Transcripts land before or after the answer, as the service's do; no record of the traffic is kept (the
    # tests' record would keep every answer's audio for as long as the demo runs).
    return Emulator(EmulatorOptions(api_key=DEMO_API_KEY, transcript_order="random", record_traffic=False))


def build_services(
    listener: Callable[[object], None],
    store: SettingsStore | None,
    saved: Settings,
    settings: Settings,
    *,
    demo: bool,
    secrets: SecretStore | None = None,
    with_audio: bool = True,
    history_path: Path | None = None,
    keep_history: bool = True,
    audio: AudioStart | None = None,
) -> Controller:
    """Build the services (slow imports happen here, after the first paint); everything reports to ``listener``.

    ``secrets`` defaults to the OS keyring; ``with_audio`` False builds a text-only app (as when PortAudio is
    missing), and so does an ``audio`` start with a problem (its message is shown; voice comes on if a late sound
    server answers after all); the history lives at ``history_path`` (the platform data folder by default), or
    nowhere when ``keep_history`` is False.
    """
    from .assistant import Assistant
    from .audio.backend import AudioUnavailable, load_sounddevice
    from .controller import Controller, audio_options
    from .conversation.history import AsyncHistory
    from .keystore import SecretStore
    from .microphone import Microphone
    from .settings import ENV_API_KEY
    from .supervisor import Supervisor
    from .voicelive.events import ErrorCategory, ErrorRaised

    sd = capture = playback = None
    audio_error = None
    if audio is not None and audio.problem is not None:
        audio_error = audio.problem.message
    elif with_audio:
        try:
            sd = load_sounddevice()
            capture, playback = audio_devices(sd, settings)
        except AudioUnavailable as exc:
            audio_error = exc.problem.message
    microphone = Microphone(
        capture,
        playback,
        audio_options(settings),
        on_status=listener,
        on_problem=lambda problem: assistant.audio_problem(problem),  # noqa: PLW0108 - built just below
    )
    assistant = Assistant(listener, microphone=microphone)
    supervisor = Supervisor(assistant, listener)
    controller = Controller(
        settings,
        store,
        secrets if secrets is not None else SecretStore(),
        supervisor=supervisor,
        assistant=assistant,
        microphone=microphone,
        listener=listener,
        demo_service=demo_service,
        open_history=(
            (lambda problem, resolved: AsyncHistory.open(history_path, on_problem=problem, on_resolved=resolved))
            if keep_history
            else None
        ),
        sounddevice=sd,
        api_key_from_env=os.environ.get(ENV_API_KEY) or None,
        demo=demo,
        file_settings=saved,
    )
    if audio_error:
        listener(ErrorRaised(ErrorCategory.AUDIO, audio_error))
    if audio is not None and audio.late is not None:
        controller.voice_when_ready(audio.late, audio_devices)
    return controller
