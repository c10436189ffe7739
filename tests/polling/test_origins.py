"""One origin policy for everything fetched (monitor/polling/origins.py), through the body stage
with a real store: where a feed may reach is decided by its configuration, never by what a name
resolved to in this process; a local feed's exception is its own origin; backoff is per origin,
and waiting it out is no attempt."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from articlekit import article_page, quiet_feed
from bodykit import body_rounds
from fetchkit import PUBLIC
from servers import FeedServer
from testkit import Clock, write_config

from monitor.config import load_config
from monitor.reports import feed_rows
from monitor.store import open_store

pytestmark = pytest.mark.usefixtures("database")

TESTS = Path(__file__).parents[1]
SECRET = b"<html><body><main><p>The console of another daemon: 3 deliveries pending.</p></main></body></html>"
BODY_RULE = {"name": "pending", "query": 'body:"deliveries pending"', "notify": ["hook"]}


def configure(tmp_path: Path, feed: str, hook: str, **feed_keys) -> Path:
    return write_config(
        tmp_path,
        monitor={"backfill": "1d", "article_pace": "0.01s", "body_wait": "10s"},
        feeds={"wire": {"url": feed, "fulltext": True, **feed_keys}},
        rules=[BODY_RULE],
        channels={"hook": {"urls": [hook]}},
    )


def body_states(config: Path) -> dict[str, tuple[str, int]]:
    """link -> (body_state, body_attempts) of every stored item."""
    store = open_store(load_config(config, env={}).settings.database)
    try:
        rows = store.conn.execute("SELECT link, body_state, body_attempts FROM items").fetchall()
    finally:
        store.close()
    return {link: (state, attempts) for link, state, attempts in rows}


def test_a_name_that_rebinds_to_loopback_after_a_restart_is_not_fetched(tmp_path, feed_server, webhook):
    # evil.test answers public while the feed is polled and its item queued, then, in a new
    # process (a restart, another node) that remembers nothing, 127.0.0.1.
    answered = []

    def secret_page(handler):
        answered.append(handler.headers["Host"])
        page, status = (b"busy", 503) if len(answered) == 1 else (SECRET, 200)
        handler._answer(status, page, {"Content-Type": "text/html"}, handler.path, {})

    feed_server.handlers["/secret.html"] = secret_page
    port = feed_server.port
    feed_server.serve("/feed.xml", quiet_feed([f"http://evil.test:{port}/secret.html"]))
    config = configure(tmp_path, f"http://evil.test:{port}/feed.xml", webhook.apprise_url)

    def one_process(answer: str, clock_offset: float, *extra: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, str(TESTS / "bodykit.py"), str(config), answer, str(port), str(clock_offset), *extra],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(TESTS), "HOME": str(tmp_path), "TMPDIR": str(tmp_path)},
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    assert one_process(PUBLIC, 0, "poll") == ["retry"]  # the page answered 503: tried again later
    requests_before = len(feed_server.log)
    assert one_process("127.0.0.1", 3600) == ["address"]
    assert len(feed_server.log) == requests_before  # not even its robots.txt was asked for
    assert answered == [f"evil.test:{port}"]
    assert feed_rows(load_config(config, env={}))[0]["bodies"]["address"] == 1
    assert webhook.messages() == []


def test_a_local_feed_may_not_link_to_another_port_of_its_host(tmp_path, feed_server, webhook, run_cli):
    # The feed is a local bridge on 127.0.0.1:A; its item links to 127.0.0.1:B, the console of
    # another daemon on the same machine, whose text must never go out in an alert.
    console = FeedServer()
    try:
        link = console.serve("/", SECRET, content_type="text/html")
        own = feed_server.serve("/own", article_page(), content_type="text/html")
        feed = feed_server.serve("/feed", quiet_feed([link, own]))
        config = configure(tmp_path, feed, webhook.apprise_url)
        done = run_cli("--config", str(config), "run", "--once")
        assert done.returncode == 0, done.stderr
        assert console.log == []
    finally:
        console.close()
    assert "article bodies: 1 fetched, 0 alerts on them, 1 without a body" in done.stdout
    refusal = f"no body for {link}: refused to fetch {link}robots.txt: 127.0.0.1 resolves to a private address"
    assert refusal in done.stderr
    assert body_states(config)[link] == ("address", 0) and feed_server.statuses("/own") == [200]
    assert webhook.messages() == []


def test_one_origin_backing_off_neither_holds_up_another_nor_uses_up_its_pages_attempts(tmp_path, feed_server, webhook):
    # site.example:81 and site.example are one host, two origins; both are routed to feed_server.
    feed_server.handlers["/slow"] = lambda h: h._answer(503, b"", {}, h.path, {})
    for page in ("a", "b", "c"):
        feed_server.serve(f"/{page}", article_page(), content_type="text/html")
    links = ["http://site.example:81/slow", "http://site.example:81/a", "http://site.example:81/b"]
    links.append("http://site.example/c")
    feed_server.serve("/feed", quiet_feed(links))
    config = configure(tmp_path, "http://wire.example/feed", webhook.apprise_url, robots=False)
    clock = Clock(time.time())

    def rounds(count: int, poll: bool = False) -> None:
        asyncio.run(
            body_rounds(config, PUBLIC, feed_server.port, clock, poll=poll, rounds=count, advance=clock.advance)
        )

    rounds(1, poll=True)
    # /slow failed and its origin backs off: a and b wait, untried; c, on the other origin, is in.
    assert body_states(config) == {
        links[0]: ("pending", 1),
        links[1]: ("pending", 0),
        links[2]: ("pending", 0),
        links[3]: ("fetched", 0),
    }
    rounds(4)
    assert body_states(config) == {
        links[0]: ("failed", 2),  # given up at its third failed request
        links[1]: ("fetched", 0),
        links[2]: ("fetched", 0),
        links[3]: ("fetched", 0),
    }
    assert feed_server.statuses("/slow") == [503, 503, 503]
    assert [feed_server.statuses(f"/{page}") for page in "abc"] == [[200], [200], [200]]
