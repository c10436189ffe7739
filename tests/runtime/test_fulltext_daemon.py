"""The daemon as a subprocess with a `fulltext` feed: a site slow to serve its article never
holds up another feed's headline alert, and the body's own alert follows when the page comes."""

from __future__ import annotations

import threading
import time

import pytest
from articlekit import article_page, quiet_feed
from consolekit import rss
from daemonkit import DaemonProc, free_port, get
from testkit import wait_for, write_config

pytestmark = pytest.mark.usefixtures("database")


def test_a_slow_article_site_does_not_delay_another_feeds_headline_alert(tmp_path, feed_server, webhook):
    asked, release = threading.Event(), threading.Event()

    def slow_article(handler):
        asked.set()
        release.wait(timeout=60)
        page = article_page()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(page)))
        handler.end_headers()
        handler.wfile.write(page)

    feed_server.handlers["/slow/1"] = slow_article
    wire = feed_server.serve("/wire", quiet_feed([feed_server.url("/slow/1")]))
    other = feed_server.serve("/other", rss([], title="Other"))
    port = free_port()
    write_config(
        tmp_path,
        monitor={"backfill": "1d", "http": str(port)},
        # The same host serves both feeds and the slow page: feeds keep their own connections.
        feeds={"wire": {"url": wire, "fulltext": True}, "other": {"url": other, "interval": "1s"}},
        rules=[
            {"name": "kremlin", "query": "title:Kremlin", "notify": ["hook"]},
            {"name": "rift", "query": 'body:"foreign minister"', "notify": ["hook"]},
        ],
        channels={"hook": {"urls": [webhook.apprise_url]}},
    )
    daemon = DaemonProc(tmp_path)
    try:
        assert asked.wait(timeout=60), daemon.log()
        # The wire's page hangs; now the other feed gets its story.
        feed_server.serve(
            "/other", rss([("k1", "Kremlin rebukes Israel", "", "https://other.example/k1", time.time())])
        )
        wait_for(lambda: len(webhook.messages()) == 1)
        assert not release.is_set()
        assert webhook.messages()[0]["title"] == "[kremlin] Kremlin rebukes Israel"
        release.set()
        wait_for(lambda: len(webhook.messages()) == 2)
        assert webhook.messages()[1]["title"] == "[rift] Talks in the capital 0"
        status, metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert 'monitor_article_bodies_total{feed="wire",outcome="fetched"} 1.0' in metrics
        assert "monitor_article_queue 0.0" in metrics
    finally:
        release.set()
        code = daemon.stop()
    assert code == 0, daemon.log()
    assert "Traceback" not in daemon.log()
