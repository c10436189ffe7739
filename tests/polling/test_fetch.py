"""Fetching against a fault-injecting server on 127.0.0.1: each case states the schedule or state."""

from __future__ import annotations

import email.utils
import gzip
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from fetchkit import NOW, Clock, config_file, poll

from monitor.polling.fetch import parse_retry_after

FIXTURES = Path(__file__).parents[1] / "fixtures"
FEED = (FIXTURES / "story/toi_v1.xml").read_bytes()
INTERVAL = 300.0


def respond(status: int, body: bytes = b"", headers: dict[str, str] | None = None):
    def handler(h):
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handler


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120),
        ("0", 0),
        (email.utils.formatdate(NOW + 600, usegmt=True), 600),
        ("9999999", 86400),
        ("soon", None),
        ("", None),
        ("-5", None),
    ],
)
def test_retry_after_forms(value, seconds):
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_delay"),
    [
        (429, "3600", 3600),  # seconds form, honoured
        (503, "HTTPDATE", 7200),  # HTTP-date form, honoured
        (429, "60", INTERVAL),  # never sooner than the feed's own interval
        (503, "garbage", None),  # falls back to exponential backoff
    ],
)
def test_retry_after_is_honoured(tmp_path, feed_server, status, retry_after, expected_delay):
    if retry_after == "HTTPDATE":
        retry_after = email.utils.formatdate(time.time() + 7200, usegmt=True)
    feed_server.handlers["/f"] = respond(status, b"busy", {"Retry-After": retry_after})
    outcome, state = poll(config_file(tmp_path, {"f": feed_server.url("/f")}), "f", Clock(time.time()))
    assert outcome.status == "error" and str(status) in outcome.error
    delay = state.next_poll - state.last_poll
    if expected_delay is None:
        assert 2 * INTERVAL <= delay <= 2 * INTERVAL * 1.2
    else:
        assert abs(delay - expected_delay) < 5


def test_errors_back_off_exponentially_capped_and_reset_on_success(tmp_path, feed_server):
    feed_server.handlers["/f"] = respond(500, b"oops")
    path = config_file(tmp_path, {"f": feed_server.url("/f")}, monitor={"max_backoff": "1h"})
    delays = []
    for _ in range(5):
        _, state = poll(path, "f")
        delays.append(state.next_poll - NOW)
    for delay, factor in zip(delays, (2, 4, 8), strict=False):  # 2x, 4x, 8x the interval, plus up to 20% jitter
        assert factor * INTERVAL <= delay <= factor * INTERVAL * 1.2
    assert delays[3] == delays[4] == 3600  # capped
    assert state.consecutive_errors == 5 and state.last_error == "HTTP 500 Internal Server Error"
    del feed_server.handlers["/f"]
    feed_server.serve("/f", FEED)
    outcome, state = poll(path, "f")
    assert outcome.status == "ok" and state.consecutive_errors == 0 and state.last_error is None
    assert state.next_poll - NOW == INTERVAL


def test_410_disables_the_feed_with_its_reason(tmp_path, feed_server):
    feed_server.handlers["/f"] = respond(410)
    path = config_file(tmp_path, {"f": feed_server.url("/f")})
    outcome, state = poll(path, "f")
    assert outcome.status == "disabled" and "410" in state.disabled_reason
    again, _ = poll(path, "f")
    assert again.status == "disabled" and feed_server.log == []  # never asked again


def test_validators_are_sent_back_verbatim_and_refreshed_by_a_304(tmp_path, feed_server):
    etag, modified = 'W/"odd etag, with comma"', "Tue, 24 Nov 2026 07:20:00 GMT"
    calls = []

    def handler(h):
        calls.append((h.headers.get("If-None-Match"), h.headers.get("If-Modified-Since")))
        if len(calls) == 1:
            respond(200, FEED, {"ETag": etag, "Last-Modified": modified})(h)
        else:
            respond(304, b"", {"ETag": '"fresh"'})(h)

    feed_server.handlers["/f"] = handler
    path = config_file(tmp_path, {"f": feed_server.url("/f")})
    poll(path, "f")
    outcome, state = poll(path, "f")
    assert outcome.status == "not-modified"
    poll(path, "f")
    assert calls == [(None, None), (etag, modified), ('"fresh"', modified)]
    assert state.etag == '"fresh"'


