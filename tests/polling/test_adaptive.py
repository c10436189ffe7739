"""The adaptive schedule through real polls: a real HTTP server on 127.0.0.1, the real
fetcher, parser and store. Rates are learned from what the feeds show, the budget is shared
by them, and each poll records its interval and why."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest
from deskkit import rss
from fetchkit import NOW, Clock, config_file, poll
from testkit import write_config

from monitor.config import FeedConfig, Settings, load_config
from monitor.polling.fetch import fetcher_for
from monitor.polling.pipeline import parse_in_thread
from monitor.polling.schedule import AT_MAX, LEARNED, NEW, PINNED, SERVER, dispatch_tick
from monitor.runtime.assembly import assemble, build_pipeline
from monitor.store import open_store

MINUTE, DAY = 60.0, 86400.0
ADAPTIVE = {"schedule": "adaptive", "interval": "5m"}


def every(gap: float, count: int = 20, last: float = NOW) -> bytes:
    """A feed of `count` items, one every `gap` seconds, the newest published at `last`."""
    return rss([(f"i{n}", f"Headline number {n}", last - n * gap) for n in range(count)])


def polls(path, rounds: list[list[str]], clock: Clock):
    """Poll the named feeds round by round through one pipeline; the budget is shared again
    (`rebalance`, as the daemon does every interval) after each round. Returns each feed's
    state after the last round."""
    config = load_config(path, env={})

    async def go():
        store = open_store(config.settings.database)
        fetcher = fetcher_for(config.settings)
        try:
            store.sync_feeds(((f.name, f.url) for f in config.feeds), clock())
            pipeline = build_pipeline(config, store, fetcher, parser=parse_in_thread, clock=clock)
            for names in rounds:
                for name in names:
                    await pipeline.poll(config.feed(name))
                await pipeline.rebalance()
                clock.advance(MINUTE)
            return {f.name: store.feed_state(f.name) for f in config.feeds}
        finally:
            await fetcher.aclose()
            store.close()

    return asyncio.run(go())


def test_a_first_poll_learns_the_rate_from_the_items_dates(tmp_path, feed_server):
    feed_server.serve("/wire", every(6 * MINUTE))
    _, state = poll(config_file(tmp_path, {"wire": feed_server.url("/wire")}, monitor=ADAPTIVE), "wire")
    assert state.rate is not None and 200 < state.poll_rate < 260  # one every 6 minutes: 240 a day
    # One poll, no budget shared yet: the interval, and it says so.
    assert (state.poll_interval, state.poll_reason, state.next_poll - NOW) == (300, NEW, 300)


def test_busy_feeds_are_polled_more_often_and_quiet_ones_less_within_the_budget(tmp_path, feed_server):
    served = {
        "wire": every(6 * MINUTE),  # 240 a day
        "desk": every(2 * 3600),  # 12 a day
        "column": every(7 * DAY, count=10, last=NOW - 3 * DAY),  # weekly, last one three days ago
        "dormant": every(DAY, count=5, last=NOW - 30 * DAY),  # nothing for a month
    }
    urls = {name: feed_server.serve(f"/{name}", body) for name, body in served.items()}
    path = config_file(tmp_path, urls, monitor=ADAPTIVE)
    states = polls(path, [list(urls), list(urls)], Clock(NOW))
    interval = {name: s.poll_interval for name, s in states.items()}
    assert 60 <= interval["wire"] < 300 < interval["desk"] < interval["column"] <= interval["dormant"] == 3600
    assert {s.poll_reason for s in states.values()} == {LEARNED, AT_MAX}
    # No more requests than fixed polling at 5m would make, less the margin the budget keeps.
    assert sum(1 / s.poll_interval for s in states.values()) <= 4 / 300


def test_a_feed_with_its_own_interval_and_a_site_that_asks_for_less_keep_to_them(tmp_path, feed_server):
    hinted = feed_server.serve("/hinted", every(6 * MINUTE), headers={"Cache-Control": "max-age=1200"})
    pinned = {"url": feed_server.serve("/pinned", every(6 * MINUTE)), "interval": "10m"}
    busy = feed_server.serve("/busy", every(6 * MINUTE))
    path = write_config(tmp_path, feeds={"hinted": hinted, "wire": pinned, "busy": busy}, monitor=ADAPTIVE)
    states = polls(path, [["hinted", "wire", "busy"]] * 2, Clock(NOW))
    assert (states["wire"].poll_interval, states["wire"].poll_reason) == (600, PINNED)
    assert (states["hinted"].poll_interval, states["hinted"].poll_reason) == (1200, SERVER)
    assert states["busy"].poll_interval < 1200  # what the hinted feed may not spend goes to the other


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>", 1800),
        ("<sy:updatePeriod>daily</sy:updatePeriod>", 3600),  # up to ttl_ceiling
        ("<sy:updatePeriod>sometimes</sy:updatePeriod>", 300),  # not a period: no hint
    ],
)
def test_the_syndication_module_s_update_period_is_a_server_hint(tmp_path, feed_server, channel, expected):
    body = every(6 * MINUTE).replace(
        b'<rss version="2.0">', b'<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">'
    )
    body = body.replace(b"<channel>", b"<channel>" + channel.encode())
    feed_server.serve("/f", body)
    _, state = poll(config_file(tmp_path, {"f": feed_server.url("/f")}), "f")  # schedule = "fixed"
    assert state.next_poll - NOW == expected


def test_a_floor_under_a_minute_for_a_remote_site_is_warned_once(tmp_path, caplog):
    remote = write_config(
        tmp_path, feeds={"wire": "https://wire.example/rss"}, monitor={**ADAPTIVE, "min_interval": "20s"}
    )

    async def go():
        async with assemble(load_config(remote, env={})) as assembly:
            assembly.rebuild(load_config(remote, env={}))  # a reload that changes nothing warns no more

    with caplog.at_level(logging.WARNING, logger="monitor.runtime.assembly"):
        asyncio.run(go())
    warned = [r.getMessage() for r in caplog.records if "more than once a minute" in r.getMessage()]
    assert warned == ["feed wire: may be polled every 20s; a remote site should not be polled more than once a minute"]


def test_the_dispatch_tick_is_a_fiftieth_of_the_shortest_interval_between_a_tenth_and_one_second():
    settings = Settings(database="m.db", min_interval=60.0)
    feeds = [FeedConfig(name="a", url="https://a.example/", interval=300.0)]
    assert dispatch_tick(feeds, settings) == 1.0  # min_interval 60 s: 1.2 s, held at 1 s
    assert dispatch_tick(feeds, replace(settings, min_interval=20.0)) == 0.4
    assert dispatch_tick(feeds, replace(settings, schedule="fixed")) == 1.0
    bridge = FeedConfig(name="b", url="http://127.0.0.1/", interval=2.0, pinned=True)
    assert dispatch_tick([*feeds, bridge], settings) == 0.1  # 0.04 s: held at 0.1 s
    assert dispatch_tick([*feeds, replace(bridge, enabled=False)], settings) == 1.0
    assert dispatch_tick([], replace(settings, interval=10.0)) == 0.2
