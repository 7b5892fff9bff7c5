"""The SQL of the history store: the writes (each one step of a queued change) and the reads.

Kept apart from ``store.py`` so that the store reads as what the history offers and this file as the data it
moves. Every write takes the connection first and its data (plain JSON values) as keywords, so a queued write
is a plain ``functools.partial`` that can be retried, or kept in a side file (``journal.py``); each is
idempotent, so applying one twice does no harm.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

from .schema import MESSAGE_COLUMNS

TITLE_WORDS = 8
TITLE_CHARS = 60
#: A literal search looks for at most this many distinct terms (a pasted page would make a query SQLite refuses).
TEXT_SEARCH_TERMS = 32

_WORD = re.compile(r"\w+")

_SUMMARY = """
    SELECT c.id, c.title, c.title_is_custom, c.created_at, c.updated_at,
        (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.role != 'divider'),
        (SELECT m.mode FROM messages m WHERE m.conversation_id = c.id
            AND coalesce(m.mode, m.deployment) IS NOT NULL ORDER BY m.seq DESC LIMIT 1),
        (SELECT m.deployment FROM messages m WHERE m.conversation_id = c.id
            AND coalesce(m.mode, m.deployment) IS NOT NULL ORDER BY m.seq DESC LIMIT 1)
"""
_NEWEST_FIRST = "ORDER BY c.updated_at DESC, c.rowid DESC"

LIST = f"{_SUMMARY} FROM conversations c WHERE c.deleted_at IS NULL {_NEWEST_FIRST} LIMIT ?"

ONE = f"{_SUMMARY} FROM conversations c WHERE c.id = ?"

LAST = f"SELECT c.id FROM conversations c WHERE c.deleted_at IS NULL {_NEWEST_FIRST} LIMIT 1"

LOAD = """
    SELECT message_id, role, text, final, spoken, failed, cut_reason, heard_ms, audio_ms, heard_text, mode,
        deployment, voice, started_at, finished_at, latency_ms
    FROM messages WHERE conversation_id = ? ORDER BY seq
"""

# The best-ranked matching message of each conversation; parameters: mark before, mark after, query, limit.
SEARCH = f"""
    WITH hits AS (
        SELECT m.conversation_id AS cid, m.message_id AS mid, m.seq AS seq, messages_fts.rank AS score,
            snippet(messages_fts, 0, ?, ?, '…', 12) AS passage
        FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
        WHERE messages_fts MATCH ?
    ),
    best AS (
        SELECT cid, mid, passage, row_number() OVER (PARTITION BY cid ORDER BY score, seq) AS n FROM hits
    )
    {_SUMMARY}, best.passage, best.mid
    FROM best JOIN conversations c ON c.id = best.cid
    WHERE best.n = 1 AND c.deleted_at IS NULL {_NEWEST_FIRST} LIMIT ?
