"""The poll → store → match → deliver flow with real parts: HTTP server, the database, webhook."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from testkit import RIFT, write_config

from monitor.config import load_config
from monitor.runtime.assembly import assemble
from monitor.runtime.daemon import run_once

pytestmark = pytest.mark.usefixtures("database")

STORY = "Israel relayed to Russia 'dissatisfaction' over its Hamas position as rift widens"


def make_config(tmp_path: Path, feeds: dict[str, str], hook: str, backfill: str = "0s") -> Path:
    return write_config(
        tmp_path,
        feeds=feeds,
        monitor={"backfill": backfill},
        rules=[{"name": "rift", "query": RIFT, "notify": ["hook"]}],
        channels={"hook": {"urls": [hook]}},
    )


def cycle(config_path: Path):
    config = load_config(config_path, env={})

    async def go():
        async with assemble(config) as assembly:
            return await run_once(assembly.pipeline)

    return asyncio.run(go())


def test_the_story_alerts_once_after_a_silent_baseline(tmp_path, feed_server, webhook, fixture_bytes):
    url = feed_server.serve("/toi.xml", fixture_bytes("story/toi_v1.xml"))
    config = make_config(tmp_path, {"toi": url}, webhook.apprise_url)

    first = cycle(config)
    assert first.outcomes[0].baseline and first.outcomes[0].new_items == 3
    assert webhook.received == []

    feed_server.serve("/toi.xml", fixture_bytes("story/toi_v2.xml"))
    second = cycle(config)
    assert (second.outcomes[0].new_items, second.outcomes[0].alerts) == (1, 1)
    assert second.delivery.sent == 1
    [message] = webhook.messages()
    assert STORY in message["title"] and "timesofisrael.com/israel-relayed" in message["message"]
    assert "matched: Russia, Israel, dissatisfaction" in message["message"] or "dissatisfaction" in message["message"]

    third = cycle(config)
    assert third.outcomes[0].status == "not-modified"
    assert len(webhook.received) == 1
    # The validators went back verbatim, and the unchanged feed cost a 304.
    assert feed_server.statuses("/toi.xml") == [200, 200, 304]
    etag_sent = feed_server.log[-1][2]["if-none-match"]
    assert etag_sent.startswith('"')


def test_same_story_in_two_feeds_is_one_alert(tmp_path, feed_server, webhook, fixture_bytes):
    v1, v2 = fixture_bytes("story/toi_v1.xml"), fixture_bytes("story/toi_v2.xml")
    a = feed_server.serve("/a.xml", v1)
    # A second outlet carries the same article link with other tracking parameters.
    b = feed_server.serve("/b.xml", v1)
    config = make_config(tmp_path, {"a": a, "b": b}, webhook.apprise_url)
    cycle(config)
    feed_server.serve("/a.xml", v2)
    feed_server.serve("/b.xml", v2.replace(b"utm_source=rss&amp;utm_medium=feed", b"utm_source=twitter"))
    summary = cycle(config)
    assert sum(o.alerts for o in summary.outcomes) == 1
    assert len(webhook.received) == 1


def test_backfill_alerts_on_recent_items_of_the_first_poll(tmp_path, feed_server, webhook, fixture_bytes):
    url = feed_server.serve("/toi.xml", fixture_bytes("story/toi_v2.xml"))
    config = make_config(tmp_path, {"toi": url}, webhook.apprise_url, backfill="100000d")
    summary = cycle(config)
    assert summary.outcomes[0].baseline and summary.outcomes[0].alerts == 1
    assert len(webhook.received) == 1


def test_failed_delivery_stays_pending_and_is_retried(tmp_path, feed_server, webhook, fixture_bytes, open_store):
    webhook.fail_first = 1
    url = feed_server.serve("/toi.xml", fixture_bytes("story/toi_v1.xml"))
    config = make_config(tmp_path, {"toi": url}, webhook.apprise_url)
    cycle(config)
    feed_server.serve("/toi.xml", fixture_bytes("story/toi_v2.xml"))
    failed = cycle(config)
    assert (failed.delivery.sent, failed.delivery.failed) == (0, 1)
    db = open_store().conn
    assert db.execute("SELECT status, attempts FROM deliveries").fetchall() == [("pending", 1)]
    # Make the retry due now instead of waiting for the backoff.
    db.execute("UPDATE deliveries SET next_attempt = 0")
    retried = cycle(config)
    assert retried.delivery.sent == 1
    assert db.execute("SELECT status, attempts FROM deliveries").fetchall() == [("sent", 2)]
    assert len(webhook.received) == 1


def test_a_broken_feed_is_reported_and_the_others_still_work(tmp_path, feed_server, webhook, fixture_bytes, open_store):
    good = feed_server.serve("/toi.xml", fixture_bytes("story/toi_v1.xml"))
    html = feed_server.serve("/html", b"<!DOCTYPE html><html><body>oops</body></html>", content_type="text/html")
    gone = feed_server.serve("/gone", b"", status=410, validators=False)
    missing = feed_server.url("/missing")
    config = make_config(tmp_path, {"good": good, "html": html, "gone": gone, "missing": missing}, webhook.apprise_url)
    summary = cycle(config)
    by_feed = {o.feed: o for o in summary.outcomes}
    assert by_feed["good"].status == "ok" and by_feed["good"].new_items == 3
    assert by_feed["html"].status == "error" and "HTML page" in by_feed["html"].error
    assert by_feed["gone"].status == "disabled"
    assert by_feed["missing"].status == "error" and "404" in by_feed["missing"].error
    state = dict(open_store().conn.execute("SELECT name, consecutive_errors FROM feeds").fetchall())
    assert state == {"good": 0, "html": 1, "gone": 1, "missing": 1}
    # A gone feed is not polled again.
    cycle(config)
    assert feed_server.statuses("/gone") == [410]


def test_parser_workers_start_before_a_never_read_feed_is_fetched_and_not_for_a_round_of_304s(
    tmp_path, feed_server, webhook, fixture_bytes
):
    url = feed_server.serve("/toi.xml", fixture_bytes("story/toi_v1.xml"))
    config = load_config(make_config(tmp_path, {"toi": url}, webhook.apprise_url), env={})

    async def go(round_):
        async with assemble(config) as assembly:
            return await round_(assembly.pipeline, assembly.parsers)

    async def first(pipeline, pool):
        fetch, started_at_fetch = pipeline.fetcher.fetch, []

        async def noting_fetch(*args, **kwargs):
            started_at_fetch.append(pool._starting is not None)
            return await fetch(*args, **kwargs)

        pipeline.fetcher.fetch = noting_fetch
        summary = await run_once(pipeline)
        return started_at_fetch, summary.outcomes[0].status, pool.spawned

    async def again(pipeline, pool):
        summary = await run_once(pipeline)
        return summary.outcomes[0].status, pool._starting is None

    assert asyncio.run(go(first)) == ([True], "ok", 2)
    assert asyncio.run(go(again)) == ("not-modified", True)  # a cron run that hears 304s forks no parser
    assert feed_server.statuses("/toi.xml") == [200, 304]
