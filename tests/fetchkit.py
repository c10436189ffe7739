"""Build a Pipeline by hand for fetch tests: fixed clock, no jitter, injectable resolver."""

from __future__ import annotations

import asyncio
from pathlib import Path

from testkit import Clock, Table, write_config

from monitor.config import load_config
from monitor.polling.addresses import system_resolver
from monitor.polling.fetch import fetcher_for
from monitor.polling.pipeline import parse_in_thread
from monitor.runtime.assembly import build_pipeline
from monitor.store import open_store

__all__ = ["NOW", "Clock", "config_file", "poll"]

NOW = 1_800_000_000.0
ANY = {"name": "any", "query": "the OR a OR in OR of", "notify": ["screen"]}


def config_file(
    tmp_path: Path, feeds: dict[str, str], monitor: Table | None = None, feed_extra: Table | None = None
) -> Path:
    """Feeds polled every 5 minutes (`feed_extra`: keys every feed gets), one rule to the console."""
    return write_config(
        tmp_path,
        feeds={name: {"url": url, **(feed_extra or {})} for name, url in feeds.items()},
        monitor={"interval": "5m", **(monitor or {})},
        rules=[ANY],
    )


def poll(path: Path, feed: str, clock: Clock | None = None, resolver=system_resolver, parser=None):
    """One poll of one feed through the real client; returns (outcome, feed state)."""
    config = load_config(path, env={})
    clock = clock or Clock(NOW)

    async def go():
        store = open_store(config.settings.database)
        fetcher = fetcher_for(config.settings, resolver=resolver)
        try:
            store.sync_feeds(((f.name, f.url) for f in config.feeds), clock())
            pipeline = build_pipeline(config, store, fetcher, parser=parser or parse_in_thread, clock=clock)
            outcome = await pipeline.poll(config.feed(feed))
            return outcome, store.feed_state(feed)
        finally:
            await fetcher.aclose()
            store.close()

    return asyncio.run(go())
