"""The durable history kept in step with the conversation on screen, Qt-free.

The recorder listens to the assistant's events like the window does: every message that appears or changes is
written to the history (finished ones at once, a streaming answer at least once a second, through the
:class:`~.conversation.history.Checkpointer`), on the history's own thread, never the GUI's or the audio's. A
conversation reloaded later becomes a :class:`~.conversation.transcript.Conversation` again, with an answer
that was still streaming when the app died marked as cut.
"""

from __future__ import annotations

import logging
from datetime import datetime

from .assistant_events import ConversationReplaced, LeftMessageChanged, MessageChanged, MessageView, UiEvent
from .conversation.history import AsyncHistory, Checkpointer
from .conversation.store import StoredMessage
from .conversation.transcript import Conversation, Message, Role

log = logging.getLogger(__name__)

#: How an answer reads after a relaunch when the app stopped while it was still arriving.
CUT_BY_EXIT = "Cut off: the app closed"
#: How a typed message reads after a relaunch when the app stopped before any connection took it.
NOT_SENT_BY_EXIT = "not sent: the app closed before a connection took it"
_ROLES = {Role.USER: "user", Role.ASSISTANT: "assistant", Role.DIVIDER: "divider"}


def stored_message(view: MessageView) -> StoredMessage:
    """A message as the history keeps it: what was said, how it ended, and which model said it."""
    return StoredMessage(
        message_id=view.id,
        role=_ROLES[view.role],  # type: ignore[arg-type]  # the three literal roles
        text=view.text,
        final=view.final and not view.pending,
        spoken=view.spoken,
        failed=view.failed,
        cut_reason=view.cut or None,
        heard_ms=view.heard_ms,
        audio_ms=view.audio_ms,
        heard_text=view.heard_text if view.cut else None,
        mode=view.mode or None,
        deployment=view.deployment or None,
        voice=view.voice or None,
        started_at=view.at,
        finished_at=view.finished_at,
        latency_ms=view.latency_ms,
    )


def restored_message(stored: StoredMessage) -> Message:
    """A message from the history, as the conversation holds it again."""
    role = Role(stored.role)
    message = Message(
        stored.message_id,
        role,
        stored.text,
        final=stored.final,
        spoken=stored.spoken,
        failed=stored.failed,
        audio_ms=stored.audio_ms,
        heard_ms=stored.heard_ms,
        cut=stored.cut_reason or "",
        at=stored.started_at or datetime.now(),
        finished_at=stored.finished_at,
        mode=stored.mode or "",
        deployment=stored.deployment or "",
        voice=stored.voice or "",
        latency_ms=stored.latency_ms,
    )
    if role is Role.ASSISTANT and not message.final:
        message.finish(cut=CUT_BY_EXIT)  # it never finished: the app stopped while it was arriving
    elif role is Role.USER and not message.final and message.spoken:
        message.final = True  # a spoken turn whose words never came: kept as said
    elif role is Role.USER and not message.final:
        message.finish(cut=NOT_SENT_BY_EXIT)  # typed while offline: the service never had it
    return message


def restored_conversation(conversation_id: str, stored: list[StoredMessage]) -> Conversation:
    """The conversation ``conversation_id`` as the history kept it."""
    return Conversation((restored_message(s) for s in stored), conversation_id=conversation_id)


class HistoryRecorder:
    """Writes what the assistant shows into the history; a listener beside the window's."""

    def __init__(self, history: AsyncHistory, conversation_id: str, *, interval: float = 1.0) -> None:
        self.history = history
        self.conversation_id = conversation_id
        self._checkpointer = Checkpointer(history, interval)

    def __call__(self, event: UiEvent) -> None:
        """One assistant event: messages are saved, a replaced conversation is followed."""
        if isinstance(event, MessageChanged):
            self._checkpointer.update(self.conversation_id, stored_message(event.message))
        elif isinstance(event, LeftMessageChanged):  # the late words of a turn said in a conversation left since
            self._checkpointer.update(event.conversation_id, stored_message(event.message))
        elif isinstance(event, ConversationReplaced):
            self._checkpointer.flush()
            self.conversation_id = event.conversation_id

    def save_restored(self, conversation: Conversation) -> None:
        """Save what restoring changed (an answer cut by the app's exit is saved as cut from now on)."""
        for index, message in enumerate(conversation.messages):
            if message.cut in (CUT_BY_EXIT, NOT_SENT_BY_EXIT):
                self._checkpointer.update(conversation.id, stored_message(MessageView.of(message, index)))

    def flush(self) -> None:
        """Write every change still waiting for its turn."""
        self._checkpointer.flush()

    async def close(self) -> None:
        """Write what is still waiting, then close the history (its thread finishes its queue first)."""
        self._checkpointer.flush()
        await self.history.close()
