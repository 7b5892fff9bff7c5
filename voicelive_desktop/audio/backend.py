"""Loading PortAudio (through sounddevice) without taking the app down when it is missing."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True)
class AudioProblem:
    """Something the user must know about audio; ``message`` says what to do about it."""

    kind: str  # "missing-portaudio" | "no-device" | "device-lost" | "open-failed" | "device-back" (good news)
    message: str


class AudioUnavailable(Exception):
    """Audio cannot work at all here; the app keeps working in text mode.

    ``late``, when set: the sound server was too slow, and this future gets sounddevice if PortAudio's start
    still finishes (a sound server starting after the app, at login), or its :class:`AudioUnavailable` if it
    fails.
    """

    def __init__(self, problem: AudioProblem, *, late: asyncio.Future[ModuleType] | None = None) -> None:
        super().__init__(problem.message)
        self.problem = problem
        self.late = late


def _install_hint() -> str:
    if sys.platform == "darwin":
        return "brew install portaudio"
    if sys.platform.startswith("win"):
        return "pip install --force-reinstall sounddevice"
    return "sudo apt install libportaudio2 (Debian/Ubuntu) or sudo dnf install portaudio (Fedora)"


def load_sounddevice() -> ModuleType:
    """Import sounddevice; a missing PortAudio raises OSError there, which becomes :class:`AudioUnavailable`.

    The first import starts PortAudio; on Linux the ALSA plugins it only probed are then unloaded (see
    :func:`release_probed_alsa_plugins`).
    """
    first = "sounddevice" not in sys.modules
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
    if first:
        release_probed_alsa_plugins()
    return module


def release_probed_alsa_plugins() -> bool:
    """Unload the ALSA plugins PortAudio loaded only to list devices; True when ALSA was asked to.

    At start-up PortAudio opens every device the ALSA configuration names, and each plugin library stays loaded
    with what it links: on a desktop with libasound2-plugins that is a52 with ffmpeg's codecs, jack, speex,
    upmix... about 10 MiB of memory that the app never uses. Freeing ALSA's global configuration also closes the
    cached plugin libraries that no open device holds; the next stream that opens reads the configuration again
    and loads just its own plugin (pulse, say). Call it only where no other thread is inside ALSA: right after
    PortAudio starts, before any stream opens.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        asound = ctypes.CDLL("libasound.so.2")
        status = int(asound.snd_config_update_free_global())
    except (OSError, AttributeError) as exc:  # no ALSA here (PortAudio built for JACK or OSS only)
        log.debug("ALSA's plugins stay loaded: %s", exc)
        return False
    if status < 0:
        log.debug("ALSA's plugins stay loaded: error %s", status)
    return status >= 0


def in_daemon_thread(fn: Callable[..., _T], *args: Any, name: str) -> asyncio.Future[_T]:
    """``fn(*args)`` on a daemon thread of its own; its result or exception arrives in the returned future, on the
    calling loop.

    Not the loop's executor: PortAudio may never return (a sound server that is stuck, or died under a stream),
    and a stuck executor thread would hold the app's exit; a daemon thread does not.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[_T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if not done.done():
            done.set_exception(error) if error is not None else done.set_result(result)

    def run() -> None:
        try:
            result, error = fn(*args), None
        except BaseException as exc:  # handed to whoever awaits the future
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits for the outcome
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return done


#: How long PortAudio may take to start (it asks the sound server for its devices) before the app goes on without
#: voice. It takes well under a second normally; a stuck sound server never answers.
AUDIO_START_LIMIT_S = 10.0


async def load_sounddevice_in_background(limit_s: float = AUDIO_START_LIMIT_S) -> ModuleType:
    """:func:`load_sounddevice` on a thread of its own, so that a sound server that never answers cannot freeze
    the caller's loop (nor the window).

    Raises:
        AudioUnavailable: PortAudio is missing, or did not start within ``limit_s``. Then sounddevice must not be
            imported again in this process (the slow thread holds its import): the exception's ``late`` future
            gets the outcome of that start instead.
    """
    if "sounddevice" in sys.modules:
        return load_sounddevice()
    done = in_daemon_thread(load_sounddevice, name="audio-start")
    done.add_done_callback(lambda f: f.cancelled() or f.exception())  # an outcome nobody waits for any more is fine
    try:
        return await asyncio.wait_for(asyncio.shield(done), limit_s)
    except TimeoutError:
        raise AudioUnavailable(
            AudioProblem(
                "not-responding",
                f"Voice is off: the sound system did not answer within {limit_s:.0f} s (PulseAudio or PipeWire may "
                "be stuck or still starting). Voice comes on by itself when it answers; restarting it may help. "
                "You can still type messages.",
            ),
            late=done,
        ) from None
