"""Article pages against a real server on 127.0.0.1: address policy, robots.txt, pace, backoff.

The server plays public sites through `Routed` (fetchkit): names ending in .example resolve
to a public address that the network sends to the server; `localhost` resolves to
127.0.0.1, a local bridge. The feed the links come from is on feeds.example unless a test
says otherwise. Time is a Clock: sleeps are recorded and move it, nothing waits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import pytest
from fetchkit import NOW, PUBLIC, Clock, Routed
from servers import FeedServer

from monitor.errors import AddressRefusedError, FetchError
from monitor.polling.articles import ArticleFetcher, ArticlePage
from monitor.polling.fetch import HTML_ACCEPT, Fetcher, make_transport
from monitor.polling.origins import AddressPolicy
from monitor.polling.robots import RobotsCache
from monitor.polling.robotstxt import MAX_RULES, RobotsRules

PAGE = b"<!DOCTYPE html><html><head><title>Story</title></head><body><p>The story.</p></body></html>"
HTML = "text/html; charset=utf-8"
FEED = AddressPolicy.of_url("http://feeds.example/rss.xml")  # the policy of the feed the links are in
UNROUTED = "93.184.216.35"  # public, and nothing answers there
UA = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
PACE = 5.0


async def resolver(host: str) -> list[str]:
    if host == "down.example":
        return [UNROUTED]
    if host == "metadata.example":
        return ["169.254.169.254"]
    return [PUBLIC] if host.endswith(".example") else ["127.0.0.1"]


def run(
    server: FeedServer,
    scenario: Callable[[ArticleFetcher], Awaitable[object]],
    clock: Clock | None = None,
    *,
    max_bytes: int = 1024 * 1024,
    timeout: float = 30.0,
    network: Routed | None = None,
):
    """`scenario(articles)` with one Fetcher, RobotsCache and ArticleFetcher; what it returns."""
    clock = clock or Clock(NOW)

    async def go():
        fetcher = Fetcher(
            make_transport(),
            user_agent=UA,
            connect_timeout=5.0,
            concurrency=10,
            per_host=2,
            max_bytes=max_bytes,
            timeout=timeout,
            resolver=resolver,
            network=network or Routed(server.port),
        )
        robots = RobotsCache(fetcher, user_agent=UA, clock=clock)
        try:
            return await scenario(ArticleFetcher(fetcher, robots, pace=PACE, clock=clock, sleep=clock.sleep))
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def fetch_each(server: FeedServer, links: list[str], clock: Clock | None = None, *, robots: bool = True, **kw):
    """Each link (from FEED) in turn; their ArticlePages."""

    async def scenario(articles: ArticleFetcher) -> list[ArticlePage]:
        return [await articles.fetch(link, FEED, robots) for link in links]

    return run(server, scenario, clock, **kw)


def respond(status: int, body: bytes = b"", headers: dict[str, str] | None = None):
    """A handler answering `status`, logged like the server's own routes."""

    def handler(h):
        h._answer(status, body, headers or {}, h.path, {k.lower(): v for k, v in h.headers.items()})

    return handler


def requests(server: FeedServer, path: str | None = None) -> list[tuple[str, str]]:
    """(Host header, path) of each request the server answered (for `path` only, if given)."""
    return [(headers.get("host", ""), p) for p, _, headers in server.log if path is None or p == path]


# Address policy


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:{port}",
        "[::1]:{port}",
        "[::ffff:127.0.0.1]:{port}",
        "[fe80::1]:{port}",
        "169.254.169.254",
        "2130706433:{port}",
        "0x7f.1:{port}",
        "metadata.example",  # a name resolving to the metadata address
    ],
)
@pytest.mark.parametrize("robots", [True, False])
def test_a_link_from_a_public_feed_into_a_private_address_is_refused_unconnected(feed_server, host, robots):
    feed_server.serve("/admin", PAGE, content_type=HTML)
    feed_server.serve("/robots.txt", b"", content_type="text/plain")
    link = f"http://reader:s3cret@{host.format(port=feed_server.port)}/admin?token=abc"
    network = Routed(feed_server.port)
    [page] = fetch_each(feed_server, [link], robots=robots, network=network)
    assert page.outcome == "address", page.message
    assert "private address" in page.message and "s3cret" not in page.message and "abc" not in page.message
    assert feed_server.log == [] and network.connected == []


