"""One running app per user: a second launch hands its command line to the first and exits.

A global hold key makes this necessary, not just tidy: two instances would fight over the key (the second's
grab fails) and over the microphone. The first instance holds a lock file and serves a local socket
(QLocalServer); a later launch finds the lock taken and sends its argv, as JSON, over the socket.

Why a lock file beside the socket: a crashed first instance leaves its socket file behind, and "can I
connect?" cannot tell a dead socket from a first instance that is still starting. QLockFile can: it records
the holder's PID and takes the lock over when that process is gone, so a ``kill -9`` never blocks the next start.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import sys
from pathlib import Path

from PySide6.QtCore import QDir, QLockFile, QObject, QStandardPaths, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)
_ACK = b"ok\n"
_MAX_MESSAGE = 1 << 20


def _user() -> str:
    if hasattr(os, "getuid"):
        return str(os.getuid())
    return re.sub(r"[^A-Za-z0-9_.-]", "_", getpass.getuser())


def _runtime_dir() -> Path:
    """The per-user runtime folder (XDG_RUNTIME_DIR on Linux), else the temp folder."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.RuntimeLocation)
    return Path(location or QDir.tempPath())


class SingleInstance(QObject):
    """The first launch serves; later launches send it their argv.

    Needs a QCoreApplication (the app's QApplication). The first instance receives messages on the event
    loop; ``send_to_running`` blocks for up to ``timeout_s``, which is fine in a second launch that is about
    to exit and has no window yet.
    """

    message = Signal(list)
    """A later launch's command line (list of str); the app shows its window and applies the arguments."""

    def __init__(self, name: str = "voicelive-desktop", parent: QObject | None = None) -> None:
        """Nothing is claimed until ``claim``.

        Args:
            name: the app's name; the user's id is added so two people on one machine do not meet.
        """
        super().__init__(parent)
        base = f"{name}-{_user()}"
        folder = _runtime_dir()
        # On Unix a full path keeps the socket in the user's private runtime folder; Windows uses a pipe name.
        self.socket_name = base if sys.platform == "win32" else str(folder / f"{base}.sock")
        self._lock = QLockFile(str(folder / f"{base}.lock"))
        self._lock.setStaleLockTime(0)  # only a dead holder makes the lock stale, never its age
        self._server: QLocalServer | None = None
        self._pending: dict[QLocalSocket, bytes] = {}

    def claim(self) -> bool:
        """True if this is the first instance (it now serves); False if another one runs."""
        if self._server is not None:
            return True
        if not self._lock.tryLock(0):
            return False
        QLocalServer.removeServer(self.socket_name)  # a socket file a crashed first instance left behind
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.socket_name):
            log.warning(
                "cannot serve %s: %s; later launches will start their own window",
                self.socket_name,
                server.errorString(),
            )
        server.newConnection.connect(self._accept)
        self._server = server
        return True

    def send_to_running(self, argv: list[str], timeout_s: float = 1.0) -> bool:
        """Hand ``argv`` to the running instance; True once it confirmed receipt."""
        ms = max(1, int(timeout_s * 1000))
        socket = QLocalSocket()
        socket.connectToServer(self.socket_name)
        if not socket.waitForConnected(ms):
            log.info("no running instance answers at %s: %s", self.socket_name, socket.errorString())
            return False
        socket.write(json.dumps(argv).encode() + b"\n")
        socket.waitForBytesWritten(ms)
        reply = b""
        while _ACK not in reply and socket.waitForReadyRead(ms):
            reply += bytes(socket.readAll().data())
        socket.disconnectFromServer()
        return _ACK in reply

    def close(self) -> None:
        """Stop serving and release the lock (at quit; a crash releases both by itself)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._lock.isLocked():
            self._lock.unlock()

    def _accept(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            self._pending[socket] = b""
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._forget(s))
            if socket.bytesAvailable():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        data = self._pending.get(socket, b"") + bytes(socket.readAll().data())
        if b"\n" not in data:
            if len(data) > _MAX_MESSAGE:
                socket.abort()
            else:
                self._pending[socket] = data
            return
        line = data.split(b"\n", 1)[0]
        self._pending[socket] = b""
        try:
            argv = json.loads(line)
        except ValueError:
            argv = None
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            log.warning("ignored a malformed message from another launch")
            socket.abort()
            return
        socket.write(_ACK)
        socket.flush()
        self.message.emit(argv)

    def _forget(self, socket: QLocalSocket) -> None:
        self._pending.pop(socket, None)
        socket.deleteLater()
