"""One SQLite connection in WAL mode, and the transaction every write goes through.

sqlite.py puts it together with the query mixins (base.py says what they need of it).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, TextIO

from ..errors import MonitorError
from .base import Connection


class SQLiteConnection(Connection):
    """A SQLite file in WAL mode, so the CLI can read while the daemon writes."""

    conn: sqlite3.Connection

    def __init__(self, path: Path | str, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as exc:
            raise MonitorError(
                f"cannot open the database {self.path}: {exc}",
                hint="check [monitor] database in the config and that its folder is writable",
            ) from None
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        conn.execute("PRAGMA synchronous=NORMAL")
        # The commit that takes the WAL past this many pages copies it into the database file
        # (two fsyncs); SQLite's default of 1,000 pages made that about half of a cold cycle's
        # commit time. A page changed again before the copy is copied once.
        conn.execute("PRAGMA wal_autocheckpoint=4000")
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        self._poller_lock: TextIO | None = None

    @cached_property
    def db(self) -> Any:  # sqlite_utils.Database
        """sqlite_utils over the same connection, for migrations only: imported here because
        with dateutil it would cost every start-up ~40 ms."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def close(self) -> None:
        self.conn.close()
        if self._poller_lock is not None:
            self._poller_lock.close()  # releases the lock
            self._poller_lock = None

    def hold_poller_lock(self) -> None:
        """Be the one process polling this file until closed. Two would fetch every feed
        and send every alert twice; reading commands open the file without this lock.
        SQLiteStore(poller=True) takes it before migrating."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        lock = lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise MonitorError(
                f"another monitor (pid {holder}) is already polling {self.path}; one daemon per database file",
                hint="stop it first (systemctl stop monitor); `monitor feeds`, `alerts`, `backtest` and "
                "`outbox` work beside it",
            ) from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._poller_lock = lock

    def ping(self) -> None:
        """Raise sqlite3.Error unless the database answers a query on a real table."""
        self.conn.execute("SELECT count(*) FROM feeds WHERE next_poll <= 0").fetchone()

    @contextmanager
    def transaction(self) -> Iterator[SQLiteConnection]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception: nothing half-done."""
        if self.conn.in_transaction:
            yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def durable(self) -> Iterator[None]:
        """A transaction whose commit is synced to disk before it returns. The connection runs
        with synchronous=NORMAL (a commit is durable once the WAL is next copied into the
        database): a crash of the process loses nothing, a power cut can lose the last
        commits. FULL for every commit would cost an fsync each."""
        if self.conn.in_transaction:
            raise RuntimeError("durable() starts its own transaction")  # its commit must be the synced one
        self.conn.execute("PRAGMA synchronous=FULL")
        try:
            with self.transaction():
                yield
        finally:
            self.conn.execute("PRAGMA synchronous=NORMAL")
