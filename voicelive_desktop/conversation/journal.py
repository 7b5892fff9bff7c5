"""Changes the history could not take before the app closed, kept in a side file until it can.

While another program holds the history file, writes wait in memory; if the app is closed before the lock
goes, they would be lost. Instead they are written here, beside the history, as plain JSON, and the next start
applies them first, then deletes the file. Every write in ``queries.py`` is idempotent, so applying one twice
(a crash between applying and deleting) does no harm.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from . import queries

FORMAT = "voicelive-desktop-unsaved"
VERSION = 1

Write = functools.partial[None]
"""One queued change: a function of ``queries.py`` with its data bound as keywords, called with the connection."""

_WRITES = {
    function.__name__: function
    for function in (
        queries.insert_conversation,
        queries.upsert_message,
        queries.rename,
        queries.set_deleted,
        queries.purge,
    )
}


def find(path: Path) -> list[Path]:
    """The side files left for the history at ``path``, oldest first."""
    return sorted(path.parent.glob(f"{path.name}.unsaved-*.json"))


def save(path: Path, writes: Sequence[Write], now: datetime) -> Path:
    """Write ``writes`` to a new side file beside ``path`` (atomically, flushed to disk); its path.

    Raises:
        OSError: if the file cannot be written.
    """
    target = path.with_name(f"{path.name}.unsaved-{now:%Y%m%d-%H%M%S-%f}.json")
    data = {
        "format": FORMAT,
        "version": VERSION,
        "writes": [{"op": write.func.__name__, "args": write.keywords} for write in writes],
    }
    partial = target.with_suffix(".tmp")
    with partial.open("w", encoding="utf-8") as file:
        json.dump(data, file, ensure_ascii=False)
        file.flush()
        os.fsync(file.fileno())
    partial.replace(target)
    return target


def read(file: Path) -> list[Write]:
    """The writes kept in ``file``, in order.

    Raises:
        OSError: if it cannot be read.
        ValueError: if it is not a side file this version understands.
    """
    data: Any = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"{file.name} is not a voicelive-desktop unsaved-changes file")
    try:
        return [functools.partial(_WRITES[item["op"]], **item["args"]) for item in data["writes"]]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{file.name} holds a change this version does not know: {exc}") from exc
