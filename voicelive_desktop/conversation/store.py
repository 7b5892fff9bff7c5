"""The durable conversation history: a SQLite file in the user's data folder, one connection, one thread.

Users must never lose a conversation, so the store keeps going when the file does not (``connection.py``): a
damaged file is moved aside and what can be read is copied into a fresh one, and while the file is locked or
unwritable the writes wait in memory, in order, and land on the next write or :meth:`HistoryStore.retry`.
Nothing here raises on opening; :attr:`HistoryStore.problem` says in plain words what went wrong.

All methods are synchronous and must be called from the thread that created the store (``history.py`` gives
the app an asyncio facade that owns that thread). Times are stored as UTC and returned as aware datetimes.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

import platformdirs

from . import queries, schema
from .connection import HistoryFile, HistoryUnavailable
from .queries import parse_time, stamp

__all__ = [
    "CUSTOM_TITLE_CHARS",
    "ROLES",
    "UNTITLED",
    "ConversationSummary",
    "HistoryStore",
    "HistoryUnavailable",
    "Role",
    "SearchHit",
    "StoredMessage",
    "default_path",
]

APP_NAME = "voicelive-desktop"
FILE_NAME = "history.sqlite3"
UNTITLED = "New conversation"
#: A title the user gives is kept to its first line and this many characters (a pasted page stays readable).
CUSTOM_TITLE_CHARS = 120

Role = Literal["user", "assistant", "divider"]
ROLES: frozenset[str] = frozenset(get_args(Role))


def default_path() -> Path:
    """Where the history lives unless told otherwise: the platform's per-user data folder."""
    return Path(platformdirs.user_data_dir(APP_NAME)) / FILE_NAME


@dataclass(frozen=True)
class StoredMessage:
    """One chat message as saved: what was said, how it ended, and which model said it.

    ``final`` is False while an answer is still streaming; a checkpoint of a partial answer is saved with
    ``final=False`` and replaced in place when it completes. ``cut_reason`` says why an answer stopped short
    ('interrupted', 'connection_lost', 'content_filter', 'max_output_tokens', 'failed: <code>', 'app_closed').
    """

    message_id: str
    role: Role
    text: str = ""
    final: bool = False
    spoken: bool = False
    failed: bool = False
    cut_reason: str | None = None
    heard_ms: int | None = None
    audio_ms: int = 0
    heard_text: str | None = None
    mode: str | None = None
    deployment: str | None = None
    voice: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    latency_ms: int | None = None


@dataclass(frozen=True)
class ConversationSummary:
    """One line of the history list: enough to recognise a conversation without loading it."""

    id: str
    title: str
    title_is_custom: bool
    created_at: datetime
    updated_at: datetime
    mode: str | None  # of the last message that names a model
    deployment: str | None
    message_count: int  # user and assistant messages; dividers are not counted


@dataclass(frozen=True)
class SearchHit:
    """A conversation that matches a search, with the best matching passage (matches wrapped in ``marks``)."""

    conversation: ConversationSummary
    message_id: str
    snippet: str


