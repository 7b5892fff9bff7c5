"""A conversation the user left while its session was live, and what that session may still say about it.

Leaving a conversation (a new one, or an earlier one opened) stops using its session at once: nothing said in
the next conversation may reach a session that holds the left one's context. But the service may still owe the
left conversation the words of a turn it already took (transcription runs beside the answer and often ends
after it) and the end of the answer cut as it was left. The session is kept, unused, until those have come
(at most :data:`LEFT_WAIT_S`), and what comes is folded in here, not into the conversation on screen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..voicelive.events import (
    AppEvent,
    ResponseFinished,
    UserTextSent,
    UserTranscriptDelta,
    UserTranscriptFinal,
    UserTurnCommitted,
)
from .transcript import Conversation, Message, Role

#: A left session is kept at most this long for what it owes its conversation: what the user says next waits for
#: the new session meanwhile. (The service's transcript of a turn usually comes within a second or two.)
LEFT_WAIT_S = 4.0
_USER_SIDE = (UserTurnCommitted, UserTranscriptDelta, UserTranscriptFinal, UserTextSent)


@dataclass
class LeftConversation:
    """What a left session still owes ``conversation``.

    Attributes:
        conversation: the conversation as it was left (its cut answer already marked).
        since: when it was left (the assistant's monotonic clock).
        patient: whether what is owed is worth waiting for (not hands-free: nothing is heard meanwhile).
        commits: the local ids of its turns committed, in order, whose service ids have not arrived.
        answer_due: the answer cut as it was left has not ended yet.
        words_due: the ids of its spoken turns whose words have not arrived.

    Typed messages are folded in too (the service's word that it has one): they are not waited for.
    """

    conversation: Conversation
    since: float
    patient: bool = True
    commits: deque[str] = field(default_factory=deque)
    answer_due: bool = False
    words_due: set[str] = field(default_factory=set)

    @classmethod
    def of(
        cls, conversation: Conversation, commits: Iterable[str], *, answer_due: bool, now: float, patient: bool = True
    ) -> LeftConversation:
        """``conversation`` as it is left at ``now``, with the turns ``commits`` still to be named by the service."""
        waiting = {
            m.id for m in conversation.messages if m.role is Role.USER and m.spoken and not m.final and not m.pending
        }
        return cls(conversation, now, patient, deque(commits), answer_due, waiting)

    def expecting(self, now: float) -> bool:
        """True while the session may still send something this conversation keeps, and is worth waiting for."""
        owed = self.answer_due or bool(self.commits) or bool(self.words_due)
        return owed and self.patient and now - self.since < LEFT_WAIT_S

    def apply(self, event: AppEvent) -> Message | None:
        """Fold in one event of the left session: the user's side (turn ids and words) is kept; of the answer,
        only its end counts (it was cut and saved when the user left). Returns the message that changed."""
        if isinstance(event, ResponseFinished):
            self.answer_due = False
            return None
        if not isinstance(event, _USER_SIDE):
            return None
        if isinstance(event, UserTurnCommitted) and self.commits:
            self.conversation.alias(self.commits.popleft(), event.item_id)  # a bubble shown before it was named
        message = self.conversation.apply(event)
        if message is None:
            return None
        if message.spoken and not message.final:
            self.words_due.add(message.id)
        else:
            self.words_due.discard(message.id)
        return message
