"""What the tests share: waiting on a condition, recording events, stand-ins for the keyring and Entra ID, and
building the app's core (supervisor + assistant + microphone) the way the composition root does."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import subprocess
import sys
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import keyring.backend
from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential

from voicelive_desktop.assistant import Assistant
from voicelive_desktop.assistant_events import TurnChanged, TurnState
from voicelive_desktop.audio.capture import Capture
from voicelive_desktop.audio.playback import Playback
from voicelive_desktop.audio.ring import FrameRing
from voicelive_desktop.emulator import ConnectionRecord, Emulator
from voicelive_desktop.microphone import AudioOptions, Microphone
from voicelive_desktop.supervisor import Backoff, Supervisor
from voicelive_desktop.voicelive.auth import AuthMethod
from voicelive_desktop.voicelive.config import SessionConfig
from voicelive_desktop.voicelive.credentials import Credential, CredentialSpec, build_credential
from voicelive_desktop.voicelive.modes import Mode, Target

API_KEY = "k3y-Z9xQ-very-secret-value-0042"


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds (polled every 10 ms); TimeoutError after ``timeout`` s."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


class EventLog:
    """Records events, from a listener call or an async stream, and lets a test wait for one."""

    def __init__(self, source: AsyncIterable[Any] | None = None) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._drain(source)) if source is not None else None

    def __call__(self, event: Any) -> None:
        self.items.append(event)
        self._changed.set()

    async def _drain(self, source: AsyncIterable[Any]) -> None:
        async for event in source:
            self(event)

    def of(self, kind: type[Any]) -> list[Any]:
        """Every recorded event of one type."""
        return [e for e in self.items if isinstance(e, kind)]

    def turns(self) -> list[TurnState]:
        """The turn states the UI was shown, in order."""
        return [e.state for e in self.of(TurnChanged)]

    async def until(self, predicate: Callable[[], object], timeout: float = 15.0) -> None:
        """Wait until ``predicate()`` holds, checking after each event (and on a timer: state may change too)."""

        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"not so after {timeout} s; {self.summary()}") from None

    def summary(self, last: int = 15) -> str:
        """The turns shown and the last few events, for a failure message (long payloads cut short)."""
        shown = [state.value for state in self.turns()]
        events = "\n  ".join(repr(e)[:200] for e in self.items[-last:])
        return f"turns: {shown}; last events:\n  {events}"

    async def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        """The first event (already seen or coming) that satisfies ``predicate``."""
        await self.until(lambda: any(predicate(e) for e in self.items), timeout)
        return next(e for e in self.items if predicate(e))

    async def wait_type(self, kind: type[Any], timeout: float = 10.0) -> Any:
        """The first event of type ``kind``."""
        return await self.wait_for(lambda e: isinstance(e, kind), timeout)


HOLD_LOCK = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
con.execute("COMMIT")
con.close()
print("released", flush=True)
"""


class Locker:
    """Another process that holds an exclusive lock on an SQLite file until told to let go."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        """Let go of the lock and wait for the process to end."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "released"
        assert self.process.wait(timeout=10) == 0

    def kill(self) -> None:
        """End the process if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class MemoryKeyring(keyring.backend.KeyringBackend):
    """Stands in for the OS keyring, which a CI machine does not have."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


class FakeEntra(AsyncTokenCredential):
    """Stands in for Microsoft Entra ID, which this machine cannot reach."""

    def __init__(self, token: str, lifetime_s: int) -> None:
        self.token, self.lifetime_s, self.scopes = token, lifetime_s, ()

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes = scopes
        return AccessToken(self.token, int(time.time()) + self.lifetime_s)

    async def close(self) -> None:
        pass

    async def __aexit__(self, *args: object) -> None:
        pass


def key_credential(key: str = API_KEY) -> Credential:
    """The API-key credential the app builds."""
    return build_credential(CredentialSpec(AuthMethod.API_KEY, key))