def test_a_local_bridge_serves_its_own_pages_but_sends_nowhere_else_private(feed_server):
    feed_server.serve("/a", PAGE, content_type=HTML)
    feed_server.handlers["/b"] = respond(302, b"", {"Location": f"http://127.0.0.1:{feed_server.port}/a"})
    bridge = f"http://localhost:{feed_server.port}"

    async def scenario(articles):
        feed = AddressPolicy.of_url(f"{bridge}/feed.xml")
        return [await articles.fetch(f"{bridge}/{p}", feed, True) for p in ("a", "b")]

    same_host, elsewhere = run(feed_server, scenario)
    assert (same_host.outcome, same_host.html, same_host.url) == ("fetched", PAGE, f"{bridge}/a")
    # 127.0.0.1 is the same address, but not the feed's host: a link may not go there.
    assert elsewhere.outcome == "address" and "127.0.0.1 resolves to a private address" in elsewhere.message
    assert requests(feed_server) == [
        (f"localhost:{feed_server.port}", "/robots.txt"),
        (f"localhost:{feed_server.port}", "/a"),
        (f"localhost:{feed_server.port}", "/b"),
    ]


def test_a_local_feeds_exception_is_its_own_origin_not_its_host(feed_server):
    # A feed on 127.0.0.1:A links to 127.0.0.1:B (another daemon's console, an admin panel).
    other = FeedServer()
    try:
        other.serve("/", b"<html><body><p>Outbox: 3 pending</p></body></html>", content_type=HTML)
        feed_server.serve("/a", PAGE, content_type=HTML)
        bridge = AddressPolicy.of_url(feed_server.url("/feed.xml"))

        async def scenario(articles):
            return [await articles.fetch(link, bridge, False) for link in (other.url("/"), feed_server.url("/a"))]

        elsewhere, own = run(feed_server, scenario)
        assert elsewhere.outcome == "address" and "127.0.0.1 resolves to a private address" in elsewhere.message
        assert other.log == []
    finally:
        other.close()
    assert own.outcome == "fetched" and own.html == PAGE


def test_a_redirect_from_a_public_page_into_a_private_address_is_refused(feed_server):
    feed_server.serve("/admin", PAGE, content_type=HTML)
    feed_server.handlers["/story"] = respond(302, b"", {"Location": f"http://127.0.0.1:{feed_server.port}/admin"})
    [page] = fetch_each(feed_server, ["http://news.example/story"], robots=False)
    assert page.outcome == "address"
    assert "refused a redirect from a public address to a private one" in page.message
    assert requests(feed_server) == [("news.example", "/story")]


def test_a_public_feed_on_a_private_address_is_refused_as_an_address_error(feed_server):
    # The Fetcher's one error for refusals, feeds included, so that the daemon counts them.
    feed_server.handlers["/rss"] = respond(302, b"", {"Location": f"http://[::1]:{feed_server.port}/admin"})

    async def scenario(articles):
        with pytest.raises(AddressRefusedError) as refused:
            await articles.fetcher.fetch("http://feeds.example/rss")
        return refused.value

    refused = run(feed_server, scenario)
    assert refused.status == 302 and "public address to a private one" in refused.message


# robots.txt


ROBOTS = b"""User-agent: *
Disallow: /

User-agent: monitor
Disallow: /private/
"""


