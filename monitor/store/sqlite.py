"""The SQLite store: the embedded default, one file, nothing else to run."""

from __future__ import annotations

from pathlib import Path

from .deliveries import DeliveryQueries
from .desk import DeskQueries
from .feeds import FeedQueries
from .items import ItemQueries
from .schema import SchemaMixin


class SQLiteStore(SchemaMixin, FeedQueries, ItemQueries, DeliveryQueries, DeskQueries):
    """Every query of the store contract (contract.py) over one SQLite connection."""

    def __init__(self, path: Path | str, busy_timeout: float = 30.0, poller: bool = False) -> None:
        super().__init__(path, busy_timeout)
        if poller:  # before migrating: a process refused here must not have changed the schema
            self.hold_poller_lock()
        self._migrate()
