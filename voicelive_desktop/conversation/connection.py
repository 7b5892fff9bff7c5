"""The history file behind one connection, kept usable whatever state the file is in.

This is the failure policy of the history, apart from what the history holds (``store.py``):

- opening never raises;
- a damaged file is moved aside and what can be read is copied into a fresh one (``salvage.py``);
- while the file is locked by another program or cannot be written, writes wait in memory, in order, and are
  applied on the next write or :meth:`HistoryFile.retry`; if the app closes first, they go to a side file that
  the next start applies (``journal.py``);
- :attr:`HistoryFile.problem` says in plain words what went wrong, and is cleared when a passing problem
  (a lock, a full disk) goes away.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from . import journal, schema
from .journal import Write
from .queries import stamp
from .salvage import replace_damaged
from .schema import Damaged, failure_kind

log = logging.getLogger(__name__)


class HistoryUnavailable(RuntimeError):
    """The history cannot be read right now (locked by another program, unreadable disk); the message says why."""


class HistoryFile:
    """One SQLite connection to the history file; see the module docstring for what it does when the file fails."""

    def __init__(self, path: Path, busy_timeout: float, clock: Callable[[], datetime]) -> None:
        """Open ``path``, applying first what an earlier run could not save; never raises."""
        self.path = path
        self._busy_timeout = busy_timeout
        self._clock = clock
        self._con: sqlite3.Connection | None = None
        self._pending: list[Write] = []
        self._journals: list[Path] = []
        self._problem: str | None = None
        self._transient = False
        self._closed = False
        self._take_journals()
        if self._ensure_open() is not None:
            self._flush()

    @property
    def problem(self) -> str | None:
        """What went wrong with the history, in words for the user; None when all is well."""
        return self._problem

    @property
    def pending_writes(self) -> int:
        """Changes waiting in memory for the file to become writable."""
        return len(self._pending)

    def write(self, write: Write) -> None:
        """Queue ``write`` after the others and try to apply them all now."""
        self._check_open()
        self._pending.append(write)
        self._flush()

    def retry(self) -> bool:
        """Try again to apply the waiting writes; True when none is left waiting."""
        self._check_open()
        return self._flush()

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run a read after applying what is waiting; recover once from damage found on the way.

        Raises:
            HistoryUnavailable: when the file cannot be read now (the reason is in :attr:`problem` too).
        """
        self._check_open()
        self._flush()
        for attempt in (1, 2):
            con = self._ensure_open()
            if con is None:
                break
            try:
                rows = con.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                if attempt == 2 or failure_kind(exc) != "damaged":
                    self._failed(exc, recover=False)
                    break
                self._recover(exc)
                continue
            if not self._pending:
                self._resolved()
            return [tuple(row) for row in rows]
        raise HistoryUnavailable(self._problem or "The history cannot be read right now.")

    def close(self, wait: float) -> None:
        """Apply what is waiting (waiting up to ``wait`` s for a lock), keep the rest in a side file, close."""
        if self._closed:
            return
        self._rewrite_if_deleted()
        if self._pending:
            self._busy_timeout = max(self._busy_timeout, wait)
            if self._con is not None:
                self._con.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            self._flush()
        if self._pending:
            self._keep_for_next_start()
        if self._con is not None:
            with contextlib.suppress(sqlite3.Error):
                self._con.execute("PRAGMA optimize")
            self._con.close()
            self._con = None
        self._closed = True

    # ---- the machinery ----

    def _set_problem(self, text: str, transient: bool = False) -> None:
        if text != self._problem:
            log.warning("history: %s", text)
        self._problem, self._transient = text, transient

    def _resolved(self) -> None:
        if self._transient:
            log.info("history: the earlier problem is resolved")
            self._problem, self._transient = None, False

    def _check_open(self) -> None:
        if self._closed:
            raise HistoryUnavailable("The history is closed.")

    def _take_journals(self) -> None:
        """Queue, before anything else, the changes an earlier run could not save."""
        try:
            files = journal.find(self.path)
        except OSError:
            return
        for file in files:
            try:
                self._pending.extend(journal.read(file))
            except (OSError, ValueError) as exc:
                self._set_problem(f"Unsaved changes from an earlier run could not be read from {file} ({exc}).")
            else:
                self._journals.append(file)

    def _keep_for_next_start(self) -> None:
        count, why = len(self._pending), self._problem
        try:
            kept = journal.save(self.path, self._pending, self._clock().astimezone())
        except OSError as exc:
            log.error("closing the history with %d unsaved changes: %s (%s)", count, why, exc)
            self._set_problem(f"{count} change(s) to the history could not be saved ({exc}): {why}")
            return
        self._pending.clear()
        self._forget_journals()
        self._set_problem(
            f"{count} change(s) to the history could not be saved yet ({why}). They are kept in {kept} and will "
            "be saved the next time the app starts."
        )

    def _forget_journals(self) -> None:
        for file in self._journals:
            with contextlib.suppress(OSError):
                file.unlink()
        self._journals.clear()

    def _ensure_open(self) -> sqlite3.Connection | None:
        if self._con is None:
            try:
                self._con = self._open_file()
            except (sqlite3.Error, OSError, Damaged) as exc:
                self._failed(exc)
            except Exception as exc:  # a bug in a migration must not stop the app from starting
                log.exception("opening the history failed")
                self._failed(exc, recover=False)
        return self._con

    def _open_file(self) -> sqlite3.Connection:
        con, version = schema.open_database(self.path, self._busy_timeout)
        if version > len(schema.MIGRATIONS):
            self._set_problem(
                "The history was written by a newer version of voicelive-desktop; this version may not show "
                "everything in it."
            )
        return con

    def _failed(self, exc: BaseException, recover: bool = True) -> None:
        """React to a failure to open, read or write: recover a damaged file, else report and keep waiting."""
        kind = failure_kind(exc)
        if kind == "damaged" and recover:
            self._recover(exc)
        elif kind == "busy":
            self._set_problem(
                f"The history ({self.path}) is in use by another program. New messages are kept in memory and "
                "saved as soon as it is free.",
                transient=True,
            )
        else:
            self._set_problem(
                f"The history ({self.path}) cannot be saved right now ({exc}). New messages are kept in memory and "
                "saved when it works again.",
                transient=True,
            )

    def _recover(self, exc: BaseException) -> None:
        """Move the damaged file aside, start a fresh one and copy into it whatever can still be read."""
        if self._con is not None:
            with contextlib.suppress(sqlite3.Error):
                self._con.close()
            self._con = None
        now = self._clock()
        con, what = replace_damaged(self.path, exc, self._open_file, now.astimezone(), stamp(now))
        self._con = con
        self._set_problem(what, transient=con is None)

    def _flush(self) -> bool:
        """Apply every waiting write in one transaction; True when none is left waiting."""
        self._rewrite_if_deleted()
        for attempt in (1, 2):
            if not self._pending:
                return True
            con = self._ensure_open()
            if con is None:
                return False
            try:
                self._apply_pending(con)
            except (sqlite3.Error, Damaged) as exc:
                if attempt == 2 or failure_kind(exc) != "damaged":
                    self._failed(exc, recover=False)
                    return False
                self._recover(exc)
                continue
            self._forget_journals()
            self._resolved()
        return not self._pending

    def _rewrite_if_deleted(self) -> None:
        """The file was deleted while open (a cleanup tool, a sync client, a user tidying up): SQLite goes on
        writing to the deleted file, and everything would be gone at exit. The open connection can still read all
        of it, so it is written out again at the same path, and the user is told."""
        con = self._con
        try:
            if con is None or self.path.exists():
                return
        except OSError:  # the folder cannot be looked at now (a network home gone stale): writes will say so
            return
        log.warning("history: %s was deleted while open; writing it again", self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = sqlite3.connect(self.path)
            try:
                con.backup(fresh)
            finally:
                fresh.close()
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc, recover=False)
            return
        with contextlib.suppress(sqlite3.Error):
            con.close()
        self._con = None
        if self._ensure_open() is not None:
            self._set_problem(
                f"The history file ({self.path}) was deleted while the app was running. It has been written again, "
                "with every conversation it held."
            )

    def _apply_pending(self, con: sqlite3.Connection) -> None:
        """All or nothing for what is waiting, except that a change the database refuses is dropped alone."""
        con.execute("BEGIN IMMEDIATE")
        try:
            for write in self._pending:
                con.execute("SAVEPOINT write")
                try:
                    write(con)
                except Exception as exc:
                    con.execute("ROLLBACK TO write")
                    if failure_kind(exc) != "rejected":
                        raise
                    log.error("the history refused a change: %s", exc)
                    self._set_problem(f"A change to the history was refused and not saved ({exc}).")
                con.execute("RELEASE write")
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            raise
        self._pending.clear()
