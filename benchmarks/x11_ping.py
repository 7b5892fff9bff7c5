"""How long a Qt app's GUI thread takes to answer, measured from outside with the X11 ``_NET_WM_PING`` protocol.

    python -m benchmarks.x11_ping --window 0x400007 --interval 0.05     # until SIGINT; prints JSON

The JSON holds ``rtt_ms`` (None for a ping not answered within 2 s) and ``sent_at`` (``time.monotonic()`` of
each ping, the clock the benchmark harness uses), so a harness can tell phases apart.

A window manager checks that a window is alive by sending it a ``WM_PROTOCOLS`` client message holding
``_NET_WM_PING``; Qt answers from its GUI thread's event processing, by sending the message back to the root
window. The app's asyncio loop (qasync) runs on that same thread, so the round trip is the event-loop lag an
input event would meet, plus the X round trip (tens of microseconds on a local Xvfb). This plays the window
manager (there is none under Xvfb) through libX11 with ctypes: no hook in the app, no extra package.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import select
import signal
import sys
import time
from typing import Any

CLIENT_MESSAGE = 33
STRUCTURE_NOTIFY_MASK = 1 << 17


class _ClientMessage(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class _Event(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("xclient", _ClientMessage), ("pad", ctypes.c_long * 24)]


class Pinger:
    """Sends numbered pings to one window and times each answer."""

    def __init__(self, window: int, display: bytes | None = None) -> None:
        x = ctypes.cdll.LoadLibrary("libX11.so.6")
        x.XOpenDisplay.restype = ctypes.c_void_p
        x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x.XDefaultRootWindow.restype = ctypes.c_ulong
        x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x.XInternAtom.restype = ctypes.c_ulong
        x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        x.XSelectInput.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_long]
        x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
        x.XFlush.argtypes = [ctypes.c_void_p]
        x.XPending.argtypes = [ctypes.c_void_p]
        x.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        x.XConnectionNumber.argtypes = [ctypes.c_void_p]
        self._x = x
        self._dpy = x.XOpenDisplay(display)
        if not self._dpy:
            raise RuntimeError("cannot open the X display")
        self._root = x.XDefaultRootWindow(self._dpy)
        self._protocols = x.XInternAtom(self._dpy, b"WM_PROTOCOLS", 0)
        self._ping = x.XInternAtom(self._dpy, b"_NET_WM_PING", 0)
        self._window = window
        self._fd = x.XConnectionNumber(self._dpy)
        # Qt sends its answer to the root window for clients that listen to StructureNotify or SubstructureRedirect.
        x.XSelectInput(self._dpy, self._root, STRUCTURE_NOTIFY_MASK)
        self._seq = 0

    def ping(self, timeout: float = 2.0) -> float | None:
        """Seconds until the window answered one ping; None if it did not within ``timeout``."""
        self._seq += 1
        ev = _Event()
        msg = ev.xclient
        msg.type = CLIENT_MESSAGE
        msg.window = self._window
        msg.message_type = self._protocols
        msg.format = 32
        msg.data[0], msg.data[1], msg.data[2] = self._ping, self._seq, self._window
        sent = time.monotonic()
        self._x.XSendEvent(self._dpy, self._window, 0, 0, ctypes.byref(ev))
        self._x.XFlush(self._dpy)
        deadline = sent + timeout
        got = _Event()
        while True:
            while self._x.XPending(self._dpy):
                self._x.XNextEvent(self._dpy, ctypes.byref(got))
                reply = got.xclient
                if got.type == CLIENT_MESSAGE and reply.data[0] == self._ping and reply.data[1] == self._seq:
                    return time.monotonic() - sent
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            select.select([self._fd], [], [], left)


def main() -> None:
    """Ping every ``--interval`` seconds until SIGINT/SIGTERM, then print the round trips (ms) as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", required=True, help="X window id (decimal or 0x hex)")
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    pinger = Pinger(int(args.window, 0))
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    rtts: list[float | None] = []
    sent: list[float] = []
    next_at = time.monotonic()
    while not stop:
        sent.append(round(time.monotonic(), 4))
        rtt = pinger.ping()
        rtts.append(None if rtt is None else round(rtt * 1000, 3))
        next_at += args.interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    json.dump({"rtt_ms": rtts, "sent_at": sent}, sys.stdout)


if __name__ == "__main__":
    main()
