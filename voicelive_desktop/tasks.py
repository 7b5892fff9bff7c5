"""Ending tasks the app started, without swallowing the caller's own cancellation.

``with suppress(CancelledError): await child`` is the usual way to wait for a cancelled child, and it has a trap:
if the *caller* is cancelled while it waits (the app quitting, a supervisor being replaced), the caller's own
cancellation is suppressed too and the caller carries on, reconnecting to a service nobody wants any more.
:func:`finish` waits through :func:`asyncio.wait`, which never raises the child's cancellation and always
raises the caller's.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def finish(task: asyncio.Future[Any], *, grace_s: float | None = None, cancel: bool = False) -> None:
    """Wait for ``task`` to end; cancel it first when ``cancel``, or once ``grace_s`` seconds have passed.

    The task's own failure is raised here, as awaiting it would; its cancellation is not.

    Raises:
        asyncio.CancelledError: only when the caller itself is cancelled.
    """
    if cancel:
        task.cancel()
    _, pending = await asyncio.wait({task}, timeout=grace_s)
    if pending:
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled() and (error := task.exception()) is not None:
        raise error