def test_identical_body_without_validators_is_not_parsed_again(tmp_path, feed_server):
    feed_server.serve("/f", FEED, validators=False)
    parses = []

    async def counting_parser(body, url, ctype, index=False):
        from monitor.parsing.feed import parse_feed

        parses.append(url)
        return parse_feed(body, url, ctype)

    path = config_file(tmp_path, {"f": feed_server.url("/f")})
    first, _ = poll(path, "f", parser=counting_parser)
    second, _ = poll(path, "f", parser=counting_parser)
    assert (first.status, second.status, len(parses)) == ("ok", "not-modified", 1)


@pytest.mark.parametrize(
    ("header", "ttl", "ignore", "expected"),
    [
        ("max-age=1800", None, False, 1800),  # lengthens the interval
        ("max-age=86400", None, False, 3600),  # up to the ceiling
        ("max-age=60", None, False, INTERVAL),  # never shortens it
        (None, 45, False, 2700),  # RSS <ttl> is in minutes
        ("max-age=1800", 45, True, INTERVAL),  # ignore_server_ttl = true
    ],
)
def test_server_hints_lengthen_the_interval(tmp_path, feed_server, header, ttl, ignore, expected):
    body = FEED if ttl is None else FEED.replace(b"<language>", f"<ttl>{ttl}</ttl><language>".encode())
    feed_server.serve("/f", body, headers={"Cache-Control": header} if header else {})
    extra = {"ignore_server_ttl": True} if ignore else {}
    _, state = poll(config_file(tmp_path, {"f": feed_server.url("/f")}, feed_extra=extra), "f")
    assert state.next_poll - NOW == expected


def test_permanent_redirect_is_adopted_after_consistent_polls(tmp_path, feed_server):
    new = feed_server.serve("/new", FEED)
    feed_server.handlers["/old"] = respond(301, b"", {"Location": new})
    path = config_file(tmp_path, {"f": feed_server.url("/old")}, monitor={"adopt_redirect_after": 3})
    for n in (1, 2):
        outcome, state = poll(path, "f")
        assert state.adopted_url is None and state.redirect_count == n
    outcome, state = poll(path, "f")
    assert state.adopted_url == new and any("Update the feed's url" in w for w in outcome.warnings)
    feed_server.log.clear()
    poll(path, "f")
    assert [p for p, _, _ in feed_server.log] == ["/new"]  # straight to the new address


def test_temporary_redirect_is_followed_but_never_persisted(tmp_path, feed_server):
    new = feed_server.serve("/new", FEED)
    feed_server.handlers["/old"] = respond(302, b"", {"Location": new})
    path = config_file(tmp_path, {"f": feed_server.url("/old")}, monitor={"adopt_redirect_after": 1})
    outcome, state = poll(path, "f")
    assert outcome.status == "ok" and outcome.new_items == 3
    assert state.adopted_url is None and state.redirect_target is None


def test_requests_name_monitor_ask_for_feeds_and_carry_no_cookie_back(tmp_path, feed_server):
    new = feed_server.serve("/new", FEED)
    feed_server.handlers["/old"] = respond(302, b"", {"Location": new, "Set-Cookie": "session=abc; Path=/"})
    path = config_file(
        tmp_path, {"f": feed_server.url("/old")}, monitor={"user_agent": "monitor-test/1 (+ops@example.org)"}
    )
    outcome, _ = poll(path, "f")
    assert outcome.status == "ok"
    [(_, status, headers)] = [entry for entry in feed_server.log if entry[0] == "/new"]
    assert status == 200 and "cookie" not in headers
    assert headers["user-agent"] == "monitor-test/1 (+ops@example.org)"
    assert headers["accept"].startswith("application/rss+xml, application/atom+xml")
    assert headers["accept-encoding"] == "gzip, deflate"
    assert headers["host"] == f"127.0.0.1:{feed_server.port}"