def test_robots_txt_is_honoured_for_our_agent_and_skipped_when_the_feed_opts_out(feed_server):
    feed_server.serve("/robots.txt", ROBOTS, content_type="text/plain")
    feed_server.serve("/private/x", PAGE, content_type=HTML)
    feed_server.serve("/public/y", PAGE, content_type=HTML)

    async def scenario(articles):
        return [
            await articles.fetch("http://news.example/private/x", FEED, True),
            await articles.fetch("http://news.example/public/y", FEED, True),
            await articles.fetch("http://news.example/private/x", FEED, False),
        ]

    refused, allowed, opted_out = run(feed_server, scenario)
    assert refused.outcome == "robots" and refused.html == b""
    assert refused.message == "robots.txt of news.example disallows http://news.example/private/x for monitor"
    assert (allowed.outcome, opted_out.outcome) == ("fetched", "fetched")
    assert [p for _, p in requests(feed_server)] == ["/robots.txt", "/public/y", "/private/x"]


def test_robots_txt_is_fetched_once_a_day_per_site(feed_server):
    feed_server.serve("/robots.txt", b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    for n in range(4):
        feed_server.serve(f"/s{n}", PAGE, content_type=HTML)
    clock = Clock(NOW)

    async def scenario(articles):
        pages = [
            await articles.fetch(f"http://{h}/s{n}", FEED, True) for h in ("a.example", "b.example") for n in range(4)
        ]
        clock.advance(86400)
        pages.append(await articles.fetch("http://a.example/s0", FEED, True))
        return pages

    pages = run(feed_server, scenario, clock)
    assert {p.outcome for p in pages} == {"fetched"}
    assert requests(feed_server, "/robots.txt") == [
        ("a.example", "/robots.txt"),
        ("b.example", "/robots.txt"),
        ("a.example", "/robots.txt"),  # a day later
    ]


@pytest.mark.parametrize("status", [404, 401, 403, 410])
def test_a_robots_txt_answered_4xx_allows_everything(feed_server, status):
    feed_server.handlers["/robots.txt"] = respond(status)
    feed_server.serve("/story", PAGE, content_type=HTML)
    pages = fetch_each(feed_server, ["http://news.example/story", "http://news.example/story"])
    assert [p.outcome for p in pages] == ["fetched", "fetched"]
    assert [p for _, p in requests(feed_server)] == ["/robots.txt", "/story", "/story"]


@pytest.mark.parametrize(("status", "message"), [(500, "HTTP 500"), (429, "HTTP 429")])
def test_a_robots_txt_failing_5xx_is_a_retry_asked_again_later(feed_server, status, message):
    feed_server.handlers["/robots.txt"] = respond(status)
    feed_server.serve("/story", PAGE, content_type=HTML)
    clock = Clock(NOW)

    async def scenario(articles):
        first = await articles.fetch("http://news.example/story", FEED, True)
        del feed_server.handlers["/robots.txt"]  # now a 404: no rules
        clock.advance(60)
        return first, await articles.fetch("http://news.example/story", FEED, True)

    first, second = run(feed_server, scenario, clock)
    assert first.outcome == "retry" and first.not_before == NOW + 60
    assert f"robots.txt unavailable (http://news.example/robots.txt): {message}" in first.message
    assert second.outcome == "fetched"
    assert [p for _, p in requests(feed_server)] == ["/robots.txt", "/robots.txt", "/story"]


def test_an_unreachable_site_is_a_retry(feed_server):
    [page] = fetch_each(feed_server, ["http://down.example/story"])
    assert page.outcome == "retry" and page.not_before == NOW + 60
    assert "robots.txt unavailable (http://down.example/robots.txt): could not connect" in page.message


def test_only_the_first_500_kib_of_robots_txt_are_read(feed_server):
    rules = b"User-agent: *\nDisallow: /early/\n"
    filler = b"# " + b"x" * 98 + b"\n"
    body = rules + filler * (500 * 1024 // len(filler)) + b"Disallow: /late/\n"
    assert len(body) > 500 * 1024
    feed_server.serve("/robots.txt", body, content_type="text/plain")
    feed_server.serve("/early/a", PAGE, content_type=HTML)
    feed_server.serve("/late/b", PAGE, content_type=HTML)
    early, late = fetch_each(feed_server, ["http://news.example/early/a", "http://news.example/late/b"])
    assert (early.outcome, late.outcome) == ("robots", "fetched")


def test_a_robots_txt_with_more_rules_than_a_site_needs_disallows_everything(feed_server, caplog):
    lines = [b"User-agent: *"] + [b"Disallow: /*q%d" % n for n in range(MAX_RULES + 1)]
    feed_server.serve("/robots.txt", b"\n".join(lines), content_type="text/plain")
    feed_server.serve("/story", PAGE, content_type=HTML)
    [page] = fetch_each(feed_server, ["http://news.example/story"])
    assert page.outcome == "robots" and feed_server.statuses("/story") == []
    assert f"robots.txt of news.example holds more than {MAX_RULES} rules for monitor" in caplog.text


def test_a_long_link_against_many_rules_is_matched_off_the_event_loop(feed_server):
    lines = [b"User-agent: *"] + [b"Disallow: /*q%d" % n for n in range(MAX_RULES)]
    feed_server.serve("/robots.txt", b"\n".join(lines), content_type="text/plain")
    link = "http://news.example/story?" + "q" * 4000
    feed_server.handlers[link.removeprefix("http://news.example")] = respond(200, PAGE, {"Content-Type": HTML})
    matched_in: list[str] = []
    allows = RobotsRules.allows

    def watched(rules, target):
        matched_in.append(threading.current_thread().name)
        return allows(rules, target)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RobotsRules, "allows", watched)
        [page] = fetch_each(feed_server, [link])
    assert page.outcome == "fetched"
    assert matched_in and threading.main_thread().name not in matched_in


# Pace


def test_requests_to_one_host_are_paced_through_the_injected_sleep(feed_server):
    for n in range(3):
        feed_server.serve(f"/s{n}", PAGE, content_type=HTML)
    clock = Clock(NOW)

    async def scenario(articles):
        one_host = [articles.fetch(f"http://news.example/s{n}", FEED, True) for n in range(3)]
        pages = await asyncio.gather(*one_host)  # at once: they queue behind each other
        slept = list(clock.slept)
        pages.append(await articles.fetch("http://other.example/s0", FEED, False))
        return pages, slept

    pages, slept = run(feed_server, scenario, clock)
    assert [p.outcome for p in pages] == ["fetched"] * 4
    assert slept == [PACE, PACE, PACE]  # robots.txt, then each article PACE after the last request
    assert clock.slept == slept  # another host: no wait


def test_a_slow_host_does_not_hold_up_the_others(feed_server):
    released = threading.Event()

    def slow(h):
        released.wait(20)  # until the other host's page is in (or long past it, had it waited)
        respond(200, PAGE, {"Content-Type": "text/html"})(h)

    feed_server.handlers["/slow"] = slow
    feed_server.serve("/fast", PAGE, content_type=HTML)
    done = []

    async def scenario(articles):
        async def fetch(link):
            page = await articles.fetch(link, FEED, False)
            done.append(link)
            released.set()
            return page

        return await asyncio.gather(fetch("http://slow.example/slow"), fetch("http://news.example/fast"))

    slow_page, fast_page = run(feed_server, scenario)
    assert (slow_page.outcome, fast_page.outcome) == ("fetched", "fetched")
    assert done == ["http://news.example/fast", "http://slow.example/slow"]


# Backoff


def test_403_fails_the_item_and_backs_the_host_off(feed_server):
    feed_server.handlers["/paywalled"] = respond(403)
    feed_server.serve("/next", PAGE, content_type=HTML)
    feed_server.serve("/rss", b"<rss/>")
    clock = Clock(NOW)

    async def scenario(articles):
        first = await articles.fetch("http://news.example/paywalled", FEED, False)
        held = await articles.fetch("http://news.example/next", FEED, False)
        feed = await articles.fetcher.fetch("http://news.example/rss")  # feeds are not held back
        clock.advance(60)
        return first, held, feed, await articles.fetch("http://news.example/next", FEED, False)

    first, held, feed, later = run(feed_server, scenario, clock)
    assert first.outcome == "failed" and "HTTP 403 Forbidden; news.example backs off 60 s" in first.message
    assert held.outcome == "deferred" and held.not_before == NOW + 60 and "news.example backs off" in held.message
    assert feed.status == 200 and later.outcome == "fetched"
    assert [p for _, p in requests(feed_server)] == ["/paywalled", "/rss", "/next"]


def test_retry_after_sets_how_long_the_host_backs_off(feed_server):
    feed_server.handlers["/busy"] = respond(429, b"", {"Retry-After": "120"})
    clock = Clock(NOW)

    async def scenario(articles):
        first = await articles.fetch("http://news.example/busy", FEED, False)
        clock.advance(100)
        return first, await articles.fetch("http://news.example/busy", FEED, False)

    first, held = run(feed_server, scenario, clock)
    assert first.outcome == "retry" and first.not_before == NOW + 120
    assert held.outcome == "deferred" and held.not_before == NOW + 120 and "20 s more" in held.message
    assert len(requests(feed_server)) == 1


def test_server_errors_back_off_exponentially_until_a_success(feed_server):
    feed_server.handlers["/s"] = respond(503)  # no Retry-After
    clock = Clock(NOW)

    async def scenario(articles):
        waits = []
        for _ in range(8):
            page = await articles.fetch("http://news.example/s", FEED, False)
            assert page.outcome == "retry"
            waits.append(page.not_before - clock())
            clock.now = page.not_before
        del feed_server.handlers["/s"]
        feed_server.serve("/s", PAGE, content_type=HTML)
        fetched = await articles.fetch("http://news.example/s", FEED, False)
        feed_server.handlers["/s"] = respond(500)
        again = await articles.fetch("http://news.example/s", FEED, False)
        return waits, fetched, again.not_before - clock()

    waits, fetched, after_success = run(feed_server, scenario, clock)
    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert fetched.outcome == "fetched" and after_success == 60


def test_backoff_is_per_origin_and_waiting_it_out_is_no_attempt(feed_server):
    # site.example:81 and site.example (port 80) are one host, two origins (both routed here).
    feed_server.handlers["/slow"] = respond(503)
    feed_server.serve("/other", PAGE, content_type=HTML)
    clock = Clock(NOW)

    async def scenario(articles):
        return [
            await articles.fetch(link, FEED, False)
            for link in ("http://site.example:81/slow", "http://site.example:81/other", "http://site.example/other")
        ]

    failed, waiting, unrelated = run(feed_server, scenario, clock)
    assert failed.outcome == "retry" and "site.example:81 backs off 60 s" in failed.message
    assert waiting.outcome == "deferred" and waiting.not_before == NOW + 60
    assert "site.example:81 backs off for 60 s more" in waiting.message
    assert unrelated.outcome == "fetched"
    assert requests(feed_server) == [("site.example:81", "/slow"), ("site.example", "/other")]


@pytest.mark.parametrize("status", [404, 410, 400])
def test_other_client_errors_fail_the_item_without_backoff(feed_server, status):
    feed_server.handlers["/gone"] = respond(status)
    feed_server.serve("/next", PAGE, content_type=HTML)
    gone, following = fetch_each(feed_server, ["http://news.example/gone", "http://news.example/next"], robots=False)
    assert gone.outcome == "failed" and gone.message.startswith(f"http://news.example/gone: HTTP {status}")
    assert following.outcome == "fetched"


# What is fetched


@pytest.mark.parametrize(
    ("content_type", "body", "outcome"),
    [
        ("text/html; charset=utf-8", PAGE, "fetched"),
        ("application/xhtml+xml", PAGE, "fetched"),
        ("application/octet-stream", b"\n  <!doctype html><p>hi</p>", "fetched"),  # sniffed
        ("", b"<html><body>hi</body></html>", "fetched"),
        ("text/plain", b"just words", "failed"),
        ("application/pdf", b"%PDF-1.7 <html>", "failed"),
        ("application/json", b'{"html": "<p>"}', "failed"),
        ("image/png", PAGE, "failed"),  # labelled not HTML: not read, whatever it is
    ],
)
def test_only_html_is_fetched(feed_server, content_type, body, outcome):
    if content_type:
        feed_server.serve("/doc", body, content_type=content_type)
    else:
        feed_server.handlers["/doc"] = respond(200, body)
    [page] = fetch_each(feed_server, ["http://news.example/doc"], robots=False)
    assert page.outcome == outcome
    if outcome == "failed":
        assert page.message == f"http://news.example/doc is not an HTML page ({content_type})" and page.html == b""
    else:
        assert page.html == body and page.content_type == content_type


def test_article_requests_ask_for_html_without_validators(feed_server):
    feed_server.serve("/story", PAGE, content_type=HTML)  # answers with an ETag and Last-Modified
    fetch_each(feed_server, ["http://news.example/story"] * 2, robots=False)
    for _, _, headers in feed_server.log:
        assert headers["accept"] == HTML_ACCEPT == "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
        assert headers["user-agent"] == UA and headers["accept-encoding"] == "gzip, deflate"
        assert "if-none-match" not in headers and "if-modified-since" not in headers
    assert feed_server.statuses("/story") == [200, 200]


def test_the_byte_cap_holds_for_articles(feed_server):
    feed_server.serve("/big", b"<html>" + b"x" * 70_000 + b"</html>", content_type="text/html")
    [page] = fetch_each(feed_server, ["http://news.example/big"], robots=False, max_bytes=64 * 1024)
    assert (
        page.outcome == "failed"
        and page.message == "http://news.example/big: response larger than 64 KiB; not read further"
    )


def test_the_redirect_cap_holds_for_articles(feed_server):
    for i in range(7):
        feed_server.handlers[f"/r{i}"] = respond(302, b"", {"Location": f"/r{i + 1}"})
    feed_server.serve("/r7", PAGE, content_type=HTML)
    feed_server.handlers["/loop"] = respond(301, b"", {"Location": "/loop"})
    long, loop = fetch_each(feed_server, ["http://news.example/r0", "http://news.example/loop"], robots=False)
    assert long.outcome == "failed" and long.message.endswith("more than 5 redirects")
    assert loop.outcome == "failed" and "redirect loop" in loop.message
    assert "/r6" not in [p for _, p in requests(feed_server)]


def test_a_timed_out_article_is_a_retry(feed_server):
    def stall(h):
        released.wait(10)

    released = threading.Event()
    feed_server.handlers["/stall"] = stall
    try:
        [page] = fetch_each(feed_server, ["http://news.example/stall"], robots=False, timeout=0.5)
    finally:
        released.set()
    assert page.outcome == "retry" and "timed out after 0.5s" in page.message


@pytest.mark.parametrize(
    "link",
    [
        "ftp://news.example/story",
        "mailto:desk@news.example",
        "http:///story",
        "http://news.example:99999/",
        "story",
        "http://news.example/" + "a" * 5000,
    ],
)
def test_links_that_are_not_http_pages_fail_unrequested(feed_server, link):
    [page] = fetch_each(feed_server, [link])
    assert page.outcome == "failed"
    assert page.message.endswith("is not an http(s) link with a host, of at most 4096 characters")
    assert len(page.message) < 300 and feed_server.log == []


def test_the_feeds_own_host_is_recognised_whatever_its_case(feed_server):
    feed_server.serve("/a", PAGE, content_type=HTML)

    async def scenario(articles):
        return await articles.fetch(
            f"http://LOCALHOST:{feed_server.port}/a",
            AddressPolicy.of_url(f"http://Localhost:{feed_server.port}/"),
            False,
        )

    assert run(feed_server, scenario).outcome == "fetched"


def test_a_page_fetch_raises_its_status_and_retry_after(feed_server):
    feed_server.handlers["/x"] = respond(503, b"", {"Retry-After": "30"})

    async def scenario(articles):
        with pytest.raises(FetchError) as failed:
            await articles.fetcher.fetch_page("http://news.example/x", policy=FEED)
        return failed.value

    error = run(feed_server, scenario)
    assert (error.status, error.retry_after) == (503, 30)