def sent_audio_bytes(emulator: Emulator) -> int:
    """How much microphone audio (PCM16 bytes) the last connection has appended so far."""
    appends = [e for e in emulator.last().received if e["type"] == "input_audio_buffer.append"]
    return sum(len(base64.b64decode(e["audio"])) for e in appends)


def said_to(link: ConnectionRecord) -> str:
    """Every text item a connection was given (history carried, messages typed), joined by spaces."""
    return " ".join(
        part.get("text", "")
        for event in link.received
        if event["type"] == "conversation.item.create"
        for part in event["item"]["content"]
    )


def target(emulator: Emulator, mode: Mode = Mode.MANAGED, deployment: str = "gpt-realtime") -> Target:
    """Where a session to ``emulator`` connects."""
    return Target(emulator.endpoint, mode, deployment)


@dataclass
class Core:
    """The app's Qt-free core as the composition root wires it: supervisor, assistant, microphone."""

    events: EventLog
    assistant: Assistant
    supervisor: Supervisor
    microphone: Microphone | None
    closed: bool = field(default=False)

    async def connect(
        self, where: Target, credential: Credential | None = None, config: SessionConfig | None = None
    ) -> bool:
        """Connect as the controller does."""
        return await self.supervisor.connect(where, credential or key_credential(), config or SessionConfig())

    async def close(self) -> None:
        """Shut down as the controller does."""
        if self.closed:
            return
        self.closed = True
        await self.supervisor.close()
        await self.assistant.close()
        if self.microphone is not None:
            await self.microphone.close()


def build_core(
    sd: ModuleType | None = None,
    *,
    options: AudioOptions | None = None,
    backoff: Backoff | None = None,
    capture: Capture | None = None,
    playback: Playback | None = None,
) -> Core:
    """The core with real audio (``sd``, the real sounddevice on the private PulseAudio) or without any."""
    events = EventLog()
    microphone = None
    if sd is not None:
        microphone = Microphone(
            capture or Capture(sd),
            playback or Playback(sd),
            options or AudioOptions(),
            on_status=events,
            on_problem=lambda problem: assistant.audio_problem(problem),  # noqa: PLW0108 - built below
        )
    assistant = Assistant(events, microphone=microphone)
    supervisor = Supervisor(assistant, events, backoff=backoff or Backoff(base=0.2, cap=1.0))
    return Core(events, assistant, supervisor, microphone)


def resident_kib(buffer: FrameRing | memoryview) -> int:
    """How much of a ring's buffer (or of a writable buffer) the system holds in memory: the Rss of the mapping
    it lies in, from /proc/self/smaps."""
    memory = buffer._buf if isinstance(buffer, FrameRing) else buffer
    address = ctypes.addressof(ctypes.c_char.from_buffer(memory))
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                low, high = (int(x, 16) for x in head.split("-"))
                inside = low <= address < high
            elif inside and head == "Rss:":
                return int(line.split()[1])
    raise AssertionError("the buffer is not mapped")


class Only48k:
    """The real sounddevice, as seen through devices that refuse every rate but 48 kHz (many USB headsets)."""

    def __init__(self, sd: ModuleType) -> None:
        self._sd = sd

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sd, name)

    def query_devices(self, *args: Any, **kwargs: Any) -> Any:
        info = self._sd.query_devices(*args, **kwargs)
        return {**info, "default_samplerate": 48000.0} if args and isinstance(info, dict) else info

    def RawInputStream(self, *, samplerate: int, **kwargs: Any) -> Any:
        return self._open(self._sd.RawInputStream, samplerate, kwargs)

    def RawOutputStream(self, *, samplerate: int, **kwargs: Any) -> Any:
        return self._open(self._sd.RawOutputStream, samplerate, kwargs)

    def _open(self, stream: Any, samplerate: int, kwargs: dict[str, Any]) -> Any:
        if samplerate != 48000:
            raise self._sd.PortAudioError("Invalid sample rate")
        return stream(samplerate=samplerate, **kwargs)
