"""Rescue from a damaged history file: move it aside, then copy every row that can still be read.

SQLite reports damage only when it reads a bad page, so a plain ``SELECT *`` stops at the first one and loses
everything after it. Here each table is read from both ends, and the rows in between are fetched one rowid at a
time, so one garbage page costs only the rows stored on it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .queries import retitle
from .schema import Damaged

log = logging.getLogger(__name__)

MAX_PROBES = 1_000_000  # rowids fetched one by one across a damaged stretch
GIVE_UP_AFTER = 10_000  # consecutive missing rowids that end the search when the table's end is unreadable

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Salvaged:
    """What was copied out of a damaged file."""

    conversations: int
    messages: int


def move_aside(path: Path, now: datetime) -> Path:
    """Rename ``path`` (and its WAL and shared-memory files) to ``<name>.damaged-<timestamp>``.

    The WAL travels with the file under the matching name, because it may hold the last minutes of
    conversation, and SQLite only reads a WAL whose name matches its database.

    Raises:
        OSError: if the file cannot be renamed.
    """
    stamp = now.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    number = 2
    while target.exists():
        target = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
        number += 1
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.rename(Path(f"{target}{suffix}"))
    return target


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    try:
        return [str(row[1]) for row in con.execute(f"PRAGMA table_info({table})")]
    except sqlite3.Error:
        return []


def _scan(con: sqlite3.Connection, sql: str, params: tuple[Any, ...], into: dict[int, Row]) -> bool:
    """Collect rows until the first unreadable one; True when the whole query was read."""
    try:
        for row in con.execute(sql, params):
            into[int(row[0])] = tuple(row[1:])
    except sqlite3.Error:
        return False
    return True


def read_rows(con: sqlite3.Connection, table: str) -> tuple[list[str], list[Row]]:
    """The columns of ``table`` and every row that can be read, in rowid order."""
    columns = _columns(con, table)
    if not columns:
        return [], []
    select = f"SELECT rowid, {', '.join(f'[{c}]' for c in columns)} FROM {table}"
    rows: dict[int, Row] = {}
    if _scan(con, f"{select} ORDER BY rowid", (), rows):
        return columns, [rows[k] for k in sorted(rows)]
    low = max(rows, default=0)
    tail: dict[int, Row] = {}
    _scan(con, f"{select} WHERE rowid > ? ORDER BY rowid DESC", (low,), tail)
    rows.update(tail)
    high = min(tail, default=None)
    missing = 0
    rowid = low + 1
    while rowid < low + 1 + MAX_PROBES and (rowid < high if high is not None else missing < GIVE_UP_AFTER):
        found = len(rows)
        _scan(con, f"{select} WHERE rowid = ?", (rowid,), rows)
        missing = 0 if len(rows) > found else missing + 1
        rowid += 1
    return columns, [rows[k] for k in sorted(rows)]


def _insert(con: sqlite3.Connection, table: str, columns: list[str], rows: list[Row]) -> int:
    """Insert rows one by one, keeping the columns the new schema has; a row that is refused is skipped."""
    wanted = set(_columns(con, table))
    keep = [i for i, name in enumerate(columns) if name in wanted]
    names = ", ".join(f"[{columns[i]}]" for i in keep)
    sql = f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' for _ in keep)})"
    added = 0
    for row in rows:
        try:
            added += con.execute(sql, [row[i] for i in keep]).rowcount
        except sqlite3.Error as exc:
            log.info("skipped an unreadable %s row: %s", table, exc)
    return added


def _orphans(columns: list[str], rows: list[Row], known: set[str]) -> dict[str, tuple[str, str]]:
    """Conversations whose messages survived but whose own row did not: id -> (first, last) time seen."""
    if "conversation_id" not in columns:
        return {}
    at_cid = columns.index("conversation_id")
    at_start = columns.index("started_at") if "started_at" in columns else None
    seen: dict[str, tuple[str, str]] = {}
    for row in rows:
        cid, at = row[at_cid], None if at_start is None else row[at_start]
        if not isinstance(cid, str) or cid in known:
            continue
        stamp = at if isinstance(at, str) else ""
        first, last = seen.get(cid, (stamp, stamp))
        seen[cid] = (min(first, stamp) or stamp, max(last, stamp))
    return seen


def salvage(damaged: Path, con: sqlite3.Connection, now: str) -> Salvaged:
    """Copy what can be read from ``damaged`` into the fresh database ``con`` (in one transaction).

    Messages whose conversation row was lost get a new conversation, named after their first words, so no readable
    message is dropped.
    The full-text index is not copied: the triggers rebuild it as the messages go in.
    """
    try:
        source = sqlite3.connect(damaged, isolation_level=None)
    except sqlite3.Error:
        return Salvaged(0, 0)
    try:
        conv_columns, conv_rows = read_rows(source, "conversations")
        msg_columns, msg_rows = read_rows(source, "messages")
    finally:
        source.close()
    con.execute("BEGIN IMMEDIATE")
    try:
        conversations = _insert(con, "conversations", conv_columns, conv_rows)
        known = {str(row[0]) for row in con.execute("SELECT id FROM conversations")}
        orphans = _orphans(msg_columns, msg_rows, known)
        for cid, (first, last) in orphans.items():
            con.execute(
                "INSERT INTO conversations (id, created_at, updated_at) VALUES (?, ?, ?)",
                (cid, first or now, last or now),
            )
            conversations += 1
        messages = _insert(con, "messages", msg_columns, msg_rows)
        for cid in orphans:
            retitle(con, cid)  # named after the user's first words, as it was unless the user had renamed it
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return Salvaged(conversations, messages)


def replace_damaged(
    path: Path, error: BaseException, open_fresh: Callable[[], sqlite3.Connection], now: datetime, stamp: str
) -> tuple[sqlite3.Connection | None, str]:
    """Move the damaged ``path`` aside, open a fresh file there and recover into it what can be read.

    Returns:
        The fresh connection (None if the file could not be replaced) and what happened, in words for the user.
    """
    why = "it is not a database" if "not a database" in str(error) else "parts of it cannot be read"
    try:
        aside = move_aside(path, now)
        con = open_fresh()
    except (sqlite3.Error, OSError, Damaged) as exc:
        return None, (
            f"The history file {path} is damaged ({why}) and could not be replaced ({exc}). New messages are kept "
            "in memory only."
        )
    found = "nothing in it could be read"
    try:
        saved = salvage(aside, con, stamp)
    except sqlite3.Error as exc:
        log.exception("recovering rows from %s failed", aside)
        found = f"nothing could be recovered from it ({exc})"
    else:
        if saved.messages or saved.conversations:
            found = f"{saved.messages} message(s) in {saved.conversations} conversation(s) were recovered from it"
    return con, f"The history file was damaged ({why}). It was kept as {aside}; a new history was started, and {found}."
