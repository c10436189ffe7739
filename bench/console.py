"""The web console on a large store: server time of each page with 100,000 items and 10,000
alerts, rendered in-process (the store read and the template, nothing else) and fetched
through the daemon's HTTP endpoint (urllib on 127.0.0.1: request parsing, headers and the
socket added). Median and worst of --runs fetches of each page, after one warm-up fetch.

    .venv/bin/python bench/console.py [--items 100000] [--alerts 10000] [--runs 7] [--postgres]

The store is built through the store API as ingest writes it, over 30 days: 100 feeds, a
story for every three items (two outlets joining the first), four rules, every alert with a
delivery to two channels (mostly sent; some pending, some dead with an error), feed health
for every feed. --postgres copies it into a throwaway PostgreSQL 15 server (tests/pgkit.py,
as `monitor migrate-db` does, then ANALYZE) and measures there too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import synthetic  # noqa: E402
from testkit import write_config  # noqa: E402

from monitor.config import load_config  # noqa: E402
from monitor.delivery.channels import target_id  # noqa: E402
from monitor.parsing.facts import item_facts, search_text  # noqa: E402
from monitor.runtime.endpoint import HealthServer, Heartbeat, Metrics, StoreReader  # noqa: E402
from monitor.store import SQLiteStore  # noqa: E402
from monitor.web import Console  # noqa: E402

RULES = {"wire": "israel OR russia", "markets": "markets AND rates", "weather": "storm NEAR/3 coast", "courts": "court"}
CHANNELS = {"desk": "json://127.0.0.1:9/desk", "archive": "json://127.0.0.1:9/archive"}
NOW = 1_800_000_000.0
SPAN = 30 * 86400.0
CHUNK = 5000


def fill(path: Path, items: int, alerts: int) -> None:
    """Through the store API, as ingest writes them, CHUNK items per transaction."""
    rules = list(RULES)
    with closing(SQLiteStore(path)) as store:
        store.sync_feeds(((f"feed{n}", f"https://example.org/{n}.xml") for n in range(100)), NOW - SPAN)
        story = 0
        alerted = 0
        for start in range(0, items, CHUNK):
            with store.transaction():
                for n in range(start, min(start + CHUNK, items)):
                    seen = NOW - SPAN + SPAN * n / items
                    item = synthetic.item(n, seen)
                    title = item.title
                    facts = item_facts(item)
                    if n % 3 == 0:  # every third item starts a story; the next two outlets join it
                        story = store.new_story(facts.canonical, title, seen - 60, title.split(), seen, facts.signature)
                    item_id = store.insert_item(f"feed{n % 100}", item, facts, story, seen)
                    # An alert on a story's first item, spread evenly: `alerts` of them in all.
                    if n % 3 == 0 and (alerted + 1) * items <= alerts * (n + 3):
                        rule = rules[alerted % len(rules)]
                        alert = store.record_alert(
                            rule, story, item_id, [synthetic.WORDS[n % 12]], [("title", 0, 6)], seen
                        )
                        assert alert is not None
                        alerted += 1
                        for name, url in CHANNELS.items():
                            store.enqueue(alert, name, target_id(url), seen)
        with store.transaction():
            # Most deliveries went out; the last hundred wait, every 50th of the archive's died.
            store.conn.execute("UPDATE deliveries SET status = 'sent', sent_at = created + 2, attempts = 1")
            store.conn.execute(
                "UPDATE deliveries SET status = 'pending', sent_at = NULL, attempts = 3,"
                " last_error = 'HTTP 503 from the destination', next_attempt = ? WHERE id > (SELECT max(id) - 100"
                " FROM deliveries)",
                (NOW + 60,),
            )
            store.conn.execute(
                "UPDATE deliveries SET status = 'dead', sent_at = NULL, attempts = 9, dead_at = created + 86400,"
                " first_failed = created, last_error = 'connection refused' WHERE channel = 'archive' AND id % 100 = 0"
            )
            for n in range(100):
                state = "failing" if n % 25 == 0 else "ok"
                store.set_feed_health(f"feed{n}", state, NOW - 3600, "HTTP 500" if state != "ok" else "", NOW)
                store.record_poll(f"feed{n}", now=NOW - 60, next_poll=NOW + 240, status=200)
        for _ in store.index_pending(search_text, chunk=CHUNK):
            pass


def pages(deepest: int, story: int) -> dict[str, str]:
    return {
        "alerts, page 1": "/",
        f"alerts, before={deepest}": f"/?before={deepest}",
        "alerts of a rule": "/?rule=weather",
        "alerts of a rule, deep": f"/?rule=weather&before={deepest + 400}",
        "alerts of a channel": "/?channel=archive",
        "a story": f"/stories/{story}",
        "feeds": "/feeds",
        "rules": "/rules",
        "playground: israel talks, 7d": "/playground?q=israel+talks",
        "playground: a phrase, 30d": "/playground?q=%22markets+storm%22&since=30d",
        "playground: a regex alone (500 read)": "/playground?q=%2Fminist%28er%7Cry%29+9%2F&since=30d",
        "outbox": "/outbox",
    }


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()  # warm-up: templates compiled, pages of the database in the cache
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000, max(seconds) * 1000


class _NoBody:
    def read(self, size: int = -1) -> bytes:
        return b""


def measure(database: Path | str, folder: Path, runs: int) -> None:
    config_path = write_config(
        folder,
        feeds={f"feed{n}": f"https://example.org/{n}.xml" for n in range(100)},
        rules=[{"name": n, "query": q, "notify": list(CHANNELS)} for n, q in RULES.items()],
        channels={name: {"urls": [url]} for name, url in CHANNELS.items()},
        monitor={"database": str(database)},
    )
    config = load_config(config_path, env={})
    reader = StoreReader(database)
    console = Console(lambda: config, reader, clock=lambda: NOW)
    beat = Heartbeat()
    server = HealthServer(("127.0.0.1", 0), beat, Metrics(), reader, console)
    server.start()
    try:
        deepest = reader.call(lambda s: s.conn.execute("SELECT min(id) FROM alerts").fetchone()[0]) + 60
        story = reader.call(lambda s: s.conn.execute("SELECT max(story_id) FROM alerts").fetchone()[0])
        headers = {"host": "127.0.0.1"}
        base = f"http://127.0.0.1:{server.address[1]}"
        print(f"{'page':<42} {'render':>16} {'through HTTP':>16}   (ms: median / worst of {runs})")
        for label, path in pages(deepest, story).items():
            reply = console.handle("GET", path, headers, _NoBody(), "127.0.0.1")
            assert reply.status == 200, (path, reply.status, reply.body[:300])
            render = timed(lambda path=path: console.handle("GET", path, headers, _NoBody(), "127.0.0.1"), runs)
            http = timed(lambda path=path: urllib.request.urlopen(base + path, timeout=30).read(), runs)
            print(
                f"{label:<42} {render[0]:>7.1f} / {render[1]:>6.1f} {http[0]:>7.1f} / {http[1]:>6.1f}"
                f"   {len(reply.body) / 1000:>5.0f} kB"
            )
    finally:
        server.close()
        reader.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="measure on PostgreSQL too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-console-") as name:
        folder = Path(name)
        path = folder / "m.db"
        started = time.perf_counter()
        fill(path, args.items, args.alerts)
        with closing(SQLiteStore(path)) as store:
            counts = {t: store.count_rows(t) for t in ("items", "stories", "alerts", "deliveries")}
            outbox = store.outbox_counts()
        print(
            f"store: {', '.join(f'{n:,} {t}' for t, n in counts.items())} ({outbox.get('pending', 0)} pending,"
            f" {outbox.get('dead', 0)} dead), built in {time.perf_counter() - started:.0f} s"
        )
        print("\nSQLite")
        measure(path, folder, args.runs)
        if args.postgres:
            import pgkit

            from monitor.store.migrate import migrate_database

            if reason := pgkit.unavailable():
                sys.exit(f"no PostgreSQL server here: {reason}")
            server = pgkit.PostgresServer()
            try:
                url = server.url(server.new_schema())
                migrate_database(path, url)
                from monitor.store import open_store

                with closing(open_store(url)) as store:
                    store.conn.execute("ANALYZE")
                print("\nPostgreSQL")
                measure(url, folder, args.runs)
            finally:
                server.close()


if __name__ == "__main__":
    main()
