"""The conversations panel: every saved conversation, newest first, searchable; new, continue, rename, delete.

It renders rows it is given and emits intents; the bridge reads the history (off the GUI thread) and fills it.
Rows are any objects with the fields of :class:`~voicelive_desktop.conversation.store.ConversationSummary`
(a search hit has them under ``conversation``, plus a ``snippet``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

SEARCH_DELAY_MS = 200
_ID = Qt.ItemDataRole.UserRole
_TITLE = Qt.ItemDataRole.UserRole + 1


class Summary(Protocol):
    """What a row shows of a conversation."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def deployment(self) -> str | None: ...


@runtime_checkable
class Hit(Protocol):
    """A search result: the conversation and the matching words."""

    @property
    def conversation(self) -> Summary: ...
    @property
    def snippet(self) -> str: ...


class _List(QListWidget):
    """Enter continues the selected conversation, Delete deletes it, F2 renames it."""

    activated_key = Signal(str)
    """"open" or "delete" pressed on the current row."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.state() != self.State.EditingState:
            self.activated_key.emit("open")
        elif event.key() == Qt.Key.Key_Delete:
            self.activated_key.emit("delete")
        else:
            super().keyPressEvent(event)


class ConversationsPanel(QWidget):
    """Lists conversations and emits what the user wants done with them."""

    new_requested = Signal()
    """Start a new conversation."""
    open_requested = Signal(str)
    """Continue the conversation with this id."""
    rename_requested = Signal(str, str)
    """(id, new title); an empty title goes back to the automatic one."""
    delete_requested = Signal(str, str)
    """(id, title) of the conversation to delete."""
    query_changed = Signal(str)
    """The search text changed (after a short pause in typing): the rows should be read again."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("conversationsPanel")
        self.setMinimumWidth(240)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search all conversations\u2026")
        self.search.setAccessibleName("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.list = _List()
        self.list.setAccessibleName("Conversations")
        self.list.setWordWrap(True)
        self.new_button = QPushButton("New")
        self.new_button.setToolTip("A new conversation (Ctrl+N)")
        self.rename_button = QPushButton("Rename")
        self.rename_button.setToolTip("Rename the selected conversation (F2)")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected conversation (Delete); you can undo it")
        self.empty = QLabel("No saved conversations yet.")
        self.empty.setObjectName("hint")
        self.empty.setWordWrap(True)
        buttons = QHBoxLayout()
        for button in (self.new_button, self.rename_button, self.delete_button):
            buttons.addWidget(button)
        column = QVBoxLayout(self)
        column.setContentsMargins(8, 8, 8, 8)
        column.addWidget(self.search)
        column.addWidget(self.list, 1)
        column.addWidget(self.empty)
        column.addLayout(buttons)
        self.current_id = ""
        self._filling = False
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(lambda: self.query_changed.emit(self.search.text()))
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.new_button.clicked.connect(self.new_requested)
        self.rename_button.clicked.connect(self._rename_selected)
        self.delete_button.clicked.connect(self._delete_selected)
        self.list.itemDoubleClicked.connect(lambda item: self.open_requested.emit(item.data(_ID)))
        self.list.activated_key.connect(self._key)
        self.list.itemChanged.connect(self._renamed)

    @property
    def query(self) -> str:
        """The search text."""
        return self.search.text()

    def show_rows(self, rows: Sequence[Summary | Hit]) -> None:
        """Show ``rows`` (summaries, or search hits), keeping the selection where it was."""
        selected = self.selected_id()
        self._filling = True
        self.list.clear()
        for row in rows:
            summary, snippet = (row.conversation, row.snippet) if isinstance(row, Hit) else (row, "")
            item = QListWidgetItem(self._label(summary, snippet))
            item.setData(_ID, summary.id)
            item.setData(_TITLE, summary.title)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            if summary.id == self.current_id:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.list.addItem(item)
            if summary.id == selected:
                self.list.setCurrentItem(item)
        self._filling = False
        self.empty.setVisible(not rows)
        self.empty.setText("Nothing matches." if self.query.strip() else "No saved conversations yet.")

    @staticmethod
    def _label(summary: Summary, snippet: str) -> str:
        when = summary.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
        model = f" \u00b7 {summary.deployment}" if summary.deployment else ""
        found = f"\n\u2026{snippet.replace('**', '')}\u2026" if snippet else ""
        return f"{summary.title or 'Untitled'}\n{when}{model}{found}"

    def selected_id(self) -> str:
        """The id of the selected conversation ("" when none)."""
        item = self.list.currentItem()
        return str(item.data(_ID)) if item is not None else ""

    def _key(self, what: str) -> None:
        if what == "delete":
            self._delete_selected()
        elif self.selected_id():
            self.open_requested.emit(self.selected_id())

    def _rename_selected(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._filling = True
            item.setText(str(item.data(_TITLE)))  # edit the title alone, not the date line
            self._filling = False
            self.list.editItem(item)

    def _renamed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        title = item.text().split("\n", 1)[0].strip()
        if title != item.data(_TITLE):
            self.rename_requested.emit(str(item.data(_ID)), title)

    def _delete_selected(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.delete_requested.emit(str(item.data(_ID)), str(item.data(_TITLE)))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_F2:
            self._rename_selected()
        else:
            super().keyPressEvent(event)
