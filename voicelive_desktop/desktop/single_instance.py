"""One running app per user: a second launch hands its command line to the first and exits.

A global hold key makes this necessary, not just tidy: two instances would fight over the key (the second's
grab fails) and over the microphone. The first instance holds a lock file and serves a local socket; a later
launch finds the lock taken and sends its argv, as one line of JSON, over the socket, and waits for ``ok``.

The socket is a Unix socket in the user's runtime folder, served with Python's ``socket`` and Qt's socket
notifier; on Windows, a named pipe through QtNetwork's QLocalServer (QtNetwork costs about 3 MiB of memory, so
it is loaded only there).

Why a lock file beside the socket: a crashed first instance leaves its socket file behind, and "can I
connect?" cannot tell a dead socket from a first instance that is still starting. QLockFile can: it records
the holder's PID and takes the lock over when that process is gone, so a ``kill -9`` never blocks the next start.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from PySide6.QtCore import QDir, QLockFile, QObject, QSocketNotifier, QStandardPaths, QTimer, Signal

if TYPE_CHECKING:
    from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)
_ACK = b"ok\n"
_MAX_MESSAGE = 1 << 20
Transport = Literal["unix", "qt"]
#: Unix sockets where there are any; QtNetwork's local sockets (named pipes) on Windows.
DEFAULT_TRANSPORT: Transport = "qt" if sys.platform == "win32" else "unix"


def _user() -> str:
    if hasattr(os, "getuid"):
        return str(os.getuid())
    return re.sub(r"[^A-Za-z0-9_.-]", "_", getpass.getuser())


def _runtime_dir() -> Path:
    """The per-user runtime folder (XDG_RUNTIME_DIR on Linux), else the temp folder."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.RuntimeLocation)
    return Path(location or QDir.tempPath())


class _Inbox:
    """What one later launch has sent so far; its first line is its argv."""

    def __init__(self) -> None:
        self._data = b""

    def take(self, data: bytes) -> list[str] | bool:
        """Add ``data``. Returns the argv once the line is complete, False when the sender is to be cut off
        (too long, or not a JSON list of strings), True while more is to come."""
        self._data += data
        if b"\n" not in self._data:
            return len(self._data) <= _MAX_MESSAGE
        line = self._data.split(b"\n", 1)[0]
        self._data = b""
        try:
            argv = json.loads(line)
        except ValueError:
            argv = None
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            log.warning("ignored a malformed message from another launch")
            return False
        return argv


