"""The only package that writes SQL. Callers depend on the contract (contract.py) and get
an implementation from `open_store`; the SQLite one is sqlite.py with its query mixins."""

from __future__ import annotations

from pathlib import Path

from .contract import AlertLedger, Database, DeliveryQueue, DeskState, FeedLedger, ItemStore, Store, StoryStore
from .records import Delivery, FeedState
from .schema import SCHEMA_VERSION
from .sqlite import SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "AlertLedger",
    "Database",
    "Delivery",
    "DeliveryQueue",
    "DeskState",
    "FeedLedger",
    "FeedState",
    "ItemStore",
    "SQLiteStore",
    "Store",
    "StoryStore",
    "open_store",
]


def open_store(database: Path | str, busy_timeout: float = 30.0, poller: bool = False) -> Store:
    """The store at `database` (a SQLite file path), created and migrated as needed. A write
    waits up to `busy_timeout` seconds for another process's write to finish. `poller`: the
    process that polls and delivers; a second one on the same file is refused (MonitorError
    naming the first)."""
    return SQLiteStore(database, busy_timeout, poller)
