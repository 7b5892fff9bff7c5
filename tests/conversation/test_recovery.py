"""When the history file fails: a damaged file is kept aside and its readable rows recovered; a locked file
costs nothing, because writes wait in memory and land once another program lets go of it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conversation.conftest import Clock
from tests.helpers import Locker, until
from voicelive_desktop.conversation.history import AsyncHistory
from voicelive_desktop.conversation.store import HistoryStore, HistoryUnavailable, StoredMessage

PAGE = 4096


def _fill(path: Path, conversations: int = 30, messages: int = 8) -> dict[str, list[StoredMessage]]:
    """A real history with one row per message (no upserts, so each text is stored exactly once)."""
    clock = Clock()
    store = HistoryStore(path, clock=clock)
    written: dict[str, list[StoredMessage]] = {}
    for c in range(conversations):
        cid = store.new_conversation()
        written[cid] = []
        for m in range(messages):
            role = "user" if m % 2 == 0 else "assistant"
            text = f"MARKER-{c:02d}-{m:02d} " + "the quick brown fox jumps over the lazy dog " * 3
            message = StoredMessage(f"m{m}", role, text, final=True, started_at=clock.now)
            store.save_message(cid, message)
            written[cid].append(message)
        clock.advance(minutes=1)
    store.close()
    return written


def _garble_page_holding(path: Path, needle: bytes) -> None:
    """Overwrite the whole page that stores ``needle`` with bytes no SQLite page starts with."""
    data = path.read_bytes()
    assert data.count(needle) == 1
    start = data.index(needle) // PAGE * PAGE
    assert start > 0, "the header page would make the whole file unreadable"
    with path.open("r+b") as file:
        file.seek(start)
        file.write(b"\xde\xad\xbe\xef" * (PAGE // 4))


def _damaged_copies(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.damaged-*[0-9]"))


def test_a_damaged_page_costs_only_the_rows_on_it(db_path: Path) -> None:
    written = _fill(db_path)
    _garble_page_holding(db_path, b"MARKER-15-03")

    store = HistoryStore(db_path)

    [aside] = _damaged_copies(db_path)
    assert aside.name.startswith("history.sqlite3.damaged-")
    assert store.problem is not None and "damaged" in store.problem and str(aside) in store.problem
    listed = {c.id for c in store.list_conversations()}
    assert listed == set(written)  # every conversation is still listed
    recovered = {(cid, m.message_id): m for cid in written for m in store.load(cid)}
    originals = {(cid, m.message_id): m for cid, messages in written.items() for m in messages}
    assert all(recovered[key] == originals[key] for key in recovered)  # nothing recovered is altered
    lost = set(originals) - set(recovered)
    assert next(k for k, m in originals.items() if m.text.startswith("MARKER-15-03")) in lost
    assert 0 < len(lost) <= PAGE // 150  # one page's worth of rows, not everything after it
    assert f"{len(recovered)} message(s)" in store.problem
    cid = next(iter(written))
    store.save_message(cid, StoredMessage("new", "user", "life goes on", final=True))
    assert store.load(cid)[-1].text == "life goes on"
    assert store.search("MARKER 29 07")  # the search index was rebuilt for the recovered rows
    store.close()
    assert HistoryStore(db_path).problem is None  # the fresh file is sound


def test_a_file_that_is_not_a_database_is_replaced(db_path: Path) -> None:
    _fill(db_path, conversations=2)
    with db_path.open("r+b") as file:
        file.write(b"this is not a database, it is a shopping list" * 3)

    store = HistoryStore(db_path)

    [aside] = _damaged_copies(db_path)
    assert store.problem is not None
    assert "not a database" in store.problem and str(aside) in store.problem
    assert store.list_conversations() == []
    cid = store.new_conversation()
    store.save_message(cid, StoredMessage("u1", "user", "hello again", final=True))
    store.close()
    assert [m.text for m in HistoryStore(db_path).load(cid)] == ["hello again"]


def test_a_damaged_file_keeps_its_write_ahead_log_beside_it(db_path: Path) -> None:
    _fill(db_path, conversations=1)
    Path(f"{db_path}-wal").write_bytes(b"")  # as if the app had been killed with a log in place
    db_path.write_bytes(b"\x00" * 100 + db_path.read_bytes()[100:])

    HistoryStore(db_path).close()

    [aside] = _damaged_copies(db_path)
    assert Path(f"{aside}-wal").exists()


@pytest.fixture
def locker(db_path: Path) -> Iterator[list[Locker]]:
    held: list[Locker] = []
    yield held
    for lock in held:
        lock.kill()


def _texts_on_disk(path: Path) -> list[str]:
    """What another program reading the file would see (WAL readers are not blocked by a writer)."""
    con = sqlite3.connect(path, timeout=5)
    try:
        return [row[0] for row in con.execute("SELECT text FROM messages ORDER BY conversation_id, seq")]
    finally:
        con.close()


def test_a_new_file_locked_by_another_process_loses_nothing(db_path: Path, locker: list[Locker]) -> None:
    db_path.parent.mkdir(parents=True)
    locker.append(Locker(db_path))  # a fresh file, in rollback-journal mode: even reading is blocked

    started = time.monotonic()
    store = HistoryStore(db_path)
    assert time.monotonic() - started < 3  # a short wait, not a hang
    assert store.problem is not None and "in use by another program" in store.problem
    cid = store.new_conversation()
    store.save_message(cid, StoredMessage("u1", "user", "said while locked", final=True))
    store.save_message(cid, StoredMessage("a1", "assistant", "answered while locked", final=True))
    assert store.pending_writes == 3
    with pytest.raises(HistoryUnavailable, match="in use by another program"):
        store.list_conversations()
    assert store.retry() is False

    locker[0].release()

    assert store.retry() is True
    assert store.problem is None and store.pending_writes == 0
    assert [m.text for m in store.load(cid)] == ["said while locked", "answered while locked"]
    store.close()
    assert _texts_on_disk(db_path) == ["said while locked", "answered while locked"]


async def test_writes_wait_for_a_lock_and_land_by_themselves_when_it_goes(db_path: Path, locker: list[Locker]) -> None:
    made = HistoryStore(db_path)  # a history from an earlier run
    cid = made.new_conversation()
    made.save_message(cid, StoredMessage("u1", "user", "before", final=True))
    made.close()
    locker.append(Locker(db_path))
    problems: list[str] = []
    resolved: list[bool] = []

    history = await AsyncHistory.open(
        db_path, on_problem=problems.append, on_resolved=lambda: resolved.append(True), retry_every=0.05
    )
    assert await history.list_conversations()  # reading still works while another program writes
    history.submit(HistoryStore.save_message, cid, StoredMessage("a1", "assistant", "during", final=True))
    await history.save_message(cid, StoredMessage("u2", "user", "still during", final=True))
    await until(lambda: bool(problems))
    assert "in use by another program" in problems[0]
    assert _texts_on_disk(db_path) == ["before"]

    locker[0].release()

    await until(lambda: _texts_on_disk(db_path) == ["before", "during", "still during"])
    await until(lambda: bool(resolved))
    assert history.problem is None and len(problems) == 1
    await history.close()


def test_changes_still_locked_out_at_closing_are_saved_at_the_next_start(db_path: Path, locker: list[Locker]) -> None:
    made = HistoryStore(db_path)
    cid = made.new_conversation()
    made.close()
    locker.append(Locker(db_path))
    store = HistoryStore(db_path)
    store.save_message(cid, StoredMessage("u1", "user", "said just before quitting", final=True))
    store.rename(cid, "Quitting time")

    store.close(wait=0.1)

    [kept] = db_path.parent.glob("history.sqlite3.unsaved-*.json")
    assert store.problem is not None and str(kept) in store.problem and "next time the app starts" in store.problem
    locker[0].release()
    again = HistoryStore(db_path)
    assert [m.text for m in again.load(cid)] == ["said just before quitting"]
    assert [c.title for c in again.list_conversations()] == ["Quitting time"]
    assert again.problem is None and not kept.exists()
    again.close()


def test_a_history_that_cannot_be_created_does_not_stop_the_app(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the folder should be")
    store = HistoryStore(tmp_path / "data" / "history.sqlite3")
    assert store.problem is not None and "cannot be saved right now" in store.problem
    store.save_message(store.new_conversation(), StoredMessage("u1", "user", "hello", final=True))
    assert store.pending_writes == 2
    with pytest.raises(HistoryUnavailable):
        store.list_conversations()
    store.close(wait=0)


def _delete_history_files(db_path: Path) -> None:
    """As a cleanup tool does: the file and its WAL go, while the store still holds them open."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def _texts_on_reopening(db_path: Path, cid: str) -> list[str]:
    reopened = HistoryStore(db_path)
    try:
        return [m.text for m in reopened.load(cid)]
    finally:
        reopened.close()


