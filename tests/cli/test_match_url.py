"""`monitor match QUERY URL` fetches as a poll does: through the pollers' Fetcher, with the
config's settings (or their defaults), against the real feed server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

from fetchkit import config_file, poll

from monitor.config import DEFAULT_USER_AGENT

FIXTURES = Path(__file__).parents[1] / "fixtures"
FEED = (FIXTURES / "story/toi_v2.xml").read_bytes()
STORY = "Israel relayed to Russia 'dissatisfaction' over its Hamas position as rift widens"
QUERY = "Russia AND Israel AND dissatisfaction"


def redirect(status: int, location: str):
    def handler(h):
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handler


def requests_to(feed_server, path: str) -> list[dict[str, str]]:
    return [headers for p, _, headers in feed_server.log if p == path]


def test_a_url_matches_and_is_requested_as_a_poll_requests_it(run_cli, feed_server):
    url = feed_server.serve("/toi", FEED)
    result = run_cli("match", QUERY, url, "--json")
    assert result.returncode == 0, result.stderr
    [hit] = [json.loads(line) for line in result.stdout.splitlines()]
    assert hit["title"] == STORY and hit["feed"] == "The Times of Israel"
    [headers] = requests_to(feed_server, "/toi")
    assert headers["user-agent"] == DEFAULT_USER_AGENT
    assert headers["accept"].startswith("application/rss+xml, application/atom+xml")
    assert headers["accept-encoding"] == "gzip, deflate"


def test_the_configs_user_agent_and_byte_cap_apply(run_cli, feed_server, tmp_path):
    (tmp_path / "config.toml").write_text(
        '[monitor]\ndatabase = "m.db"\nuser_agent = "ops-desk/2 (+ops@example.org)"\nmax_bytes = 2048\n',
        encoding="utf-8",
    )
    big = feed_server.serve("/big", FEED)  # 2.7 KB
    small = feed_server.serve(
        "/small",
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>Russia and Israel: dissatisfaction</title><guid>1</guid></item></channel></rss>",
    )
    result = run_cli("match", QUERY, big, small)
    assert result.returncode == 0, result.stderr
    assert f"{big}: response larger than 2 KiB; not read further" in result.stderr.splitlines()
    assert "**Russia** and **Israel**" in result.stdout
    assert [h["user-agent"] for h in requests_to(feed_server, "/small")] == ["ops-desk/2 (+ops@example.org)"]


def test_without_a_config_the_default_byte_cap_refuses_a_larger_body_and_the_next_source_is_read(
    run_cli, feed_server, tmp_path
):
    huge = feed_server.serve("/huge", b"<rss>" + b" " * (10 * 1024 * 1024) + b"</rss>")
    (tmp_path / "toi.xml").write_bytes(FEED)
    result = run_cli("match", QUERY, huge, "toi.xml")
    assert result.returncode == 0, result.stderr
    assert f"{huge}: response larger than 10240 KiB; not read further" in result.stderr.splitlines()
    assert "**dissatisfaction**" in result.stdout


def test_errors_name_the_url_and_say_what_went_wrong_exit_one_without_a_match(run_cli, feed_server):
    feed_server.handlers["/a"] = redirect(301, "/b")
    feed_server.handlers["/b"] = redirect(302, "/a")
    for i in range(7):
        feed_server.handlers[f"/c{i}"] = redirect(307, f"/c{i + 1}")
    feed_server.serve("/c7", FEED)
    loop, chain, missing = feed_server.url("/a"), feed_server.url("/c0"), feed_server.url("/missing")
    bad = "http://127.0.0.1:99999/feed"
    result = run_cli("match", QUERY, loop, chain, missing, bad)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{loop}: redirect loop at {loop}",
        f"{chain}: more than 5 redirects",
        f"{missing}: HTTP 404 Not Found",
        f"{bad}: not a valid URL (Port out of range 0-65535); check it",
        "0 matching items",
    ]
    assert not requests_to(feed_server, "/c7")  # the chain's end, never asked for


def test_a_redirect_from_the_local_server_to_a_private_address_is_followed_as_a_poll_follows_it(
    run_cli, feed_server, tmp_path
):
    # A URL on a private address itself (a local bridge) may redirect to another private
    # one; only a public URL may not (tests/polling/test_fetch.py). Both ways go through one
    # policy, so a poll of the same URL must get the same answer.
    feed_server.serve("/bridge", FEED)
    feed_server.handlers["/hop"] = redirect(302, feed_server.url("/bridge"))
    hop = feed_server.url("/hop")

    result = run_cli("match", QUERY, hop, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["title"] == STORY

    polled, _ = poll(config_file(tmp_path, {"f": hop}), "f")
    assert polled.status == "ok"
    assert len(requests_to(feed_server, "/bridge")) == 2  # the match's request and the poll's
