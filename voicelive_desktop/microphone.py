"""When the microphone is open, Qt-free: the one place that decides it, and that knows when there is none.

With a pre-roll the microphone stays open between turns (the start of the first word is already in the ring
when the key goes down), its callback copying each block into the ring and nothing more; with the pre-roll
set to 0 ms, or the microphone not kept open, it closes while idle (no callbacks at all) and opens for each
turn. The device is opened in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from .assistant_events import AudioStatus
from .audio.backend import AudioProblem
from .audio.capture import Capture
from .audio.devices import DeviceWatch
from .audio.playback import Playback
from .tasks import finish


@dataclass(frozen=True)
class AudioOptions:
    """Device choice and capture behaviour, as the settings give them."""

    input_device: str | None = None
    output_device: str | None = None
    keep_mic_open: bool = True


class Microphone:
    """The capture side of a turn, and the status line's view of both devices.

    Args:
        capture: the microphone, or None when there is no audio at all (typing still works).
        playback: the speaker, reported alongside.
        options: devices and whether the microphone stays open.
        on_status: gets an :class:`AudioStatus` whenever a device opens, closes or changes.
        on_problem: gets every :class:`AudioProblem` of either device.
    """

    def __init__(
        self,
        capture: Capture | None,
        playback: Playback | None,
        options: AudioOptions,
        *,
        on_status: Callable[[AudioStatus], None],
        on_problem: Callable[[AudioProblem], None],
    ) -> None:
        self.capture: Capture | None = None
        self.playback: Playback | None = None
        self.options = options
        self._on_status = on_status
        self._on_problem = on_problem
        self.missing = True  # no usable microphone, as far as is known now
        self.muted = False  # the user muted it (tray menu): closed, and no turn opens it
        self._watch: DeviceWatch | None = None
        self._checking: asyncio.Task[None] | None = None
        self._changed = False
        self.attach(capture, playback)

    def attach(self, capture: Capture | None, playback: Playback | None) -> None:
        """Take the devices (at construction, or once a sound server that started late answers); ``start`` opens
        them. Whoever uses the devices directly (the assistant) must then be told, see
        :meth:`Assistant.hook_audio`."""
        self.capture, self.playback = capture, playback
        self.missing = capture is None
        if self._watch is None and (capture is not None or playback is not None):
            self._watch = DeviceWatch(self._devices_changed)
        if capture is not None:
            capture.set_problem_sink(lambda problem: self._problem(problem, microphone=True))
        if playback is not None:
            playback.set_problem_sink(lambda problem: self._problem(problem, microphone=False))

    def _problem(self, problem: AudioProblem, *, microphone: bool) -> None:
        if microphone and problem.kind in ("no-device", "open-failed"):
            self.missing = True
        self._on_problem(problem)
        self.report()

    def report(self) -> None:
        """Tell the status line which devices are in use."""
        cap, play = self.capture, self.playback
        if cap is None:
            mic = "No microphone"
        elif self.muted:
            mic = "Microphone muted"
        else:
            mic = cap.label if cap.is_open else ("No microphone" if self.missing else "Microphone closed")
        speaker = play.label if play is not None and play.is_open else "No speaker"
        self._on_status(AudioStatus(mic, speaker, bool(cap and cap.is_open), muted=self.muted))

    @property
    def preroll_wanted(self) -> bool:
        """Whether the microphone stays open between turns: kept open, not muted, and a pre-roll to keep."""
        return (
            self.options.keep_mic_open and not self.muted and self.capture is not None and self.capture.preroll_ms > 0
        )

    async def set_muted(self, muted: bool) -> None:
        """Mute (close the microphone; no turn opens it) or unmute (open it again if it stays open)."""
        self.muted = muted
        if muted and self.capture is not None:
            self.capture.close()
        await self.start()

    async def start(self) -> None:
        """Open the speaker, and the microphone when it stays open between turns; watch for unplugged devices."""
        if self._watch is not None:
            self._watch.start()
        if self.playback is not None and not self.playback.is_open:
            await self.playback.open_async(self.options.output_device)
        if self.capture is not None and self.preroll_wanted and not self.capture.is_open:
            self.missing = not await self.capture.open_async(self.options.input_device)
        self.report()

    async def apply(self, options: AudioOptions) -> None:
        """Take new device choices: a changed device is reopened at once, the policy applies from now."""
        old, self.options = self.options, options
        if self.playback is not None and options.output_device != old.output_device:
            await self.playback.configure(device=options.output_device)
        if self.capture is not None:
            if options.input_device != old.input_device:
                self.missing = not await self.capture.configure(device=options.input_device)
            if not self.preroll_wanted and self.capture.is_open:
                self.capture.close()
        await self.start()

    async def open_for_turn(self) -> bool:
        """Make sure the microphone is open for a turn that starts now. False: there is none (reported)."""
        capture = self.capture
        if capture is None or self.muted:
            return False
        if not capture.is_open:
            was_missing = self.missing
            self.missing = not await capture.open_async(self.options.input_device)
            if was_missing and not self.missing:
                self._on_problem(AudioProblem("device-back", f"{capture.label} works again."))
            self.report()
        return capture.is_open

    def after_turn(self) -> None:
        """The turn's audio is all sent: close the microphone unless it stays open between turns."""
        if self.capture is not None and not self.preroll_wanted and self.capture.is_open:
            self.capture.close()
            self.report()

    def _devices_changed(self) -> None:
        self._changed = True  # a change during a check is checked again after it (the server's return says so once)
        if self._checking is None or self._checking.done():
            self._checking = asyncio.get_running_loop().create_task(self._follow_changes(), name="audio-device-check")

    async def _follow_changes(self) -> None:
        while self._changed:
            self._changed = False
            await self._follow_devices()

    async def _follow_devices(self) -> None:
        """A device came or went: leave a chosen device that is gone, go back to it when it is back; and after
        the sound server came back, open again what died with it."""
        end = self.capture or self.playback
        if end is None:
            return
        await self._reopen_closed()
        names = await asyncio.to_thread(end.present_devices)
        for kind, device, chosen in (
            ("microphone", self.capture, self.options.input_device),
            ("speaker", self.playback, self.options.output_device),
        ):
            if device is None or not chosen:
                continue
            if device.device == chosen and chosen not in names and device.is_open:
                label = device.label or chosen
                await device.configure(device=None)
                self._problem(
                    AudioProblem("device-lost", f"{label} was disconnected; the system default {kind} takes over."),
                    microphone=kind == "microphone",
                )
            elif device.device is None and chosen in names and device.is_open:
                await device.configure(device=chosen)
                self._on_problem(AudioProblem("device-back", f"{device.label} is connected again: back to it."))
                self.report()

    async def _reopen_closed(self) -> None:
        """Open what should be open and is not: the speaker, and the microphone while it stays open between turns
        (a stream the sound server took down with it, or one that could not be reopened then)."""
        for end, wanted in ((self.playback, True), (self.capture, self.preroll_wanted)):
            if end is None or end.is_open or not wanted:
                continue
            if await end.open_async():
                if end is self.capture:
                    self.missing = False
                self._on_problem(AudioProblem("device-back", f"{end.label} works again."))
                self.report()

    async def close(self) -> None:
        """Close both devices and stop watching them."""
        if self._watch is not None:
            await self._watch.stop()
        if self._checking is not None:
            await finish(self._checking, cancel=True)
        for end in (self.capture, self.playback):
            if end is not None:
                end.close()

    async def stream(self, stop: asyncio.Event) -> AsyncIterator[bytes]:
        """Hands-free: the microphone's audio, for as long as ``stop`` is not set, across device reopens."""
        capture = self.capture
        assert capture is not None
        while not stop.is_set():
            if not capture.is_open and not await self.open_for_turn():
                await _wait_or(stop, 1.0)  # retried: a microphone may be plugged in
                continue
            capture.begin_turn()
            async for chunk in capture.turn_audio():
                if stop.is_set():
                    return
                yield chunk
            await _wait_or(stop, 0.1)  # the stream ended (device lost, reopened): pick it up again


async def _wait_or(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