def test_a_history_deleted_while_open_is_written_again_with_everything(db_path: Path) -> None:
    """A cleanup tool deletes the file (and its WAL) while the app runs: nothing said before or after is lost."""
    store = HistoryStore(db_path)
    cid = store.new_conversation()
    store.save_message(cid, StoredMessage("m1", "user", "said before the delete", final=True))
    _delete_history_files(db_path)
    store.save_message(cid, StoredMessage("m2", "user", "said after the delete", final=True))
    assert db_path.exists()
    assert store.problem is not None and "was deleted while the app was running" in store.problem
    store.save_message(cid, StoredMessage("m3", "user", "and after that", final=True))
    store.close()
    assert _texts_on_reopening(db_path, cid) == ["said before the delete", "said after the delete", "and after that"]


def test_a_history_deleted_while_open_and_closed_without_another_write_is_written_again(db_path: Path) -> None:
    store = HistoryStore(db_path)
    cid = store.new_conversation()
    store.save_message(cid, StoredMessage("m1", "user", "the only thing said", final=True))
    _delete_history_files(db_path)
    store.close()
    assert _texts_on_reopening(db_path, cid) == ["the only thing said"]


def test_conversations_whose_rows_were_lost_are_named_after_their_first_words_again(db_path: Path) -> None:
    """The page holding the conversations' own rows is damaged: their messages are recovered into conversations
    named as before (after the user's first words), not a list of identical "New conversation"s."""
    written = _fill(db_path, conversations=3)
    titles = {c.id: c.title for c in HistoryStore(db_path).list_conversations()}
    _garble_page_holding(db_path, titles[next(iter(written))].encode())

    store = HistoryStore(db_path)

    assert store.problem is not None and "damaged" in store.problem
    listed = {c.id: c.title for c in store.list_conversations()}
    assert set(listed) == set(written), "every conversation is listed again"
    assert listed == titles
    store.close()
