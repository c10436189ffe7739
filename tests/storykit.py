"""Ingest feed documents into a real store (the test's database), in process, with a fixed clock."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from contextlib import closing, contextmanager
from pathlib import Path

from testkit import CATCH_ALL, Table, write_config

from monitor.config import load_config
from monitor.parsing.feed import parse_feed
from monitor.parsing.pool import ParserPool
from monitor.runtime.assembly import Assembly
from monitor.store import open_store

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


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

    def __init__(self, assembly: Assembly) -> None:
        self.assembly = assembly
        self.pipeline = assembly.pipeline

    def ingest(self, feed: str, body: bytes):
        return self.pipeline.ingest(self.pipeline.config.feed(feed), parse_feed(body))

    def ingest_file(self, feed: str, name: str):
        return self.ingest(feed, (FEEDS / name).read_bytes())

    def sql(self, query: str, *params):
        """Rows of `query` (`?` placeholders, SQL both databases speak), through the desk's store."""
        return self.pipeline.store.conn.execute(query, params).fetchall()

    def merged(self) -> list[set[str]]:
        """Titles of every story that holds more than one item."""
        stories = self.sql("SELECT story_id FROM items GROUP BY story_id HAVING count(*) > 1")
        return [{t for (t,) in self.sql("SELECT title FROM items WHERE story_id = ?", s)} for (s,) in stories]


@contextmanager
def desk(
    tmp_path: Path,
    feeds: list[str],
    query: str = CATCH_ALL,
    monitor: Table | None = None,
    extra: Mapping[str, Table] | None = None,
    clock=time.time,
):
    """A Desk over `feeds` with one rule, `query`; its store and parser pool close when the block ends."""
    path = write_config(
        tmp_path,
        feeds={name: f"http://127.0.0.1:9/{name}" for name in feeds},
        rules=[{"name": "r", "query": query, "notify": ["screen"]}],
        monitor=monitor,
        extra=extra,
    )
    config = load_config(path, env={})
    with (
        closing(open_store(config.settings.database)) as store,
        closing(ParserPool(config.settings.parse_workers, config.settings.parse_timeout)) as parsers,
    ):  # no fetcher: a desk is fed documents, it never polls
        yield Desk(Assembly(config, store, None, parsers, None, clock, random.Random(), None))
