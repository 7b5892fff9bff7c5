"""The history recorder: what the assistant shows is what the history keeps, and comes back as it was."""

from __future__ import annotations

from pathlib import Path

from voicelive_desktop.assistant_events import ConversationReplaced, LeftMessageChanged, MessageChanged, MessageView
from voicelive_desktop.conversation.history import AsyncHistory
from voicelive_desktop.conversation.transcript import Message, Role
from voicelive_desktop.recorder import CUT_BY_EXIT, HistoryRecorder, restored_conversation, stored_message


def _view(message: Message, index: int) -> MessageChanged:
    return MessageChanged(MessageView.of(message, index))


def test_a_cut_answer_is_kept_with_why_and_what_was_heard() -> None:
    message = Message("a1", Role.ASSISTANT, "It will rain all week in Seattle", final=True, audio_ms=4000)
    message.heard_ms, message.cut = 1500, "Connection lost"
    message.mode, message.deployment, message.voice, message.latency_ms = "managed", "gpt-4o", "alloy", 640
    stored = stored_message(MessageView.of(message))
    assert (stored.role, stored.cut_reason, stored.heard_text) == ("assistant", "Connection lost", "It will rain")
    assert (stored.mode, stored.deployment, stored.voice, stored.latency_ms) == ("managed", "gpt-4o", "alloy", 640)
    assert stored.started_at == message.at
    waiting = stored_message(MessageView.of(Message("u1", Role.USER, "hi", final=True, pending=True)))
    assert not waiting.final, "a message not yet sent is not finished"


async def test_messages_are_saved_as_they_change_and_come_back_as_they_were(tmp_path: Path) -> None:
    history = await AsyncHistory.open(tmp_path / "h.sqlite3")
    recorder = HistoryRecorder(history, "conv-1", interval=0.05)
    user = Message("u1", Role.USER, "what is the tide", final=True)
    answer = Message("a1", Role.ASSISTANT, "High tide is")
    recorder(_view(user, 0))
    recorder(_view(answer, 1))
    answer.text += " at noon."
    recorder(_view(answer, 1))
    recorder.flush()
    stored = await history.load("conv-1")
    assert [(s.message_id, s.text, s.final) for s in stored] == [
        ("u1", "what is the tide", True),
        ("a1", "High tide is at noon.", False),
    ]
    restored = restored_conversation("conv-1", stored)
    assert restored.id == "conv-1"
    assert restored.messages[1].cut == CUT_BY_EXIT and restored.messages[1].final, "unfinished: marked cut"
    recorder(ConversationReplaced("conv-2", ()))
    recorder(_view(Message("u9", Role.USER, "a new one", final=True), 0))
    await recorder.close()
    reopened = await AsyncHistory.open(tmp_path / "h.sqlite3")
    try:
        assert [s.text for s in await reopened.load("conv-2")] == ["a new one"]
        assert await reopened.last_conversation_id() == "conv-2"
    finally:
        await reopened.close()


async def test_late_words_of_a_left_conversation_are_saved_there_not_in_the_one_on_screen(tmp_path: Path) -> None:
    history = await AsyncHistory.open(tmp_path / "h.sqlite3")
    recorder = HistoryRecorder(history, "conv-1", interval=0.05)
    said = Message("u1", Role.USER, spoken=True)
    recorder(_view(said, 0))
    recorder(ConversationReplaced("conv-2", ()))
    recorder(_view(Message("u2", Role.USER, "the next question", final=True), 0))
    said.text = "what I said before leaving"
    said.finish()
    recorder(LeftMessageChanged("conv-1", MessageView.of(said, 0)))
    await recorder.close()
    reopened = await AsyncHistory.open(tmp_path / "h.sqlite3")
    try:
        assert [(s.text, s.final) for s in await reopened.load("conv-1")] == [("what I said before leaving", True)]
        assert [s.text for s in await reopened.load("conv-2")] == ["the next question"]
    finally:
        await reopened.close()
