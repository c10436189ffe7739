"""`monitor migrate-db`'s copy: a large SQLite database (N items in as many stories, with their
headline terms and index text, A alerts each with two deliveries) copied into a throwaway
PostgreSQL server (tests/pgkit.py: fsync off, on this machine's disk), timed end to end as the
command runs it (both stores opened, one transaction, COPY per table, sequences moved).

    .venv/bin/python bench/migrate.py [--items 100000] [--alerts 10000] [--rounds 2]

Each round after the first copies again with --replace (the target then holds the previous copy).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import pgkit  # noqa: E402
import synthetic  # noqa: E402

from monitor.parsing.facts import item_facts, search_text  # noqa: E402
from monitor.store import SQLiteStore  # noqa: E402
from monitor.store.migrate import migrate_database  # noqa: E402

T0 = 1_700_000_000.0
CHUNK = 5000


def fill(path: Path, items: int, alerts: int) -> None:
    """Through the store API, as ingest writes them, CHUNK items per transaction."""
    with closing(SQLiteStore(path)) as store:
        store.sync_feeds(((f"feed{n}", f"https://example.org/{n}.xml") for n in range(100)), T0)
        for start in range(0, items, CHUNK):
            with store.transaction():
                for n in range(start, min(start + CHUNK, items)):
                    now = T0 + n
                    item = synthetic.item(n, now)
                    title = item.title
                    facts = item_facts(item)
                    story = store.new_story(facts.canonical, title, now - 60, title.split(), now, facts.signature)
                    item_id = store.insert_item(f"feed{n % 100}", item, facts, story, now)
                    if n % max(1, items // alerts) == 0 and n // max(1, items // alerts) < alerts:
                        alert = store.record_alert("r", story, item_id, ["israel"], [("title", 0, 6)], now)
                        assert alert is not None
                        store.enqueue(alert, "hook", "json://127.0.0.1:9/hook", now)
                        store.enqueue(alert, "mail", "mailto://desk@example.org", now)
        for _ in store.index_pending(search_text, chunk=CHUNK):
            pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    if reason := pgkit.unavailable():
        sys.exit(f"no PostgreSQL server here: {reason}")
    with tempfile.TemporaryDirectory(prefix="bench-migrate-") as folder:
        path = Path(folder) / "m.db"
        started = time.perf_counter()
        fill(path, args.items, args.alerts)
        size = path.stat().st_size / 1e6
        print(
            f"source: {args.items:,} items, {args.alerts:,} alerts, {size:.0f} MB, built in "
            f"{time.perf_counter() - started:.1f} s"
        )
        server = pgkit.PostgresServer()
        try:
            url = server.url(server.new_schema())
            for round_ in range(args.rounds):
                started = time.perf_counter()
                migration = migrate_database(path, url, replace=round_ > 0)
                seconds = time.perf_counter() - started
                rows = sum(migration.rows.values())
                print(
                    f"round {round_ + 1}{' (--replace)' if round_ else ''}: {seconds:.1f} s, "
                    f"{migration.rows['items'] / seconds:,.0f} items/s, {rows / seconds:,.0f} rows/s "
                    f"({', '.join(f'{t} {n:,}' for t, n in migration.rows.items())})"
                )
        finally:
            server.close()


if __name__ == "__main__":
    main()
