"""The menu bar: File (new, export, copy, settings, quit), View (conversations) and Help. Actions only: what
they do is connected by the window and the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow


@dataclass(frozen=True)
class Menus:
    """The window's actions, for the code that connects them (and for tests that trigger them)."""

    new_conversation: QAction
    export_conversation: QAction
    export_all: QAction
    copy_conversation: QAction
    settings: QAction
    quit: QAction
    conversations: QAction
    connection_details: QAction


def build_menus(window: QMainWindow) -> Menus:
    """Add the menus to ``window``'s menu bar."""

    def action(
        text: str, shortcut: QKeySequence.StandardKey | str | None = None, *, checkable: bool = False
    ) -> QAction:
        made = QAction(text, window)
        if shortcut is not None:
            made.setShortcut(QKeySequence(shortcut))
        made.setCheckable(checkable)
        return made

    menus = Menus(
        new_conversation=action("&New conversation", QKeySequence.StandardKey.New),
        export_conversation=action("&Export this conversation\u2026", "Ctrl+E"),
        export_all=action("Export &all conversations\u2026"),
        copy_conversation=action("&Copy conversation", "Ctrl+Shift+C"),
        settings=action("&Settings\u2026", "Ctrl+,"),
        quit=action("&Quit", QKeySequence.StandardKey.Quit),
        conversations=action("&Conversations", "Ctrl+Shift+H", checkable=True),
        connection_details=action("Connection &details\u2026"),
    )
    menus.settings.setMenuRole(QAction.MenuRole.PreferencesRole)
    menus.quit.setMenuRole(QAction.MenuRole.QuitRole)
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(menus.new_conversation)
    file_menu.addSeparator()
    file_menu.addAction(menus.export_conversation)
    file_menu.addAction(menus.export_all)
    file_menu.addAction(menus.copy_conversation)
    file_menu.addSeparator()
    file_menu.addAction(menus.settings)
    file_menu.addSeparator()
    file_menu.addAction(menus.quit)
    bar.addMenu("&View").addAction(menus.conversations)
    bar.addMenu("&Help").addAction(menus.connection_details)
    return menus
