"""Help > Connection details: what goes on the wire, and a button that copies a bug report's context."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..diagnostics import Detail


class ConnectionDetails(QDialog):
    """The details as selectable text; "Copy diagnostics" puts them, the settings and the log on the clipboard."""

    def __init__(self, details: list[Detail], diagnostics: Callable[[], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connection details")
        self.setObjectName("connectionDetails")
        self._diagnostics = diagnostics
        form = QFormLayout()
        for detail in details:
            value = QLabel(detail.value)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            form.addRow(f"{detail.label}:", value)
        hint = QLabel("No key or token is shown here, nor in what Copy diagnostics copies.")
        hint.setObjectName("hint")
        self.copy_button = QPushButton("Copy diagnostics")
        self.copy_button.setToolTip("Copy these details, the settings in use and the last 200 log lines (bug reports)")
        self.copy_button.clicked.connect(self.copy)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        self.resize(640, 320)

    def copy(self) -> None:
        """Put the diagnostics on the clipboard."""
        QApplication.clipboard().setText(self._diagnostics())
        self.copy_button.setText("Copied")
