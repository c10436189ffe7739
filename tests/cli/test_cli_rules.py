"""`rules explain`, `backtest` and rule errors through the installed CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures"
STORY = "Israel relayed to Russia 'dissatisfaction' over its Hamas position as rift widens"

ARABIC_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>الجزيرة نت</title><language>ar</language>
<item><title>وروسيا تدعو إلى التهدئة في غزة</title><link>https://www.aljazeera.net/news/1</link>
<guid>aj-1</guid><pubDate>Tue, 24 Nov 2026 06:00:00 +0000</pubDate></item>
<item><title>الروسي يزور القاهرة</title><link>https://www.aljazeera.net/news/2</link>
<guid>aj-2</guid><pubDate>Tue, 24 Nov 2026 05:00:00 +0000</pubDate></item>
<item><title>إسرائيل تقصف جنوب لبنان</title><link>https://www.aljazeera.net/news/3</link>
<guid>aj-3</guid><pubDate>Tue, 24 Nov 2026 04:00:00 +0000</pubDate></item>
</channel></rss>
"""


@pytest.fixture
def collected(tmp_path, feed_server, run_cli):
    """A config whose database already holds the story feed and an Arabic feed."""
    toi = feed_server.serve("/toi", (FIXTURES / "story/toi_v2.xml").read_bytes())
    aj = feed_server.serve("/aj", ARABIC_FEED.encode())
    (tmp_path / "config.toml").write_text(
        f"""
[monitor]
database = "m.db"

[aliases]
russia = "Russia OR Moscow OR Kremlin OR روسيا"

[[feeds]]
name = "toi"
url = "{toi}"
tags = ["israel"]

[[feeds]]
name = "aljazeera-ar"
url = "{aj}"

[[rules]]
name = "rift"
query = "@russia AND Israel AND dissatisfaction"
notify = ["screen"]
feeds = ["tag:israel"]

[channels.screen]
urls = ["console://"]
""",
        encoding="utf-8",
    )
    assert run_cli("run", "--once").returncode == 0
    return run_cli


def test_explain_makes_precedence_visible(run_cli):
    result = run_cli("rules", "explain", "Russia OR Iran Israel")
    assert result.returncode == 0 and result.stdout.strip() == "(russia OR (iran AND israel))"


def test_explain_refuses_a_bad_query_with_a_caret(run_cli):
    result = run_cli("rules", "explain", "(Russia AND Israel")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-3:] == [
        "error: unbalanced parenthesis",
        "  (Russia AND Israel",
        '  ^ this "(" is never closed',
    ]


def test_backtest_a_rule_by_name(collected):
    result = collected("backtest", "rift", "--since", "100000d", "--json")
    assert result.returncode == 0, result.stderr
    [hit] = [json.loads(line) for line in result.stdout.splitlines()]
    assert hit["title"] == STORY and hit["feed"] == "toi"
    # The summary also names Moscow and the Kremlin, which the alias covers.
    assert hit["terms"] == ["Russia", "Moscow", "Kremlin", "Israel", "dissatisfaction"]


def test_backtest_a_query_lists_newest_first_with_a_count(collected):
    result = collected("backtest", "Israel OR Iran OR Hezbollah", "--since", "100000d")
    assert result.returncode == 0
    # The Netanyahu item names none of them; the other three do.
    assert "3 matching items arrived in the last 100000d" in result.stderr
    titles = [line for line in result.stdout.splitlines() if not line.startswith("    ")]
    assert titles[0].startswith("**Israel** relayed")  # 07:15, the newest
    assert titles[-1].startswith("**Hezbollah** fires")  # 05:05, the oldest


def test_backtest_finds_arabic_words_with_attached_prefixes(collected):
    result = collected("backtest", "روسيا", "--since", "100000d", "--json")
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    # وروسيا is روسيا with the conjunction و; الروسي is another word and must not match.
    assert [h["title"] for h in hits] == ["وروسيا تدعو إلى التهدئة في غزة"]


def test_backtest_respects_the_window_and_reports_no_match(collected, tmp_path):
    with sqlite3.connect(tmp_path / "m.db") as db:  # as if `run --once` had stored them 8 days ago
        db.execute("UPDATE items SET first_seen = first_seen - 8 * 86400")
    assert collected("backtest", "Hezbollah", "--since", "7d").returncode == 1
    assert collected("backtest", "Hezbollah", "--since", "9d").returncode == 0
    none = collected("backtest", "Zanzibar", "--since", "100000d")
    assert none.returncode == 1 and "0 matching items" in none.stderr


def test_backtest_usage_errors(collected):
    bad_since = collected("backtest", "rift", "--since", "a week")
    assert bad_since.returncode == 2 and "--since" in bad_since.stderr
    bad_query = collected("backtest", "Russia AND (", "--since", "7d")
    assert bad_query.returncode == 2 and "^" in bad_query.stderr


def test_check_names_each_bad_rule_and_alias(run_cli, tmp_path):
    (tmp_path / "config.toml").write_text(
        """
[aliases]
loop = "@loop OR x"

[[rules]]
name = "one"
query = "Israel NEAR/3 (a AND b)"
notify = ["screen"]

[[rules]]
name = "two"
query = "NOT sports"
notify = ["screen"]

[[rules]]
name = "three"
query = "/(unclosed/"
notify = ["screen"]

[channels.screen]
urls = ["console://"]
""",
        encoding="utf-8",
    )
    result = run_cli("check")
    assert result.returncode == 2
    for fragment in ('alias "loop"', 'rule "one"', 'rule "two"', 'rule "three"', "cyclic alias"):
        assert fragment in result.stderr, fragment


def test_backtest_names_a_mistyped_rule(collected):
    result = collected("backtest", "rift-typo", "--since", "100000d")
    assert 'note: no rule named "rift-typo" (rules: rift); evaluating it as a query' in result.stderr


def test_backtest_searches_the_feed_field_as_ingest_does(collected):
    # `feed:` covers the configured name and the feed's own title ("The Times of Israel").
    by_title = collected("backtest", 'feed:"times of israel" AND Hezbollah', "--since", "100000d", "--json")
    by_name = collected("backtest", "feed:toi AND Hezbollah", "--since", "100000d", "--json")
    assert by_title.returncode == 0 and by_name.returncode == 0
    titles = [[json.loads(line)["title"] for line in r.stdout.splitlines()] for r in (by_title, by_name)]
    assert titles[0] == titles[1] and len(titles[0]) == 1 and titles[0][0].startswith("Hezbollah fires")
    assert json.loads(by_title.stdout)["terms"] == ["Times of Israel", "Hezbollah"]


def test_run_once_leaves_the_index_behind_and_backtest_catches_it_up(collected, tmp_path):
    def index_state():
        with sqlite3.connect(tmp_path / "m.db") as db:
            return db.execute("SELECT (SELECT indexed_upto FROM index_state), max(id) FROM items").fetchone()

    indexed, top = index_state()
    assert (indexed, top) == (0, 7)  # stored by `run --once`, not indexed yet
    assert collected("backtest", "Hezbollah", "--since", "100000d").returncode == 0
    assert index_state() == (7, 7)
