"""The history database's schema, as an ordered list of migrations.

``PRAGMA user_version`` is the number of migrations a file has had. Opening a file runs the ones it lacks, in
order, each in its own transaction with the version bump, so a crash mid-migration leaves the file at the last
complete version. To change the schema, append one function to :data:`MIGRATIONS`; never edit a released one,
because files in the wild already carry its result.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

Migration = Callable[[sqlite3.Connection], None]

_BUSY = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_DAMAGED = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_REJECTED = {18, 19, 20, 25}  # SQLITE_TOOBIG, SQLITE_CONSTRAINT, SQLITE_MISMATCH, SQLITE_RANGE

MESSAGE_COLUMNS = (
    "conversation_id",
    "message_id",
    "seq",
    "role",
    "text",
    "final",
    "spoken",
    "failed",
    "cut_reason",
    "heard_ms",
    "audio_ms",
    "heard_text",
    "mode",
    "deployment",
    "voice",
    "started_at",
    "finished_at",
    "latency_ms",
)


def _v1_initial(con: sqlite3.Connection) -> None:
    """Conversations, their messages, and a full-text index over what was said.

    ``messages.id`` aliases the rowid so that the external-content FTS table keeps pointing at the right rows
    after a VACUUM (an un-aliased rowid may be renumbered). Dividers ("Now talking to ...") are not indexed:
    a search for a model name should find what was said, not every switch. Timestamps are UTC ISO 8601 text of
    fixed width, so they sort as text and stay readable with the sqlite3 shell.
    """
    statements = [
        """CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            title_is_custom INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT
        )""",
        "CREATE INDEX conversations_by_update ON conversations (deleted_at, updated_at)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            message_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'divider')),
            text TEXT NOT NULL DEFAULT '',
            final INTEGER NOT NULL DEFAULT 0,
            spoken INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            cut_reason TEXT,
            heard_ms INTEGER,
            audio_ms INTEGER NOT NULL DEFAULT 0,
            heard_text TEXT,
            mode TEXT,
            deployment TEXT,
            voice TEXT,
            started_at TEXT,
            finished_at TEXT,
            latency_ms INTEGER,
            UNIQUE (conversation_id, message_id),
            UNIQUE (conversation_id, seq)
        )""",
        """CREATE VIRTUAL TABLE messages_fts USING fts5 (
            text, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.role != 'divider' BEGIN
            INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
        END""",
        """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.role != 'divider' BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END""",
        """CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, role ON messages
            WHEN old.text IS NOT new.text OR old.role IS NOT new.role BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, text)
                SELECT 'delete', old.id, old.text WHERE old.role != 'divider';
            INSERT INTO messages_fts (rowid, text) SELECT new.id, new.text WHERE new.role != 'divider';
        END""",
    ]
    for statement in statements:
        con.execute(statement)


MIGRATIONS: list[Migration] = [_v1_initial]
"""Migration ``n`` (1-based) takes a file from version ``n - 1`` to ``n``."""


def version(con: sqlite3.Connection) -> int:
    """The schema version the file says it has."""
    return int(con.execute("PRAGMA user_version").fetchone()[0])


def migrate(con: sqlite3.Connection, migrations: Sequence[Migration] | None = None) -> int:
    """Bring the file up to date; returns the version it ends at.

    A file newer than this program (a later release wrote it) is left as it is: its extra columns and tables
    are additive, and rewriting it would destroy what the newer release relies on.

    Raises:
        sqlite3.Error: if a migration fails; that migration is rolled back, earlier ones stay.
    """
    steps = MIGRATIONS if migrations is None else migrations
    current = version(con)
    for number in range(current + 1, len(steps) + 1):
        con.execute("BEGIN IMMEDIATE")
        try:
            if version(con) >= number:  # another process migrated while we waited for the lock
                con.execute("ROLLBACK")
                continue
            steps[number - 1](con)
            con.execute(f"PRAGMA user_version = {number:d}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        current = number
    return max(current, version(con))


class Damaged(Exception):
    """The file failed SQLite's integrity check."""


def failure_kind(exc: BaseException) -> str:
    """Sort a failure: 'damaged' (move the file aside), 'busy' (another program holds the lock: retry later),
    'rejected' (this change can never be saved: drop it) or 'unavailable' (disk full, no permission: retry later).
    """
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if isinstance(exc, Damaged) or primary in _DAMAGED:
        return "damaged"
    if primary in _BUSY:
        return "busy"
    if primary in _REJECTED or not isinstance(exc, sqlite3.OperationalError | OSError):
        return "rejected"
    return "unavailable"


def open_database(path: Path, busy_timeout: float) -> tuple[sqlite3.Connection, int]:
    """Open, check and migrate the history file; the connection and the schema version it is at.

    WAL lets a reader (an export, another window) see the file while we write, and with ``synchronous=NORMAL``
    a committed write survives the app being killed (only a power cut can lose the last commits). The
    connection is in autocommit mode: the store opens its own transactions.

    Raises:
        Damaged: if the integrity check fails.
        sqlite3.Error: if the file cannot be opened or migrated (see :func:`failure_kind`).
        OSError: if the folder cannot be created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
        check = [str(row[0]) for row in con.execute("PRAGMA quick_check")]
        if check != ["ok"]:
            raise Damaged("; ".join(check[:3]))
        reached = migrate(con, MIGRATIONS)
    except BaseException:
        con.close()
        raise
    return con, reached
