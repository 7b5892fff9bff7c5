"""What users do to the app's input, tried on the real app: mashing the hold key, pasting a novel. Each checks
what the user sees, that the next turn works, and (in the harness) that nothing is lost or left running."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication

from tests.helpers import until
from tests.launching import send_space
from voicelive_desktop.assistant_events import TurnState
from voicelive_desktop.conversation.store import HistoryStore
from voicelive_desktop.conversation.transcript import Role
from voicelive_desktop.emulator import Emulator
from voicelive_desktop.ui.main_window import MAX_MESSAGE_CHARS
from voicelive_desktop.voicelive.modes import Mode

Launcher = Callable[..., Any]


async def test_mashing_the_hold_key_during_an_answer_leaves_the_app_ready_and_one_session(
    fault_app: Launcher, emulator: Emulator
) -> None:
    app = await fault_app()
    await app.say("first question")
    emulator.options.pace.realtime_factor = 1.0  # a long answer to mash the key over
    app.type("tell me a long story about the harbour")
    await until(lambda: app.controller.assistant.turn is TurnState.SPEAKING, 20)
    app.window.chat.setFocus()  # away from the message field, where Space types
    for i in range(30):  # taps of 10 to 40 ms, as fast as fingers go
        send_space(app.window, QEvent.Type.KeyPress)
        await asyncio.sleep(0.01 + (i % 4) * 0.01)
        send_space(app.window, QEvent.Type.KeyRelease)
        await asyncio.sleep(0.01)
    emulator.options.pace.realtime_factor = 8.0

    await until(lambda: app.controller.assistant.turn is TurnState.IDLE, 20)
    assert app.status.startswith("Connected to"), app.status
    assert len(emulator.connections) == 1 and emulator.open_sockets == 1, "no reconnect, no second session"
    answer = app.answers()[1]
    assert answer.final and answer.cut, "the answer was interrupted by the first press"
    errors = [text for text in app.banner if "error" in text.lower() or "failed" in text.lower()]
    assert errors == [], errors
    refused = [e for e in emulator.last().sent if e["type"] == "error"]
    assert refused == [], f"the service was sent something it refuses: {refused}"
    await app.say("after the mashing")
    await app.close()


async def test_a_novel_pasted_into_the_message_field_is_cut_said_sent_and_kept(
    fault_app: Launcher, emulator: Emulator
) -> None:
    app = await fault_app()
    chapter = "It was a dark and stormy night; the rain fell in torrents. "
    novel = chapter * (250_000 // len(chapter))
    QApplication.clipboard().setText(novel)
    app.window.input.setFocus()
    app.qtbot.keyClick(app.window.input, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(app.window.input.text()) == MAX_MESSAGE_CHARS
    assert any(f"cut to {MAX_MESSAGE_CHARS:,} characters" in text for text in app.banner)
    app.qtbot.keyClick(app.window.input, Qt.Key.Key_Return)

    await until(lambda: len(app.answers()) == 1 and app.answers()[0].final, 30)
    await until(lambda: app.controller.assistant.turn is TurnState.IDLE, 30)  # once it has been heard
    sent = app.messages[0]
    expected = novel[:MAX_MESSAGE_CHARS].strip()
    assert sent.role is Role.USER and sent.text == expected, "the chat shows the message as it was sent"
    created = [e for e in emulator.last().received if e["type"] == "conversation.item.create"]
    assert [part["text"] for part in created[-1]["item"]["content"]] == [expected], "the service got all of it"
    assert f"You wrote {len(expected):,} characters" in app.answers()[0].text
    assert not [e for e in emulator.last().sent if e["type"] == "error"]
    await app.say("and a short one after it")
    await app.close()
    store = HistoryStore(app.folder / "history.sqlite3")
    try:
        saved = store.load(app.controller.assistant.conversation.id)
    finally:
        store.close()
    assert any(s.text == sent.text for s in saved), "the long message is in the history, whole"


@contextlib.contextmanager
def _files_limited_to(size: int) -> Iterator[None]:
    """Writes past ``size`` bytes fail (EFBIG) for the whole process: as on a disk that fills up mid-write."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


async def test_an_export_that_fails_half_way_leaves_the_earlier_export_whole(fault_app: Launcher) -> None:
    app = await fault_app()
    await app.say("keep this backup safe")
    backup = app.folder / "backup.md"
    assert await app.controller.export_to(backup, "md", current_only=False)
    earlier = backup.read_bytes()
    assert "exported to" in app.banner[0]
    await app.say(("and a longer message after it " * 10).strip())
    with _files_limited_to(len(earlier) + 64):  # the new export, longer, fails part of the way through
        exported = await app.controller.export_to(backup, "md", current_only=False)
    assert not exported
    assert backup.read_bytes() == earlier, "the earlier export is as it was"
    assert "could not be written" in app.banner[0]
    assert not any("exported to" in text for text in app.banner), "no word of a success that did not happen"
    assert [p.name for p in app.folder.iterdir() if p.name.startswith(".backup.md")] == [], "no leftover part"


