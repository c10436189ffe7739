"""The console's pages over real polled data (the pipeline in process, feeds on a real HTTP
server, deliveries to a real webhook), served by the daemon's endpoint, on both backends:
what each page shows, that feed text stays text, and that no secret reaches a page."""

from __future__ import annotations

import json
import re
import time

import pytest
from consolekit import CSP, HOSTILE_TITLE, IMG, PAGES, SCRIPT, ConsoleServer, rss
from testkit import DAY, HOUR, T0, Clock, write_config

ARCHIVE_TOKEN = "Archive-Secret-Token-4242"
FEED_TOKEN = "feed-Secret-Token-777"
BULLETINS = 60  # more than a page of alerts
ON_ATTRIBUTE = re.compile(r"<[a-z][^>]*\son[a-z]+=", re.I)  # an event handler in a real tag


@pytest.fixture
def desk(tmp_path, feed_server, webhook, open_rig):
    """Three feeds polled once (one hostile, one of many bulletins, one failing), two rules, and
    deliveries: the webhook takes them, the archive never answers (its deliveries die)."""
    wire = [
        ("w1", HOSTILE_TITLE, f"Russia and Israel {IMG} traded words.", "javascript:alert(1)", T0 - HOUR),
        ("w2", "Israel relayed dissatisfaction to Russia", "Officials said so.", "https://toi.example/a", T0 - 60),
    ]
    bulletins = [(f"b{n}", f"Israel bulletin {n}", "", f"https://agency.example/{n}", T0 - 7200 + n) for n in range(60)]
    urls = {  # polled in this order: the wire's alerts are the newest
        "agency": feed_server.serve("/agency.xml", rss(bulletins, "Agency")),
        "wire": feed_server.serve("/wire.xml", rss(wire)),
        "broken": feed_server.url(f"/gone.xml?token={FEED_TOKEN}"),
    }
    path = write_config(
        tmp_path,
        feeds=urls,
        rules=[
            {"name": "israel", "query": "Israel", "notify": ["desk", "archive"]},
            {"name": "rift", "query": "Israel AND Russia", "notify": ["desk"]},
        ],
        channels={
            "desk": {"urls": [webhook.apprise_url], "flood_threshold": 0},
            "archive": {"urls": [f"json://127.0.0.1:9/{ARCHIVE_TOKEN}"], "flood_threshold": 0},
        },
        monitor={"backfill": "100000d", "failing_after": 1},
        extra={"delivery": {"dead_after": "1m"}},
    )
    clock = Clock(T0)
    rig = open_rig(path, clock)
    for feed in urls:
        rig.poll(feed)
    rig.deliver()
    clock.advance(3600)
    rig.deliver()  # the archive's second failure, past dead_after: dead letters
    server = ConsoleServer(rig.config.settings.database, lambda: rig.config, clock)
    yield rig, server
    server.close()


def test_the_alert_stream_shows_each_alert_with_its_terms_outlets_and_deliveries_and_feed_text_as_text(desk):
    _, server = desk
    page = server.get("/")
    assert page.status == 200
    # The hostile headline is on the page as text, its matched terms marked, nothing of it markup.
    assert SCRIPT not in page.body and IMG not in page.body and not ON_ATTRIBUTE.search(page.body)
    assert (
        "<mark>Israel</mark> warns &lt;script&gt;window.pwned = 'script'&lt;/script&gt; <mark>Russia</mark> "
        '&lt;img src=x onerror="window.pwned = \'img\'"&gt; &amp; "friends"'
    ) in page.body
    assert "javascript:" not in page.body  # a link that is not http(s) is no link
    assert re.search(r'<a class="article" href="https://toi\.example/a" rel="noopener noreferrer">', page.body)
    # Rule, story page, channel by name and kind, and the state of each delivery.
    assert '<a class="rule" href="/?rule=rift">rift</a>' in page.body
    assert re.search(r"<a href=\"/stories/\d+\"><mark>Israel</mark> relayed dissatisfaction to Russia</a>", page.body)
    assert 'desk <span class="kind">json</span>: sent' in page.body
    assert 'archive <span class="kind">json</span>: dead' in page.body
    assert page.body.count('class="alert"') == 50 and "older</a>" in page.body


