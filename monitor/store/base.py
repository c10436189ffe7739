"""What the query mixins (feeds.py, items.py, deliveries.py, desk.py, cluster.py) need of a
connection, whatever the database: `conn.execute(sql, params)` with `?` placeholders, a
cursor back, and the few spellings that differ between SQLite and PostgreSQL.

The SQL in the mixins is written once, in the subset both databases speak (ON CONFLICT,
RETURNING, coalesce, CASE); a backend supplies its connection (sqlite.py, postgres.py) and
overrides only what has no common spelling (the full-text index, reclaiming space).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

# Rows of another table written with new rows (insert_new): (table, columns, rows), the first
# column referring to the new rows, each child holding there its parent's index among them.
Children = tuple[str, Sequence[tuple[str, str]], Sequence[Sequence[Any]]]


class Connection:
    """The connection-shaped part of a store: what every query mixin may use."""

    # sqlite3.Connection, or pgconnection's executor: `execute(sql, params)` with `?`
    # placeholders returning a DB-API cursor, and `executemany`.
    conn: Any
    # A list is one parameter, `{self.in_list}` in the SQL: one statement text whatever its
    # length (an IN list of one ? per value made a new statement for every length seen).
    in_list = "IN (SELECT value FROM json_each(?))"
    # Appended to a SELECT whose rows a claim then updates: PostgreSQL skips rows another
    # node is claiming; SQLite has one writer at a time and needs nothing.
    skip_locked = ""
    # This process, in leases and in `monitor feeds` / `monitor cluster`.
    node: str = ""
    threadsafe = False  # contract.Database

    def as_list(self, values: Iterable[Any]) -> Any:
        """`values` as the parameter `in_list` reads."""
        return json.dumps(list(values), ensure_ascii=False)

    def rows_table(self, columns: Sequence[tuple[str, str]]) -> str:
        """Many rows as a table with these (name, SQL type) columns, in one statement whose text
        is the same however many: `FROM {self.rows_table(columns)} AS t`, its parameters
        `*self.rows_params(columns, rows)`. On SQLite one JSON parameter (json_each)."""
        picks = ", ".join(f"value ->> {n} AS {name}" for n, (name, _) in enumerate(columns))
        return f"(SELECT {picks} FROM json_each(?))"

    def rows_params(self, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> tuple[Any, ...]:
        """The parameters of `rows_table(columns)` for `rows`."""
        return (json.dumps([list(row) for row in rows], ensure_ascii=False),)

    def insert_rows(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        """Append `rows` to `table`. SQLite, in-process, runs one prepared statement per row
        (cheaper than reading them out of JSON); PostgreSQL one statement for all (postgres.py)."""
        names = ", ".join(name for name, _ in columns)
        self.conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)

    def insert_new(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        children: Children | None = None,
    ) -> list[int]:
        """Append `rows` to `table` under new ids, and their `children`; the new ids, in order.
        The one writer of a SQLite file takes the ids past the largest, inside the transaction
        that writes them; PostgreSQL does it all in one statement (pgconnection.py)."""
        if not rows:
            return []
        (top,) = self.conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
        ids = list(range(top + 1, top + 1 + len(rows)))
        self.insert_rows(table, (("id", "bigint"), *columns), [(i, *row) for i, row in zip(ids, rows, strict=True)])
        if children and children[2]:
            child_table, child_columns, child_rows = children
            self.insert_rows(child_table, child_columns, [(ids[row[0]], *row[1:]) for row in child_rows])
        return ids

    def execute_fresh(self, sql: str, params: Iterable[Any] = ()) -> Any:
        """`conn.execute`, planned for the tables as they are now: for a statement whose best plan
        depends on how many rows they hold (postgres.py). SQLite keeps no plan that could age."""
        return self.conn.execute(sql, params)

    def transaction(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def durable(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        return rows_as_dicts(self.conn.execute(sql, params))

    def table_columns(self, table: str) -> list[str]:
        """The columns of `table`, in order: what migrate.py copies, by name."""
        return [d[0] for d in self.conn.execute(f"SELECT * FROM {table} LIMIT 0").description]

    def count_rows(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def rows_as_dicts(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
