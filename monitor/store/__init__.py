"""The only package that writes SQL. Callers depend on the contract (contract.py) and get
an implementation from `open_store`: SQLite (sqlite.py), the embedded default, or PostgreSQL
(postgres.py) for several daemons on one database. Both run the query mixins (base.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..databases import is_postgres_url, redact_database
from .cluster import default_node
from .contract import (
    AlertLedger,
    Cluster,
    Database,
    DeliveryQueue,
    DeskState,
    FeedLedger,
    ItemStore,
    Listings,
    Store,
    StoryStore,
)
from .pgconnection import StoreUnavailable
from .records import Delivery, FeedState, SuccessfulPoll
from .schema import SCHEMA_VERSION
from .sqlite import SQLiteStore

__all__ = [
    "DATABASE_ERRORS",
    "SCHEMA_VERSION",
    "AlertLedger",
    "Cluster",
    "Database",
    "Delivery",
    "DeliveryQueue",
    "DeskState",
    "FeedLedger",
    "FeedState",
    "ItemStore",
    "Listings",
    "SQLiteStore",
    "Store",
    "StoreUnavailable",
    "StoryStore",
    "SuccessfulPoll",
    "default_node",
    "is_postgres_url",
    "open_store",
    "redact_database",
]

# What a database that fails to answer raises, whichever it is: callers that must survive it
# (the health endpoint, the watchdog, the daemon's ticks) catch these.
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, StoreUnavailable)


def open_store(database: Path | str, busy_timeout: float = 30.0, poller: bool = False, node: str = "") -> Store:
    """The store at `database`, created and migrated as needed: a postgresql:// URL, or else a
    SQLite file path. A write waits up to `busy_timeout` seconds for another's to finish.
    `poller`: the process that polls and delivers; on SQLite a second one on the same file is
    refused (MonitorError naming the first), on PostgreSQL several share the work by leases.
    `node`: this process in leases and listings (cluster.default_node)."""
    node = node or default_node()
    if is_postgres_url(database):
        try:
            import psycopg  # noqa: F401  # imported for real by the connection; here, to say what is missing
            import psycopg_pool  # noqa: F401
        except ImportError:
            from ..errors import MonitorError

            raise MonitorError(
                f"[monitor] database is a PostgreSQL URL ({redact_database(database)}), but psycopg is not installed",
                hint="pip install 'monitor[postgresql]'",
            ) from None
        from .postgres import PostgresStore

        return PostgresStore(str(database), busy_timeout, node)
    return SQLiteStore(database, busy_timeout, poller, node)
