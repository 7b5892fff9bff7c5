"""A private D-Bus session bus with a stand-in GlobalShortcuts portal on it, to test the real jeepney transport.

The stand-in answers as xdg-desktop-portal does (a Request object per call, its Response signal after the
reply, Activated/Deactivated broadcast on the portal object) but shows no dialog and binds every shortcut
at once. It checks the client's side of the wire, not a desktop's behaviour.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
from typing import Any

import pytest
from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

PORTAL = "org.freedesktop.portal.Desktop"
PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"


class PrivateBus:
    """A dbus-daemon of our own (stopped at ``stop``); ``address`` goes into DBUS_SESSION_BUS_ADDRESS."""

    def __init__(self) -> None:
        exe = shutil.which("dbus-daemon")
        if exe is None:
            pytest.fail("dbus-daemon is missing: run scripts/setup.sh (it installs dbus-daemon)")
        self.process = subprocess.Popen(
            [exe, "--session", "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().strip()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class FakePortalService:
    """Serves org.freedesktop.portal.Desktop on the private bus from a thread of its own."""

    def __init__(self, address: str) -> None:
        self.conn: DBusConnection = open_dbus_connection(address)
        self.conn.send_and_get_reply(message_bus.RequestName(PORTAL), timeout=5)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.session = ""
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def key(self, member: str) -> None:
        """Broadcast Activated or Deactivated for the bound shortcut of the current session."""
        body = (self.session, "push-to-talk", 1234, {})
        self._outbox.put(new_signal(DBusAddress(PATH, interface=SHORTCUTS), member, "osta{sv}", body))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.conn.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            while not self._outbox.empty():
                self.conn.send(self._outbox.get())
            try:
                message = self.conn.receive(timeout=0.05)
            except TimeoutError:
                continue
            if message.header.message_type == MessageType.method_call:
                self._answer(message)

    def _answer(self, message: Any) -> None:
        fields = message.header.fields
        member, sender = fields[HeaderFields.member], fields.get(HeaderFields.sender, "")
        self.calls.append((member, tuple(message.body)))
        if member == "Get" and message.body == (SHORTCUTS, "version"):
            self.conn.send(new_method_return(message, "v", (("u", 1),)))
        elif member in ("CreateSession", "BindShortcuts"):
            token = message.body[-1]["handle_token"][1]
            handle = f"{PATH}/request/{sender[1:].replace('.', '_')}/{token}"
            self.conn.send(new_method_return(message, "o", (handle,)))
            if member == "CreateSession":
                self.session = (
                    f"{PATH}/session/{sender[1:].replace('.', '_')}/{message.body[0]['session_handle_token'][1]}"
                )
                results: dict[str, Any] = {"session_handle": ("s", self.session)}
            else:
                bound = [(name, {"trigger_description": ("s", "Press F9")}) for name, _ in message.body[1]]
                results = {"shortcuts": ("a(sa{sv})", bound)}
            response = new_signal(DBusAddress(handle, interface="org.freedesktop.portal.Request"), "Response")
            response.header.fields[HeaderFields.signature] = "ua{sv}"
            response.body = (0, results)
            self.conn.send(response)
        elif member == "Close":
            self.conn.send(new_method_return(message))
        else:
            self.conn.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod", "s", (member,)))
