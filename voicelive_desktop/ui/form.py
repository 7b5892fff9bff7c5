"""Small form widgets the settings panel is built from: the key-capture button, drop-downs, number boxes, pages."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QComboBox, QFormLayout, QPushButton, QSpinBox, QWidget

_MODIFIER_KEYS = {Qt.Key.Key_Control, Qt.Key.Key_Shift, Qt.Key.Key_Alt, Qt.Key.Key_Meta, Qt.Key.Key_AltGr}


class KeyCaptureButton(QPushButton):
    """Click, then press the key (with its modifiers, for the global key) to use for hold-to-talk."""

    changed = Signal(str)
    """The new key's name."""

    def __init__(self, key_name: str, *, with_modifiers: bool = False, name: str = "Hold-to-talk key") -> None:
        super().__init__(key_name)
        self.key_name = key_name
        self._with_modifiers = with_modifiers
        self.setAccessibleName(name)
        self.setCheckable(True)
        self.toggled.connect(lambda on: self.setText("Press a key\u2026" if on else self.key_name))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.isChecked():
            super().keyPressEvent(event)
            return
        if event.key() == Qt.Key.Key_Escape:
            self.setChecked(False)
            return
        if event.key() in _MODIFIER_KEYS:
            return  # wait for the key the modifiers go with
        pressed = event.keyCombination() if self._with_modifiers else event.key()
        name = QKeySequence(pressed).toString()
        if name:
            self.key_name = name
            self.setChecked(False)
            self.changed.emit(name)


def combo(items: list[tuple[str, object]], current: object) -> QComboBox:
    """A drop-down of (label, data) items with ``current``'s item chosen (the first when absent)."""
    box = QComboBox()
    for label, data in items:
        box.addItem(label, data)
    index = box.findData(current)
    box.setCurrentIndex(max(0, index))
    return box


def spin_box(low: int, high: int, value: int, suffix: str) -> QSpinBox:
    """An integer box from ``low`` to ``high`` showing ``suffix``."""
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setSuffix(suffix)
    return box


def form_page(form: QFormLayout) -> QWidget:
    """A tab page holding ``form``."""
    page = QWidget()
    page.setLayout(form)
    return page
