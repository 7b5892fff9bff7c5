"""Audio devices: one entry per physical device, chosen by a stable name, the system default followed.

PortAudio lists a headset once per host API (MME, DirectSound, WASAPI...) and, on Linux, hides PulseAudio's
and PipeWire's real devices behind one ``pulse`` device. So on Linux the sinks and sources come from the sound
server itself (``pactl``) and are opened through ``pulse`` with ``PULSE_SINK`` / ``PULSE_SOURCE``; elsewhere
PortAudio's list is folded by name, keeping the best host API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from ..tasks import finish

log = logging.getLogger(__name__)

Kind = Literal["input", "output"]
_HOST_API_PREFERENCE = (
    "Windows WASAPI",
    "Core Audio",
    "ALSA",
    "JACK Audio Connection Kit",
    "Windows DirectSound",
    "MME",
)
_PULSE_ENV = {"input": "PULSE_SOURCE", "output": "PULSE_SINK"}


@dataclass(frozen=True)
class Device:
    """A device a user can pick. ``name`` is stable across restarts and is what settings store."""

    name: str
    label: str
    kind: Kind
    is_default: bool = False
    pulse: bool = False


@dataclass(frozen=True)
class OpenSpec:
    """How to open a chosen device with PortAudio."""

    portaudio_device: int | str | None
    env: dict[str, str]
    label: str


def _pactl(*args: str) -> Any:
    exe = shutil.which("pactl")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-f", "json", *args], capture_output=True, text=True, timeout=3, check=True)
        return json.loads(out.stdout)
    except (subprocess.SubprocessError, OSError, ValueError):
        return None


def _pulse_devices(kind: Kind) -> list[Device] | None:
    info = _pactl("info")
    entries = _pactl("list", "sources" if kind == "input" else "sinks")
    if not isinstance(info, dict) or not isinstance(entries, list):
        return None
    default = info.get("default_source_name" if kind == "input" else "default_sink_name")
    devices = [
        Device(e["name"], e.get("description") or e["name"], kind, e["name"] == default, pulse=True)
        for e in entries
        if isinstance(e, dict) and "name" in e
    ]
    return devices


def _has_pulse(sd: ModuleType) -> bool:
    return any(d["name"] == "pulse" for d in sd.query_devices())


def list_devices(sd: ModuleType, kind: Kind) -> list[Device]:
    """Every device of ``kind`` once, the system default marked. Blocking (it may ask the sound server)."""
    if _has_pulse(sd):
        pulse = _pulse_devices(kind)
        if pulse is not None:
            return pulse
    channels = "max_input_channels" if kind == "input" else "max_output_channels"
    apis = [api["name"] for api in sd.query_hostapis()]
    try:
        default_index = sd.default.device[0 if kind == "input" else 1]
    except (AttributeError, IndexError, TypeError):
        default_index = -1
    best: dict[str, tuple[int, Device]] = {}
    for index, dev in enumerate(sd.query_devices()):
        if dev[channels] <= 0:
            continue
        api = apis[dev["hostapi"]]
        rank = _HOST_API_PREFERENCE.index(api) if api in _HOST_API_PREFERENCE else len(_HOST_API_PREFERENCE)
        device = Device(dev["name"], dev["name"], kind, index == default_index)
        held = best.get(dev["name"])
        if held is None or rank < held[0]:
            best[dev["name"]] = (
                rank,
                Device(device.name, device.label, kind, device.is_default or bool(held and held[1].is_default)),
            )
        elif device.is_default:
            best[dev["name"]] = (held[0], Device(held[1].name, held[1].label, kind, True))
    return [d for _, d in best.values()]


def resolve(sd: ModuleType, kind: Kind, name: str | None) -> OpenSpec:
    """How to open the device called ``name``, or the system default when ``name`` is None or gone."""
    devices = list_devices(sd, kind)  # once: it may ask the sound server
    if name:
        for device in devices:
            if device.name == name:
                if device.pulse:
                    return OpenSpec("pulse", {_PULSE_ENV[kind]: device.name}, device.label)
                return OpenSpec(device.name, {}, device.label)
    for device in devices:
        if device.is_default:
            return OpenSpec("pulse" if device.pulse else None, {}, f"{device.label} (system default)")
    return OpenSpec(None, {}, "System default")


@contextmanager
def opening_env(spec: OpenSpec) -> Iterator[None]:
    """Set ``PULSE_SINK``/``PULSE_SOURCE`` while a stream opens; libpulse reads them at connect time."""
    saved = {key: os.environ.get(key) for key in spec.env}
    os.environ.update(spec.env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class DeviceWatch:
    """Tells when the sound server's devices come and go, without polling: one ``pactl subscribe`` process.

    PulseAudio (and PipeWire's pulse server) moves a stream to another device when its own is unplugged, so
    PortAudio never notices: the stream keeps running, on the wrong microphone. The server announces every
    removal, though; this passes each one on, and the owner checks whether its device is still there.

    Args:
        on_change: called on the event loop after a source or sink appeared or went away.
    """

    RETRY_S = 2.0  # after the server went away, the first look for it again
    MAX_RETRY_S = 60.0
    STABLE_S = 10.0  # a watch that lasted this long was connected: the next retry starts quick again
    CONNECTED_S = 0.5  # pactl still running this long after it started: it reached a server

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def possible() -> bool:
        """Whether there is a sound server to ask (``pactl`` is there)."""
        return shutil.which("pactl") is not None

    def start(self) -> None:
        """Start listening (on the running loop)."""
        if self._task is None and self.possible():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audio-device-watch")

    async def _run(self) -> None:
        """Listen; when the sound server goes away (restarted, or crashed), listen again once it is back, and
        tell the owner then: its streams may have died with the server."""
        exe = shutil.which("pactl")
        assert exe is not None
        loop = asyncio.get_running_loop()
        wait_s, again = self.RETRY_S, False
        while True:
            started = loop.time()
            try:
                self._process = await asyncio.create_subprocess_exec(
                    exe, "subscribe", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
                )
            except OSError as exc:
                log.info("cannot watch audio devices: %s", exc)
                return
            await self._listen(self._process, again=again)
            if self._task is None:
                return  # stopped: the process ended because stop() ended it
            # no server to ask, or one that keeps going away: ask less and less often
            wait_s = self.RETRY_S if loop.time() - started > self.STABLE_S else min(wait_s * 2, self.MAX_RETRY_S)
            log.info("the sound server went away; watching for it again in %.0f s", wait_s)
            await asyncio.sleep(wait_s)
            again = True

    async def _listen(self, process: asyncio.subprocess.Process, *, again: bool) -> None:
        assert process.stdout is not None
        ended = asyncio.ensure_future(process.wait())
        try:
            if again:  # pactl still running a moment after it started: it reached a server, which is back
                await asyncio.wait({ended}, timeout=self.CONNECTED_S)
                if not ended.done():
                    log.info("the sound server is back")
                    self._on_change()
            async for line in process.stdout:
                if (b"'new'" in line or b"'remove'" in line) and (b" source " in line or b" sink " in line):
                    self._on_change()
            await ended
        finally:
            ended.cancel()

    async def stop(self) -> None:
        """Stop listening, and the process."""
        task, self._task = self._task, None
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            with contextlib.suppress(ProcessLookupError, asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), 2)
        if task is not None:
            await finish(task, cancel=True)
