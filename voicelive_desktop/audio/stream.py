"""Opening, watching and reopening one PortAudio stream; shared by capture and playback.

A device that disappears does not always raise: PulseAudio may move the stream, or PortAudio may simply stop
calling back. So a watchdog on the event loop checks that callbacks keep coming; when they stop (or the
stream ends by itself), the problem is reported and the stream is reopened on the system default device.

A stream with nothing to do can be suspended: PortAudio stops calling back (each callback costs the process
CPU, however little it does), and it is started again in a worker thread when there is work. The watchdog
sleeps meanwhile.

Every call that waits on the sound server runs on a daemon thread of its own, not the loop's executor: when the
server dies under a stream, PortAudio's start can wait forever (ALSA's pulse plugin waits for a server that is
gone), and a stuck executor thread would hold the app's exit. The watchdog gives a start or stop
:data:`ManagedStream.SWITCH_LIMIT_S`, then leaves that stream to its thread and opens a new one.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .backend import AudioProblem, in_daemon_thread
from .devices import Kind, OpenSpec, list_devices, opening_env, resolve
from .ring import FrameRing
from .timings import CallbackTimings

log = logging.getLogger(__name__)

StreamCallback = Callable[..., None]
ProblemSink = Callable[[AudioProblem], None]


class ManagedStream:
    """One input or output stream at ``rate`` (or the device's own rate when it refuses ``rate``).

    Args:
        sd: the sounddevice module (injected so that tests and benchmarks pick their own).
        kind: "input" or "output".
        rate: the rate the rest of the program speaks (the session rate).
        block_frames: frames per callback at ``rate``.
        callback: the PortAudio callback (sounddevice's raw signature).
        on_problem: called on the event loop with every :class:`AudioProblem`.
        on_reopen: called on the event loop after the stream was reopened (e.g. at another rate).
        on_gone: called on the event loop when the stream stopped working and could not be reopened (it is
            closed; nothing will play or record until it is opened again).
    """

    CHECK_EVERY_S = 0.5
    SILENT_FOR_S = 0.75
    FIRST_CALLBACK_S = 3.0  # some servers take a while to start a new stream
    MAX_REOPENS = 2  # in a row, without a stable stretch between them
    STABLE_S = 5.0
    SWITCH_LIMIT_S = 3.0  # a start or stop that takes longer is stuck inside PortAudio

    def __init__(
        self,
        sd: ModuleType,
        kind: Kind,
        *,
        rate: int,
        block_frames: int,
        callback: StreamCallback,
        on_problem: ProblemSink,
        on_reopen: Callable[[], None] | None = None,
        on_gone: Callable[[], None] | None = None,
    ) -> None:
        self.sd = sd
        self.kind = kind
        self.rate = rate
        self.block_frames = block_frames
        self._callback = callback
        self.on_problem = on_problem
        self._on_reopen = on_reopen
        self._on_gone = on_gone
        self.device_rate = rate
        self.label = ""
        self._stream: Any = None
        self._watchdog: asyncio.Task[None] | None = None
        self.callbacks = 0  # incremented by the owner's callback through tick()
        self._reopens = 0
        self._reopened_at = 0.0
        self.latency_s = 0.0
        self.suspended = False  # wanted: no callbacks until resume()
        self._running = False  # what the device was last told: started or stopped
        self._ops = threading.Lock()  # one start/stop/close on the PortAudio stream at a time
        self._switching: asyncio.Task[None] | None = None
        self._stuck: set[asyncio.Task[None]] = set()  # switches that never came back, kept referenced
        self._opening = asyncio.Lock()  # one open at a time (see open_async)
        self._generation = 0  # counts closes: an open that a close overtook does not keep its stream
        self._in_portaudio = False  # a worker is opening the stream right now
        self._switch_doing = ""  # "start" or "stop": what the worker does to the stream now
        self._resumed = asyncio.Event()
        self._timings = CallbackTimings.from_environment(kind)  # None unless VOICELIVE_AUDIO_TIMINGS is set

    @property
    def is_open(self) -> bool:
        """True while a stream is running."""
        return self._stream is not None

    def tick(self) -> None:
        """Called at the top of every callback: proof of life for the watchdog (an int add, nothing more)."""
        self.callbacks += 1

    def open(self, device_name: str | None) -> bool:
        """Open and start on ``device_name`` (None: the system default), blocking this thread while the sound
        server answers. Returns False after reporting why not. The app uses :meth:`open_async`."""
        self.close()
        problems: list[AudioProblem] = []
        ok = self._open_blocking(device_name, problems.append)
        return self._opened(ok, problems)

    async def open_async(self, device_name: str | None) -> bool:
        """:meth:`open` in a worker thread, so the GUI thread never waits for the sound server.

        One open at a time: two that overlapped (a late sound server answering while the app starts, a restart
        seen by the watchdog and by the device watch) would leave the first stream running, unclosable, on the
        same ring. A :meth:`close` while the open runs wins: the stream it opens is closed again.
        """
        async with self._opening:
            self.close()
            generation = self._generation
            problems: list[AudioProblem] = []
            self._in_portaudio = True
            try:
                ok = await in_daemon_thread(self._open_blocking, device_name, problems.append, name="audio-device")
            finally:
                self._in_portaudio = False
            if generation != self._generation:
                log.debug("%s was closed while it opened", self.kind)
                self.close()
                return False
            return self._opened(ok, problems)

    def _opened(self, ok: bool, problems: list[AudioProblem]) -> bool:
        for problem in problems:  # reported on the caller's thread, never from the worker
            self.on_problem(problem)
        self._resumed.set()
        if ok:
            self._ensure_watchdog()
        return ok

    def _open_blocking(self, device_name: str | None, report: ProblemSink) -> bool:
        spec = resolve(self.sd, self.kind, device_name)
        if device_name and spec.env == {} and spec.portaudio_device != device_name:
            report(AudioProblem("device-lost", f"{device_name} is not connected; using {spec.label}."))
        for rate in self._candidate_rates(spec):
            try:
                self._start(spec, rate)
            except self.sd.PortAudioError as exc:
                log.info("cannot open %s at %d Hz: %s", spec.label, rate, exc)
                continue
            except ValueError as exc:  # sounddevice's "No input device matching ..."
                report(AudioProblem("no-device", self._no_device_message(str(exc))))
                return False
            self.device_rate, self.label = rate, spec.label
            return True
        report(AudioProblem("open-failed", self._no_device_message(f"{spec.label} could not be opened")))
        return False

    def _no_device_message(self, detail: str) -> str:
        what = "microphone" if self.kind == "input" else "speaker or headphones"
        tail = "You can still type messages." if self.kind == "input" else "Answers will show as text only."
        return f"No usable {what} found ({detail}). Connect one or pick another in Settings > Audio. {tail}"

    def _candidate_rates(self, spec: OpenSpec) -> list[int]:
        rates = [self.rate]
        try:
            with opening_env(spec):
                info = self.sd.query_devices(spec.portaudio_device, self.kind)
            native = int(info["default_samplerate"])
            if native != self.rate:
                rates.append(native)
        except (ValueError, self.sd.PortAudioError):
            pass
        return rates

    def _start(self, spec: OpenSpec, rate: int) -> None:
        cls = self.sd.RawInputStream if self.kind == "input" else self.sd.RawOutputStream
        blocksize = max(1, self.block_frames * rate // self.rate)
        with opening_env(spec):
            stream = cls(
                samplerate=rate,
                blocksize=blocksize,
                device=spec.portaudio_device,
                channels=1,
                dtype="int16",
                latency="low",
                callback=self._callback if self._timings is None else self._timings.wrap(self._callback),
            )
            _HELD.add(stream)
            try:
                stream.start()
            except BaseException:
                _shut(stream)  # opened but not started: closed here, not dropped with PortAudio holding it
                raise
        self._stream = stream
        self._running = True
        self.suspended = False
        self.latency_s = float(stream.latency)

    def close(self) -> None:
        """Stop and close the stream (and its watchdog)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._generation += 1
        if self._in_portaudio:  # a worker is inside PortAudio, opening: it may never come back
            _skip_portaudio_exit(self.sd)
        stream, self._stream = self._stream, None
        self.suspended = self._running = False
        if stream is None:
            return
        if self._ops.acquire(blocking=False):
            try:
                _shut(stream)
            finally:
                self._ops.release()
        else:  # a worker is starting or stopping it right now: close it there once that is done
            _skip_portaudio_exit(self.sd)  # if that start or stop never returns, PortAudio's exit would abort
            self._shut_later(stream)
        if self._timings is not None:
            self._timings.write(self.label, self.block_frames, self.rate)

    def _shut_later(self, stream: Any) -> None:
        ops = self._ops  # the lock the worker holds (a stuck stream's lock is replaced, see _abandon)
        threading.Thread(target=_shut_when_free, args=(stream, ops), name="audio-close", daemon=True).start()

    # ----------------------------------------------------------------- suspend and resume (event loop)
    def suspend(self) -> None:
        """Stop the callbacks while there is nothing to do (the device is stopped in a worker thread)."""
        if self._stream is not None and not self.suspended:
            self.suspended = True
            self._resumed.clear()
            self._follow_wanted_state()

    def resume(self) -> None:
        """Start calling back again after :meth:`suspend` (in a worker thread; the first callback follows)."""
        if self.suspended:
            self.suspended = False
            self._resumed.set()
            self._follow_wanted_state()

    @property
    def switching(self) -> bool:
        """True while the device is being started or stopped."""
        return self._switching is not None and not self._switching.done()

    def _follow_wanted_state(self) -> None:
        if not self.switching:
            self._switching = asyncio.get_running_loop().create_task(self._follow(), name=f"audio-{self.kind}-switch")

    async def _follow(self) -> None:
        """Start or stop the device until it is as wanted (the wish may change while a switch runs)."""
        stream = self._stream
        while stream is not None and self._stream is stream and self._running == self.suspended:
            if not await in_daemon_thread(self._switch, stream, not self.suspended, name="audio-device"):
                return

    def _switch(self, stream: Any, start: bool) -> bool:
        """In a worker thread: start or stop ``stream``, unless it was closed meanwhile."""
        with self._ops:
            if self._stream is not stream:
                return False
            self._switch_doing = "start" if start else "stop"
            try:
                stream.start() if start else stream.abort(ignore_errors=False)
            except self.sd.PortAudioError as exc:
                log.info("cannot %s %s: %s", "start" if start else "stop", self.label, exc)
                return False  # the watchdog finds a stream that does not call back, and reopens it
            if self._stream is stream:  # not abandoned while it was stuck (see _abandon)
                self._running = start
            return True

    async def _switched(self) -> bool:
        """Wait for a start or stop in progress; False when it is stuck (then the stream is abandoned)."""
        switching = self._switching
        if switching is None or switching.done():
            return True
        await asyncio.wait({switching}, timeout=self.SWITCH_LIMIT_S)
        if switching.done():
            return True
        self._abandon(switching)
        return False

    def _abandon(self, switching: asyncio.Task[None]) -> None:
        """Leave a stream whose start or stop never returned to the thread stuck in it: that thread holds the
        stream's lock, so the next stream gets a lock of its own, and the stuck one is closed if it ever
        returns. Nothing here waits on it."""
        log.warning("%s did not %s within %.0f s", self.label, self._switch_doing, self.SWITCH_LIMIT_S)
        self._stuck.add(switching)
        switching.add_done_callback(self._stuck.discard)
        self._switching = None
        stream, self._stream = self._stream, None
        if stream is not None:
            self._shut_later(stream)
        self._ops = threading.Lock()
        self.suspended = self._running = False
        _skip_portaudio_exit(self.sd)

    def _ensure_watchdog(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a plain script): nobody to report to
        self._watchdog = loop.create_task(self._watch(), name=f"audio-{self.kind}-watchdog")

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        seen, last_alive = self.callbacks, loop.time()
        while True:
            await asyncio.sleep(self.CHECK_EVERY_S)
            stream = self._stream
            if stream is None:
                return
            if self.suspended or self.switching:
                await self._resumed.wait()  # no callbacks expected: nothing to watch until resumed
                if await self._switched():
                    seen, last_alive = self.callbacks, loop.time()
                    continue
            elif self.callbacks != seen and stream.active:
                seen, last_alive = self.callbacks, loop.time()
                if loop.time() - self._reopened_at > self.STABLE_S:
                    self._reopens = 0
                continue
            elif loop.time() - last_alive < self._patience() and stream.active:
                continue
            await self._lost(loop.time())
            return

    def _patience(self) -> float:
        """How long the stream may stay silent: longer for its first callback (some servers start slowly)."""
        return self.SILENT_FOR_S if self.callbacks else self.FIRST_CALLBACK_S

    async def _lost(self, now: float) -> None:
        """The stream stopped calling back, ended, or is stuck: say so, and reopen it on the system default."""
        self._watchdog = None  # open_async() and close() below must not cancel the task that is running them
        lost = self.label or "The audio device"
        if self._reopens >= self.MAX_REOPENS:
            # The default device itself keeps stalling: close it, say so once, and stop reopening it in a loop.
            self.close()
            if self._on_gone is not None:
                self._on_gone()
            self.on_problem(AudioProblem("device-lost", f"{lost} is not responding. Check it in Settings > Audio."))
            return
        self.on_problem(AudioProblem("device-lost", f"{lost} stopped working; switched to the system default."))
        self._reopens += 1
        self._reopened_at = now
        if await self.open_async(None):
            if self._on_reopen is not None:
                self._on_reopen()
        elif self._on_gone is not None:
            self._on_gone()


#: Every stream PortAudio may still call. Each holds the C callback PortAudio's thread calls: freed with the
#: stream object while that thread runs (a stream dropped unclosed, or one whose close failed), it crashes the
#: process (seen as SIGILL and SIGABRT in cffi under heavy load). A stream leaves this set only once closed; one
#: PortAudio would not close stays for the life of the process: a leak, never a crash.
_HELD: set[Any] = set()


def _skip_portaudio_exit(sd: ModuleType) -> None:
    """At exit sounddevice terminates PortAudio, which closes every stream and destroys its locks: with a thread
    stuck inside a stream that aborts the process (PortAudio asserts on a lock still held). Once a stream is
    stuck the process exits without that step; the system frees what PortAudio held. (``_exit_handler`` is
    sounddevice's own name for it; a module without one, as in tests, has nothing to skip.)"""
    handler = getattr(sd, "_exit_handler", None)
    if handler is not None:
        atexit.unregister(handler)


def _shut_when_free(stream: Any, ops: threading.Lock) -> None:
    with ops:
        _shut(stream)


def _shut(stream: Any) -> None:
    # sounddevice ignores PortAudio's errors here unless told not to: a failed close would go unseen.
    with contextlib.suppress(Exception):
        stream.abort(ignore_errors=False)
    try:
        stream.close(ignore_errors=False)
    except Exception as exc:
        log.warning("an audio stream could not be closed (%s); it is kept, not freed under the sound system", exc)
    else:
        _HELD.discard(stream)


_KEEP: Any = object()


class StreamEnd:
    """What capture and playback share: one managed stream feeding or draining one ring.

    Code outside audio/ uses this interface (open, configure, close, label, latency) and never the stream.
    """

    stream: ManagedStream
    _ring: FrameRing
    device: str | None = None  # the device chosen by name; None follows the system default
    block_ms: int

    @property
    def is_open(self) -> bool:
        """True while the stream runs (the UI shows whether the microphone is open)."""
        return self.stream.is_open

    @property
    def label(self) -> str:
        """The device in use, as the user knows it."""
        return self.stream.label

    @property
    def latency_s(self) -> float:
        """The device's own buffering, in seconds."""
        return self.stream.latency_s

    @property
    def dropped_frames(self) -> int:
        """Frames lost to the ring's overflow policy."""
        return self._ring.dropped

    def present_devices(self) -> set[str]:
        """The names of the devices of this kind the sound server has now (blocking: it asks the server)."""
        return {d.name for d in list_devices(self.stream.sd, self.stream.kind)}

    def set_problem_sink(self, sink: ProblemSink) -> None:
        """Where audio problems go (called on the event loop)."""
        self.stream.on_problem = sink

    def _managed_stream(
        self, sd: ModuleType, kind: Kind, *, rate: int, block_ms: int, on_problem: ProblemSink
    ) -> ManagedStream:
        """The stream this end drives with its ``_callback``, reopened through its ``_reset``."""
        return ManagedStream(
            sd,
            kind,
            rate=rate,
            block_frames=rate * self._device_block_ms(block_ms) // 1000,
            callback=self._callback,
            on_problem=on_problem,
            on_reopen=self._reset,
            on_gone=self._gone,
        )

    def open(self, device_name: str | None = _KEEP) -> bool:
        """Open the device called ``device_name`` (None: the system default; omitted: the one chosen last).

        Blocks this thread while the sound server answers; the app uses :meth:`open_async`.
        """
        if device_name is not _KEEP:
            self.device = device_name
        ok = self.stream.open(self.device)
        self._reset()
        return ok

    async def open_async(self, device_name: str | None = _KEEP) -> bool:
        """:meth:`open` without blocking the event loop (the app's way)."""
        if device_name is not _KEEP:
            self.device = device_name
        ok = await self.stream.open_async(self.device)
        self._reset()
        return ok

    async def configure(
        self, *, device: str | None = _KEEP, rate: int | None = None, block_ms: int | None = None
    ) -> bool:
        """Use another device, rate or block size; an open stream is reopened with them at once.

        Returns:
            False when the stream was open and could not be reopened (the problem was reported).
        """
        changed = False
        if device is not _KEEP and device != self.device:
            self.device, changed = device, True
        if rate is not None and rate != self.stream.rate:
            self._set_rate(rate)
            changed = True
        if block_ms is not None and block_ms != self.block_ms:
            self.block_ms, changed = block_ms, True
        self.stream.block_frames = self.stream.rate * self._device_block_ms(self.block_ms) // 1000
        if not changed or not self.is_open:
            return True
        self.close()
        return await self.open_async()

    def _device_block_ms(self, block_ms: int) -> int:
        """The block the device is opened with, for the block length the settings ask for."""
        return block_ms

    def _set_rate(self, rate: int) -> None:
        """Speak ``rate`` to the rest of the program from the next open on."""
        self.stream.rate = rate

    def close(self) -> None:
        """Stop and close the stream."""
        self.stream.close()

    def _callback(self, data: Any, frames: int, time_info: Any, status: Any) -> None:
        """The PortAudio callback (on PortAudio's thread): copy between ``data`` and the ring, nothing more."""
        raise NotImplementedError

    def _reset(self) -> None:
        """Fit the ring to the rate the device opened at; also called when the stream is reopened."""
        raise NotImplementedError

    def _gone(self) -> None:
        """The stream stopped working and could not be reopened (it is closed)."""
