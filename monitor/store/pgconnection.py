"""A PostgreSQL connection pool behind the interface the query mixins use (base.py).

Every statement outside `transaction()` runs on a pooled connection in autocommit mode.
A transaction holds one connection for its length, and first takes a transaction-level
advisory lock: writes from every daemon of a cluster are serialised, as SQLite's BEGIN
IMMEDIATE serialises them on one machine. The pipeline, the desk and the outbox then read
and decide inside a transaction exactly as they do on SQLite (one alert per rule and
story, one story per headline), while fetching and parsing, most of the work, run on
every node at once.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from ..databases import database_password, redact_database
from ..errors import MonitorError
from .base import Children, Connection
from .pgindex import PENDING_LIST_LIMIT

# The advisory lock's first key: "mont". The second is the schema's name hashed, so that
# two deployments in two schemas of one database do not wait for each other.
_LOCK_CLASS = 0x6D6F6E74
_BEGIN_LOCKED = f"BEGIN; SELECT pg_advisory_xact_lock({_LOCK_CLASS}, hashtext(current_schema()))"
# A statement or a pool checkout gives up after this long when the server is away (the
# daemon retries at its next tick; /healthz says 503 meanwhile).
_CONNECT_TIMEOUT = 5


class _Array(list):  # type: ignore[type-arg]
    """A list parameter sent as a binary array. By default psycopg writes a list of strings as
    an array literal, quoting each element in Python, for the server to parse back: for a
    feed's rows, more work than the rows' insert."""


def _configure(conn: Any) -> None:
    """A new pooled connection commits without waiting for the disk, as SQLite's
    synchronous=NORMAL does: a commit is visible at once and on disk within a fraction of a
    second; a crash of the server can lose the last ones, which the next polls redo from the
    feeds. `durable()` waits for the disk. Every poll records itself: synced, each would wait
    for an fsync. It sends `_Array` parameters in binary, and lets the full-text index's
    pending list grow as far as pgindex.py folds it."""
    from psycopg.types.array import ListBinaryDumper

    conn.adapters.register_dumper(_Array, ListBinaryDumper)
    conn.execute(f"SET synchronous_commit = off; SET gin_pending_list_limit = '{PENDING_LIST_LIMIT}'")


def _checked(conn: Any) -> None:
    """A pooled connection about to be lent: one the server has closed (a restart, a crash,
    an idle timeout) is replaced, not used. An idle connection receives nothing unless the
    server has spoken (its goodbye, or its socket's end), so only a connection with something
    to read is asked, with a round trip; the others are lent at once, as most are, every
    statement outside a transaction borrowing one."""
    from psycopg_pool import ConnectionPool

    if conn.closed or _readable(conn.fileno()):
        ConnectionPool.check_connection(conn)


def _readable(descriptor: int) -> bool:
    said = select.poll()  # not select(): a busy daemon's descriptors may pass 1024
    said.register(descriptor, select.POLLIN)
    return bool(said.poll(0))


class StoreUnavailable(MonitorError):
    """The database server cannot be reached (down, restarting, network): retried, not a bug."""


@lru_cache(maxsize=512)
def _dialect(sql: str) -> str:
    """The mixins' `?` placeholders as psycopg's `%s` (a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Rows:
    """A statement's result, read in full before its connection goes back to the pool."""

    __slots__ = ("_rows", "description", "rowcount")

    def __init__(self, cursor: Any) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self._rows: list[Any] = cursor.fetchall() if cursor.description is not None else []

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class _Executor:
    """`execute`/`executemany` on the transaction's connection, or on one borrowed for the statement."""

    def __init__(self, owner: PostgresConnection) -> None:
        self._owner = owner

    def execute(self, sql: str, params: Iterable[Any] = (), prepare: bool | None = None) -> _Rows:
        with self._owner.connection() as conn:
            return _Rows(conn.execute(_dialect(sql), params, prepare=prepare))

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        with self._owner.connection() as conn, conn.cursor() as cur:
            cur.executemany(_dialect(sql), list(rows))


class PostgresConnection(Connection):
    in_list = "= ANY(?)"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    # A statement borrows a pooled connection; a transaction holds its thread's own.
    threadsafe = True

    def as_list(self, values: Iterable[Any]) -> list[Any]:
        return _Array(values)  # an array parameter

    def rows_table(self, columns: Sequence[tuple[str, str]]) -> str:
        """One array parameter per column, read by unnest: no per-row statement, no JSON."""
        arrays = ", ".join(f"?::{kind}[]" for _, kind in columns)
        return f"(SELECT * FROM unnest({arrays}) AS rows({', '.join(name for name, _ in columns)}))"

    def rows_params(self, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> tuple[Any, ...]:
        rows = list(rows)
        return tuple(
            # A binary array holds one type: an int among the floats is made a float.
            _Array(row[n] if row[n] is None else float(row[n]) for row in rows)
            if kind == "double precision"
            else _Array(row[n] for row in rows)
            for n, (_, kind) in enumerate(columns)
        )

    def insert_rows(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        names = ", ".join(name for name, _ in columns)
        self.conn.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {self.rows_table(columns)} AS t",
            self.rows_params(columns, rows),
        )

    def execute_fresh(self, sql: str, params: Iterable[Any] = ()) -> _Rows:
        """Never a prepared statement: psycopg prepares a statement run five times on a connection,
        and the server then keeps a generic plan for it, made for the tables as they were. One
        made while `items` was nearly empty scans all of it ever after (a cold start: 35 ms a
        lookup at 50,000 items). Planned each time, it reads the index."""
        return self.conn.execute(sql, params, prepare=False)

    def insert_new(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        children: Children | None = None,
    ) -> list[int]:
        """One statement, one round trip: the ids from the table's sequence (several nodes take
        ids at once without meeting), the rows, their children, and the ids back."""
        if not rows:
            return []
        names = ", ".join(name for name, _ in columns)
        numbered = (*columns, ("n", "bigint"))
        sql = (
            f"WITH new AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id, r.*"
            f" FROM {self.rows_table(numbered)} AS r),"
            f" parents AS (INSERT INTO {table} (id, {names}) SELECT id, {names} FROM new)"
        )
        params = self.rows_params(numbered, [(*row, n) for n, row in enumerate(rows)])
        if children and children[2]:
            child_table, (parent, *child_columns), child_rows = children
            child_names = ", ".join(name for name, _ in child_columns)
            sql += (
                f", children AS (INSERT INTO {child_table} ({parent[0]}, {child_names})"
                f" SELECT new.id, {', '.join(f'c.{name}' for name, _ in child_columns)}"
                f" FROM {self.rows_table((('n', 'bigint'), *child_columns))} AS c JOIN new ON new.n = c.n)"
            )
            params += self.rows_params((("n", "bigint"), *child_columns), child_rows)
        return [int(r[0]) for r in self.conn.execute(sql + " SELECT id FROM new ORDER BY n", params).fetchall()]

    def __init__(self, url: str, busy_timeout: float = 30.0) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
        from psycopg_pool import ConnectionPool, PoolTimeout

        self.url = url
        self.path = redact_database(url)  # what messages name
        self._unavailable: tuple[type[BaseException], ...] = (psycopg.OperationalError, PoolTimeout)
        try:
            given = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise MonitorError(
                f"[monitor] database is not a valid PostgreSQL URL ({self.path}): {self._scrub(str(exc))}",
                hint="write it as postgresql://user:${PGPASSWORD}@host:5432/monitor",
            ) from None
        extra: dict[str, str | int] = {"connect_timeout": _CONNECT_TIMEOUT, "application_name": "monitor"}
        conninfo = make_conninfo(url, **{k: v for k, v in extra.items() if k not in given})
        try:  # once directly: a refused or mistyped server is reported with libpq's own reason
            psycopg.connect(conninfo).close()
        except psycopg.Error as exc:
            raise MonitorError(
                f"cannot connect to the database {self.path}: {self._scrub(str(exc).strip())}",
                hint="check [monitor] database in the config, that the server runs, and the password",
            ) from None
        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=4,
            kwargs={"autocommit": True},
            configure=_configure,
            check=_checked,
            timeout=min(busy_timeout, _CONNECT_TIMEOUT * 2),
            name="monitor",
            open=False,
        )
        self._pool.open(wait=False)
        self._local = threading.local()
        self.conn = _Executor(self)

    def _scrub(self, message: str) -> str:
        """libpq does not echo passwords, but a message must never carry one whatever it quotes."""
        password = database_password(self.url)
        return message.replace(password, "***") if password else message

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """The transaction's connection, or a pooled one for one statement; a lost server
        becomes StoreUnavailable, naming the database without its password."""
        held = getattr(self._local, "conn", None)
        try:
            if held is not None:
                yield held
                return
            with self._pool.connection() as conn:
                yield conn
        except self._unavailable as exc:
            raise StoreUnavailable(
                f"the database {self.path} is unavailable: {self._scrub(str(exc).strip() or type(exc).__name__)}",
                hint="monitor retries at every tick; check the PostgreSQL server",
            ) from None

    @contextmanager
    def transaction(self) -> Iterator[PostgresConnection]:
        """One connection, one transaction, the cluster's write lock held to its end:
        everything inside commits together or not at all; nested calls join the outer one."""
        if getattr(self._local, "conn", None) is not None:
            yield self
            return
        with self.connection() as conn:
            # BEGIN and the lock in one round trip, where psycopg's transaction() takes two: a
            # round trip costs the store thread as much as most of its statements. The pooled
            # connection's context commits at the end, or rolls back on any exception.
            conn.execute(_BEGIN_LOCKED)
            self._local.conn = conn
            try:
                yield self
            finally:
                self._local.conn = None

    @contextmanager
    def durable(self) -> Iterator[PostgresConnection]:
        """A transaction whose commit is on disk when it returns, and with it every commit before
        it (the WAL is written in order): what was sent is never forgotten."""
        with self.transaction():
            self.conn.execute("SET LOCAL synchronous_commit = on")
            yield self

    def stream(self, sql: str, params: Iterable[Any]) -> Iterator[dict[str, Any]]:
        """Rows one at a time through a server-side cursor (a backtest may read every item),
        on a connection of its own and without the write lock."""
        with self.connection() as conn, conn.transaction(), conn.cursor(name="monitor_stream") as cur:
            cur.itersize = 2000
            cur.execute(_dialect(sql), params)
            names = [d.name for d in cur.description]
            for row in cur:
                yield dict(zip(names, row, strict=True))

    def ping(self) -> None:
        self.conn.execute("SELECT count(*) FROM feeds WHERE next_poll <= 0").fetchone()

    def close(self) -> None:
        self._pool.close()
