from __future__ import annotations

import csv
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.parsing.feed import parse_feed

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"
MANIFEST = list(csv.DictReader((FEEDS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))


@pytest.mark.parametrize("row", MANIFEST, ids=[r["file"] for r in MANIFEST])
def test_every_real_fixture_parses_to_plain_text_items(row):
    parsed = parse_feed((FEEDS / row["file"]).read_bytes())
    assert len({i.key for i in parsed.items}) == len(parsed.items)
    if int(row["items_count"]) and "MALFORMED" not in row["file"]:
        # Every entry arrives, except exact repeats inside one document.
        assert len(parsed.items) >= int(row["items_count"]) * 0.9
    for item in parsed.items:
        assert "<p>" not in item.summary and "<a " not in item.title
        assert item.key.split(":", 1)[0] in ("guid", "link", "hash")


def test_fields_are_plain_text_with_dates_in_utc():
    parsed = parse_feed((FEEDS / "aljazeera_all_2026-08-13T0426.xml").read_bytes())
    assert parsed.lang == "en"
    first = parsed.items[0]
    assert first.title == "Search efforts in Colombia enter ‘final phase’ as quake toll reaches 265"
    assert first.published is not None and first.published.utcoffset().total_seconds() == 0
    assert parsed.title.startswith("Al Jazeera – Breaking News")


def test_jerusalem_post_repeated_link_gets_distinct_keys():
    parsed = parse_feed((FEEDS / "jpost_homepage_2023-02-25.xml").read_bytes())
    assert len(parsed.items) == len({i.key for i in parsed.items}) >= 60


def test_windows_1251_feed_is_decoded():
    parsed = parse_feed((FEEDS / "oren-ru_news_ru_2014-01-23_windows-1251.xml").read_bytes())
    assert any("Оренбург" in i.title + i.summary for i in parsed.items)


def test_json_feed():
    parsed = parse_feed((FEEDS / "jsonfeed_daringfireball_v1.json").read_bytes(), content_type="application/json")
    assert len(parsed.items) == 48 and parsed.items[0].title


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>", "HTML page"),
        (b"\x00\x01\x02 garbage", "not a feed"),
    ],
)
def test_non_feeds_are_refused_with_a_reason(body, reason):
    with pytest.raises(ParseError) as err:
        parse_feed(body)
    assert reason in err.value.message


def test_control_characters_are_dropped_but_tab_newline_and_carriage_return_kept():
    from monitor.parsing.feed import _clean

    every = "".join(chr(c) for c in range(0x20)) + "x\x7f\x85é"
    assert _clean(f"  a{every}b  ") == "a\t\n\rx\x7f\x85éb"
    assert _clean("\x00\x0b plain \x1f") == "plain"
    assert _clean(None) == "" and _clean(3) == ""


@pytest.mark.parametrize("fast", [True, False])
def test_a_link_too_long_to_be_one_is_dropped_and_its_item_kept(fast):
    hostile = "https://site.example/a?" + "q" * 60_000
    body = (
        "<rss version='2.0'><channel><title>t</title>"
        f"<item><title>Long</title><guid>g1</guid><link>{hostile}</link></item>"
        "<item><title>Short</title><guid>g2</guid><link>https://site.example/b</link></item>"
        "</channel></rss>"
    ).encode()
    parsed = parse_feed(body, fast=fast)
    assert [(i.title, i.link) for i in parsed.items] == [("Long", ""), ("Short", "https://site.example/b")]
    assert parsed.warnings == ("1 item links longer than 4096 characters ignored (the items are kept)",)