def _saved(folder: Any) -> dict[str, list[Any]]:
    store = HistoryStore(folder / "history.sqlite3")
    try:
        return {c.id: store.load(c.id) for c in store.list_conversations(-1)}
    finally:
        store.close()


@pytest.mark.parametrize("leave", ["new", "delete"])
async def test_leaving_a_conversation_mid_answer_cuts_the_answer_there_and_the_next_starts_clean(
    fault_app: Launcher, emulator: Emulator, leave: str
) -> None:
    """Ctrl+N, or deleting the conversation on screen, while its answer is still coming: the answer stops, stays
    in its own conversation as far as it came, marked as interrupted; none of it spills into the next one."""
    app = await fault_app()
    await _a_long_answer_playing(app, emulator)
    left, link = app.controller.assistant.conversation.id, emulator.last()
    await until(lambda: len(app.answers()) == 2 and bool(app.answers()[1].text), 15)
    await asyncio.sleep(0.5)
    if leave == "new":
        app.qtbot.keyClick(app.window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    else:
        await app.controller.delete_conversation(left)
    await until(lambda: app.controller.assistant.conversation.id != left, 5)
    await until(lambda: "response.done" in [e["type"] for e in link.sent][-3:], 15)
    await until(lambda: app.controller.assistant.turn is TurnState.IDLE, 15)
    await asyncio.sleep(0.5)  # anything still on its way has arrived
    assert app.messages == [], "the new conversation starts empty"
    assert "response.cancel" in link.received_types(), "the answer was stopped, not left running"
    emulator.options.pace.realtime_factor = 8.0
    await app.say("a question in the next conversation")
    assert [m.role for m in app.messages] == [Role.USER, Role.ASSISTANT]
    if leave == "delete":
        await app.controller.delete_conversation(left, undo=True)
    await app.close()
    kept = _saved(app.folder)[left]
    story = kept[-1]
    assert story.role == "assistant" and story.cut_reason == "Interrupted" and story.text.startswith("You")
    assert len(kept) == 4, "the left conversation keeps its four messages, no more"


async def _a_long_answer_playing(app: Any, emulator: Emulator) -> None:
    await app.say("hello")
    emulator.options.pace.realtime_factor = 1.0  # a long answer, in real time
    app.type("tell me a long story about " + " ".join(f"word{i}" for i in range(40)))
    await until(lambda: app.controller.assistant.turn is TurnState.SPEAKING, 15)


async def test_ctrl_n_mashed_mid_answer_then_typing_at_once_gets_one_clean_session_and_an_answer(
    fault_app: Launcher, emulator: Emulator
) -> None:
    """Ten new conversations in a row while an answer is arriving, and a question typed at once: it is answered
    in a session of its own, with nothing of the left conversation in it, and only one session is ever open."""
    app = await fault_app()
    await _a_long_answer_playing(app, emulator)
    left, link = app.controller.assistant.conversation.id, emulator.last()
    for _ in range(10):
        app.qtbot.keyClick(app.window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
        await asyncio.sleep(0.02)
    emulator.options.pace.realtime_factor = 8.0
    await app.say("a question after all that")
    assert [m.role for m in app.messages] == [Role.USER, Role.ASSISTANT]
    assert emulator.last() is not link and emulator.open_sockets == 1, "one session open, a new one"
    said = [
        e["item"]["content"][0].get("text", "")
        for e in emulator.last().received
        if e["type"] == "conversation.item.create"
    ]
    assert said == ["a question after all that"], f"the new session was given {said}"
    assert "a question after all that" not in str(link.received), "the left session heard none of it"
    await app.close()
    assert _saved(app.folder)[left][0].text == "hello", "the left conversation is kept"


async def test_a_new_voice_chosen_mid_answer_lets_the_answer_finish_then_speaks_with_it(
    fault_app: Launcher, emulator: Emulator
) -> None:
    """The service fixes the voice once the assistant has spoken: the new voice needs a new session. That waits
    for the answer to end, instead of cutting it with a false "the connection dropped"."""
    app = await fault_app()
    await _a_long_answer_playing(app, emulator)
    new = app.controller.settings.copy()
    new.model.voice = "en-US-Andrew:DragonHDLatestNeural"
    assert await app.controller.apply_settings(new)
    await until(lambda: app.answers()[-1].final, 60)
    assert not app.answers()[-1].cut, "the answer finished"
    assert len(emulator.connections) == 1, "in the session it began in"
    assert not any("connection dropped" in text for text in app.banner)
    emulator.options.pace.realtime_factor = 8.0
    await until(lambda: len(emulator.connections) == 2 and app.controller.supervisor.connected, 15)
    await until(lambda: bool(emulator.last().received), 5)  # connected: its session.update may still be on the way
    assert emulator.last().received[0]["session"]["voice"]["name"] == "en-US-Andrew:DragonHDLatestNeural"
    await app.say("and the next turn, in the new voice")
    await app.close()


async def test_a_model_switched_mid_answer_does_not_say_the_connection_dropped(
    fault_app: Launcher, emulator: Emulator
) -> None:
    app = await fault_app()
    await _a_long_answer_playing(app, emulator)
    assert await app.controller.select(Mode.MANAGED, "gpt-realtime-mini")
    await until(lambda: app.answers()[-1].cut == "Interrupted", 15)
    await until(lambda: app.window.banner.has("ask-again"), 5)
    assert not any("connection dropped" in text for text in app.banner)
    assert any("cut off before it finished" in text for text in app.banner)
    emulator.options.pace.realtime_factor = 8.0
    await app.connected()
    await app.close()


async def test_a_new_conversation_while_an_answer_that_has_all_arrived_still_plays_stops_it_and_keeps_it_cut(
    fault_app: Launcher, emulator: Emulator
) -> None:
    """The service sends an answer faster than it is spoken: it has all arrived long before it has been heard."""
    app = await fault_app()
    link, left = emulator.last(), app.controller.assistant.conversation.id
    app.type("tell me a long story about " + " ".join(f"word{i}" for i in range(40)))
    await until(lambda: "response.done" in [e["type"] for e in link.sent], 15)
    await until(lambda: app.controller.assistant.turn is TurnState.SPEAKING, 15)
    playback = app.controller.assistant.playback
    assert playback is not None and playback.is_playing, "all of it arrived, and it is still being heard"
    app.qtbot.keyClick(app.window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    await until(lambda: app.controller.assistant.conversation.id != left, 5)
    await until(lambda: not playback.is_playing, 2)
    assert app.messages == []
    await app.say("a question in the next conversation")
    await app.close()
    story = _saved(app.folder)[left][-1]
    assert story.cut_reason == "Interrupted" and story.heard_ms is not None and story.heard_ms < story.audio_ms


async def test_continuing_the_conversation_on_screen_leaves_it_as_it_is(fault_app: Launcher) -> None:
    app = await fault_app()
    await app.say("stay right here")
    before = list(app.controller.assistant.conversation.messages)
    assert await app.controller.open_conversation(app.controller.assistant.conversation.id)
    assert app.controller.assistant.conversation.messages == before
    await app.close()


async def test_without_a_key_the_header_says_not_connected_and_what_to_do(
    fault_app: Callable[..., Any], emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key anywhere: the app does not try, and its header does not claim to be on its way."""
    monkeypatch.delenv("AZURE_VOICELIVE_API_KEY")
    app = await fault_app(wait=False)
    await until(lambda: any("Not connected yet" in text for text in app.banner))  # said once it chose not to try
    assert app.status == "Not connected" and emulator.connections == []
    await app.close()


async def test_twenty_messages_sent_in_a_row_show_twenty_messages_and_no_empty_answers(
    fault_app: Launcher, emulator: Emulator
) -> None:
    """Each message sent while an answer is due cuts that answer; the chat shows what was said and what came of
    it, not a column of empty "Interrupted" bubbles."""
    from voicelive_desktop.ui.chat_view import Bubble

    app = await fault_app()
    for i in range(20):
        app.type(f"message number {i}")
        await asyncio.sleep(0.02)  # as fast as a user can press Enter
    await until(lambda: app.controller.assistant.turn is TurnState.IDLE and bool(app.answers()), 30)
    await until(lambda: app.answers()[-1].final and not app.answers()[-1].cut, 30)
    last = app.answers()[-1]

    def rendered() -> bool:  # the chat shows updates on its next render tick, in the order they came
        shown = app.window.chat.bubbles()
        return bool(shown) and shown[-1].message.id == last.id and shown[-1].message.final

    await until(rendered, 5)
    users = [m.text for m in app.messages if m.role is Role.USER]
    assert users == [f"message number {i}" for i in range(20)], "every message shows, in order"
    shown = [b for b in app.window.chat.bubbles() if isinstance(b, Bubble)]
    empty = [b.plain_text() for b in shown if b.message.role is Role.ASSISTANT and not b.message.text]
    assert empty == [], f"answers shown with nothing in them: {empty}"
    assert shown[-1].message.role is Role.ASSISTANT and shown[-1].plain_text(), "the last message is answered"
    assert app.status.startswith("Connected to"), app.status
    await app.close()
