"""The global hold key as the app uses it, Qt-free: grabbed only while the app is listening.

A passive grab (X11) takes the key away from every other application, so it is held only while the app can
take a turn: connected or reconnecting, and not muted. Disconnected, failed or muted, the key goes back to the
other applications. The backend's callbacks run on its own thread; they hop to the event loop here, so the
rest of the app sees press and release on the loop like any other intent. Backend calls that may wait (a
D-Bus round trip to the portal, joining the X11 thread) run in a worker thread, never on the GUI's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .hotkeys import GlobalHoldKey, choose_backend, parse_key_name

log = logging.getLogger(__name__)


class GlobalKey:
    """Owns the backend; :meth:`update` says which key, whether it is wanted, and whether the app listens.

    Args:
        on_press, on_release: called on the event loop.
        on_status: called on the event loop with what Settings should say ("" when the key works).
        backend_factory: picks the backend (the platform's; tests pass their own).
    """

    def __init__(
        self,
        on_press: Callable[[], None],
        on_release: Callable[[], None],
        *,
        on_status: Callable[[str], None] = lambda status: None,
        backend_factory: Callable[[], GlobalHoldKey] = choose_backend,
    ) -> None:
        self._on_press, self._on_release, self._on_status = on_press, on_release, on_status
        self._factory = backend_factory
        self._backend: GlobalHoldKey | None = None
        self._grabbed: str | None = None  # the key grabbed now
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.status = ""

    async def update(self, key: str, *, enabled: bool, listening: bool) -> str:
        """Grab ``key`` when ``enabled`` and ``listening``, else give it back. Returns the status for Settings."""
        async with self._lock:
            self._loop = asyncio.get_running_loop()
            wanted = key if enabled and listening and key else None
            if enabled and key:
                try:
                    parse_key_name(key)
                except ValueError as exc:
                    wanted = None
                    self._set_status(str(exc))
                    return self.status
            if wanted == self._grabbed:
                return self.status
            if self._backend is None and wanted is not None:
                self._backend = await asyncio.to_thread(self._factory)
            backend = self._backend
            if backend is None:
                return self.status
            if self._grabbed is not None:
                await asyncio.to_thread(backend.stop)
                self._grabbed = None
            if wanted is not None:
                await asyncio.to_thread(backend.start, wanted, self._pressed, self._released, on_unavailable=self._lost)
                self._grabbed = wanted if backend.available else None
                self._set_status("" if backend.available else backend.why_unavailable)
            return self.status

    async def stop(self) -> None:
        """Give the key back (at exit; a crash gives it back too: the X server drops a dead client's grabs)."""
        await self.update("", enabled=False, listening=False)

    def _set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            log.info("global hold key: %s", status or "working")
            self._on_status(status)

    def _hop(self, callback: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback)

    def _pressed(self) -> None:  # on the backend's thread
        self._hop(self._on_press)

    def _released(self) -> None:  # on the backend's thread
        self._hop(self._on_release)

    def _lost(self, reason: str) -> None:  # on the backend's thread
        def lost() -> None:
            self._grabbed = None
            self._set_status(reason)

        self._hop(lost)
