"""The header: what the connection line says in each state, and the choices a user makes there."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from voicelive_desktop.ui.header import Header, describe
from voicelive_desktop.voicelive.events import ConnectionChanged, ConnState
from voicelive_desktop.voicelive.modes import Mode


def test_each_state_reads_as_what_is_happening() -> None:
    where = "contoso \u00b7 BYOM chat completion \u00b7 grok-3"
    assert describe(ConnectionChanged(ConnState.CONNECTED, where)) == f"Connected to {where}"
    assert describe(ConnectionChanged(ConnState.CONNECTING, where)) == f"Connecting to {where}\u2026"
    waiting = ConnectionChanged(ConnState.RECONNECTING, where, 1006, retry_in_s=8, attempt=3, detail="lost")
    assert describe(waiting, 7.6) == "Reconnecting in 8 s (attempt 3): lost (close code 1006)"
    assert describe(ConnectionChanged(ConnState.RECONNECTING, where, attempt=2)) == (
        f"Reconnecting to {where}\u2026 (attempt 2)"
    )
    failed = ConnectionChanged(ConnState.FAILED, where, detail="the service rejected the credentials")
    assert "rejected the credentials" in describe(failed) and "Settings" in describe(failed)


def test_showing_choices_emits_nothing_but_picking_does(qtbot: QtBot) -> None:
    header = Header()
    qtbot.addWidget(header)
    picked: list[tuple[object, object]] = []
    header.target_chosen.connect(lambda mode, name: picked.append((mode, name)))
    header.set_choices(Mode.BYOM_REALTIME, "my-ptu", ("my-ptu", "gpt-realtime"))
    assert picked == [] and header.deployment.currentText() == "my-ptu"
    line = header.deployment.lineEdit()
    assert line is not None
    line.selectAll()
    qtbot.keyClicks(line, "gpt-realtime-mini")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert picked == [(Mode.BYOM_REALTIME, "gpt-realtime-mini")]
    listed = [header.deployment.itemText(i) for i in range(header.deployment.count())]
    assert listed == ["my-ptu", "gpt-realtime"], "the app lists a typed name once the service has taken it"
    line.selectAll()
    qtbot.keyClicks(line, "gpt-realtime")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert picked[1:] == [(Mode.BYOM_REALTIME, "gpt-realtime")], "a listed name entered: one choice"


def test_the_connect_button_stops_a_reconnect_in_progress(qtbot: QtBot) -> None:
    header = Header()
    qtbot.addWidget(header)
    pressed: list[str] = []
    header.connect_clicked.connect(lambda: pressed.append("connect"))
    header.disconnect_clicked.connect(lambda: pressed.append("disconnect"))
    header.set_connection(ConnectionChanged(ConnState.RECONNECTING, "x", retry_in_s=30, attempt=5))
    qtbot.mouseClick(header.connect_button, Qt.MouseButton.LeftButton)
    header.set_connection(ConnectionChanged(ConnState.DISCONNECTED))
    qtbot.mouseClick(header.connect_button, Qt.MouseButton.LeftButton)
    assert pressed == ["disconnect", "connect"]


def test_a_name_being_typed_survives_a_refresh_of_the_list(qtbot: QtBot) -> None:
    """The list is shown again whenever the connection settles (a reconnect, a switch elsewhere): a name half
    typed in the field stays, and Enter still picks it. Not typing, the field follows the current deployment."""
    header = Header()
    qtbot.addWidget(header)
    picked: list[tuple[object, object]] = []
    header.target_chosen.connect(lambda mode, name: picked.append((mode, name)))
    header.set_choices(Mode.BYOM_REALTIME, "my-ptu", ("my-ptu", "gpt-realtime"))
    header.show()
    qtbot.waitExposed(header)
    header.activateWindow()
    line = header.deployment.lineEdit()
    assert line is not None
    line.setFocus()
    qtbot.waitUntil(line.hasFocus)
    line.selectAll()
    qtbot.keyClicks(line, "gpt-r")  # the start of a listed name: completed, the rest selected
    assert (line.text(), line.selectedText()) == ("gpt-realtime", "ealtime")
    header.set_choices(Mode.BYOM_REALTIME, "my-ptu", ("my-ptu", "gpt-realtime"))
    assert (line.text(), line.selectedText()) == ("gpt-realtime", "ealtime"), "the completion is kept as it was"
    qtbot.keyClick(line, Qt.Key.Key_Backspace)  # drops the completion, as before the refresh
    assert line.text() == "gpt-r"
    line.selectAll()
    qtbot.keyClicks(line, "gpt-4o-mi")
    header.set_choices(Mode.BYOM_REALTIME, "my-ptu", ("my-ptu", "gpt-realtime", "other"))
    assert header.deployment.currentText() == "gpt-4o-mi"
    assert line.cursorPosition() == len("gpt-4o-mi")
    assert [header.deployment.itemText(i) for i in range(header.deployment.count())] == [
        "my-ptu",
        "gpt-realtime",
        "other",
    ]
    qtbot.keyClicks(line, "ni")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert picked == [(Mode.BYOM_REALTIME, "gpt-4o-mini")]
    header.set_choices(Mode.BYOM_REALTIME, "gpt-4o-mini", ("gpt-4o-mini", "my-ptu"))  # the service took it
    assert header.deployment.currentText() == "gpt-4o-mini"
    header.set_choices(Mode.BYOM_REALTIME, "my-ptu", ("my-ptu", "gpt-4o-mini"))  # switched back from the tray
    assert header.deployment.currentText() == "my-ptu", "an entered name is not kept over a later choice"
    line.selectAll()
    qtbot.keyClicks(line, "my-ptuu")
    qtbot.keyClick(line, Qt.Key.Key_Backspace)
    qtbot.keyClick(line, Qt.Key.Key_Return)  # the name in use, entered: nothing to switch to
    header.set_choices(Mode.BYOM_REALTIME, "other", ("other", "my-ptu"))  # switched from the tray
    assert header.deployment.currentText() == "other", "a name entered is not kept over a later choice"
    assert len(picked) == 1
    line.clearFocus()
    header.set_choices(Mode.BYOM_REALTIME, "gpt-4o-mini", ("gpt-4o-mini", "my-ptu"))
    assert header.deployment.currentText() == "gpt-4o-mini"
