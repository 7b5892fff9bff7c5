"""The Wayland global hold key: the xdg-desktop-portal GlobalShortcuts interface over D-Bus (jeepney).

Wayland gives no client the keyboard of another, so the desktop itself must own the key. The portal's
GlobalShortcuts interface lets us ask for one: CreateSession, then BindShortcuts (the desktop shows its own
dialog where the person confirms or picks the key; our key is only the preferred trigger), then the
Activated and Deactivated signals arrive when the key goes down and up.

Every portal call answers through a Request object whose Response signal comes later, possibly minutes later
while the dialog is open, so the whole conversation runs on a thread of its own. The D-Bus transport sits
behind ``PortalBus`` so the protocol logic can be tested with a fake bus; no portal runs on the test machines.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .hotkeys import Callback, HeldState, KeyCombo, Lost, Modifier, keysym_name, parse_key_name

log = logging.getLogger(__name__)

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
SHORTCUT_ID = "push-to-talk"
APP_ID = "io.github.voicelive_desktop"
_POLL_S = 0.2  # how often the thread looks up from the bus to see whether stop() was called
_TRIGGER_MODIFIERS = {Modifier.CTRL: "CTRL", Modifier.ALT: "ALT", Modifier.SHIFT: "SHIFT", Modifier.META: "LOGO"}
_tokens = itertools.count(1)


class PortalError(Exception):
    """The portal refused or is missing; the message is fit for Settings."""


@dataclass(frozen=True)
class BusSignal:
    """A D-Bus signal as the portal logic needs it."""

    path: str
    interface: str
    member: str
    body: tuple[Any, ...]


class PortalBus(Protocol):
    """The slice of a D-Bus connection the portal logic uses (jeepney in the app, a fake in the tests)."""

    unique_name: str

    def call(self, path: str, interface: str, method: str, signature: str, body: tuple[Any, ...]) -> tuple[Any, ...]:
        """Call a portal method and return the reply's body; raises PortalError on a D-Bus error."""
        ...

    def watch(self, path: str, interface: str, member: str) -> None:
        """Subscribe to a signal (AddMatch) so ``next_signal`` can return it."""
        ...

    def next_signal(self, timeout: float) -> BusSignal | None:
        """The next subscribed signal, or None after ``timeout`` seconds."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


def trigger(combo: KeyCombo) -> str:
    """The preferred trigger in the XDG shortcuts spec's spelling: ``CTRL+ALT+space``, ``F9``."""
    return "+".join([_TRIGGER_MODIFIERS[m] for m in Modifier if m in combo.modifiers] + [keysym_name(combo.key)])


class JeepneyBus:
    """``PortalBus`` over the session bus with jeepney's blocking connection (used from one thread only)."""

    def __init__(self, timeout: float = 5.0) -> None:
        from jeepney import MatchRule
        from jeepney.io.blocking import open_dbus_connection

        self._timeout = timeout
        self._conn = open_dbus_connection("SESSION")
        self.unique_name: str = self._conn.unique_name
        self._signals: deque[Any] = deque()
        self._filter = self._conn.filter(MatchRule(type="signal"), queue=self._signals)

    def call(self, path: str, interface: str, method: str, signature: str, body: tuple[Any, ...]) -> tuple[Any, ...]:
        """Call ``method`` on the portal object at ``path``."""
        from jeepney import DBusAddress, MessageType, new_method_call

        message = new_method_call(DBusAddress(path, PORTAL, interface), method, signature or None, body)
        reply = self._conn.send_and_get_reply(message, timeout=self._timeout)
        if reply.header.message_type == MessageType.error:
            raise PortalError(f"the desktop portal refused {method}: {reply.body[0] if reply.body else ''}")
        return tuple(reply.body)

    def watch(self, path: str, interface: str, member: str) -> None:
        """Ask the bus daemon to route this signal to us."""
        from jeepney import MatchRule, message_bus

        rule = MatchRule(type="signal", interface=interface, member=member, path=path)
        self._conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=self._timeout)

    def next_signal(self, timeout: float) -> BusSignal | None:
        """Pop a queued signal, or read from the socket for up to ``timeout`` seconds."""
        from jeepney import HeaderFields

        if not self._signals:
            try:
                self._conn.recv_messages(timeout=timeout)
            except TimeoutError:
                return None
        if not self._signals:
            return None
        message = self._signals.popleft()
        fields = message.header.fields
        return BusSignal(
            str(fields.get(HeaderFields.path, "")),
            str(fields.get(HeaderFields.interface, "")),
            str(fields.get(HeaderFields.member, "")),
            tuple(message.body),
        )

    def close(self) -> None:
        """Close the socket."""
        self._filter.close()
        self._conn.close()