def test_redirect_loops_and_long_chains_are_errors(tmp_path, feed_server):
    feed_server.handlers["/a"] = respond(301, b"", {"Location": "/b"})
    feed_server.handlers["/b"] = respond(302, b"", {"Location": "/a"})
    for i in range(7):
        feed_server.handlers[f"/c{i}"] = respond(307, b"", {"Location": f"/c{i + 1}"})
    feed_server.serve("/c7", FEED)
    path = config_file(tmp_path, {"loop": feed_server.url("/a"), "long": feed_server.url("/c0")})
    loop, _ = poll(path, "loop")
    long, _ = poll(path, "long")
    assert loop.status == "error" and "redirect loop" in loop.error
    assert long.status == "error" and "more than 5 redirects" in long.error


def test_time_limit_stops_a_dripping_server(tmp_path, feed_server):
    def drip(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.end_headers()
        try:
            for _ in range(200):  # 20 s of one byte every 0.1 s
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    feed_server.handlers["/f"] = drip
    path = config_file(tmp_path, {"f": feed_server.url("/f")}, monitor={"timeout": "1s"})
    outcome, state = poll(path, "f")
    assert outcome.status == "error" and "timed out after 1s" in outcome.error
    assert state.consecutive_errors == 1


@pytest.mark.parametrize("bomb", [False, True])
def test_body_is_capped_after_decompression(tmp_path, feed_server, bomb):
    raw = b"<rss>" + b" " * 3_000_000 + b"</rss>"
    if bomb:
        feed_server.handlers["/f"] = respond(200, gzip.compress(raw), {"Content-Encoding": "gzip"})
    else:
        feed_server.serve("/f", raw)
    path = config_file(tmp_path, {"f": feed_server.url("/f")}, monitor={"max_bytes": 1048576})
    outcome, _ = poll(path, "f")
    assert outcome.status == "error" and "larger than 1024 KiB" in outcome.error


def test_a_gzip_bomb_is_inflated_no_further_than_the_cap(tmp_path, feed_server):
    # 64 MiB of zeros in 64 KiB of gzip: one network read used to be inflated whole.
    bomb = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)
    feed_server.handlers["/f"] = respond(200, bomb, {"Content-Encoding": "gzip"})
    path = config_file(tmp_path, {"f": feed_server.url("/f")}, monitor={"max_bytes": 1048576})
    poll(path, "f")  # once untraced: what a first poll imports is no part of the measure
    tracemalloc.start()
    try:
        outcome, _ = poll(path, "f")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.status == "error" and "larger than 1024 KiB" in outcome.error
    assert peak < 8 * 1048576  # the cap and what a poll holds anyway, never the bomb's 64 MiB


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # with its zlib wrapper, as the RFC says
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw, as some servers send it
        ("identity", lambda data: data),
    ],
)
def test_a_feed_is_read_in_each_coding_asked_for(tmp_path, feed_server, encoding, encode):
    feed_server.handlers["/f"] = respond(200, encode(FEED), {"Content-Encoding": encoding})
    outcome, _ = poll(config_file(tmp_path, {"f": feed_server.url("/f")}), "f")
    assert outcome.status == "ok" and outcome.new_items >= 3


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [
        ("br", "encoded as 'br', which was not asked for"),
        ("gzip, gzip", "encoded as 'gzip, gzip', which was not asked for"),
        ("gzip", "could not be decompressed"),  # not gzip at all
    ],
)
def test_a_coding_not_asked_for_or_broken_fails_the_feed(tmp_path, feed_server, encoding, reason):
    feed_server.handlers["/f"] = respond(200, FEED, {"Content-Encoding": encoding})
    outcome, _ = poll(config_file(tmp_path, {"f": feed_server.url("/f")}), "f")
    assert outcome.status == "error" and reason in outcome.error


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><head><title>Error</title></head><body>500</body></html>", "HTML page"),
    ],
)
def test_bad_bodies_fail_that_feed_and_keep_what_was_seen(tmp_path, feed_server, body, reason):
    feed_server.serve("/f", FEED)
    path = config_file(tmp_path, {"f": feed_server.url("/f")})
    poll(path, "f")
    feed_server.serve("/f", body)
    outcome, state = poll(path, "f")
    assert outcome.status == "error" and reason in outcome.error
    feed_server.serve("/f", FEED + b"\n")  # the same items again: nothing new, nothing lost
    outcome, state = poll(path, "f")
    assert (outcome.status, outcome.new_items, state.consecutive_errors) == ("ok", 0, 0)


