"""Writing a file whole or not at all."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_replacing(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a crash or a full disk mid-write leaves the earlier file intact.

    Each write has a temporary file of its own beside ``path`` (so two writes at once cannot trip over each other:
    the last one to finish wins, whole), flushed to disk, then renamed over ``path``. A file that was there keeps
    its permissions; a new one is readable by its owner only (what the app writes is the user's own).

    Raises:
        OSError: the folder is missing or not writable, the disk is full...; ``path`` is then untouched.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