"""


def text_search(terms: int) -> str:
    """SEARCH's counterpart for text the word index cannot find (symbols, emoji, a word inside a run of CJK
    characters): the first message of each conversation that contains each of ``terms`` terms as typed, ASCII
    case aside. Parameters: the terms, then the limit."""
    contains = " AND ".join(["instr(lower(m.text), lower(?)) > 0"] * terms)
    return f"""
        WITH hits AS (
            SELECT m.conversation_id AS cid, m.message_id AS mid, m.text AS text,
                row_number() OVER (PARTITION BY m.conversation_id ORDER BY m.seq) AS n
            FROM messages m WHERE m.role != 'divider' AND {contains}
        )
        {_SUMMARY}, hits.text, hits.mid
        FROM hits JOIN conversations c ON c.id = hits.cid
        WHERE hits.n = 1 AND c.deleted_at IS NULL {_NEWEST_FIRST} LIMIT ?
    """


def is_word(term: str) -> bool:
    """Whether the word index finds ``term`` as typed (letters, digits and underscores only)."""
    return _WORD.fullmatch(term) is not None


def passage(text: str, term: str, marks: tuple[str, str], before: int = 30, after: int = 60) -> str:
    """The part of ``text`` around the first ``term`` (case aside), the term wrapped in ``marks``, with an
    ellipsis where the text goes on (as the word index's snippets have)."""
    found = re.search(re.escape(term), text, re.IGNORECASE)  # positions in the text itself, whatever lower() does
    if found is None:
        return text[: before + after] + ("…" if len(text) > before + after else "")
    at, end = found.span()
    start, stop = max(0, at - before), min(len(text), end + after)
    head = ("…" if start else "") + text[start:at]
    tail = text[end:stop] + ("…" if stop < len(text) else "")
    return f"{head}{marks[0]}{text[at:end]}{marks[1]}{tail}"


def stamp(at: datetime) -> str:
    """A time as stored: fixed-width UTC text, so that stamps sort as strings (naive times are local time)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any) -> datetime | None:
    """A stored time back as an aware datetime; None for anything that is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def fts_query(text: str) -> str | None:
    """An FTS5 query matching every word of ``text``, the last as a prefix; None when there is no word.

    The words are taken out of the user's text and each is quoted, so FTS5 operators (AND, NEAR, ``*``,
    ``-``, column filters) and unbalanced quotes are matched as words instead of raising a syntax error.
    """
    words = _WORD.findall(text)
    if not words:
        return None
    return " ".join(f'"{word}"' for word in words) + "*"


def auto_title(text: str) -> str:
    """The first words of ``text``, short enough for a list row, with an ellipsis when cut."""
    words = text.split()
    title = ""
    for word in words[:TITLE_WORDS]:
        candidate = f"{title} {word}".strip()
        if len(candidate) > TITLE_CHARS:
            title = title or word[: TITLE_CHARS - 1]
            break
        title = candidate
    return title + ("…" if title != " ".join(words) else "")


def insert_conversation(con: sqlite3.Connection, *, cid: str, title: str, now: str) -> None:
    """A new conversation; a given title counts as chosen by the user."""
    con.execute(
        "INSERT OR IGNORE INTO conversations (id, title, title_is_custom, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (cid, title, bool(title), now, now),
    )


def retitle(con: sqlite3.Connection, cid: str) -> None:
    """Name the conversation after its first user words, unless the user named it."""
    row = con.execute(
        "SELECT text FROM messages WHERE conversation_id = ? AND role = 'user' AND trim(text) != '' "
        "ORDER BY seq LIMIT 1",
        (cid,),
    ).fetchone()
    con.execute(
        "UPDATE conversations SET title = ? WHERE id = ? AND NOT title_is_custom",
        (auto_title(str(row[0])) if row else "", cid),
    )


def upsert_message(con: sqlite3.Connection, *, cid: str, row: dict[str, Any], now: str) -> None:
    """Insert a message at the end of its conversation, or update it in place (its place does not change)."""
    con.execute("INSERT OR IGNORE INTO conversations (id, created_at, updated_at) VALUES (?, ?, ?)", (cid, now, now))
    columns = [name for name in MESSAGE_COLUMNS if name in row]
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name != "message_id")
    con.execute(
        f"""INSERT INTO messages (conversation_id, seq, {", ".join(columns)})
        VALUES (:cid, (SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE conversation_id = :cid),
            {", ".join(f":{name}" for name in columns)})
        ON CONFLICT (conversation_id, message_id) DO UPDATE SET {updates}
        WHERE excluded.final OR NOT messages.final""",
        {**row, "cid": cid},
    )
    con.execute("UPDATE conversations SET updated_at = max(updated_at, ?) WHERE id = ?", (now, cid))
    if row.get("role") == "user":
        retitle(con, cid)


def rename(con: sqlite3.Connection, *, cid: str, title: str) -> None:
    """Set the user's title, or with an empty one go back to the automatic title."""
    con.execute("UPDATE conversations SET title = ?, title_is_custom = ? WHERE id = ?", (title, bool(title), cid))
    if not title:
        retitle(con, cid)


def set_deleted(con: sqlite3.Connection, *, cid: str, at: str | None) -> None:
    """Mark a conversation deleted at ``at``, or not deleted with None."""
    con.execute("UPDATE conversations SET deleted_at = ? WHERE id = ?", (at, cid))


def purge(con: sqlite3.Connection, *, cutoff: str) -> None:
    """Erase conversations deleted at or before ``cutoff``; their messages and index entries go with them."""
    con.execute("DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?", (cutoff,))
