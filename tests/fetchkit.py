"""Build a Pipeline by hand for fetch tests: fixed clock, no jitter, injectable resolver."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.config import load_config
from monitor.polling.addresses import system_resolver
from monitor.polling.fetch import Fetcher, make_transport
from monitor.polling.pipeline import parse_in_thread
from monitor.runtime.assembly import build_pipeline
from monitor.store import SQLiteStore

NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def config_file(tmp_path: Path, feeds: dict[str, str], monitor: str = "", feed_extra: str = "") -> Path:
    text = f'[monitor]\ndatabase = "m.db"\njitter = 0\ninterval = "5m"\n{monitor}\n'
    for name, url in feeds.items():
        text += f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n{feed_extra}\n'
    text += '[[rules]]\nname = "any"\nquery = "the OR a OR in OR of"\nnotify = ["screen"]\n'
    text += '[channels.screen]\nurls = ["console://"]\n'
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def poll(path: Path, feed: str, clock: Clock | None = None, resolver=system_resolver, parser=None):
    """One poll of one feed through the real client; returns (outcome, feed state)."""
    config = load_config(path, env={})
    clock = clock or Clock()

    async def go():
        store = SQLiteStore(config.settings.database)
        fetcher = Fetcher(
            make_transport(),
            user_agent=config.settings.user_agent,
            max_bytes=config.settings.max_bytes,
            timeout=config.settings.timeout,
            resolver=resolver,
        )
        try:
            store.sync_feeds(((f.name, f.url) for f in config.feeds), clock())
            pipeline = build_pipeline(config, store, fetcher, parser=parser or parse_in_thread, clock=clock)
            outcome = await pipeline.poll(config.feed(feed))
            return outcome, store.feed_state(feed)
        finally:
            await fetcher.aclose()
            store.close()

    return asyncio.run(go())