class SingleInstance(QObject):
    """The first launch serves; later launches send it their argv.

    Needs a QCoreApplication (the app's QApplication). The first instance receives messages on the event
    loop; ``send_to_running`` blocks for up to ``timeout_s`` a step, which is fine in a second launch that is
    about to exit and has no window yet.
    """

    message = Signal(list)
    """A later launch's command line (list of str); the app shows its window and applies the arguments."""

    def __init__(
        self, name: str = "voicelive-desktop", parent: QObject | None = None, transport: Transport = DEFAULT_TRANSPORT
    ) -> None:
        """Nothing is claimed until ``claim``.

        Args:
            name: the app's name; the user's id is added so two people on one machine do not meet.
            transport: how launches talk (the default suits the platform; tests try both).
        """
        super().__init__(parent)
        base = f"{name}-{_user()}"
        folder = _runtime_dir()
        self.transport = transport
        # A full path keeps a Unix socket in the user's private runtime folder; Windows uses a pipe name.
        self.socket_name = base if sys.platform == "win32" else str(folder / f"{base}.sock")
        self._lock = QLockFile(str(folder / f"{base}.lock"))
        self._lock.setStaleLockTime(0)  # only a dead holder makes the lock stale, never its age
        self._server: _UnixServer | _QtServer | None = None

    def claim(self) -> bool:
        """True if this is the first instance (it now serves); False if another one runs."""
        if self._server is not None:
            return True
        if not self._lock.tryLock(0):
            return False
        server = _UnixServer(self) if self.transport == "unix" else _QtServer(self)
        problem = server.listen(self.socket_name, self.message.emit)
        if problem:
            log.warning("cannot serve %s: %s; later launches will start their own window", self.socket_name, problem)
        self._server = server
        return True

    def send_to_running(self, argv: list[str], timeout_s: float = 1.0) -> bool:
        """Hand ``argv`` to the running instance; True once it confirmed receipt."""
        payload = json.dumps(argv).encode() + b"\n"
        send = _send_unix if self.transport == "unix" else _send_qt
        try:
            reply = send(self.socket_name, payload, timeout_s)
        except OSError as exc:
            log.info("no running instance answers at %s: %s", self.socket_name, exc.strerror or exc)
            return False
        return _ACK in reply

    def close(self) -> None:
        """Stop serving and release the lock (at quit; a crash releases both by itself)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._lock.isLocked():
            self._lock.unlock()


# --------------------------------------------------------------------- Unix sockets
class _UnixServer(QObject):
    """A listening Unix socket, watched from Qt's event loop; each launch's line is answered ``ok``.

    A QObject that owns its notifiers and timer, and whose signals go to its own methods only (Qt then drops
    them with it; PySide's stand-in receivers for lambdas and other objects' methods are what crashed here)."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._path = ""
        self._sock: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None
        self._peers: dict[QSocketNotifier, tuple[socket.socket, _Inbox]] = {}
        self._deliver: Callable[[list[str]], None] = lambda _argv: None
        self._resume = QTimer(self)
        self._resume.setSingleShot(True)
        self._resume.timeout.connect(self._watch_again)

    def listen(self, path: str, deliver: Callable[[list[str]], None]) -> str:
        """Serve at ``path`` (its old socket file, a crashed first instance's, goes); a problem, or ''."""
        self._deliver = deliver
        with contextlib.suppress(OSError):  # (not there; or not a file to remove, and then bind says why)
            os.unlink(path)  # the lock is ours: no live instance serves there
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            return str(exc.strerror or exc)
        try:
            os.chmod(path, 0o600)  # the user's own launches only (before anyone can connect)
            sock.listen(8)
        except OSError as exc:
            sock.close()
            with contextlib.suppress(OSError):
                os.unlink(path)
            return str(exc.strerror or exc)
        sock.setblocking(False)
        self._sock, self._path = sock, path
        self._notifier = QSocketNotifier(sock.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._accept)
        return ""

    def _accept(self, *_: Any) -> None:
        while self._sock is not None:
            try:
                peer, _address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, say: the launch stays queued, so look again later
                log.warning("a later launch could not be taken now: %s", exc.strerror or exc)
                self._pause(1000)
                return
            peer.setblocking(False)
            notifier = QSocketNotifier(peer.fileno(), QSocketNotifier.Type.Read, self)
            self._peers[notifier] = (peer, _Inbox())
            notifier.activated.connect(self._read)

    def _pause(self, ms: int) -> None:
        """Stop watching the listening socket for ``ms`` (its queued connection would wake the loop at once)."""
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._resume.start(ms)

    def _watch_again(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(True)

    def _read(self, *_: Any) -> None:
        notifier = self.sender()
        if not isinstance(notifier, QSocketNotifier) or notifier not in self._peers:
            return
        peer, inbox = self._peers[notifier]
        try:
            data = peer.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        result = inbox.take(data) if data else False
        if result is True:
            return
        if isinstance(result, list):
            with contextlib.suppress(OSError):
                peer.send(_ACK)  # three bytes into an empty socket buffer
        self._drop(notifier)
        if isinstance(result, list):
            self._deliver(result)

    def _drop(self, notifier: QSocketNotifier) -> None:
        peer, _inbox = self._peers.pop(notifier)
        notifier.setEnabled(False)  # before its socket closes
        notifier.deleteLater()
        peer.close()

    def close(self) -> None:
        self._resume.stop()
        for notifier in list(self._peers):
            self._drop(notifier)
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            with contextlib.suppress(OSError):
                os.unlink(self._path)


def _send_unix(path: str, payload: bytes, timeout_s: float) -> bytes:
    reply = b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(path)
        sock.sendall(payload)
        while _ACK not in reply and (chunk := sock.recv(64)):
            reply += chunk
    return reply


# --------------------------------------------------------------------- QtNetwork (Windows)
class _QtServer(QObject):
    """QLocalServer: a named pipe on Windows (a Unix socket elsewhere, where tests use it)."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._server: QLocalServer | None = None
        self._peers: dict[QLocalSocket, _Inbox] = {}
        self._deliver: Callable[[list[str]], None] = lambda _argv: None

    def listen(self, name: str, deliver: Callable[[list[str]], None]) -> str:
        from PySide6.QtNetwork import QLocalServer

        self._deliver = deliver
        QLocalServer.removeServer(name)  # a socket file a crashed first instance left behind
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        server.newConnection.connect(self._accept)
        self._server = server
        return "" if server.listen(name) else server.errorString()

    def _accept(self) -> None:
        assert self._server is not None
        while (peer := self._server.nextPendingConnection()) is not None:
            self._peers[peer] = _Inbox()
            peer.readyRead.connect(self._ready_read)
            peer.disconnected.connect(self._forget)
            if peer.bytesAvailable():
                self._read(peer)

    def _ready_read(self) -> None:
        peer = self.sender()
        if peer in self._peers:
            self._read(peer)

    def _read(self, peer: QLocalSocket) -> None:
        result = self._peers[peer].take(bytes(peer.readAll().data()))  # callers know the peer
        if result is True:
            return
        if result is False:
            peer.abort()
            return
        peer.write(_ACK)
        peer.flush()
        self._deliver(result)

    def _forget(self) -> None:
        peer = self.sender()
        if peer in self._peers:
            del self._peers[peer]
            peer.deleteLater()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


def _send_qt(name: str, payload: bytes, timeout_s: float) -> bytes:
    from PySide6.QtNetwork import QLocalSocket

    ms = max(1, int(timeout_s * 1000))
    peer = QLocalSocket()
    peer.connectToServer(name)
    if not peer.waitForConnected(ms):
        raise OSError(peer.errorString())
    peer.write(payload)
    peer.waitForBytesWritten(ms)
    reply = b""
    while _ACK not in reply and peer.waitForReadyRead(ms):
        reply += bytes(peer.readAll().data())
    peer.disconnectFromServer()
    return reply