def test_nul_bytes_and_malformed_xml_are_stored_safely(tmp_path, feed_server):
    body = FEED.replace(b"Netanyahu convenes", b"Netanyahu\x00 convenes").replace(b"</channel>", b"<item><title>x")
    feed_server.serve("/f", body)
    outcome, _ = poll(config_file(tmp_path, {"f": feed_server.url("/f")}), "f")
    assert outcome.status == "ok" and outcome.new_items >= 3
    assert any("not well-formed" in w for w in outcome.warnings)


def test_guid_churn_rebaselines_instead_of_alerting(tmp_path, feed_server):
    before = (FIXTURES / "feeds/aljazeera_all_2026-08-13T0404.xml").read_bytes()
    feed_server.serve("/f", before)
    path = config_file(tmp_path, {"f": feed_server.url("/f")})
    poll(path, "f")
    # The CMS moved: every GUID is new, every link is the same.
    feed_server.serve("/f", before.replace(b"https://www.aljazeera.com/?t=", b"https://www.aljazeera.com/?cms2="))
    outcome, _ = poll(path, "f")
    assert outcome.new_items == 0 and outcome.alerts == 0 and outcome.baseline
    assert any("re-baselined" in w for w in outcome.warnings)
    # The items were recognised by their links and now go by their new ids: the next
    # poll is quiet.
    feed_server.serve(
        "/f", before.replace(b"https://www.aljazeera.com/?t=", b"https://www.aljazeera.com/?cms2=") + b" "
    )
    again, _ = poll(path, "f")
    assert (again.new_items, again.alerts, again.warnings) == (0, 0, [])


def test_feeds_listing_shows_health_after_faults(tmp_path, feed_server, run_cli):
    new = feed_server.serve("/new", FEED)
    feed_server.handlers["/old"] = respond(308, b"", {"Location": new})
    feed_server.handlers["/gone"] = respond(410)
    feed_server.handlers["/busy"] = respond(503, b"", {"Retry-After": "120"})
    path = config_file(
        tmp_path,
        {"moved": feed_server.url("/old"), "gone": feed_server.url("/gone"), "busy": feed_server.url("/busy")},
        monitor={"adopt_redirect_after": 1},
    )
    run_cli("--config", str(path), "run", "--once")
    listing = {r["name"]: r for r in __import__("json").loads(run_cli("--config", str(path), "feeds", "--json").stdout)}
    assert listing["moved"]["adopted_url"] == new and listing["moved"]["items"] == 3
    assert listing["gone"]["disabled_reason"].startswith("the server says the feed is gone")
    assert listing["busy"]["last_status"] == 503 and listing["busy"]["consecutive_errors"] == 1
    assert listing["busy"]["last_error"] == "HTTP 503 Service Unavailable"
    human = run_cli("--config", str(path), "feeds").stdout
    assert "moved permanently: now polling" in human and "disabled: the server says" in human


def test_a_slow_feed_does_not_hold_up_the_others(tmp_path, feed_server):
    import asyncio

    from monitor.config import load_config
    from monitor.runtime.assembly import assemble
    from monitor.runtime.daemon import run_once

    def slow(h):
        time.sleep(3)
        respond(200, FEED)(h)

    feed_server.handlers["/slow"] = slow
    fast = feed_server.serve("/fast", FEED)
    path = config_file(tmp_path, {"slow": feed_server.url("/slow"), "fast": fast}, monitor={"timeout": "10s"})

    async def go():
        async with assemble(load_config(path, env={})) as assembly:
            await run_once(assembly.pipeline)
            return {s.name: s.last_poll for s in assembly.store.feed_states()}

    last = asyncio.run(go())
    assert last["fast"] < last["slow"]  # fast was done while slow was still on its way


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/feed", "http://[::1/feed"])
def test_a_url_that_cannot_be_requested_fails_its_feed_with_a_message(tmp_path, url):
    outcome, state = poll(config_file(tmp_path, {"bad": url}), "bad")
    assert outcome.status == "error" and outcome.error.startswith("not a valid URL (")
    assert state.consecutive_errors == 1 and state.last_error == outcome.error
