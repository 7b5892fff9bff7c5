"""The message area above the chat: errors and notices, one row each, kept until dismissed or resolved.

Each row has a key: a newer message with the same key replaces the older one (so a retry that fails again does
not stack up), and the app removes a row when what it reported is resolved (the connection came back). Nothing
is shown as a modal dialog.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from .richtext import escape

MAX_ROWS = 4
#: A web address in a message, without the sentence's punctuation or quotes around it ("Cannot reach https://x.").
_ADDRESS = re.compile(r"https://[^\s<>\"']*[^\s<>\"'.,;:!?)\]]")


def _linked(text: str) -> str:
    """``text`` as rich text: escaped, line breaks kept, web addresses as links."""
    parts: list[str] = []
    end = 0
    for found in _ADDRESS.finditer(text):
        address = escape(found.group())
        parts += [escape(text[end : found.start()]), f'<a href="{address}">{address}</a>']
        end = found.end()
    parts.append(escape(text[end:]))
    return "".join(parts).replace("\n", "<br>")


class BannerRow(QFrame):
    """One message: its text, an optional action button, and a dismiss button."""

    def __init__(self, key: str, text: str, *, error: bool, action: str = "") -> None:
        super().__init__()
        self.key = key
        self.text = text
        self.setObjectName("banner")
        self.setProperty("kind", "error" if error else "notice")
        self.label = QLabel(_linked(text))
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setOpenExternalLinks(True)
        self.label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self.action = QPushButton(action)
        self.action.setVisible(bool(action))
        self.close_button = QToolButton()
        self.close_button.setText("\u2715")
        self.close_button.setAccessibleName("Dismiss message")
        self.close_button.setToolTip("Dismiss")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 8, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)


class ErrorBanner(QWidget):
    """Rows of messages; the newest on top."""

    action_clicked = Signal(str)
    """The key of the row whose action button was pressed."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("bannerArea")
        self.setAccessibleName("Messages")
        self._column = QVBoxLayout(self)
        self._column.setContentsMargins(0, 0, 0, 0)
        self._column.setSpacing(1)
        self._rows: dict[str, BannerRow] = {}
        self.hide()

    def show_message(self, text: str, *, error: bool = True, key: str = "", action: str = "") -> None:
        """Show ``text`` in the row ``key`` (a new row for a new key), with an ``action`` button if given."""
        key = key or text
        self.resolve(key)
        row = BannerRow(key, text, error=error, action=action)
        row.close_button.clicked.connect(lambda: self.resolve(key))
        row.action.clicked.connect(lambda: self.action_clicked.emit(key))
        self._rows[key] = row
        self._column.insertWidget(0, row)
        while len(self._rows) > MAX_ROWS:
            self.resolve(next(iter(self._rows)))
        self.show()

    def resolve(self, key: str) -> None:
        """Remove the row ``key`` (dismissed, or no longer true)."""
        row = self._rows.pop(key, None)
        if row is not None:
            row.hide()
            row.deleteLater()
        self.setVisible(bool(self._rows))

    def texts(self) -> list[str]:
        """What the rows say, newest first (as plain text)."""
        return [self._rows[k].text for k in reversed(self._rows)]

    def has(self, key: str) -> bool:
        """True while the row ``key`` is shown."""
        return key in self._rows
