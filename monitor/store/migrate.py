"""A SQLite database copied into PostgreSQL (`monitor migrate-db`), for a user who outgrows one
file: its history and its work in progress go with their ids, so every reference holds and the
daemons on PostgreSQL alert nothing again and send nothing twice. Leases and nodes stay
behind: they belong to the daemon that ran on the file.

The source is opened as its poller (a daemon still running on it would go on writing what the
copy misses) and read inside a transaction, which holds SQLite's write lock so that no other
command changes it mid-copy. The target is written in one transaction: all of it, or nothing.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ..databases import is_postgres_url, redact_database
from ..errors import MonitorError, UsageError
from . import open_store
from .postgres import PostgresStore
from .schema import SCHEMA_VERSION
from .sqlite import SQLiteStore

# Parents before children, so that each foreign key finds its row already copied.
TABLES = (
    "feeds",
    "stories",
    "story_terms",
    "items",
    "alerts",
    "notices",
    "deliveries",
    "feed_health",
    "rule_state",
    "body_counts",
    "marks",
)
# Columns not copied: a feed's lease names a node of the old database.
LEFT_BEHIND = frozenset({"lease_node", "lease_until"})
# Emptied by --replace with TABLES: the target's own cluster state.
CLUSTER_TABLES = ("leases", "nodes")
# A target with a row in either has been used: it is never overwritten unasked.
IN_USE = ("feeds", "items")


@dataclass(frozen=True)
class Migration:
    source: str
    target: str  # without its password
    replaced: bool
    rows: dict[str, int]  # copied, by table, in copy order


def migrate_database(source: Path | str, target: str, replace: bool = False, busy_timeout: float = 30.0) -> Migration:
    """Copy the SQLite database at `source` into the PostgreSQL database at the URL `target`
    (created there if need be); `replace`: empty the target's monitor tables first, else refuse
    a target that holds data."""
    if is_postgres_url(source):
        raise UsageError(
            f"the config's database is already PostgreSQL ({redact_database(source)}); migrate-db copies a SQLite file",
            hint="run it with the config (--config) whose [monitor] database is the SQLite file to copy",
        )
    if not is_postgres_url(target):  # not echoed: a mistyped URL may hold a password redact_database misses
        raise UsageError(
            "--to must be a PostgreSQL URL (postgresql://…)",
            hint="write it as postgresql://user@host:5432/dbname, the password in $PGPASSWORD or ~/.pgpass",
        )
    path = Path(source).absolute()
    if not path.is_file():
        raise UsageError(
            f"no SQLite database at {path}: nothing to migrate",
            hint="check [monitor] database in the config (a relative path is taken from the config's folder, "
            "or from $STATE_DIRECTORY under systemd)",
        )
    with (
        closing(open_store(path, busy_timeout, poller=True)) as sqlite,  # first: a running daemon is refused at once
        closing(open_store(target, busy_timeout)) as pg,
    ):
        if not (isinstance(sqlite, SQLiteStore) and isinstance(pg, PostgresStore)):
            raise TypeError("open_store chose the wrong backend")
        rows = copy_database(sqlite, pg, replace)
    return Migration(str(path), redact_database(target), replace, rows)


def copy_database(source: SQLiteStore, target: PostgresStore, replace: bool = False) -> dict[str, int]:
    """Every row of TABLES from `source` into `target`, ids kept and each id sequence moved
    past them; the rows copied, by table."""
    rows: dict[str, int] = {}
    with source.transaction(), target.transaction():
        if replace:
            target.empty_tables(TABLES + CLUSTER_TABLES)
        else:
            _refuse_used(target)
        with target.bulk_load(TABLES):
            for table in TABLES:
                columns = _columns(source, target, table)
                rows[table] = target.write_rows(table, columns, source.read_rows(table, columns))
        target.restart_ids(table for table in TABLES if "id" in target.table_columns(table))
    return rows


def _refuse_used(target: PostgresStore) -> None:
    counts = {table: target.count_rows(table) for table in IN_USE}
    if any(counts.values()):
        held = ", ".join(f"{n} {table}" for table, n in counts.items())
        raise MonitorError(
            f"{target.path} already holds monitor data ({held}); migrate-db copies into an empty database only",
            hint="point --to at an empty database (or schema), or add --replace to empty its monitor tables "
            "first: what they hold is lost",
        )


def _columns(source: SQLiteStore, target: PostgresStore, table: str) -> list[str]:
    """The target's columns of `table` but LEFT_BEHIND. The source must have exactly these: a
    column only it had would be lost."""
    columns = [c for c in target.table_columns(table) if c not in LEFT_BEHIND]
    differ = (set(source.table_columns(table)) - LEFT_BEHIND) ^ set(columns)
    if differ:
        raise MonitorError(
            f"{table} has other columns in {source.path} than in {target.path}: {', '.join(sorted(differ))}",
            hint=f"both should be at schema version {SCHEMA_VERSION} once opened; "
            "report this with the output of `monitor --version`",
        )
    return columns
