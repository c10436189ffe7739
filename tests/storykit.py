"""Ingest feed documents into a real SQLite store, in process, with a fixed clock."""

from __future__ import annotations

import random
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from monitor.config import load_config
from monitor.parsing.feed import parse_feed
from monitor.parsing.pool import ParserPool
from monitor.runtime.assembly import Assembly
from monitor.store import SQLiteStore

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
CATCH_ALL = "the OR a OR in OR of OR to OR for OR on OR at OR by OR with"


def feed_doc(title: str, items: list[tuple[str, str, str]], lang: str = "en") -> bytes:
    """A small RSS document from (guid, link, title) triples."""
    body = "".join(
        f"<item><guid>{g}</guid><link>{link}</link><title>{t}</title>"
        f"<pubDate>Tue, 24 Nov 2026 0{n % 10}:00:00 +0000</pubDate></item>"
        for n, (g, link, t) in enumerate(items)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<language>{lang}</language>{body}</channel></rss>"
    ).encode()


class Desk:
    """A pipeline over named feeds; `ingest(feed, bytes)` returns the PollOutcome."""

    def __init__(self, assembly: Assembly, db: Path) -> None:
        self.assembly = assembly
        self.pipeline = assembly.pipeline
        self.db = db

    def ingest(self, feed: str, body: bytes):
        return self.pipeline.ingest(self.pipeline.config.feed(feed), parse_feed(body))

    def ingest_file(self, feed: str, name: str):
        return self.ingest(feed, (FEEDS / name).read_bytes())

    def sql(self, query: str, *params):
        with sqlite3.connect(self.db) as conn:
            return conn.execute(query, params).fetchall()

    def merged(self) -> list[set[str]]:
        """Titles of every story that holds more than one item."""
        stories = self.sql("SELECT story_id FROM items GROUP BY story_id HAVING count(*) > 1")
        return [{t for (t,) in self.sql("SELECT title FROM items WHERE story_id = ?", s)} for (s,) in stories]


@contextmanager
def desk(tmp_path: Path, feeds: list[str], query: str = CATCH_ALL, extra: str = "", clock=time.time):
    text = '[monitor]\ndatabase = "m.db"\n' + extra + "\n"
    for name in feeds:
        text += f'[[feeds]]\nname = "{name}"\nurl = "http://127.0.0.1:9/{name}"\n'
    text += f'[[rules]]\nname = "r"\nquery = "{query}"\nnotify = ["screen"]\n'
    text += '[channels.screen]\nurls = ["console://"]\n'
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, env={})
    store = SQLiteStore(config.settings.database)
    parsers = ParserPool(config.settings.parse_workers, config.settings.parse_timeout)
    try:  # no fetcher: a desk is fed documents, it never polls
        yield Desk(Assembly(config, store, None, parsers, clock, random.Random(), None), tmp_path / "m.db")
    finally:
        parsers.close()
        store.close()
