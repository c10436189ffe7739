"""The SQLite store: the embedded default, one file, nothing else to run."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .bodies import BodyQueries
from .cluster import ClusterQueries
from .deliveries import DeliveryQueries
from .desk import DeskQueries
from .feeds import FeedQueries
from .items import ItemQueries
from .listings import ListingQueries
from .schema import SchemaMixin


class SQLiteStore(
    SchemaMixin, FeedQueries, ItemQueries, BodyQueries, DeliveryQueries, DeskQueries, ClusterQueries, ListingQueries
):
    """Every query of the store contract (contract.py) over one SQLite connection, and its
    FTS5 full-text index."""

    def __init__(self, path: Path | str, busy_timeout: float = 30.0, poller: bool = False, node: str = "") -> None:
        super().__init__(path, busy_timeout)
        self.node = node
        if poller:  # before migrating: a process refused here must not have changed the schema
            self.hold_poller_lock()
        self._migrate()
        if poller:
            self._take_over()

    def _take_over(self) -> None:
        """The poller lock is this process's: every other node of the file has stopped or was
        killed, so its leases are free now rather than when they expire, and it is no longer
        listed (one daemon per file: `monitor cluster` shows this one)."""
        with self.transaction():
            self.conn.execute("DELETE FROM nodes WHERE node != ?", (self.node,))
            self.conn.execute("DELETE FROM leases WHERE node != ?", (self.node,))
            self.conn.execute(
                "UPDATE feeds SET lease_node = NULL, lease_until = NULL WHERE lease_node != ?", (self.node,)
            )

    def index_pending(self, search_text: Callable[[str, str, str], str], chunk: int = 1000) -> Iterator[int]:
        """Add the items stored since the last call to the full-text index, `chunk` items per
        transaction, their text made by `search_text(title, summary, body)` (parsing.facts.search_text)
        unless they have one (an edit, or pruned: ''). Yields how many each transaction
        indexed: a caller may pause between them."""
        while True:
            with self.transaction():
                (upto,) = self.conn.execute("SELECT indexed_upto FROM index_state").fetchone()
                (top,) = self.conn.execute(
                    "SELECT max(id) FROM (SELECT id FROM items WHERE id > ? ORDER BY id LIMIT ?)", (upto, chunk)
                ).fetchone()
                if top is None:
                    return
                texts = [
                    (search_text(title or "", summary or "", body or ""), item_id)
                    for item_id, title, summary, body in self.conn.execute(
                        "SELECT id, title, summary, body FROM items WHERE id > ? AND id <= ? AND fts IS NULL",
                        (upto, top),
                    )
                ]
                self.conn.executemany("UPDATE items SET fts = ? WHERE id = ?", texts)  # above the mark: no trigger
                cur = self.conn.execute(
                    "INSERT INTO items_fts (rowid, fts) SELECT id, fts FROM items WHERE id > ? AND id <= ?",
                    (upto, top),
                )
                self.conn.execute("UPDATE index_state SET indexed_upto = ?", (top,))
            yield cur.rowcount

    def reclaim_space(self) -> None:
        """Give pruned pages back to the file system (auto_vacuum is incremental)."""
        self.conn.execute("PRAGMA incremental_vacuum")

    def stored_items(
        self, since: float | None, fts_query: str | None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The items that arrived since `since`, the newest first, narrowed by an FTS5 expression when
        one is given; the first rows come at once however many candidates there are."""
        if not fts_query:
            return self._items_newest_first(since, None, [], limit)
        # The index runs a step behind ingest (index_pending): the items not in it yet are
        # candidates too (the rule engine matches every candidate exactly), unless pruned ('').
        # The "+" keeps SQLite walking items_first_seen newest first and testing each item
        # against the index's answer, rather than reading every candidate to sort them.
        narrowing = (
            "+i.id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ? UNION ALL"
            " SELECT id FROM items WHERE id > (SELECT indexed_upto FROM index_state) AND fts IS NOT '')"
        )
        return self._items_newest_first(since, narrowing, [fts_query], limit)

    def read_rows(self, table: str, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Every row of `table`, in the order stored, one at a time (migrate.py copies them)."""
        return iter(self.conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid"))
