"""The history store on real files: what is saved comes back, in order, findable, and survives reopening."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conversation.conftest import Clock
from voicelive_desktop.conversation import schema
from voicelive_desktop.conversation.store import CUSTOM_TITLE_CHARS, UNTITLED, HistoryStore, StoredMessage


def user(message_id: str, text: str, **fields: object) -> StoredMessage:
    return StoredMessage(message_id, "user", text, final=True, spoken=True, **fields)  # type: ignore[arg-type]


def answer(message_id: str, text: str, **fields: object) -> StoredMessage:
    return StoredMessage(message_id, "assistant", text, **fields)  # type: ignore[arg-type]


def test_the_file_goes_to_the_platform_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    history = HistoryStore()
    history.new_conversation()
    history.close()
    assert history.path == tmp_path / "share" / "voicelive-desktop" / "history.sqlite3"
    assert history.path.is_file()


def test_a_new_file_is_wal_and_at_the_latest_schema(store: HistoryStore, db_path: Path) -> None:
    assert store.problem is None
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)
    con.close()


def test_what_is_saved_is_there_after_reopening(db_path: Path, clock: Clock) -> None:
    first = HistoryStore(db_path, clock=clock)
    cid = first.new_conversation()
    said = [
        user("u1", "What's the weather in Lisbon?", started_at=clock.now),
        answer("a1", "Sunny, 24 degrees.", final=True, mode="managed", deployment="gpt-4o", latency_ms=640),
        StoredMessage("d1", "divider", "Now talking to gpt-4.1", final=True, mode="byom", deployment="gpt-4.1"),
    ]
    for message in said:
        first.save_message(cid, message)
    first.close()

    again = HistoryStore(db_path, clock=clock)
    assert again.load(cid) == said
    assert again.last_conversation_id() == cid
    again.close()


def test_a_streaming_answer_is_updated_in_place_then_finalised(store: HistoryStore) -> None:
    cid = store.new_conversation()
    store.save_message(cid, user("u1", "Tell me a story"))
    for partial in ("Once", "Once upon", "Once upon a time"):
        store.save_message(cid, answer("a1", partial))
    assert [(m.message_id, m.text, m.final) for m in store.load(cid)] == [
        ("u1", "Tell me a story", True),
        ("a1", "Once upon a time", False),
    ]
    store.save_message(cid, user("u2", "Go on"))
    store.save_message(cid, answer("a1", "Once upon a time, a fox.", final=True, cut_reason="interrupted"))
    messages = store.load(cid)
    assert [m.message_id for m in messages] == ["u1", "a1", "u2"]  # finalising keeps its place
    assert messages[1].final and messages[1].cut_reason == "interrupted"


def test_a_late_partial_never_overwrites_the_finished_answer(store: HistoryStore) -> None:
    cid = store.new_conversation()
    store.save_message(cid, answer("a1", "The full answer.", final=True))
    store.save_message(cid, answer("a1", "The full"))
    assert store.load(cid)[0].text == "The full answer."


def test_a_message_for_an_unknown_conversation_is_kept(store: HistoryStore) -> None:
    store.save_message("made-elsewhere", user("u1", "hello"))
    assert [m.text for m in store.load("made-elsewhere")] == ["hello"]


def test_an_unknown_role_is_refused_at_once(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="robot"):
        store.save_message(store.new_conversation(), StoredMessage("x", "robot", "beep"))  # type: ignore[arg-type]


def test_the_list_is_newest_first_with_titles_models_and_counts(store: HistoryStore, clock: Clock) -> None:
    old = store.new_conversation()
    store.save_message(old, user("u1", "Plan a weekend trip to Porto with a small budget please"))
    store.save_message(old, answer("a1", "Sure.", mode="managed", deployment="gpt-4o"))
    clock.advance(minutes=5)
    new = store.new_conversation()
    store.save_message(new, user("u1", "Hi"))
    store.save_message(new, StoredMessage("d1", "divider", "Now talking to gpt-4.1", mode="byom", deployment="gpt-4.1"))
    clock.advance(minutes=5)
    empty = store.new_conversation()

    listed = store.list_conversations()
    assert [c.id for c in listed] == [empty, new, old]
    assert [c.title for c in listed] == [UNTITLED, "Hi", "Plan a weekend trip to Porto with a…"]
    assert [(c.mode, c.deployment, c.message_count) for c in listed] == [
        (None, None, 0),
        ("byom", "gpt-4.1", 1),
        ("managed", "gpt-4o", 2),
    ]

    clock.advance(minutes=5)
    store.save_message(old, user("u2", "And the museums?"))
    top = store.list_conversations()[0]
    assert (top.id, top.updated_at) == (old, clock.now)
    assert [c.id for c in store.list_conversations(limit=2)] == [old, empty]


def test_rename_and_back_to_the_automatic_title(store: HistoryStore) -> None:
    cid = store.new_conversation()
    store.save_message(cid, user("u1", "Recipe for pancakes"))
    store.rename(cid, "  Breakfast  ")
    store.save_message(cid, user("u2", "Without eggs"))
    summary = store.conversation(cid)
    assert summary is not None and (summary.title, summary.title_is_custom) == ("Breakfast", True)
    store.rename(cid, "")
    summary = store.conversation(cid)
    assert summary is not None and (summary.title, summary.title_is_custom) == ("Recipe for pancakes", False)
    named = store.new_conversation("Work notes")
    assert store.list_conversations()[0].title == "Work notes"
    assert store.conversation(named) is not None


def test_a_pasted_page_as_a_title_is_kept_to_its_first_line_and_a_readable_length(store: HistoryStore) -> None:
    cid = store.new_conversation()
    store.save_message(cid, user("u1", "Recipe for pancakes"))
    novel = "It was a dark and stormy night; " * 3000 + "\nChapter two\n" + "more " * 1000
    store.rename(cid, novel)
    summary = store.conversation(cid)
    assert summary is not None and summary.title_is_custom
    assert summary.title.startswith("It was a dark and stormy night; It was")
    assert len(summary.title) == CUSTOM_TITLE_CHARS and summary.title.endswith("\u2026")
    assert "Chapter two" not in summary.title
    named = store.new_conversation("Trip to Lisbon\nday one")
    assert store.list_conversations()[0].title == "Trip to Lisbon" and store.conversation(named) is not None


def test_delete_hides_restore_brings_back_purge_erases(store: HistoryStore, clock: Clock) -> None:
    keep, gone = store.new_conversation(), store.new_conversation()
    store.save_message(keep, user("u1", "keep this zebra"))
    store.save_message(gone, user("u1", "forget this zebra"))

    store.delete(gone)
    assert [c.id for c in store.list_conversations()] == [keep]
    assert [h.conversation.id for h in store.search("zebra")] == [keep]
    assert store.load(gone)  # still there, for undo
    store.restore(gone)
    assert {c.id for c in store.list_conversations()} == {keep, gone}

    store.delete(gone)
    clock.advance(days=10)
    store.purge_deleted(older_than=timedelta(days=30))
    assert store.load(gone)  # deleted 10 days ago: not yet
    clock.advance(days=30)
    store.purge_deleted(older_than=timedelta(days=30))
    assert store.load(gone) == []
    assert store.conversation(gone) is None
    assert [h.conversation.id for h in store.search("zebra")] == [keep]  # the index forgot it too


def test_search_finds_words_prefixes_and_accents_newest_first(store: HistoryStore, clock: Clock) -> None:
    first = store.new_conversation()
    store.save_message(first, user("u1", "Where can I get a good café au lait"))
    store.save_message(first, answer("a1", "Try the café near the station."))
    clock.advance(minutes=1)
    second = store.new_conversation()
    store.save_message(second, user("u1", "Is the cafe open on Sunday?"))
    store.save_message(second, StoredMessage("d1", "divider", "Now talking to cafe-model"))

    assert [h.conversation.id for h in store.search("cafe")] == [second, first]
    assert [h.conversation.id for h in store.search("caf")] == [second, first]  # the last word is a prefix
    assert [h.conversation.id for h in store.search("cafe sunday")] == [second]  # every word must match
    assert store.search("cafe-model") == []  # dividers are not what was said
    hit = store.search("station")[0]
    assert hit.message_id == "a1" and "**station**" in hit.snippet
    assert store.search("lait", marks=("<b>", "</b>"))[0].snippet.endswith("au <b>lait</b>")


def test_search_finds_what_the_word_index_cannot_as_it_was_typed(store: HistoryStore, clock: Clock) -> None:
    code = store.new_conversation()
    store.save_message(code, user("u1", "How do I read a file in C++ without exceptions?"))
    clock.advance(minutes=1)
    cats = store.new_conversation()
    store.save_message(cats, user("u1", "Can cats eat cucumbers? 🐱"))
    clock.advance(minutes=1)
    trip = store.new_conversation()
    store.save_message(trip, user("u1", "我想去東京旅行"))
    store.save_message(trip, answer("a1", "東京は春がいいですよ。Prices are 50% lower in June."))

    assert [h.conversation.id for h in store.search("c++")] == [code], "not every word that starts with c"
    assert [h.conversation.id for h in store.search("🐱")] == [cats]
    assert [h.conversation.id for h in store.search("50%")] == [trip]
    assert [h.conversation.id for h in store.search("東京")] == [trip]
    hit = store.search("旅行")[0]  # the end of a sentence that the index keeps as one word
    assert (hit.conversation.id, hit.message_id) == (trip, "u1") and hit.snippet == "我想去東京**旅行**"
    assert [h.conversation.id for h in store.search("東京 june")] == [trip], "each term, in one message"
    assert store.search("大阪") == []
    assert [h.conversation.id for h in store.search("cucumber")] == [cats], "words still go through the index"


def test_a_literal_passage_is_cut_around_the_match(store: HistoryStore) -> None:
    cid = store.new_conversation()
    store.save_message(cid, user("u1", "x" * 200 + " the price is 30% off " + "y" * 200))
    snippet = store.search("30%", marks=("<b>", "</b>"))[0].snippet
    assert snippet.startswith("…") and snippet.endswith("…") and "price is <b>30%</b> off" in snippet
    assert len(snippet) < 110
    turkish = store.new_conversation()  # "İ" is two characters once lower-cased: the mark must not shift
    store.save_message(turkish, user("u1", "İİİ İstanbul trip costs 50% more"))
    assert store.search("50%")[0].snippet == "İİİ İstanbul trip costs **50%** more"


def test_a_pasted_page_in_the_search_field_is_searched_without_an_error(store: HistoryStore) -> None:
    cid = store.new_conversation()
    store.save_message(cid, user("u1", "a note about C++ templates"))
    page = " ".join(f"w{i}%" for i in range(3000))  # thousands of terms, each with a symbol
    assert store.search(page) == [] and store.problem is None
    assert [h.conversation.id for h in store.search("c++ " + "templates " * 500)] == [cid]


@pytest.mark.parametrize(
    "query",
    ['"', 'say "hi', "AND", "OR NOT", "*", "-", "--", "a*b", "NEAR(a b)", "text:foo", "(", ")", "^", ":", "'", "", " "],
)
def test_search_accepts_anything_a_user_types(store: HistoryStore, query: str) -> None:
    cid = store.new_conversation()
    store.save_message(cid, user("u1", 'Say "hi" and AND or NOT, near a bus. text: foo'))
    hits = store.search(query)
    assert isinstance(hits, list)
    if query.strip(" \"'*-()^:"):
        assert [h.conversation.id for h in hits] == [cid]


def test_a_file_from_before_any_migration_is_brought_up_to_date(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    sqlite3.connect(db_path).close()  # an empty file at version 0
    history = HistoryStore(db_path)
    cid = history.new_conversation()
    history.save_message(cid, user("u1", "hello"))
    history.close()
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)
    con.close()


def test_a_new_migration_upgrades_an_old_file_and_keeps_its_data(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = HistoryStore(db_path)
    cid = old.new_conversation()
    old.save_message(cid, user("u1", "from the old version"))
    old.close()

    def add_pinned(con: sqlite3.Connection) -> None:
        con.execute("ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_pinned])
    new = HistoryStore(db_path)
    assert new.problem is None
    assert [m.text for m in new.load(cid)] == ["from the old version"]
    new.close()
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    assert con.execute("SELECT pinned FROM conversations").fetchall() == [(0,)]
    con.close()


def test_a_failing_migration_leaves_the_file_as_it_was(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = HistoryStore(db_path)
    cid = old.new_conversation()
    old.save_message(cid, user("u1", "precious"))
    old.close()

    def broken(con: sqlite3.Connection) -> None:
        con.execute("ALTER TABLE conversations ADD COLUMN pinned INTEGER")
        raise RuntimeError("bug in migration 2")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    history = HistoryStore(db_path)  # does not raise
    assert history.problem is not None and "bug in migration 2" in history.problem
    history.close()
    monkeypatch.undo()
    again = HistoryStore(db_path)
    assert again.problem is None and [m.text for m in again.load(cid)] == ["precious"]
    again.close()


def test_a_file_from_a_newer_version_is_used_as_is(db_path: Path) -> None:
    made = HistoryStore(db_path)
    cid = made.new_conversation()
    made.save_message(cid, user("u1", "written by a later release"))
    made.close()
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA user_version = 99")
    con.close()

    history = HistoryStore(db_path)
    assert history.problem is not None and "newer version" in history.problem
    assert [m.text for m in history.load(cid)] == ["written by a later release"]
    history.close()
    assert db_path.exists() and not list(db_path.parent.glob("*.damaged-*"))
