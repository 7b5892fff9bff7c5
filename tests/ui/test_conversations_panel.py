"""The conversations panel's rows: what a search hit shows."""

from __future__ import annotations

from datetime import UTC, datetime

from pytestqt.qtbot import QtBot

from voicelive_desktop.conversation.store import ConversationSummary, SearchHit
from voicelive_desktop.ui.conversations_panel import ConversationsPanel


def test_a_search_hit_shows_the_words_as_they_were_said(qtbot: QtBot) -> None:
    """A passage that holds what looks like an HTML entity is shown as said, with the match marks taken out."""
    panel = ConversationsPanel()
    qtbot.addWidget(panel)
    at = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    summary = ConversationSummary("c1", "Phone plans", False, at, at, None, "gpt-4.1", 2)
    panel.show_rows([SearchHit(summary, "m1", "compare **AT&amp;T** with &lt;3 others")])
    assert panel.list.count() == 1
    title, _when, passage = panel.list.item(0).text().split("\n")
    assert title == "Phone plans"
    assert passage == "\u2026compare AT&amp;T with &lt;3 others\u2026"