class HistoryStore:
    """Conversations and their messages in one SQLite file; see the module docstring for the failure rules."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        busy_timeout: float = 0.25,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Open (or create) the history; never raises for a damaged, locked or unwritable file.

        Args:
            path: the database file; the platform data folder's ``history.sqlite3`` by default.
            busy_timeout: seconds to wait for another program's lock before queueing writes in memory; short,
                because the caller is waiting.
            clock: the current time, for tests.
        """
        self.path = path if path is not None else default_path()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._file = HistoryFile(self.path, busy_timeout, self._clock)

    @property
    def problem(self) -> str | None:
        """What went wrong with the history, in words for the user; None when all is well."""
        return self._file.problem

    @property
    def pending_writes(self) -> int:
        """Changes waiting in memory for the file to become writable."""
        return self._file.pending_writes

    # ---- writes: queued in order, applied at once when the file is writable ----

    def new_conversation(self, title: str | None = None) -> str:
        """Start a conversation; its id is made here, so it is usable even while the file is locked."""
        cid = uuid.uuid4().hex
        name = _custom_title(title or "")
        self._file.write(functools.partial(queries.insert_conversation, cid=cid, title=name, now=self._now()))
        return cid

    def save_message(self, conversation_id: str, message: StoredMessage) -> None:
        """Insert or update ``message`` (by its id within the conversation); call it again as it streams.

        A finished message is never replaced by a stale partial one. Saving to an unknown conversation creates
        it rather than losing the message.

        Raises:
            ValueError: for a role other than user, assistant or divider.
        """
        if message.role not in ROLES:
            raise ValueError(f"unknown role {message.role!r}")
        row = {
            **{name: getattr(message, name) for name in schema.MESSAGE_COLUMNS if hasattr(message, name)},
            "started_at": message.started_at and stamp(message.started_at),
            "finished_at": message.finished_at and stamp(message.finished_at),
        }
        self._file.write(functools.partial(queries.upsert_message, cid=conversation_id, row=row, now=self._now()))

    def rename(self, conversation_id: str, title: str) -> None:
        """Give a conversation its own title; an empty title goes back to the automatic one."""
        self._file.write(functools.partial(queries.rename, cid=conversation_id, title=_custom_title(title)))

    def delete(self, conversation_id: str) -> None:
        """Hide a conversation (it is kept, so :meth:`restore` can undo, until :meth:`purge_deleted`)."""
        self._file.write(functools.partial(queries.set_deleted, cid=conversation_id, at=self._now()))

    def restore(self, conversation_id: str) -> None:
        """Undo :meth:`delete`."""
        self._file.write(functools.partial(queries.set_deleted, cid=conversation_id, at=None))

    def purge_deleted(self, older_than: timedelta = timedelta(0)) -> None:
        """Erase for good the conversations deleted more than ``older_than`` ago."""
        cutoff = stamp(self._clock() - older_than)
        self._file.write(functools.partial(queries.purge, cutoff=cutoff))

    def retry(self) -> bool:
        """Try again to save what is waiting in memory; True when nothing is left waiting."""
        return self._file.retry()

    # ---- reads ----

    def list_conversations(self, limit: int = 500) -> list[ConversationSummary]:
        """Conversations not deleted, most recently active first (a negative ``limit``: all of them).

        Raises:
            HistoryUnavailable: when the file cannot be read now (see :attr:`problem`).
        """
        rows = self._file.query(queries.LIST, (limit,))
        return [self._summary(row) for row in rows]

    def conversation(self, conversation_id: str) -> ConversationSummary | None:
        """One conversation's summary, deleted or not (None for an unknown id).

        Raises:
            HistoryUnavailable: when the file cannot be read now (see :attr:`problem`).
        """
        rows = self._file.query(queries.ONE, (conversation_id,))
        return self._summary(rows[0]) if rows else None

    def load(self, conversation_id: str) -> list[StoredMessage]:
        """The messages of a conversation in the order they were said ([] for an unknown id).

        Raises:
            HistoryUnavailable: when the file cannot be read now (see :attr:`problem`).
        """
        rows = self._file.query(queries.LOAD, (conversation_id,))
        return [
            StoredMessage(
                message_id=str(r[0]),
                role=r[1] if r[1] in ROLES else "assistant",
                text=str(r[2] or ""),
                final=bool(r[3]),
                spoken=bool(r[4]),
                failed=bool(r[5]),
                cut_reason=r[6],
                heard_ms=r[7],
                audio_ms=int(r[8] or 0),
                heard_text=r[9],
                mode=r[10],
                deployment=r[11],
                voice=r[12],
                started_at=parse_time(r[13]),
                finished_at=parse_time(r[14]),
                latency_ms=r[15],
            )
            for r in rows
        ]

    def search(self, text: str, limit: int = 50, marks: tuple[str, str] = ("**", "**")) -> list[SearchHit]:
        """Conversations whose messages contain every word of ``text`` (the last one as a prefix), newest first.

        Any input is accepted: the words are quoted here, so operators and stray quotes are searched for as
        text rather than parsed. What the word index cannot find is looked for as it was typed: a term with
        symbols in it (``c++``, ``50%``, an emoji) first, and any term when the words found nothing (a word
        inside a run of Chinese or Japanese characters, which the index keeps as one word).

        Raises:
            HistoryUnavailable: when the file cannot be read now (see :attr:`problem`).
        """
        terms = text.split()
        literal = not all(queries.is_word(term) for term in terms)
        if literal and (hits := self._search_text(terms, limit, marks)):
            return hits
        query = queries.fts_query(text)
        if query is not None:
            rows = self._file.query(queries.SEARCH, (marks[0], marks[1], query, limit))
            if rows:
                return [SearchHit(self._summary(row), str(row[-1]), str(row[-2] or "")) for row in rows]
        return [] if literal or not terms else self._search_text(terms, limit, marks)

    def _search_text(self, terms: list[str], limit: int, marks: tuple[str, str]) -> list[SearchHit]:
        terms = list(dict.fromkeys(terms))[: queries.TEXT_SEARCH_TERMS]
        rows = self._file.query(queries.text_search(len(terms)), (*terms, limit))
        return [
            SearchHit(self._summary(row), str(row[-1]), queries.passage(str(row[-2] or ""), terms[0], marks))
            for row in rows
        ]

    def last_conversation_id(self) -> str | None:
        """The conversation to reopen at start: the most recently active one not deleted.

        Raises:
            HistoryUnavailable: when the file cannot be read now (see :attr:`problem`).
        """
        rows = self._file.query(queries.LAST, ())
        return str(rows[0][0]) if rows else None

    def close(self, wait: float = 2.0) -> None:
        """Save what is waiting (waiting up to ``wait`` s for another program's lock) and close the file.

        What still cannot be saved is kept in a side file and saved at the next start.
        """
        self._file.close(wait)

    def _now(self) -> str:
        return stamp(self._clock())

    def _summary(self, row: tuple[Any, ...]) -> ConversationSummary:
        epoch = datetime.fromtimestamp(0, UTC)
        return ConversationSummary(
            id=str(row[0]),
            title=str(row[1] or "") or UNTITLED,
            title_is_custom=bool(row[2]),
            created_at=parse_time(row[3]) or epoch,
            updated_at=parse_time(row[4]) or epoch,
            message_count=int(row[5] or 0),
            mode=row[6],
            deployment=row[7],
        )


def _custom_title(title: str) -> str:
    """The user's title as kept: its first line, trimmed, at most :data:`CUSTOM_TITLE_CHARS` characters."""
    lines = title.strip().splitlines()
    line = lines[0].strip() if lines else ""
    if len(line) <= CUSTOM_TITLE_CHARS:
        return line
    return line[: CUSTOM_TITLE_CHARS - 1].rstrip() + "…"
