"""Connection supervision, Qt-free: at most one Voice Live session open, and reconnects that heal by themselves.

One task (the *run loop*) is the only code that opens or closes a session, so however fast the user switches
models there is never a second billed session open, and a switch that was overtaken by another is never made.
Callers only say what they want (:meth:`Supervisor.connect`, :meth:`Supervisor.disconnect`) and wait for the
loop to get there.

What heals is retried with exponential backoff and jitter, for as long as it takes: a lost transport (1006), a
service-side close (1001 session expired, 1011), a 5xx or 429 at the handshake, an unreachable network. What
cannot heal (401, 403, 404, 400) stops with its own message until the user changes something. A token that is
about to expire, or a session whose ``expires_at`` comes near, is replaced at the first turn boundary, without
the user seeing a reconnect. A session whose conversation the user left is replaced as soon as the host is done
with it (it owes the left conversation nothing more: see :meth:`SessionHost.done_with`); meanwhile it is no
longer the user's: its errors are not shown, and if it drops, the next session comes at once, unseen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from .tasks import finish
from .voicelive.config import SessionConfig
from .voicelive.credentials import Credential
from .voicelive.events import AppEvent, ConnectionChanged, ConnState, ErrorCategory, ErrorRaised, SessionStarted
from .voicelive.modes import Target
from .voicelive.session import VoiceLiveSession, abandoned_handshakes

log = logging.getLogger(__name__)

#: Replace a session this long before its announced expiry, or its sign-in token's, at the first turn boundary.
RENEW_BEFORE_S = 120.0
#: A renewal is unseen (the header stays "Connected") for this long; a handshake that takes longer is shown.
QUIET_RENEWAL_S = 1.5
#: How long a new connection waits for the ones given up on to end (and be closed): longer only if one hangs.
ABANDONED_WAIT_S = 1.0
#: Shown when supervising the connection broke on a bug (the log has it) and starts again.
SUPERVISION_FAILED = "The connection stopped on an error in the app (the log has the details); connecting again."

SessionFactory = Callable[[Target, Credential, SessionConfig], VoiceLiveSession]


class SessionHost(Protocol):
    """What the supervisor hands sessions to: the turn engine."""

    def attach(self, session: VoiceLiveSession) -> None:
        """A session is connected and is now the one to use."""

    def detach(self, session: VoiceLiveSession, *, lost: bool) -> None:
        """``session`` is going away; ``lost`` when the link failed rather than being closed on purpose."""

    def handle(self, session: VoiceLiveSession, event: AppEvent) -> None:
        """One event from the current session (which the host may no longer use: see :meth:`in_use`)."""

    def in_use(self, session: VoiceLiveSession) -> bool:
        """False once the host stopped using ``session`` (its conversation was left); it awaits the renewal."""

    def done_with(self, session: VoiceLiveSession) -> bool:
        """True when ``session`` can be replaced now, unnoticed, after :meth:`Supervisor.renew`."""

    def at_turn_boundary(self) -> bool:
        """True when nothing is being said or answered: a reconnect now goes unnoticed."""

    def connection_state(self, state: ConnState) -> None:
        """Where the connection stands now (whether intents can be taken, to send now or later)."""


@dataclass
class Backoff:
    """Exponential backoff with jitter: ``base``, doubling, up to ``cap`` seconds; jitter takes up to half off."""

    base: float = 1.0
    cap: float = 30.0
    rng: Callable[[], float] = random.random

    def delay(self, attempt: int, at_least: float | None = None) -> float:
        """Seconds to wait before ``attempt`` (1 for the first retry); never less than ``at_least``."""
        ceiling = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        jittered = ceiling * (0.5 + 0.5 * float(self.rng()))
        return max(jittered, at_least or 0.0)


@dataclass(frozen=True)
class _Want:
    """A connection the user asked for, and which request asked for it (the configuration may change live)."""

    target: Target
    credential: Credential
    version: int


class Supervisor:
    """Owns the session and the connection state the user sees.

    Args:
        host: the turn engine, which gets each session and its events.
        listener: where ConnectionChanged and connection errors go (the UI).
        session_factory: builds a session (tests may wrap the SDK's connector).
        backoff: the retry schedule.
        clock: monotonic seconds; wall: Unix seconds (``expires_at`` is wall-clock time).
    """

    def __init__(
        self,
        host: SessionHost,
        listener: Callable[[AppEvent], None],
        *,
        session_factory: SessionFactory = VoiceLiveSession,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._host = host
        self._listener = listener
        self._factory = session_factory
        self._backoff = backoff or Backoff()
        self._clock, self._wall = clock, wall
        self.session: VoiceLiveSession | None = None
        self.state = ConnectionChanged(ConnState.DISCONNECTED)
        self.config: SessionConfig | None = None  # what the next session is configured with
        self._want: _Want | None = None
        self._version = 0
        self._waiters: list[tuple[int, asyncio.Future[bool]]] = []
        self._poke = asyncio.Event()
        self._retry_now = False
        self._renew_now = False  # renew at the next turn boundary (a voice change, a sleep, an expiry)
        self._renew_asked = False  # renew() was called, and the renewal is still to happen
        self._lost = asyncio.Event()
        self._lost_error: ErrorRaised | None = None
        self._lost_code: int | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        # The last session to connect, until it is current (its errors are shown, and say why it failed).
        self._connecting: VoiceLiveSession | None = None
        self._closed = False

    # ----------------------------------------------------------------- what callers ask for
    @property
    def connected(self) -> bool:
        """True while a session is connected."""
        return self.session is not None and self.session.state is ConnState.CONNECTED

    async def connect(self, target: Target, credential: Credential, config: SessionConfig) -> bool:
        """Connect to ``target`` (closing any other session first). Returns whether it connected.

        A request overtaken by a newer one returns the newer one's outcome. A first attempt that fails with an
        error that heals returns False while retries go on in the background.
        """
        self._version += 1
        self._want = _Want(target, credential, self._version)
        self.config = config
        return await self._wait(self._version)

    async def disconnect(self) -> None:
        """Close the session on purpose; no reconnect follows."""
        self._version += 1
        self._want = None
        await self._wait(self._version)

    def update_config(self, config: SessionConfig) -> None:
        """Apply ``config`` to the live session, or reconnect with it when the service forbids a live change.

        A new voice waits for the next turn boundary (an answer coming in meanwhile finishes in the voice it began
        in); a new microphone rate cannot wait: the microphone already captures at it.
        """
        old = self.config
        self.config = config
        session, want = self.session, self._want
        if session is None or want is None or not self.connected or session.update_config(config):
            return
        if old is None or config.input_sample_rate != old.input_sample_rate:
            log.info("a new microphone rate needs a new session: reconnecting now")
            self._version += 1
            self._want = _Want(want.target, want.credential, self._version)
        else:
            log.info("a new voice needs a new session: at the next turn boundary")
            self._renew_now = True
        self._poke.set()

    def renew(self) -> None:
        """Replace the session with a fresh one to the same target (a conversation was replaced: the live
        session's context is no longer the one on screen). Happens as soon as the host is done with the session
        (see :meth:`SessionHost.done_with`), unseen, whatever else waits for a renewal."""
        if self.connected:
            self._renew_asked = True
            self._poke.set()

    def retry_now(self) -> None:
        """Skip the rest of the backoff wait (the "Retry now" action, or the network coming back)."""
        self._retry_now = True
        self._poke.set()

    def wake(self, slept: bool) -> None:
        """The network came back, or the machine woke (``slept``): retry at once, and renew a session that
        may have died silently while the machine slept, at the next turn boundary."""
        if slept and self.connected:
            self._renew_now = True
        self.retry_now()

    async def close(self) -> None:
        """Close the session and stop supervising; at once, even in the middle of a handshake that hangs."""
        self._closed = True
        self._version += 1
        self._want = None
        task, self._loop_task = self._loop_task, None
        if task is not None:
            self._poke.set()  # the loop closes the session (or gives up a handshake) and ends
            try:
                await finish(task)
            except Exception:  # the loop broke earlier (a bug): its session is still closed below
                log.exception("the connection supervisor had failed")
        await self._close_session(lost=False)
        self._settle(self._version, False)
        for pump in list(self._pumps):
            await finish(pump, grace_s=2)

    async def _wait(self, version: int) -> bool:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._run(), name="connection-supervisor")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append((version, future))
        self._poke.set()
        return await future

    def _settle(self, version: int, ok: bool) -> None:
        """Every request up to ``version`` is answered with ``ok`` (later ones are still on their way)."""
        keep: list[tuple[int, asyncio.Future[bool]]] = []
        for wanted, future in self._waiters:
            if wanted > version:
                keep.append((wanted, future))
            elif not future.done():
                future.set_result(ok)
        self._waiters = keep

    def _publish(self, state: ConnState, want: _Want | None, **extra: object) -> None:
        description = want.target.describe() if want is not None else ""
        self.state = ConnectionChanged(state, description, **extra)  # type: ignore[arg-type]
        self._host.connection_state(state)
        self._tell(self.state)

    def _tell(self, event: AppEvent) -> None:
        """Show ``event``: a view that fails on it must not stop the connection being looked after."""
        try:
            self._listener(event)
        except Exception:
            log.exception("showing %s failed", type(event).__name__)

    def _current(self, want: _Want) -> bool:
        return self._want is not None and self._want.version == want.version and not self._closed

    # ----------------------------------------------------------------- the run loop
    async def _run(self) -> None:
        """Supervise until closed. A bug that breaks supervising is reported and supervising starts again, after
        a back-off that grows while it keeps breaking: never "Connected" over a session nobody looks after."""
        crashes = 0
        while True:
            started = self._clock()
            try:
                await self._supervise_wants()
                return
            except Exception:
                ran_s = self._clock() - started  # a bug that comes back at once grows the back-off
                crashes = 1 if ran_s > self._backoff.cap else crashes + 1
                log.exception("connection supervision failed (%d in a row); starting it again", crashes)
            want, connecting = self._want, self._connecting
            self._settle(self._version, False)
            await self._close_quietly(self._close_session(lost=True))
            if connecting is not None:  # broken mid-handshake: the session being opened is closed too
                await self._close_quietly(connecting.close())
            if self._closed:
                return  # quitting: what was open is closed
            if want is None or not self._current(want):
                if crashes > 1:  # broke again at once with nothing to connect: not a busy loop
                    self._poke.clear()
                    await self._until_poked(at_most_s=self._backoff.delay(crashes))
                continue
            self._tell(ErrorRaised(ErrorCategory.CONNECTION_LOST, SUPERVISION_FAILED))
            await self._back_off(want, crashes, None)

    @staticmethod
    async def _close_quietly(closing: Coroutine[Any, Any, None]) -> None:
        try:
            await closing
        except Exception:
            log.exception("closing a session after supervising failed, failed too")

    async def _supervise_wants(self) -> None:
        attempt, quiet = 0, False
        while True:
            self._poke.clear()
            want = self._want
            if want is None:
                await self._close_session(lost=False)
                if self.state.state is not ConnState.DISCONNECTED:
                    self._publish(ConnState.DISCONNECTED, None)
                self._settle(self._version, False)
                if self._closed:
                    return
                await self._poke.wait()
                attempt, quiet = 0, False
                continue
            await self._close_session(lost=False)
            seen = None
            if quiet:  # a renewal, unseen unless it takes long enough to notice
                seen = asyncio.get_running_loop().call_later(QUIET_RENEWAL_S, self._renewal_seen, want)
            else:
                self._publish(ConnState.RECONNECTING if attempt else ConnState.CONNECTING, want, attempt=attempt)
            try:
                if not await self._abandoned_ended(want):
                    continue  # asked for something else meanwhile
                config = self.config
                assert config is not None
                self._renew_now = False  # what asked for a renewal asked for a fresh session: this one
                session = self._connecting = self._factory(want.target, want.credential, config)
                self._start_pump(session)
                ok = await self._handshake(session, want)
            finally:
                if seen is not None:
                    seen.cancel()
            if not self._current(want):  # overtaken while connecting: never keep a session nobody wants
                if self.session is session:
                    await self._close_session(lost=False)
                else:
                    await session.close()
                continue
            if ok:
                attempt, quiet = 0, False
                outcome = await self._supervise(session, want)
                if outcome == "renew":
                    quiet = True
                elif outcome == "lost":
                    attempt = 1
                    await self._close_session(lost=True)
                    await self._back_off(want, attempt, self._lost_error)
                continue
            await session.close()
            error = session.last_error or ErrorRaised(ErrorCategory.UNREACHABLE, "The connection failed.")
            self._settle(want.version, False)
            if not error.category.heals:
                self._publish(ConnState.FAILED, want, detail=error.category.summary)
                await self._wait_for_change(want)
                attempt, quiet = 0, False
                continue
            attempt, quiet = attempt + 1, False
            await self._back_off(want, attempt, error)

    def _renewal_seen(self, want: _Want) -> None:
        """A quiet renewal's handshake is slow (a bad network): no longer "Connected" over no session."""
        if self._current(want) and self.session is None and self.state.state is ConnState.CONNECTED:
            self._publish(ConnState.CONNECTING, want, attempt=0)  # (none yet: the one connecting is not current)

    async def _abandoned_ended(self, want: _Want) -> bool:
        """Let the handshakes given up on end (quick switches give up several) before a new one starts, so that
        the service never holds two of the app's sessions at once; for up to :data:`ABANDONED_WAIT_S` (one that
        hangs is not waited out). False: ``want`` is no longer wanted (a new choice, a disconnect, quitting)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ABANDONED_WAIT_S
        abandoned = abandoned_handshakes()
        while abandoned and self._current(want):
            left = deadline - loop.time()
            if left <= 0:
                log.info("%d connections given up on are still opening: connecting beside them", len(abandoned))
                break
            self._poke.clear()  # wanted as checked just now; a poke from here on is looked at below
            await self._until_poked(*abandoned, at_most_s=left)
            abandoned = abandoned_handshakes()  # an ended handshake may have left its connection to close
        return self._current(want)

    async def _handshake(self, session: VoiceLiveSession, want: _Want) -> bool:
        """Connect ``session``; given up at once when it is no longer wanted (the user disconnected, switched or
        quit while the service was slow to answer, or did not answer at all). Returns whether it connected."""
        connecting = asyncio.ensure_future(self._connect(session, want))
        try:
            while not connecting.done() and self._current(want):
                self._poke.clear()
                await self._until_poked(connecting)
        finally:
            if not connecting.done():
                await finish(connecting, cancel=True)  # the session leaves nothing open when cancelled
        return not connecting.cancelled() and connecting.result()

    async def _until_poked(self, *waits: asyncio.Future[Any], at_most_s: float | None = None) -> None:
        """Wait until the loop is poked, one of ``waits`` ends, or ``at_most_s`` seconds pass. The caller clears
        the poke once it has looked at what a poke asks it to look at."""
        poked = asyncio.ensure_future(self._poke.wait())
        try:
            await asyncio.wait({*waits, poked}, timeout=at_most_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            poked.cancel()
            await asyncio.gather(poked, return_exceptions=True)

    async def _connect(self, session: VoiceLiveSession, want: _Want) -> bool:
        """Connect ``session`` and, if it is still wanted, make it the current one in the same step: its events
        (a close right after the handshake among them) are then the current session's from the first."""
        ok = await session.connect()
        if ok and self._current(want):
            self._connecting = None  # current now (a failed one stays: its errors say why, as they arrive)
            self._lost.clear()
            self._lost_error, self._lost_code = None, None
            self.session = session
            self._host.attach(session)
            log.info("connected to %s", want.target.describe())
            self._publish(ConnState.CONNECTED, want)
            self._settle(want.version, True)
        return ok

    async def _back_off(self, want: _Want, attempt: int, error: ErrorRaised | None) -> None:
        """Publish the countdown and wait it out (or until retried, woken or asked for something else)."""
        delay = self._backoff.delay(attempt, error.retry_after_s if error else None)
        summary = error.category.summary if error else "the connection was lost"
        self._publish(
            ConnState.RECONNECTING,
            want,
            retry_in_s=delay,
            attempt=attempt,
            detail=summary,
            close_code=self._lost_code,
        )
        log.info("reconnecting in %.1f s (attempt %d): %s", delay, attempt, summary)
        self._retry_now = False
        deadline = self._clock() + delay
        while self._current(want) and not self._retry_now and (left := deadline - self._clock()) > 0:
            self._poke.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._poke.wait()
        self._retry_now = False

    async def _wait_for_change(self, want: _Want) -> None:
        self._retry_now = False
        while self._current(want) and not self._retry_now:
            self._poke.clear()
            await self._poke.wait()
        self._retry_now = False

    async def _supervise(self, session: VoiceLiveSession, want: _Want) -> str:
        """Wait while ``session`` is wanted and alive. Returns "lost", "renew" or "changed".

        A session the host no longer uses (its conversation was left) is renewed when the host is done with it,
        and not before, whatever else asks for a renewal: the words it still owes are kept meanwhile. If it drops,
        its replacement comes at once, quietly: the user has nothing on it to lose.
        """
        while self._current(want) and not self._lost.is_set():
            self._poke.clear()
            renew_at = self._renew_deadline(session)
            due = self._renew_now or (renew_at is not None and self._clock() >= renew_at)
            if self._renew_asked:
                if self._host.done_with(session):
                    log.info("renewing the session: its conversation was replaced")
                    return "renew"
            elif due and self._host.at_turn_boundary():
                log.info("renewing the session at a turn boundary (a new voice, a sleep, an expiry near)")
                return "renew"
            # Waiting for a turn boundary, or for the host (which the session's events also wake): look again soon.
            timeout = 0.5 if due or self._renew_asked else (None if renew_at is None else renew_at - self._clock())
            lost = asyncio.ensure_future(self._lost.wait())
            try:
                await self._until_poked(lost, at_most_s=timeout)
            finally:
                lost.cancel()
                await asyncio.gather(lost, return_exceptions=True)
        if not (self._lost.is_set() and self._current(want)):
            return "changed"
        if not self._host.in_use(session):
            log.info("a session no longer in use dropped: renewing it now")
            return "renew"
        return "lost"

    def _renew_deadline(self, session: VoiceLiveSession) -> float | None:
        """When (monotonic) to start looking for a turn boundary to renew at; None if never."""
        deadlines: list[float] = []
        token_left = session.token_seconds_left()
        if token_left is not None:
            deadlines.append(self._clock() + token_left - RENEW_BEFORE_S)
        if session.expires_at is not None:
            deadlines.append(self._clock() + (session.expires_at - self._wall()) - RENEW_BEFORE_S)
        return min(deadlines) if deadlines else None

    async def _close_session(self, *, lost: bool) -> None:
        self._renew_asked = False
        session, self.session = self.session, None
        if session is None:
            return
        try:
            self._host.detach(session, lost=lost)
        finally:  # even when the host fails: nothing else would close it (a session billed on)
            await session.close()

    # ----------------------------------------------------------------- events from sessions
    def _start_pump(self, session: VoiceLiveSession) -> None:
        task = asyncio.create_task(self._pump(session), name="session-events")
        self._pumps.add(task)
        task.add_done_callback(self._pumps.discard)

    async def _pump(self, session: VoiceLiveSession) -> None:
        async for event in session.events():
            try:
                self._route(session, event)
            except Exception:  # a bug in the turn engine must not silently stop the conversation
                log.exception("handling %s failed; reconnecting", type(event).__name__)
                self._mark_lost(session, ErrorRaised(ErrorCategory.CONNECTION_LOST, "Internal error; reconnecting."))

    def _route(self, session: VoiceLiveSession, event: AppEvent) -> None:
        if isinstance(event, ConnectionChanged):
            if event.state is ConnState.FAILED:
                self._lost_code = event.close_code
                self._mark_lost(session, None)
            return  # the supervisor publishes its own connection state
        if isinstance(event, ErrorRaised):
            # Shown: errors of the session in use, and of the one connecting (connect failures come before it is
            # current). Not those of a session the user left with its conversation, or one already closed.
            in_use = session is self.session and self._host.in_use(session)
            if in_use and event.category in (ErrorCategory.CONNECTION_LOST, ErrorCategory.SESSION_EXPIRED):
                self._lost_error = event
            if in_use or session is self._connecting:
                self._listener(event)
            else:
                log.info("not shown, from a session no longer in use: %s", event.category.name)
            return
        if session is self.session:
            if isinstance(event, SessionStarted):
                self._poke.set()  # expires_at may have moved the renewal deadline
            self._host.handle(session, event)
            if self._renew_asked:
                self._poke.set()  # the host may be done with the session now

    def _mark_lost(self, session: VoiceLiveSession, error: ErrorRaised | None) -> None:
        if session is not self.session:
            return
        if error is not None:
            self._lost_error = error
            self._listener(error)
        self._lost.set()
