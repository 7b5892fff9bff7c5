"""The history for asyncio code: every SQLite call on one worker thread, in order, results as awaitables.

The GUI thread runs the event loop that also feeds the speaker, so it must never wait for the disk: a slow
fsync or another program's lock would stutter the audio and freeze the window. :class:`AsyncHistory` owns one
thread that owns the :class:`~.store.HistoryStore` (SQLite connections belong to the thread that made them),
and :class:`Checkpointer` decides how often a streaming answer is worth a write.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from .store import ConversationSummary, HistoryStore, HistoryUnavailable, SearchHit, StoredMessage

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_Job = tuple[Callable[[HistoryStore], Any], "concurrent.futures.Future[Any] | None"]


class AsyncHistory:
    """An asyncio facade over :class:`HistoryStore`; make it with :meth:`open`, end it with :meth:`close`.

    Reads and writes are awaitable and run in the order they were asked for. :meth:`submit` queues a write
    without waiting (for event handlers that must not block); its errors are logged and reported through
    ``on_problem`` instead of raised. While writes wait for a locked file, the worker retries every
    ``retry_every`` seconds, so they land once the lock is released even if the user says nothing more.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        open_store: Callable[[], HistoryStore],
        *,
        on_problem: Callable[[str], None] | None = None,
        on_resolved: Callable[[], None] | None = None,
        retry_every: float = 2.0,
    ) -> None:
        """Start the worker thread, which opens the store first; prefer :meth:`open`, which also waits for it."""
        self.loop = loop
        self._on_problem = on_problem
        self._on_resolved = on_resolved
        self._retry_every = retry_every
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._store_problem: str | None = None  # the store's own, as last seen; written by the worker only
        self._last_report: str | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, args=(open_store,), name="history", daemon=True)
        self._thread.start()

    @classmethod
    async def open(
        cls,
        path: Path | None = None,
        *,
        on_problem: Callable[[str], None] | None = None,
        on_resolved: Callable[[], None] | None = None,
        retry_every: float = 2.0,
    ) -> AsyncHistory:
        """Open the history at ``path`` (the platform data folder by default) on a new worker thread.

        Returns once the file is open, migrated or recovered; a problem found on the way is reported through
        ``on_problem`` and does not raise.
        """
        history = cls(
            asyncio.get_running_loop(),
            lambda: HistoryStore(path),
            on_problem=on_problem,
            on_resolved=on_resolved,
            retry_every=retry_every,
        )
        await history.call(lambda store: None)
        return history

    @property
    def problem(self) -> str | None:
        """The store's current problem (locked, damaged...), as last seen after a call; None when all is well."""
        return self._store_problem

    async def call(self, fn: Callable[Concatenate[HistoryStore, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(store, *args, **kwargs)`` on the worker after everything queued before it; its result.

        A call whose caller is cancelled still runs (it may be a write); only its result is dropped.

        Raises:
            HistoryUnavailable: after :meth:`close`, or whatever ``fn`` raises.
        """
        if self._closing:
            raise HistoryUnavailable("The history is closed.")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((lambda store: fn(store, *args, **kwargs), future))
        return await asyncio.wrap_future(future, loop=self.loop)

    def submit(self, fn: Callable[Concatenate[HistoryStore, P], object], *args: P.args, **kwargs: P.kwargs) -> None:
        """Queue ``fn(store, *args, **kwargs)`` without waiting; never raises (errors go to ``on_problem``)."""
        if self._closing:
            log.error("history write after close dropped: %s", getattr(fn, "__name__", fn))
            self._report("A change reached the history after it was closed and was not saved.")
            return
        self._jobs.put((lambda store: fn(store, *args, **kwargs), None))

    async def new_conversation(self, title: str | None = None) -> str:
        """See :meth:`HistoryStore.new_conversation`."""
        return await self.call(HistoryStore.new_conversation, title)

    async def save_message(self, conversation_id: str, message: StoredMessage) -> None:
        """See :meth:`HistoryStore.save_message`."""
        await self.call(HistoryStore.save_message, conversation_id, message)

    async def list_conversations(self, limit: int = 500) -> list[ConversationSummary]:
        """See :meth:`HistoryStore.list_conversations`."""
        return await self.call(HistoryStore.list_conversations, limit)

    async def conversation(self, conversation_id: str) -> ConversationSummary | None:
        """See :meth:`HistoryStore.conversation`."""
        return await self.call(HistoryStore.conversation, conversation_id)

    async def load(self, conversation_id: str) -> list[StoredMessage]:
        """See :meth:`HistoryStore.load`."""
        return await self.call(HistoryStore.load, conversation_id)

    async def search(self, text: str, limit: int = 50) -> list[SearchHit]:
        """See :meth:`HistoryStore.search`."""
        return await self.call(HistoryStore.search, text, limit)

    async def rename(self, conversation_id: str, title: str) -> None:
        """See :meth:`HistoryStore.rename`."""
        await self.call(HistoryStore.rename, conversation_id, title)

    async def delete(self, conversation_id: str) -> None:
        """See :meth:`HistoryStore.delete`."""
        await self.call(HistoryStore.delete, conversation_id)

    async def restore(self, conversation_id: str) -> None:
        """See :meth:`HistoryStore.restore`."""
        await self.call(HistoryStore.restore, conversation_id)

    async def purge_deleted(self, older_than: timedelta = timedelta(0)) -> None:
        """See :meth:`HistoryStore.purge_deleted`."""
        await self.call(HistoryStore.purge_deleted, older_than)

    async def last_conversation_id(self) -> str | None:
        """See :meth:`HistoryStore.last_conversation_id`."""
        return await self.call(HistoryStore.last_conversation_id)

    async def retry(self) -> bool:
        """See :meth:`HistoryStore.retry`."""
        return await self.call(HistoryStore.retry)

    async def close(self) -> None:
        """Save what is queued, close the file and end the worker thread."""
        if self._closing:
            return
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._jobs.put((lambda store: store.close(), future))
        self._jobs.put(None)
        self._closing = True
        await asyncio.wrap_future(future, loop=self.loop)
        await asyncio.to_thread(self._thread.join)

    # ---- the worker thread ----

    def _run(self, open_store: Callable[[], HistoryStore]) -> None:
        store: HistoryStore | None = None
        try:
            store = open_store()
        except Exception as exc:  # HistoryStore itself never raises on opening; a custom factory might
            log.exception("the history could not be opened")
            self._store_problem = f"The history could not be opened ({exc}); this conversation will not be saved."
            self._report(self._store_problem)
        while True:
            self._check(store)
            waiting = store is not None and store.pending_writes > 0
            try:
                job = self._jobs.get(timeout=self._retry_every if waiting else None)
            except queue.Empty:
                if store is not None:
                    store.retry()
                continue
            if job is None:
                break
            fn, future = job
            if future is not None and not future.set_running_or_notify_cancel():
                future = None  # the caller gave up waiting; the work is still done
            try:
                if store is None:
                    raise HistoryUnavailable("The history could not be opened.")
                result = fn(store)
            except Exception as exc:
                if future is not None:
                    future.set_exception(exc)
                else:
                    log.exception("a queued history write failed")
                    self._report(f"A change to the history could not be saved ({exc}).")
            else:
                if future is not None:
                    future.set_result(result)

    def _check(self, store: HistoryStore | None) -> None:
        """Tell the app when the store has a new problem, or when its last one went away."""
        problem = store.problem if store is not None else self._store_problem
        if problem == self._store_problem:
            return
        self._store_problem = problem
        if problem is not None:
            self._report(problem)
            return
        self._last_report = None  # the same trouble coming back later is news again
        if self._on_resolved is not None:
            self._deliver(self._on_resolved)

    def _report(self, text: str) -> None:
        """Pass ``text`` to ``on_problem`` on the loop's thread, unless it was just said."""
        if text == self._last_report:
            return
        self._last_report = text
        log.warning("history problem: %s", text)
        if self._on_problem is not None:
            on_problem = self._on_problem
            self._deliver(lambda: on_problem(text))

    def _deliver(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the loop's thread (the UI may only be touched there)."""

        def guarded() -> None:
            try:
                callback()
            except Exception:
                log.exception("the history problem handler failed")

        with contextlib.suppress(RuntimeError):  # the loop is closed: the app is going away
            self.loop.call_soon_threadsafe(guarded)


class Checkpointer:
    """Saves streaming messages often enough that a crash loses at most ``interval`` seconds of text.

    Call :meth:`update` on every change. A message is written at once the first time, then at most once per
    ``interval`` while it keeps changing (a timer writes the last change if the stream goes quiet), and always
    at once when it is final. Must be used from the event loop's thread.
    """

    def __init__(
        self, history: AsyncHistory, interval: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Checkpoint through ``history``; ``clock`` is for tests."""
        self._history = history
        self._interval = interval
        self._clock = clock
        self._written_at: dict[tuple[str, str], float] = {}
        self._written: dict[tuple[str, str], StoredMessage] = {}
        self._waiting: dict[tuple[str, str], StoredMessage] = {}
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}

    def update(self, conversation_id: str, message: StoredMessage) -> None:
        """The message as it is now; written now or within ``interval`` seconds."""
        key = (conversation_id, message.message_id)
        if not message.final and self._written.get(key) == message:
            self._forget_waiting(key)
            return
        now = self._clock()
        due = self._written_at.get(key, float("-inf")) + self._interval
        if message.final or now >= due:
            self._write(key, message)
            return
        self._waiting[key] = message
        if key not in self._timers:
            self._timers[key] = self._history.loop.call_later(due - now, self._write_waiting, key)

    def flush(self) -> None:
        """Write every change still waiting for its turn (before closing, or when the connection drops)."""
        for key in list(self._waiting):
            self._write_waiting(key)

    def _write_waiting(self, key: tuple[str, str]) -> None:
        message = self._waiting.get(key)
        if message is not None:
            self._write(key, message)

    def _forget_waiting(self, key: tuple[str, str]) -> None:
        self._waiting.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _write(self, key: tuple[str, str], message: StoredMessage) -> None:
        self._forget_waiting(key)
        self._history.submit(HistoryStore.save_message, key[0], message)
        if message.final:  # nothing more will stream: keep no state for it
            self._written_at.pop(key, None)
            self._written.pop(key, None)
        else:
            self._written_at[key] = self._clock()
            self._written[key] = message