def test_alerts_come_a_page_at_a_time_by_rule_and_by_channel(desk):
    _, server = desk
    first = server.get("/")
    ids = [int(i) for i in re.findall(r'id="alert-(\d+)"', first.body)]
    older = re.search(r'<a rel="next" href="([^"]+)">older</a>', first.body).group(1)
    assert older == f"/?before={ids[-1]}"
    second = server.get(older.replace("&amp;", "&"))
    more = [int(i) for i in re.findall(r'id="alert-(\d+)"', second.body)]
    assert ids == sorted(ids, reverse=True) and more == sorted(more, reverse=True)
    assert len(ids) + len(more) == BULLETINS + 2 + 2 and max(more) < min(ids)  # no alert twice, none missed
    assert "older</a>" not in second.body and '<a href="/?">newest</a>' in second.body

    rift = server.get("/?rule=rift")
    assert rift.body.count('class="alert"') == 2 and 'href="/?rule=israel"' not in rift.body
    assert '<option value="rift" selected>' in rift.body
    archive = server.get("/?channel=archive")
    assert archive.body.count('class="alert"') == 50 and "rule=rift" not in archive.body.split("</form>")[1]
    assert server.get("/?rule=nobody").body.count('class="alert"') == 0
    assert server.get("/?before=x").status == 400 and server.get("/?before=" + "9" * 30).status == 400


def test_a_story_page_has_its_items_outlets_and_alerts(desk):
    _, server = desk
    story = re.search(r'<a href="(/stories/\d+)"><mark>Israel</mark> relayed', server.get("/").body).group(1)
    page = server.get(story)
    assert page.status == 200
    assert "Carried by 1 outlet: wire" in page.body
    assert '<a href="https://toi.example/a" rel="noopener noreferrer">Israel relayed dissatisfaction to Russia</a>' in (
        page.body
    )
    assert page.body.count('class="alert"') == 2  # israel and rift
    assert "No item of this story has changed" in page.body
    assert server.get("/stories/999999").status == 404
    assert server.get("/stories/x").status == 404


def test_feeds_rules_playground_and_outbox(desk, monkeypatch):
    _, server = desk
    feeds = server.get("/feeds").body
    assert re.search(r'<tr class="failing">\s*<td><span class="name">broken</span>', feeds)
    assert "HTTP 404" in feeds and "token=***" in feeds and FEED_TOKEN not in feeds
    assert '<span class="state ok">2 ok</span>' in feeds
    assert re.search(r"<br><small>every \w+ \(fixed\)</small></td>", feeds)  # its interval, and why

    rules = server.get("/rules").body
    assert "<code>(israel AND russia)</code>" in rules  # the query explained
    assert re.search(r"<h2><a href=\"/\?rule=rift\">rift</a></h2>\s*<p class=\"counts\"><strong>2</strong>", rules)

    hit = server.get("/playground?q=Russia+NEAR/3+relayed").body
    assert "<code>(russia NEAR/3 relayed)</code>" in hit and "1 match arrived in the last 7d" in hit
    assert "<mark>relayed</mark> dissatisfaction to <mark>Russia</mark>" in hit
    refused = server.get("/playground?q=%28Russia+AND").body
    assert "This query is refused" in refused and "^ this &#34;(&#34; is never closed" in refused
    assert server.get("/playground?q=Russia&since=1y").status == 400

    from monitor.web import pages

    monkeypatch.setattr(pages, "OUTBOX", 40)  # a page of the outbox
    outbox = server.get("/outbox").body
    assert "0 pending · 62 dead" in outbox and outbox.count('class="delivery-card dead"') == 40
    assert 'archive <span class="kind">json</span>' in outbox and "last error: channel &#34;archive&#34;" in outbox
    first = [int(i) for i in re.findall(r"<p class=\"meta\">#(\d+)", outbox)]
    newer = server.get(re.search(r'<a rel="next" href="([^"]+)">newer</a>', outbox).group(1)).body
    rest = [int(i) for i in re.findall(r"<p class=\"meta\">#(\d+)", newer)]
    assert first == sorted(first) and rest == sorted(rest) and len(rest) == 22 and min(rest) > max(first)
    assert '<a href="/outbox">oldest</a>' in newer and "newer</a>" not in newer


