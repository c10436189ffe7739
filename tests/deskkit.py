"""A Pipeline over a real store, real HTTP and a webhook, driven by a clock the test moves."""

from __future__ import annotations

import asyncio
import email.utils
from pathlib import Path

from monitor.config import load_config
from monitor.parsing.feed import parse_feed
from monitor.polling.fetch import Fetcher, make_transport
from monitor.runtime.assembly import build_pipeline
from monitor.store import SQLiteStore

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC, 00:13 in Jerusalem
HOUR, DAY = 3600.0, 86400.0


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


def rss(items: list[tuple[str, str, float]], title: str = "Wire") -> bytes:
    """An RSS document from (guid, headline, published) triples; links follow the guid."""
    body = "".join(
        f"<item><guid>{g}</guid><link>https://example.com/{g}</link><title>{t}</title>"
        f"<pubDate>{email.utils.formatdate(p, usegmt=True)}</pubDate></item>"
        for g, t, p in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'.encode()


def write_config(
    tmp_path: Path, feeds: dict[str, str], urls: list[str], monitor: str = "", rules: str = "", channel: str = ""
) -> Path:
    text = f'[monitor]\ndatabase = "m.db"\njitter = 0\n{monitor}\n'
    for name, url in feeds.items():
        text += f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n'
    text += rules or '[[rules]]\nname = "israel"\nquery = "Israel"\nnotify = ["desk"]\n'
    quoted = ", ".join(f'"{u}"' for u in urls)
    text += f"[channels.desk]\nurls = [{quoted}]\nflood_threshold = 0\n{channel}\n"
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Rig:
    def __init__(self, config_path: Path, clock: Clock | None = None) -> None:
        self.config = load_config(config_path, env={})
        self.clock = clock or Clock()
        self.store = SQLiteStore(self.config.settings.database)
        self.store.sync_feeds(((f.name, f.url) for f in self.config.feeds), self.clock())
        self.pipeline = self._pipeline(fetcher=None)

    def poll(self, feed: str):
        async def go():
            fetcher = Fetcher(
                make_transport(), user_agent=self.config.settings.user_agent, max_bytes=1 << 20, timeout=10.0
            )
            try:
                return await self._pipeline(fetcher).poll(self.config.feed(feed))
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
