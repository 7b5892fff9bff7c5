"""The transcript: events folded into messages, cut answers, and what a new session is given."""

from __future__ import annotations

from voicelive_desktop.conversation.transcript import CUT_MARK, Conversation, Role
from voicelive_desktop.voicelive.events import (
    AssistantAudio,
    AssistantInterrupted,
    AssistantTranscriptDelta,
    AssistantTranscriptFinal,
    UserTranscriptFinal,
    UserTurnCommitted,
)


def _answer(conversation: Conversation, item_id: str, text: str, audio_ms: int = 0) -> None:
    conversation.apply(AssistantTranscriptDelta(item_id, text))
    if audio_ms:
        conversation.apply(AssistantAudio(item_id, b"\0" * 48 * audio_ms))


def test_a_late_user_transcript_fills_the_bubble_that_was_committed_first() -> None:
    conversation = Conversation()
    conversation.apply(UserTurnCommitted("u1"))
    _answer(conversation, "a1", "Hello.")
    conversation.apply(UserTranscriptFinal("u1", "hi there"))
    assert [(m.role, m.text) for m in conversation.messages] == [(Role.USER, "hi there"), (Role.ASSISTANT, "Hello.")]


def test_an_interrupted_answer_is_carried_as_far_as_it_was_heard_and_marked_cut() -> None:
    conversation = Conversation()
    conversation.add_user_text("u1", "tell me a story", pending=False)
    _answer(conversation, "a1", "Once upon a time there was a lighthouse keeper.", audio_ms=4000)
    conversation.apply(AssistantInterrupted("a1", 1000))
    conversation.apply(AssistantTranscriptFinal("a1", "Once upon a time there was a lighthouse keeper who sang."))
    answer = conversation.messages[1]
    assert answer.cut == "Interrupted" and answer.final
    assert answer.text == "Once upon a time there was a lighthouse keeper.", "a cut answer keeps the words it had"
    carried = conversation.history().turns
    assert carried[0] == ("user", "tell me a story")
    assert carried[1][1].startswith("Once upon") and carried[1][1].endswith(CUT_MARK)
    assert "lighthouse keeper" not in carried[1][1], "only what was heard goes back to the model"


def test_history_keeps_the_newest_turns_that_fit_the_budget() -> None:
    conversation = Conversation()
    for i in range(10):
        conversation.add_user_text(f"u{i}", f"question {i} " + "x" * 90, pending=False)
    carried = conversation.history(budget_chars=350)
    assert carried.of_total == 10 and len(carried.turns) == 3 and not carried.all
    assert carried.turns[-1][1].startswith("question 9") and carried.turns[0][1].startswith("question 7")


def test_messages_waiting_to_be_sent_are_not_history_and_come_after_a_new_divider() -> None:
    conversation = Conversation()
    conversation.add_user_text("u1", "first", pending=False)
    conversation.add_user_text("u2", "typed while switching", pending=True)
    conversation.add_divider("Now talking to grok-3")
    assert [m.role for m in conversation.messages] == [Role.USER, Role.DIVIDER, Role.USER]
    assert conversation.history().turns == [("user", "first")]


def test_a_turn_shown_before_the_service_named_it_takes_the_service_events() -> None:
    conversation = Conversation()
    waiting = conversation.add_user_text("local-1", "", pending=True)
    conversation.alias("local-1", "item_9")
    conversation.apply(UserTranscriptFinal("item_9", "said while offline"))
    assert conversation.messages == [waiting] and waiting.text == "said while offline"


def test_a_divider_right_after_a_divider_takes_its_place_and_one_after_words_does_not() -> None:
    conversation = Conversation()
    conversation.add_divider("Continued with gpt-realtime")
    conversation.add_divider("Now talking to gpt-4.1")
    assert [(m.role, m.text) for m in conversation.messages] == [(Role.DIVIDER, "Now talking to gpt-4.1")]
    conversation.add_answer_that_never_came("item_1", "no answer")
    conversation.add_divider("Continued with gpt-4.1")
    assert [m.role for m in conversation.messages] == [Role.DIVIDER, Role.ASSISTANT, Role.DIVIDER]
