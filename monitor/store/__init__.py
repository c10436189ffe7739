"""The only package that writes SQL: the schema and every query, behind one `Store`.

`Store` is one SQLite connection in WAL mode (the CLI reads while the daemon writes);
its queries are grouped by table in the mixins of this package.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import MonitorError
from .deliveries import OutboxQueries
from .desk import DeskQueries
from .feeds import FeedQueries
from .items import ItemQueries
from .records import Delivery, FeedState, rows_as_dicts
from .schema import SCHEMA_VERSION, SchemaMixin

__all__ = ["SCHEMA_VERSION", "Delivery", "FeedState", "Store"]


class Store(SchemaMixin, FeedQueries, ItemQueries, OutboxQueries, DeskQueries):
    """A SQLite file in WAL mode, so the CLI can read while the daemon writes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as exc:
            raise MonitorError(
                f"cannot open the database {self.path}: {exc}",
                hint="check [monitor] database in the config and that its folder is writable",
            ) from None
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
        # The commit that takes the WAL past this many pages copies it into the database file
        # (two fsyncs). SQLite's default, 1,000 pages (4 MB), did so every ~14 feeds of a cold
        # cycle: about half of its commit time. A page changed again before the copy is copied once.
        conn.execute("PRAGMA wal_autocheckpoint=4000")
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        self._migrate()

    @cached_property
    def db(self):  # -> sqlite_utils.Database
        """sqlite_utils over the same connection: only migrations use it, so it is imported
        here (with dateutil it is ~40 ms of every start-up otherwise)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
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

    def _query(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return list(rows_as_dicts(self.conn.execute(sql, params)))
