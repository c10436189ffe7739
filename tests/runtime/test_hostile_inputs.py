"""Hostile inputs through the real daemon, where the point is that its event loop keeps ticking:
/healthz answers 200 throughout, and the rest keeps working."""

from __future__ import annotations

import gzip
import re
import threading
import time

import pytest
from consolekit import rss
from daemonkit import DaemonProc, free_port, get
from servers import FeedServer
from testkit import wait_for, write_config

from monitor.polling.robotstxt import MAX_RULES

pytestmark = pytest.mark.usefixtures("database")


def status_of(url: str) -> int:
    """The HTTP status of a GET, 0 when nothing answers (yet)."""
    try:
        return get(url)[0]
    except OSError:
        return 0


class HealthWatch:
    """/healthz asked every 100 ms from a thread of its own until stopped; every status seen."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/healthz"
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            self.statuses.append(status_of(self.url))

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join()
        return self.statuses


def robots_of(rules: int) -> bytes:
    """A robots.txt of `rules` distinct `Disallow: /*q…` rules, none matching the links here."""
    return ("User-agent: *\n" + "".join(f"Disallow: /*q{n:05d}x\n" for n in range(rules))).encode()


def test_hostile_sites_and_a_gzip_bomb_never_stall_the_loop(tmp_path, feed_server, webhook):
    # `hostile`: a 500 KiB robots.txt (28,000 rules) and items linking to 250 kB URLs and to 4 kB
    # ones. `busy`: as many rules as monitor reads, each matched against each of its 4 kB links.
    # `bomb`: 64 MiB of gzip-compressed zeros. All three are local bridges (their own pages).
    page = b"<html><body><article><p>The foreign minister spoke of dissatisfaction.</p></article></body></html>"
    busy = FeedServer()
    try:
        now = time.time()
        sites = {}
        for name, server, rules in (("hostile", feed_server, 28_000), ("busy", busy, MAX_RULES)):
            server.serve("/robots.txt", robots_of(rules), content_type="text/plain")
            links = [server.url(f"/long{n}?" + "q" * 4000) for n in range(3)]
            huge = [server.url(f"/huge{n}?" + "q" * 250_000) for n in range(3)] if name == "hostile" else []
            for link in links:
                server.serve(link.removeprefix(server.url("")), page, content_type="text/html")
            items = [(f"g{n}", f"Item {n}", "", link, now - n) for n, link in enumerate(huge + links)]
            sites[name] = {"url": server.serve("/site.xml", rss(items)), "fulltext": True}
        bomb = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)
        sites["bomb"] = {"url": feed_server.serve("/bomb.xml", bomb, headers={"Content-Encoding": "gzip"})}
        sites["bomb"]["interval"] = "1s"
        port = free_port()
        write_config(
            tmp_path,
            monitor={"http": str(port), "backfill": "1d", "article_pace": "0.01s", "max_bytes": 1048576},
            feeds=sites,
            rules=[{"name": "rift", "query": 'body:"foreign minister"', "notify": ["hook"]}],
            channels={"hook": {"urls": [webhook.apprise_url]}},
        )
        daemon = DaemonProc(tmp_path)
        try:
            wait_for(lambda: status_of(f"http://127.0.0.1:{port}/healthz") == 200)
            watch = HealthWatch(port)
            wait_for(lambda: len(webhook.messages()) == 3, timeout=60)  # busy's three pages
            wait_for(lambda: "no body for" in daemon.log() and len(feed_server.statuses("/bomb.xml")) >= 3)
            statuses = watch.stop()
        finally:
            daemon.stop()
        busy_pages = sorted(busy.statuses(f"/long{n}?" + "q" * 4000) for n in range(3))
    finally:
        busy.close()
    log = daemon.log()
    assert statuses and set(statuses) == {200}, log
    assert "feed hostile: 3 item links longer than 4096 characters ignored" in log
    assert "robots.txt of 127.0.0.1:" in log and f"holds more than {MAX_RULES} rules" in log
    assert "feed bomb: response larger than 1024 KiB; not read further" in log
    assert [p for p, _, _ in feed_server.log if p.startswith(("/huge", "/long"))] == []
    assert busy_pages == [[200]] * 3
    assert not re.search(r"Traceback|ERROR", log), log
