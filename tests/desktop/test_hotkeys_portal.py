"""The GlobalShortcuts portal conversation against a fake bus.

No xdg-desktop-portal runs on the test machines (it needs a Wayland compositor and a desktop's backend), so the
desktop's dialog and a real portal's quirks are not exercised here. These tests check the protocol the backend
speaks, as the portal documentation describes it: against a fake bus, and once through the real jeepney
transport on a private dbus-daemon with a stand-in portal (tests/desktop/fake_portal.py).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.desktop.xserver import wait_for
from voicelive_desktop.desktop.hotkeys import parse_key_name
from voicelive_desktop.desktop.hotkeys_portal import (
    PORTAL_PATH,
    REQUEST,
    SESSION,
    SHORTCUT_ID,
    SHORTCUTS,
    BusSignal,
    PortalError,
    PortalHoldKey,
    portal_problem,
    trigger,
)

SESSION_PATH = "/org/freedesktop/portal/desktop/session/1_42/s1"


class FakePortal:
    """A bus with a scripted portal behind it: it answers requests the way xdg-desktop-portal does."""

    unique_name = ":1.42"

    def __init__(self, *, bind_code: int = 0, answer_bind: bool = True, has_interface: bool = True) -> None:
        self.bind_code = bind_code
        self.answer_bind = answer_bind
        self.has_interface = has_interface
        self.calls: list[tuple[str, str, tuple[Any, ...]]] = []
        self.watched: set[tuple[str, str, str]] = set()
        self.signals: queue.Queue[BusSignal] = queue.Queue()
        self.closed = threading.Event()

    def call(self, path: str, interface: str, method: str, signature: str, body: tuple[Any, ...]) -> tuple[Any, ...]:
        self.calls.append((path, method, body))
        if method == "Register":
            raise PortalError("org.freedesktop.DBus.Error.UnknownMethod")  # as a portal older than 1.19
        if method == "Get":
            if not self.has_interface:
                raise PortalError("org.freedesktop.DBus.Error.InvalidArgs: No such interface")
            return (("u", 1),)
        if method == "Close":
            return ()
        handle = f"{PORTAL_PATH}/request/1_42/{body[-1]['handle_token'][1]}"
        if method == "CreateSession":
            self.emit(handle, REQUEST, "Response", (0, {"session_handle": ("s", SESSION_PATH)}))
        elif method == "BindShortcuts" and self.answer_bind:
            bound = [(SHORTCUT_ID, {"trigger_description": ("s", "Press F9")})] if self.bind_code == 0 else []
            self.emit(handle, REQUEST, "Response", (self.bind_code, {"shortcuts": ("a(sa{sv})", bound)}))
        return (handle,)

    def watch(self, path: str, interface: str, member: str) -> None:
        self.watched.add((path, interface, member))

    def next_signal(self, timeout: float) -> BusSignal | None:
        try:
            signal = self.signals.get(timeout=timeout)
        except queue.Empty:
            return None
        return signal if (signal.path, signal.interface, signal.member) in self.watched else None

    def close(self) -> None:
        self.closed.set()

    def emit(self, path: str, interface: str, member: str, body: tuple[Any, ...]) -> None:
        self.signals.put(BusSignal(path, interface, member, body))

    def key(self, member: str, session: str = SESSION_PATH, shortcut: str = SHORTCUT_ID) -> None:
        self.emit(PORTAL_PATH, SHORTCUTS, member, (session, shortcut, 123, {}))

    def methods(self) -> list[str]:
        return [method for _, method, _ in self.calls]


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.lost: list[str] = []


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def started(portal: FakePortal, recorder: Recorder, key: str = "F9") -> PortalHoldKey:
    backend = PortalHoldKey(lambda: portal)
    backend.start(
        key,
        lambda: recorder.events.append("press"),
        lambda: recorder.events.append("release"),
        on_unavailable=recorder.lost.append,
    )
    return backend


@pytest.fixture
def portal() -> Iterator[FakePortal]:
    yield FakePortal()


def test_binds_the_preferred_key_and_turns_activation_into_one_press_and_release(
    portal: FakePortal, recorder: Recorder
) -> None:
    backend = started(portal, recorder, "Ctrl+Alt+Space")
    wait_for(lambda: backend.trigger_description == "Press F9", what="the binding")
    bind = next(body for _, method, body in portal.calls if method == "BindShortcuts")
    assert bind[0] == SESSION_PATH
    assert bind[1][0][0] == SHORTCUT_ID
    assert bind[1][0][1]["preferred_trigger"] == ("s", "CTRL+ALT+space")

    portal.key("Activated", session="/other/session")  # another app's session: not ours
    portal.key("Activated", shortcut="something-else")
    portal.key("Activated")
    portal.key("Activated")  # a repeat, should a desktop send one
    portal.key("Deactivated")
    wait_for(lambda: recorder.events == ["press", "release"], what="press and release")

    backend.stop()
    assert portal.methods()[-1] == "Close" and portal.calls[-1][0] == SESSION_PATH
    assert portal.closed.is_set()
    assert backend.available and recorder.lost == []


def test_a_dismissed_dialog_makes_the_key_unavailable_in_plain_words(recorder: Recorder) -> None:
    portal = FakePortal(bind_code=1)
    backend = started(portal, recorder)
    wait_for(lambda: recorder.lost != [], what="the dismissal")
    backend.stop()
    assert not backend.available
    assert "closed without assigning" in backend.why_unavailable
    assert recorder.lost == [backend.why_unavailable]


def test_the_desktop_closing_the_session_ends_a_hold(portal: FakePortal, recorder: Recorder) -> None:
    backend = started(portal, recorder)
    wait_for(lambda: backend.trigger_description != "", what="the binding")
    portal.key("Activated")
    wait_for(lambda: recorder.events == ["press"], what="the press")
    portal.emit(SESSION_PATH, SESSION, "Closed", ({},))
    wait_for(lambda: recorder.lost != [], what="the session's end")
    backend.stop()
    assert recorder.events == ["press", "release"]
    assert not backend.available


def test_stop_while_the_dialog_is_open_closes_the_session(recorder: Recorder) -> None:
    portal = FakePortal(answer_bind=False)
    backend = started(portal, recorder)
    wait_for(lambda: "BindShortcuts" in portal.methods(), what="the bind request")
    backend.stop()
    assert portal.methods()[-1] == "Close"
    assert portal.closed.is_set() and recorder.lost == []


def test_no_bus_is_a_reason(recorder: Recorder) -> None:
    def no_bus() -> FakePortal:
        raise OSError("connection refused")

    backend = PortalHoldKey(no_bus)
    backend.start("F9", lambda: None, lambda: None, on_unavailable=recorder.lost.append)
    wait_for(lambda: recorder.lost != [], what="the failure")
    backend.stop()
    assert "Cannot reach the D-Bus session bus" in backend.why_unavailable


def test_portal_probe() -> None:
    bus_env = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent"}
    assert portal_problem(bus_env, FakePortal) == ""
    assert "no GlobalShortcuts portal" in portal_problem(bus_env, lambda: FakePortal(has_interface=False))
    assert portal_problem({}) == "there is no D-Bus session bus"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("F9", "F9"), ("Meta+A", "LOGO+a"), ("Shift+Ctrl+PgUp", "CTRL+SHIFT+Prior"), ("Pause", "Pause")],
)
def test_trigger_spelling(name: str, expected: str) -> None:
    assert trigger(parse_key_name(name)) == expected


@pytest.fixture
def private_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from tests.desktop.fake_portal import PrivateBus

    bus = PrivateBus()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
    yield bus.address
    bus.stop()


def test_the_jeepney_transport_against_a_stand_in_portal_on_a_private_bus(private_bus: str, recorder: Recorder) -> None:
    """The real D-Bus path (JeepneyBus, match rules, request paths, signals) with a portal stand-in."""
    from tests.desktop.fake_portal import FakePortalService

    env = {"DBUS_SESSION_BUS_ADDRESS": private_bus}
    assert "no GlobalShortcuts portal" in portal_problem(env)  # nobody owns the portal's name yet
    service = FakePortalService(private_bus)
    try:
        assert portal_problem(env) == ""
        backend = PortalHoldKey()
        backend.start(
            "Ctrl+Alt+Space",
            lambda: recorder.events.append("press"),
            lambda: recorder.events.append("release"),
            on_unavailable=recorder.lost.append,
        )
        wait_for(lambda: backend.trigger_description == "Press F9", what="the binding over D-Bus")
        bind = next(body for member, body in service.calls if member == "BindShortcuts")
        assert bind[1][0][1]["preferred_trigger"] == ("s", "CTRL+ALT+space")
        service.key("Activated")
        service.key("Deactivated")
        wait_for(lambda: recorder.events == ["press", "release"], what="press and release over D-Bus")
        backend.stop()
        wait_for(lambda: service.calls[-1][0] == "Close", what="the session's Close")
        assert recorder.lost == [] and backend.available
    finally:
        service.stop()
