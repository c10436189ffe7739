"""A Pipeline over a real store, real HTTP and a webhook, driven by a clock the test moves."""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Sequence
from pathlib import Path

from testkit import DAY, HOUR, T0, Clock, Table, write_config

from monitor.config import load_config
from monitor.parsing.feed import parse_feed
from monitor.polling.fetch import fetcher_for
from monitor.runtime.assembly import build_pipeline
from monitor.store import open_store

__all__ = ["DAY", "HOUR", "ISRAEL", "T0", "Clock", "Rig", "desk_config", "rss"]

ISRAEL = {"name": "israel", "query": "Israel", "notify": ["desk"]}


def rss(items: list[tuple[str, str, float]], title: str = "Wire") -> bytes:
    """An RSS document from (guid, headline, published) triples; links follow the guid."""
    body = "".join(
        f"<item><guid>{g}</guid><link>https://example.com/{g}</link><title>{t}</title>"
        f"<pubDate>{email.utils.formatdate(p, usegmt=True)}</pubDate></item>"
        for g, t, p in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'.encode()


def desk_config(
    tmp_path: Path,
    feeds: dict[str, str],
    urls: list[str],
    monitor: Table | None = None,
    rules: Sequence[Table] = (ISRAEL,),
    channel: Table | None = None,
) -> Path:
    """A desk whose rules notify one channel, "desk", at `urls`, with the flood guard off."""
    desk = {"urls": urls, "flood_threshold": 0, **(channel or {})}
    return write_config(tmp_path, feeds=feeds, monitor=monitor, rules=list(rules), channels={"desk": desk})


class Rig:
    """Open it with the `open_rig` fixture, which closes it when the test ends."""

    def __init__(self, config_path: Path, clock: Clock | None = None) -> None:
        self.config = load_config(config_path, env={})
        self.clock = clock or Clock()
        self.store = open_store(self.config.settings.database)
        try:
            self.store.sync_feeds(((f.name, f.url) for f in self.config.feeds), self.clock())
            self.pipeline = self._pipeline(fetcher=None)
        except BaseException:
            self.store.close()
            raise

    def poll(self, feed: str, state=None):
        async def go():
            fetcher = fetcher_for(self.config.settings)
            try:
                return await self._pipeline(fetcher).poll(self.config.feed(feed), state)
            finally:
                await fetcher.aclose()

        return asyncio.run(go())

    def _pipeline(self, fetcher):
        """A pipeline over the rig's store and clock; a poll's own fetcher lives in its event loop."""
        return build_pipeline(self.config, self.store, fetcher, clock=self.clock, sleep=self.clock.sleep)

    def ingest(self, feed: str, body: bytes):
        return self.pipeline.ingest(self.config.feed(feed), parse_feed(body))

    def deliver(self):
        return asyncio.run(self.pipeline.deliver_due())

    def close(self) -> None:
        self.store.close()
