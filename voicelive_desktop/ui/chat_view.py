"""The chat pane: user and assistant bubbles, streamed in place, rendered at most ~30 times a second."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from ..assistant_events import MessageView
from ..conversation.transcript import Role
from .richtext import escape, plain

RENDER_INTERVAL_MS = 33


class Bubble(QFrame):
    """One message: who and when above, the selectable text below."""

    def __init__(self, message: MessageView) -> None:
        super().__init__()
        self.setObjectName("bubble")
        self.setProperty("role", message.role.value)
        self.meta = QLabel()
        self.meta.setObjectName("bubbleMeta")
        self.body = QLabel()
        self.body.setObjectName("bubbleBody")
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 10)
        layout.setSpacing(2)
        layout.addWidget(self.meta)
        layout.addWidget(self.body)
        self.message = message
        self.refresh(message)

    def plain_text(self) -> str:
        """The text a user would copy from this bubble."""
        return self.body.text() if self.body.textFormat() == Qt.TextFormat.PlainText else plain(self.body.text())

    def refresh(self, message: MessageView) -> None:
        """Show ``message``'s current state."""
        self.message = message
        who = "You" if message.role is Role.USER else "Assistant"
        self.meta.setText(f"{who} \u00b7 {message.at:%H:%M}")
        self.body.setAccessibleName(f"{who} said")
        if message.role is Role.USER:
            if message.failed:
                body = "<i>(your words could not be transcribed)</i>"
            elif not message.text and message.spoken:
                body = "<i>\u2026</i>"  # spoken; the words are on their way
            else:
                body = escape(message.text)
            if message.pending:
                body += " <i>(waiting for the connection)</i>"
            elif message.cut:
                body += f" <i>({escape(message.cut)})</i>"
        elif message.interrupted:
            heard = escape(message.heard_text)
            rest = escape(message.text[len(message.heard_text) :])
            mark = escape(message.cut)
            body = f"{heard}<span style='opacity:0.45'><s>{rest}</s></span> <b>\u2702 {mark}</b>"
        else:
            body = escape(message.text) + ("" if message.final else " \u258d")
        self.body.setText(body.replace("\n", "<br>"))


class Divider(QLabel):
    """ "Now talking to <deployment> (<mode>)"."""

    def __init__(self, message: MessageView) -> None:
        super().__init__()
        self.setObjectName("divider")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.refresh(message)

    def refresh(self, message: MessageView) -> None:
        """A divider with nothing said after it is reused by the next switch: it names the model now in use."""
        self.message = message
        self.setText(f"\u2014 {message.text} \u2014")


class ChatView(QScrollArea):
    """The conversation. Updates are queued and rendered on a timer so 100 deltas a second stay smooth."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chat")
        self.setAccessibleName("Conversation")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        inner.setObjectName("chatInner")
        self._column = QVBoxLayout(inner)
        self._column.setContentsMargins(16, 16, 16, 16)
        self._column.setSpacing(10)
        self.placeholder = QLabel()
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self._column.addStretch(1)
        self._column.addWidget(self.placeholder)
        self._column.addStretch(1)
        self.setWidget(inner)
        self._items: dict[str, Bubble | Divider] = {}
        self._hidden: set[str] = set()  # the ids of the rows hidden
        self._order: list[Bubble | Divider] = []
        self._pending: dict[str, MessageView] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RENDER_INTERVAL_MS)
        self._timer.timeout.connect(self._flush)
        self._follow = True
        self.renders = 0
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)

    def show_how_to_talk(self, hold_key: str, *, hands_free: bool = False) -> None:
        """Say how to talk in the empty-chat hint: the hold key, or hands-free."""
        if hands_free:
            how = "Just speak: the service hears when you start and stop, and answers."
        else:
            key = escape(hold_key)
            how = f"Hold <b>{key}</b> (or the button below) while you speak, then let go to hear the answer."
        self.placeholder.setText(f"{how}<br>You can also type a message.")

    def show_message(self, message: MessageView) -> None:
        """Queue ``message`` for the next render tick."""
        self._pending[message.id] = message
        if not self._timer.isActive():
            self._timer.start()

    def bubbles(self) -> list[Bubble | Divider]:
        """Every item shown, in order (an answer cut before it began is not: see ``MessageView``)."""
        return [item for item in self._order if item.message.id not in self._hidden]

    def replace_all(self, messages: tuple[MessageView, ...]) -> None:
        """Show another conversation: every bubble goes, ``messages`` come (the placeholder if none)."""
        self._pending.clear()
        self._timer.stop()
        while self._column.count():
            item = self._column.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None and widget is not self.placeholder:
                widget.deleteLater()
        self._items.clear()
        self._hidden.clear()
        self._order.clear()
        self._column.addStretch(1)
        self._column.addWidget(self.placeholder)
        self._column.addStretch(1)
        self.placeholder.show()
        for message in messages:
            self._add(message)
        self._follow = True

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        self.renders += 1
        for message in pending.values():
            item = self._items.get(message.id)
            if item is None:
                self._add(message)
            else:
                item.refresh(message)
                self._show_row(message)

    def _add(self, message: MessageView) -> None:
        if self.placeholder.isVisible() or not self._order:
            self.placeholder.hide()
            self._column.takeAt(self._column.count() - 1)  # the stretch under the placeholder
        position = len(self._order) if message.index < 0 else min(message.index, len(self._order))
        at = self._column.count() - len(self._order) + position  # the bubbles are the layout's last items
        if message.role is Role.DIVIDER:
            widget: Bubble | Divider = Divider(message)
            self._column.insertWidget(at, widget)
        else:
            widget = Bubble(message)
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            holder = QWidget()
            holder.setLayout(row)
            if message.role is Role.USER:
                row.addStretch(1)
                row.addWidget(widget, 4)
            else:
                row.addWidget(widget, 4)
                row.addStretch(1)
            self._column.insertWidget(at, holder)
        self._items[message.id] = widget
        self._order.insert(position, widget)
        self._show_row(message)

    def _show_row(self, message: MessageView) -> None:
        """Hide the row of an answer cut off before it began (and show it again, should words come after all)."""
        hide = message.cut_before_it_began
        if hide == (message.id in self._hidden):
            return
        item = self._items[message.id]
        row = item if isinstance(item, Divider) else item.parentWidget()  # a bubble sits in a row of its own
        assert row is not None
        row.setHidden(hide)
        if hide:
            self._hidden.add(message.id)
        else:
            self._hidden.discard(message.id)

    # ----------------------------------------------------------------- sticky bottom
    def _scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 4

    def _range_changed(self, _low: int, high: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(high)

    @property
    def following(self) -> bool:
        """True while the view sticks to the newest message."""
        return self._follow