def test_no_page_carries_a_secret_a_script_or_another_origin(desk):
    rig, server = desk
    # An error recorded with a destination's token in it (an older monitor, a library's own words).
    ids = [r["id"] for r in rig.store.outbox()][:1]
    rig.store.mark_failed_together(ids, f"refused json://127.0.0.1:9/{ARCHIVE_TOKEN}", T0, T0, 10**9)
    story = re.search(r'href="(/stories/\d+)"', server.get("/").body).group(1)
    for path in (*PAGES, story, "/playground?q=Israel&since=30d"):
        page = server.get(path)
        assert page.status == 200, path
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert ARCHIVE_TOKEN not in page.body and FEED_TOKEN not in page.body and "127.0.0.1:9" not in page.body
        assert "<script" not in page.body and " style=" not in page.body and not ON_ATTRIBUTE.search(page.body)
        # Every stylesheet, form and image is our own; links elsewhere are articles, and say so.
        assert not re.search(r'(src|action)="(?!/)', page.body)
        for tag in re.findall(r'<a [^>]*href="https?://[^>]*>', page.body):
            assert 'rel="noopener noreferrer"' in tag, (path, tag)
    assert "last error: refused ***" in server.get("/outbox").body
    css = server.get("/static/console.css")
    assert css.status == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    assert "url(" not in css.body and "@import" not in css.body


def test_the_playground_and_backtest_count_one_window_by_arrival(tmp_path, feed_server, open_rig, run_cli):
    """Items stored now whose feed dates them a month back arrived in the last 7 days for both,
    and neither counts an item stored 8 days ago whatever date its feed gives it."""
    now = time.time()
    month_old = [
        (f"m{n}", f"Israel archive piece {n}", "", f"https://archive.example/{n}", now - 30 * DAY) for n in (1, 2)
    ]
    dated_today = [("e1", "Israel item stored long ago", "", "https://early.example/1", now - HOUR)]
    feeds = {
        "archive": feed_server.serve("/archive.xml", rss(month_old, "Archive")),
        "early": feed_server.serve("/early.xml", rss(dated_today, "Early")),
    }
    clock = Clock(now - 8 * DAY)
    rig = open_rig(write_config(tmp_path, feeds=feeds), clock)
    rig.poll("early")
    clock.advance(8 * DAY)
    rig.poll("archive")

    server = ConsoleServer(rig.config.settings.database, lambda: rig.config, clock)
    try:
        page = server.get("/playground?q=Israel&since=7d").body
    finally:
        server.close()
    assert "2 matches arrived in the last 7d" in page
    assert "archive piece 1" in page and "archive piece 2" in page and "stored long ago" not in page

    cli = run_cli("backtest", "Israel", "--since", "7d", "--json")
    assert cli.returncode == 0, cli.stderr
    hits = [json.loads(line) for line in cli.stdout.splitlines()]
    assert sorted(h["title"] for h in hits) == ["Israel archive piece 1", "Israel archive piece 2"]


def test_an_ipv6_article_link_keeps_its_host_on_every_page(tmp_path, feed_server, open_rig):
    item = ("v6", "Israel on a literal address", "", "http://[2001:db8::1]:8080/a?q=[1]", time.time() - 60)
    path = write_config(tmp_path, feeds={"v6": feed_server.serve("/v6.xml", rss([item]))}, monitor={"backfill": "1d"})
    clock = Clock(time.time())
    rig = open_rig(path, clock)
    rig.poll("v6")
    server = ConsoleServer(rig.config.settings.database, lambda: rig.config, clock)
    try:
        alerts = server.get("/").body
        story = server.get(re.search(r'href="(/stories/\d+)"', alerts).group(1)).body
        playground = server.get("/playground?q=Israel").body
    finally:
        server.close()
    href = 'href="http://[2001:db8::1]:8080/a?q=%5B1%5D"'
    assert href in alerts and href in story and href in playground
