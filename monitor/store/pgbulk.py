"""Many rows at once into PostgreSQL, inside one transaction: what `monitor migrate-db`
(migrate.py) writes with. COPY instead of INSERTs; indexes and foreign keys made once over
all the rows instead of kept up to date row by row; id sequences moved past rows that came
with their ids. Part of PostgresStore (postgres.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import MonitorError
from .pgconnection import PostgresConnection


class BulkWrites(PostgresConnection):
    """A PostgreSQL connection that also writes tables whole. Call each inside transaction():
    what PostgreSQL refuses becomes a MonitorError naming it, and undoes everything with the
    transaction."""

    def write_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Append `rows` to `table` through COPY; how many were written."""
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        written = 0
        with (
            self._refusals(f"a row of {table}"),
            self.connection() as conn,
            conn.cursor() as cur,
            cur.copy(statement) as copy,
        ):
            for row in rows:
                copy.write_row(row)
                written += 1
        return written

    @contextmanager
    def bulk_load(self, tables: Sequence[str]) -> Iterator[None]:
        """For filling `tables` with many rows: their secondary indexes and foreign keys are
        dropped, and made again at the end over all the rows at once, which costs a fraction
        of keeping them up to date row by row (the full-text GIN index most). Made again,
        they check every row as they would have. (The index builds count the rows for the
        planner; autovacuum analyses the new rows soon after.) An error inside leaves the
        indexes to the transaction's rollback."""
        names = self.as_list(tables)
        indexes = self.conn.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid = ANY(?::regclass[])"  # but a primary key's, and any a constraint uses
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            (names,),
        ).fetchall()
        keys = self.conn.execute(
            "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid = ANY(?::regclass[])",
            (names,),
        ).fetchall()
        for table, key, _ in keys:
            self.conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {key}")
        for index, _ in indexes:
            self.conn.execute(f"DROP INDEX {index}")
        yield
        with self._refusals("the rows written"):
            for _, definition in indexes:
                self.conn.execute(definition)
            for table, key, definition in keys:
                self.conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {key} {definition}")

    def empty_tables(self, tables: Sequence[str]) -> None:
        """Delete every row of these tables at once (TRUNCATE: the foreign keys between them
        allow no less than all together), their ids starting again from 1."""
        self.conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")

    def restart_ids(self, tables: Iterable[str]) -> None:
        """Move each table's id sequence past its largest id: rows written with their ids do
        not advance it, and a new row must never be given a copied one's id."""
        for table in tables:
            self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence(?, 'id'), coalesce(max(id), 0) + 1, false) FROM {table}",
                (table,),
            )

    @contextmanager
    def _refusals(self, what: str) -> Iterator[None]:
        """What PostgreSQL refuses of `what` (a value, a key, a unique index) as a MonitorError.
        A lost server is not among them: connection() has made that StoreUnavailable."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            diag = exc.diag
            said = "; ".join(s.strip() for s in (diag.message_detail, diag.context) if s)
            raise MonitorError(
                f"{self.path} refused {what}: {self._scrub(diag.message_primary or str(exc))}"
                + (f" ({self._scrub(said)})" if said else ""),
                hint="nothing was written: it is one transaction, rolled back whole",
            ) from None
