"""Build a Pipeline by hand for fetch tests: fixed clock, no jitter, injectable resolver; a
network (`Routed`) on which a local server plays a public site."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpcore
from testkit import Clock, Table, write_config

from monitor.config import load_config
from monitor.polling.addresses import is_private_address, system_resolver
from monitor.polling.fetch import fetcher_for
from monitor.polling.pipeline import parse_in_thread
from monitor.runtime.assembly import build_pipeline
from monitor.store import open_store

__all__ = ["NOW", "PUBLIC", "Clock", "Routed", "config_file", "poll"]

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


PUBLIC = "93.184.216.34"


class Routed(httpcore.AsyncNetworkBackend):
    """Connects PUBLIC to a local port; refuses every other public address (no internet)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connected: list[str] = []  # the addresses asked for, in order
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append(host)
        if host == PUBLIC:
            host, port = "127.0.0.1", self.port
        elif not is_private_address(host):
            raise httpcore.ConnectError(f"tests reach no public address ({host})")
        return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)

    async def sleep(self, seconds):
        await self.inner.sleep(seconds)
