"""Article bodies end to end inside one process: a feed whose items say nothing, their pages on a
real HTTP server, a real database and parser workers, `run --once`'s cycle, a webhook."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from articlekit import ARTICLE, BOILERPLATE, article_page, quiet_feed
from consolekit import rss
from testkit import write_config

from monitor.config import load_config
from monitor.reports import backtest, feed_rows
from monitor.runtime.assembly import assemble
from monitor.runtime.daemon import run_once
from monitor.store import open_store

pytestmark = pytest.mark.usefixtures("database")

BODY_RULE = {"name": "rift", "query": 'body:"foreign minister" AND dissatisfaction', "notify": ["hook"]}
BOILERPLATE_RULE = {"name": "football", "query": "football", "notify": ["hook"]}


def configure(tmp_path: Path, feed: str, hook: str, rules: list[dict], name: str = "wire", **feed_keys) -> Path:
    return write_config(
        tmp_path,
        # backfill: the first poll's items alert, and so have their pages fetched
        monitor={"backfill": "1d", "article_pace": "0.01s", "body_wait": "30s"},
        feeds={name: {"url": feed, "fulltext": True, **feed_keys}},
        rules=rules,
        channels={"hook": {"urls": [hook]}},
    )


def cycle(config_path: Path):
    config = load_config(config_path, env={})

    async def go():
        async with assemble(config) as assembly:
            return await run_once(assembly.pipeline)

    return asyncio.run(go())


def bodies_of(config_path: Path) -> dict[str, int]:
    [row] = feed_rows(load_config(config_path, env={}))
    return row["bodies"]


def test_a_phrase_of_the_article_alerts_once_with_its_sentence_and_boilerplate_alerts_on_nothing(
    tmp_path, feed_server, webhook, run_cli
):
    link = feed_server.serve("/news/1", article_page(), content_type="text/html; charset=utf-8")
    feed = feed_server.serve("/feed", quiet_feed([link]))
    config = configure(tmp_path, feed, webhook.apprise_url, [BODY_RULE, BOILERPLATE_RULE])

    summary = cycle(config)
    assert summary.outcomes[0].alerts == 0  # the headline says nothing
    assert (summary.bodies.fetched, summary.bodies.alerts, summary.bodies.left) == (1, 1, 0)
    [message] = webhook.messages()
    assert message["title"] == "[rift] Talks in the capital 0"
    # The snippet is the body's sentence that holds the first match, and that sentence alone.
    assert message["message"].endswith(ARTICLE[0])
    assert BOILERPLATE not in message["message"]
    assert bodies_of(config) == {"fetched": 1, "failed": 0, "robots": 0, "address": 0, "skipped": 0}
    listing = run_cli("--config", str(config), "feeds")
    assert "bodies: fetched=1 failed=0 robots=0 address=0 skipped=0" in listing.stdout, listing.stderr

    again = cycle(config)  # nothing new: no page fetched again, no alert again
    assert again.outcomes[0].status == "not-modified" and again.bodies.fetched == 0
    assert feed_server.statuses("/news/1") == [200]
    assert len(webhook.messages()) == 1


def test_a_headline_match_alerts_before_the_body_and_the_body_does_not_alert_again(tmp_path, feed_server, webhook):
    link = feed_server.serve("/news/1", article_page(), content_type="text/html")
    feed = feed_server.serve("/feed", quiet_feed([link]))
    rule = {"name": "talks", "query": "talks OR dissatisfaction", "notify": ["hook"]}
    config = configure(tmp_path, feed, webhook.apprise_url, [rule])
    summary = cycle(config)
    assert summary.outcomes[0].alerts == 1 and summary.bodies.alerts == 0
    assert len(webhook.messages()) == 1


def test_the_body_is_stored_searchable_by_backtest_and_blanked_by_retention(tmp_path, feed_server, webhook):
    link = feed_server.serve("/news/1", article_page(), content_type="text/html")
    feed = feed_server.serve("/feed", quiet_feed([link]))
    config = configure(tmp_path, feed, webhook.apprise_url, [BODY_RULE])
    cycle(config)
    loaded = load_config(config, env={})
    [hit] = backtest(loaded, 'body:"russian ambassador"', 86400.0, None)
    assert hit["link"] == link
    assert backtest(loaded, "football", 86400.0, None) == []

    store = open_store(loaded.settings.database)
    try:
        with store.transaction():
            store.prune(before=2e9)  # everything is older than that
        assert store.conn.execute("SELECT body, summary FROM items").fetchall() == [(None, "")]
    finally:
        store.close()
    assert backtest(loaded, 'body:"russian ambassador"', 86400.0, None) == []


def test_a_forbidden_page_leaves_the_item_with_its_headline(tmp_path, feed_server, webhook):
    link = feed_server.serve("/news/1", b"<html><body>Subscribers only</body></html>", status=403)
    feed = feed_server.serve("/feed", quiet_feed([link]))
    rule = {"name": "talks", "query": "talks", "notify": ["hook"]}
    config = configure(tmp_path, feed, webhook.apprise_url, [rule, BODY_RULE])
    summary = cycle(config)
    assert summary.outcomes[0].alerts == 1 and summary.bodies.without == 1
    assert [m["title"] for m in webhook.messages()] == ["[talks] Talks in the capital 0"]
    assert bodies_of(config)["failed"] == 1


def test_robots_txt_is_honoured_unless_the_feed_says_the_site_allows_it(tmp_path, feed_server, webhook):
    feed_server.serve("/robots.txt", b"User-agent: *\nDisallow: /news/\n", content_type="text/plain")
    link = feed_server.serve("/news/1", article_page(), content_type="text/html")
    feed = feed_server.serve("/feed", quiet_feed([link]))
    config = configure(tmp_path, feed, webhook.apprise_url, [BODY_RULE])
    summary = cycle(config)
    assert summary.bodies.without == 1 and webhook.messages() == []
    assert feed_server.statuses("/news/1") == []
    assert bodies_of(config)["robots"] == 1

    # The same items from a feed whose site has given permission.
    permitted = feed_server.serve("/permitted", quiet_feed([link]))
    config = configure(tmp_path, permitted, webhook.apprise_url, [BODY_RULE], name="permitted", robots=False)
    assert cycle(config).bodies.alerts == 1
    assert feed_server.statuses("/news/1") == [200]


def test_a_link_into_the_loopback_from_a_feed_elsewhere_is_refused_and_counted(tmp_path, feed_server, webhook):
    link = feed_server.serve("/news/1", article_page(), content_type="text/html")  # on 127.0.0.1
    feed = feed_server.url("/feed").replace("127.0.0.1", "localhost")  # the feed's host is another
    feed_server.serve("/feed", quiet_feed([link]))
    config = configure(tmp_path, feed, webhook.apprise_url, [BODY_RULE])
    summary = cycle(config)
    assert summary.bodies.without == 1 and webhook.messages() == []
    assert feed_server.statuses("/news/1") == []  # never asked
    assert bodies_of(config)["address"] == 1


def test_past_the_queue_limit_the_oldest_items_are_skipped_and_counted(tmp_path, feed_server, webhook):
    links = [feed_server.serve(f"/news/{n}", article_page(), content_type="text/html") for n in range(4)]
    feed = feed_server.serve("/feed", quiet_feed(links))
    config = write_config(
        tmp_path,
        monitor={"backfill": "1d", "article_pace": "0.01s", "article_queue": 2},
        feeds={"wire": {"url": feed, "fulltext": True}},
        rules=[BODY_RULE],
        channels={"hook": {"urls": [webhook.apprise_url]}},
    )
    summary = cycle(config)
    assert summary.bodies.fetched == 2
    assert bodies_of(config)["skipped"] == 2
    # Items are stored in the feed's order: g0 and g1 waited longest, and were skipped.
    assert sorted(m["title"] for m in webhook.messages()) == [
        "[rift] Talks in the capital 2",
        "[rift] Talks in the capital 3",
    ]
    assert any("article_queue" in w for w in summary.outcomes[0].warnings)


def test_without_fulltext_no_page_is_fetched(tmp_path, feed_server, webhook):
    link = feed_server.serve("/news/1", article_page(), content_type="text/html")
    feed = feed_server.serve("/feed", quiet_feed([link]))
    config = write_config(
        tmp_path,
        monitor={"backfill": "1d"},
        feeds={"wire": feed},
        rules=[BODY_RULE],
        channels={"hook": {"urls": [webhook.apprise_url]}},
    )
    summary = cycle(config)
    assert summary.bodies is None and feed_server.statuses("/news/1") == []
    assert ARTICLE[0] not in json.dumps(feed_rows(load_config(config, env={})))


def test_an_item_whose_link_changes_is_fetched_again_and_an_edited_headline_is_not(tmp_path, feed_server, webhook):
    first = feed_server.serve("/news/1", article_page(), content_type="text/html")
    moved = feed_server.serve("/news/1-moved", article_page(), content_type="text/html")
    feed = feed_server.serve("/feed", rss([("g0", "Talks in the capital", "", first, time.time())]))
    config = configure(tmp_path, feed, webhook.apprise_url, [BODY_RULE])
    assert cycle(config).bodies.fetched == 1

    feed_server.serve("/feed", rss([("g0", "Talks in the capital, updated", "", first, time.time())]))
    edited = cycle(config)
    assert edited.outcomes[0].changed_items == 1 and edited.bodies.fetched == 0

    feed_server.serve("/feed", rss([("g0", "Talks in the capital, updated", "", moved, time.time())]))
    assert cycle(config).bodies.fetched == 1
    assert (feed_server.statuses("/news/1"), feed_server.statuses("/news/1-moved")) == ([200], [200])
    # One alert for the story, whichever page its body came from.
    assert len(webhook.messages()) == 1


REAL_PAGES = ["005.html", "023.html", "040.html", "062.html"]  # trafilatura gets these right (tests/parsing)


def test_on_real_pages_main_text_phrases_alert_on_their_own_item_and_boilerplate_on_none(
    tmp_path, feed_server, webhook, fixture_bytes
):
    notes = json.loads(fixture_bytes("articles/annotations.json"))
    links = {
        name: feed_server.serve(f"/pages/{name}", fixture_bytes(f"articles/pages/{name}"), content_type="text/html")
        for name in REAL_PAGES
    }
    feed = feed_server.serve("/feed", quiet_feed(list(links.values())))
    rules = [
        {"name": f"{kind}-{name}-{n}", "query": f'body:"{phrase}"', "notify": ["hook"]}
        for name in REAL_PAGES
        for kind in ("with", "without")
        for n, phrase in enumerate(notes[name][kind])
    ]
    config = configure(tmp_path, feed, webhook.apprise_url, rules)
    summary = cycle(config)
    assert summary.bodies.fetched == len(REAL_PAGES)

    alerted = {(m["title"].split("]")[0][1:], m["message"].split("\n")[1]) for m in webhook.messages()}
    expected = {(f"with-{name}-{n}", links[name]) for name in REAL_PAGES for n in range(len(notes[name]["with"]))}
    assert alerted == expected


def test_run_once_says_what_became_of_the_bodies(tmp_path, feed_server, webhook, run_cli):
    link = feed_server.serve("/news/1", article_page(), content_type="text/html")
    refused = feed_server.serve("/news/2", b"no", status=403)
    feed = feed_server.serve("/feed", quiet_feed([link, refused]))
    config = configure(tmp_path, feed, webhook.apprise_url, [BODY_RULE])
    done = run_cli("--config", str(config), "run", "--once")
    assert done.returncode == 0, done.stderr
    assert "article bodies: 1 fetched, 1 alerts on them, 1 without a body" in done.stdout
    assert "1 feeds polled, 0 failed, 1 new alerts" in done.stdout
