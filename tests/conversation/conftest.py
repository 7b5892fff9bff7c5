"""Fixtures for the history tests: real SQLite files in a temporary folder, a settable clock, helper processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voicelive_desktop.conversation.store import HistoryStore

REPO = Path(__file__).resolve().parents[2]


class Clock:
    """The time the store sees; it only moves when a test moves it, so "newest first" is deterministic."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    """A clock standing still until advanced."""
    return Clock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the history file goes (its folder does not exist yet, as on a first start)."""
    return tmp_path / "data" / "history.sqlite3"


@pytest.fixture
def store(db_path: Path, clock: Clock) -> Iterator[HistoryStore]:
    """A history store on a fresh file, closed at teardown."""
    history = HistoryStore(db_path, clock=clock)
    yield history
    history.close()


def python(code: str, *args: str) -> subprocess.Popen[str]:
    """Run ``code`` in a separate Python process that imports this checkout, with pipes to talk to it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