def portal_problem(env: Mapping[str, str] = os.environ, bus_factory: Callable[[], PortalBus] | None = None) -> str:
    """ "" when the session bus has a GlobalShortcuts portal, else why not (in plain words)."""
    if not env.get("DBUS_SESSION_BUS_ADDRESS") and bus_factory is None:
        return "there is no D-Bus session bus"
    try:
        bus = (bus_factory or (lambda: JeepneyBus(timeout=1.0)))()
    except (OSError, TimeoutError, KeyError, ImportError) as exc:
        return f"cannot reach the D-Bus session bus ({exc})"
    try:
        bus.call(PORTAL_PATH, "org.freedesktop.DBus.Properties", "Get", "ss", (SHORTCUTS, "version"))
        return ""
    except (PortalError, TimeoutError, OSError) as exc:
        return f"no GlobalShortcuts portal ({exc})"
    finally:
        bus.close()


class PortalHoldKey:
    """Global hold key through the GlobalShortcuts portal (Wayland; also X11 desktops that offer it)."""

    def __init__(self, bus_factory: Callable[[], PortalBus] = JeepneyBus) -> None:
        """Nothing talks to the bus until ``start``.

        Args:
            bus_factory: opens the connection, on the backend's thread; tests pass a fake.
        """
        self.available = True
        self.why_unavailable = ""
        self.trigger_description = ""
        """How the desktop describes the key the person confirmed (e.g. "Press F9"), once bound."""
        self._bus_factory = bus_factory
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._held: HeldState | None = None

    def start(
        self, key_name: str, on_press: Callback, on_release: Callback, *, on_unavailable: Lost | None = None
    ) -> None:
        """Ask the portal for ``key_name`` (the desktop may show a dialog) and listen on a thread."""
        self.stop()
        try:
            combo = parse_key_name(key_name)
        except ValueError as exc:
            self.available, self.why_unavailable = False, str(exc)
            return
        self.available, self.why_unavailable = True, ""
        self._stopping = threading.Event()
        self._held = HeldState(on_press, on_release)
        args = (combo, self._held, self._stopping, on_unavailable)
        self._thread = threading.Thread(target=self._run, args=args, name="portal-hold-key", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the portal session (the desktop forgets the binding's activation) and end a hold."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout=5)
        if self._held is not None:
            self._held.release()
            self._held = None

    def _run(self, combo: KeyCombo, held: HeldState, stopping: threading.Event, on_unavailable: Lost | None) -> None:
        try:
            bus = self._bus_factory()
        except (OSError, TimeoutError, KeyError, ImportError) as exc:
            self._lost(f"Cannot reach the D-Bus session bus ({exc}).", held, on_unavailable)
            return
        session = ""
        try:
            self._register(bus)
            session = self._create_session(bus, stopping)
            if session and self._bind(bus, session, combo, stopping):
                self._listen(bus, session, held, stopping)
        except (PortalError, OSError, TimeoutError) as exc:
            self._lost(str(exc), held, on_unavailable)
        finally:
            if session:
                try:
                    bus.call(session, SESSION, "Close", "", ())
                except (PortalError, OSError, TimeoutError) as exc:
                    log.debug("closing the portal session failed: %s", exc)
            bus.close()

    def _lost(self, reason: str, held: HeldState, on_unavailable: Lost | None) -> None:
        log.info("global hold key unavailable: %s", reason)
        self.available, self.why_unavailable = False, reason
        held.release()
        if on_unavailable is not None:
            on_unavailable(reason)

    @staticmethod
    def _register(bus: PortalBus) -> None:
        """Tell a recent portal (1.19+) who we are; an app outside Flatpak/Snap otherwise has no app ID."""
        try:
            bus.call(PORTAL_PATH, "org.freedesktop.host.portal.Registry", "Register", "sa{sv}", (APP_ID, {}))
        except PortalError as exc:
            log.debug("portal registry: %s", exc)

    def _request(
        self, bus: PortalBus, method: str, signature: str, body: tuple[Any, ...], stopping: threading.Event
    ) -> dict[str, Any] | None:
        """Call a portal method that answers through a Request object; wait for its Response."""
        token = f"voicelive{os.getpid()}_{next(_tokens)}"
        sender = bus.unique_name.lstrip(":").replace(".", "_")
        expected = f"{PORTAL_PATH}/request/{sender}/{token}"
        bus.watch(expected, REQUEST, "Response")  # before the call: the answer may come before the reply
        options = {**body[-1], "handle_token": ("s", token)}
        (handle,) = bus.call(PORTAL_PATH, SHORTCUTS, method, signature, (*body[:-1], options))
        if handle != expected:  # portals before 0.9 chose their own path
            bus.watch(handle, REQUEST, "Response")
        while not stopping.is_set():
            signal = bus.next_signal(_POLL_S)
            if signal is not None and signal.member == "Response" and signal.path == handle:
                code, results = signal.body
                if code == 1:
                    raise PortalError("The desktop's shortcut dialog was closed without assigning a push-to-talk key.")
                if code != 0:
                    raise PortalError(f"The desktop's shortcut portal could not complete {method}.")
                return dict(results)
        return None

    def _create_session(self, bus: PortalBus, stopping: threading.Event) -> str:
        token = ("s", f"voicelive{os.getpid()}_{next(_tokens)}")
        results = self._request(bus, "CreateSession", "a{sv}", ({"session_handle_token": token},), stopping)
        if results is None:
            return ""
        return str(_value(results.get("session_handle", "")))

    def _bind(self, bus: PortalBus, session: str, combo: KeyCombo, stopping: threading.Event) -> bool:
        for member in ("Activated", "Deactivated"):
            bus.watch(PORTAL_PATH, SHORTCUTS, member)
        bus.watch(session, SESSION, "Closed")
        details = {"description": ("s", "Push to talk (hold to speak)"), "preferred_trigger": ("s", trigger(combo))}
        body: tuple[Any, ...] = (session, [(SHORTCUT_ID, details)], "", {})
        results = self._request(bus, "BindShortcuts", "oa(sa{sv})sa{sv}", body, stopping)
        if results is None:
            return False
        bound = {name: options for name, options in _value(results.get("shortcuts", [])) or []}
        if SHORTCUT_ID not in bound:
            raise PortalError("The desktop did not assign a push-to-talk key; try again from Settings.")
        self.trigger_description = str(_value(bound[SHORTCUT_ID].get("trigger_description", "")))
        return True

    @staticmethod
    def _listen(bus: PortalBus, session: str, held: HeldState, stopping: threading.Event) -> None:
        while not stopping.is_set():
            signal = bus.next_signal(_POLL_S)
            if signal is None:
                continue
            if signal.member == "Closed" and signal.path == session:
                raise PortalError("The desktop ended the global shortcut session; restart the app to get it back.")
            if signal.interface != SHORTCUTS or signal.body[:2] != (session, SHORTCUT_ID):
                continue
            if signal.member == "Activated":
                held.press()
            elif signal.member == "Deactivated":
                held.release()


def _value(variant: Any) -> Any:
    """jeepney hands a{sv} values over as (signature, value) pairs."""
    return variant[1] if isinstance(variant, tuple) and len(variant) == 2 and isinstance(variant[0], str) else variant
