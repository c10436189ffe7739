"""Schema migrations keep what a database holds."""

from __future__ import annotations

import sqlite3

import pytest
from testkit import T0, write_config

from monitor.models import Item
from monitor.parsing.facts import item_facts, search_text
from monitor.store import SCHEMA_VERSION, SQLiteStore
from monitor.store.schema import SCHEDULE_COLUMNS

OLD_FTS = [  # items_fts as schema version 3 had it (sqlite-utils' enable_fts)
    "DROP TRIGGER items_ai",
    "DROP TRIGGER items_ad",
    "DROP TRIGGER items_au",
    "DROP TABLE items_fts",
    "DROP TABLE index_state",
    'CREATE VIRTUAL TABLE "items_fts" USING FTS5 ("fts", content="items")',
    'CREATE TRIGGER "items_ai" AFTER INSERT ON "items" BEGIN'
    ' INSERT INTO "items_fts" (rowid, "fts") VALUES (new.rowid, new."fts"); END',
    'CREATE TRIGGER "items_ad" AFTER DELETE ON "items" BEGIN'
    ' INSERT INTO "items_fts" ("items_fts", rowid, "fts") VALUES(\'delete\', old.rowid, old."fts"); END',
    "CREATE INDEX items_published ON items(published)",
    "DROP TABLE story_terms",
    "CREATE TABLE story_terms (story_id INTEGER REFERENCES stories(id), term TEXT)",
    "CREATE INDEX story_terms_term ON story_terms(term)",
    "CREATE INDEX story_terms_story ON story_terms(story_id)",
    "PRAGMA user_version=3",
]


def _insert(store: SQLiteStore, key: str, title: str) -> None:
    with store.transaction():
        story = store.conn.execute("INSERT INTO stories (title, first_seen) VALUES (?, 1000.0)", (title,)).lastrowid
        store.conn.executemany(
            "INSERT INTO story_terms (story_id, term) VALUES (?, ?)", [(story, t) for t in title.lower().split()]
        )
        item = Item(key=key, title=title, summary="", link=f"https://example.org/{key}")
        store.insert_item("f", item, item_facts(item), story, 0.0)
        # as every monitor before schema 6 stored it: the text with the item
        store.conn.execute("UPDATE items SET fts = ? WHERE key = ?", (search_text(title, ""), key))


def _matches(store: SQLiteStore, query: str) -> list[str]:
    return sorted(i["key"] for i in store.stored_items(None, query))


@pytest.mark.sqlite_only("a SQLite file of schema 3; PostgreSQL's first schema is 8")
def test_version_3_indexes_are_rebuilt_lean_and_keep_every_item(tmp_path, open_store):
    path = tmp_path / "old.db"
    store = open_store(path)
    for sql in OLD_FTS:
        store.conn.execute(sql)
    _insert(store, "a", "Israel relayed to Russia its dissatisfaction")
    _insert(store, "b", "Weather report")
    store.close()

    store = open_store(path)
    sql = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'items_fts'").fetchone()[0]
    assert "detail=none" in sql and "columnsize=0" in sql
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    indexes = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "items_published" not in indexes and "story_terms_term" not in indexes
    assert "story_terms_term_at" in indexes
    # What the old index held is found through the new one; later inserts and updates too.
    assert _matches(store, '"russia" AND "israel"') == ["a"]
    # Headline terms keep finding their story, now through its date.
    # (an older story has no stored headline signature: None, its headline is read instead)
    assert store.story_candidates(["israel", "relayed", "to", "russia"], "other", 1000.0, 3600.0) == [
        (1, "Israel relayed to Russia its dissatisfaction", None)
    ]
    assert store.story_candidates(["israel", "relayed", "to", "russia"], "other", 9000.0, 3600.0) == []
    _insert(store, "c", "Russia and Israel again")
    assert _matches(store, '"russia"') == ["a", "c"]
    with store.transaction():
        store.conn.execute("UPDATE items SET fts = 'weather' WHERE key = 'a'")
    assert _matches(store, '"russia"') == ["c"]
    assert sum(store.index_pending(search_text)) == 1  # "c", stored after the migration (a step behind, schema 6)
    store.conn.execute("INSERT INTO items_fts (items_fts, rank) VALUES ('integrity-check', 1)")  # raises if corrupt
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


# Where each backend keeps its schema's version.
NEWER = {
    "sqlite": f"PRAGMA user_version={SCHEMA_VERSION + 1}",
    "postgresql": f"UPDATE schema_version SET version = {SCHEMA_VERSION + 1}",
}


def test_a_database_from_a_newer_monitor_is_refused_with_advice(tmp_path, run_cli, open_store, backend):
    store = open_store()
    store.conn.execute(NEWER[backend])
    store.close()
    config = write_config(tmp_path, rules=[], channels={})
    result = run_cli("--config", str(config), "feeds")
    assert result.returncode == 1
    assert f"written by a newer monitor (schema {SCHEMA_VERSION + 1}; this one knows up to {SCHEMA_VERSION})" in (
        result.stderr
    )
    assert "copy made before the upgrade" in result.stderr


@pytest.mark.sqlite_only("a SQLite file of schema 6, and SQLite's query plan")
def test_version_6_story_index_gains_the_feed_and_candidates_probe_it_once(tmp_path, open_store):
    path = tmp_path / "v6.db"
    store = open_store(path)
    store.conn.execute("DROP INDEX items_story_feed")
    store.conn.execute("CREATE INDEX items_story ON items(story_id)")
    store.conn.execute("PRAGMA user_version=6")
    for key, feed in (("a", "tass"), ("b", "haaretz")):
        item = Item(
            key=key, title="Israel relayed to Russia its dissatisfaction", summary="", link=f"https://x.org/{key}"
        )
        facts = item_facts(item)
        with store.transaction():
            story = store.story_by_url(facts.canonical) or store.new_story(
                "", item.title, None, ["israel", "relayed", "russia", "dissatisfaction"], 1000.0
            )
            store.insert_item(feed, item, facts, story, 1000.0)
    store.close()

    store = open_store(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    indexes = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "items_story_feed" in indexes and "items_story" not in indexes
    terms = ["israel", "relayed", "russia", "dissatisfaction"]
    # A story is a candidate for every feed but those it has an item from (a feed's own items never merge).
    assert [c[0] for c in store.story_candidates(terms, "reuters", 1000.0, 3600.0)] == [1, 2]
    assert [c[0] for c in store.story_candidates(terms, "tass", 1000.0, 3600.0)] == [2]
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    store.story_candidates(terms, "tass", 1000.0, 3600.0)
    store.conn.set_trace_callback(None)
    plan = " | ".join(
        r[-1]
        for r in store.conn.execute("EXPLAIN QUERY PLAN " + statements[-1])  # parameters expanded
    )
    assert "USING COVERING INDEX items_story_feed (story_id=? AND feed=?)" in plan, plan
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


# A schema-11 database, as the monitor before version 12 left it.
UNDO_VERSION_12 = ["CREATE INDEX story_terms_story ON story_terms(story_id)", "DROP INDEX story_terms_story_term"]
VERSION_11 = {"sqlite": "PRAGMA user_version=11", "postgresql": "UPDATE schema_version SET version = 11"}
# A schema-10 database, as the monitor before version 11 left it.
UNDO_VERSION_11 = [*UNDO_VERSION_12, *(f"ALTER TABLE feeds DROP COLUMN {column}" for column, _ in SCHEDULE_COLUMNS)]
VERSION_10 = {"sqlite": "PRAGMA user_version=10", "postgresql": "UPDATE schema_version SET version = 10"}
# A schema-9 database, as the monitor before version 10 left it.
UNDO_VERSION_10 = [
    *UNDO_VERSION_11,
    "DROP INDEX stories_first_seen",
    "DROP INDEX alerts_created",
    "DROP INDEX items_feed_seen",
    "DROP TABLE marks",
    "ALTER TABLE feeds DROP COLUMN polled",
]
VERSION_9 = {"sqlite": "PRAGMA user_version=9", "postgresql": "UPDATE schema_version SET version = 9"}


def test_version_9_feeds_are_claimed_once_a_configuration_is_put_in_force_again(open_store, backend):
    store = open_store()
    store.sync_feeds([("wire", "https://x.org/w"), ("post", "https://x.org/p")], T0)
    for sql in [*UNDO_VERSION_10, VERSION_9[backend]]:
        store.conn.execute(sql)
    store.close()

    store = open_store()
    assert store.claim_feeds(T0, 60, 10) == []  # nothing is polled before a configuration says so
    store.sync_feeds([("wire", "https://x.org/w"), ("post", "https://x.org/p")], T0, off=["post"])
    assert store.claim_feeds(T0, 60, 10) == ["wire"]
    assert store.prune(T0) == 0 and store.count_rows("marks") == 1
    assert store.item_times("wire") == []  # over items_feed_seen, made again


@pytest.mark.sqlite_only("SQLite's query plan")
def test_a_claim_finds_due_feeds_by_index_and_reads_no_other(open_store):
    store = open_store()
    store.sync_feeds([(f"f{n}", f"https://x.org/{n}") for n in range(50)], T0 + 3600)  # none due at T0
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    assert store.claim_feeds(T0, 60, 10) == []
    store.conn.set_trace_callback(None)
    (claim,) = [s for s in statements if s.startswith("UPDATE feeds")]
    plan = [row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + claim)]
    assert any("USING INDEX feeds_due" in step for step in plan) and not any(s.startswith("SCAN") for s in plan)


def test_version_10_feeds_keep_their_state_and_learn_their_rate_from_the_next_document(open_store, backend):
    store = open_store()
    store.sync_feeds([("wire", "https://x.org/w")], T0)
    store.record_poll("wire", now=T0, next_poll=T0 + 300, status=200, etag='"v1"')
    for sql in [*UNDO_VERSION_11, VERSION_10[backend]]:
        store.conn.execute(sql)
    store.close()

    store = open_store()
    before = store.feed_state("wire")
    assert (before.etag, before.rate, before.poll_interval, before.poll_reason) == ('"v1"', None, None, None)
    after = store.record_poll(
        "wire",
        now=T0 + 300,
        next_poll=T0 + 400,
        status=200,
        interval=100.0,
        reason="learned",
        per_day=40.0,
        rate=(3.0, T0 + 300, T0 - 3600),
    )
    assert (after.etag, after.rate, after.poll_interval, after.poll_reason, after.poll_rate) == (
        '"v1"',
        (3.0, T0 + 300, T0 - 3600),
        100.0,
        "learned",
        40.0,
    )
    kept = store.record_poll("wire", now=T0 + 400, next_poll=T0 + 500, status=304, interval=90.0, reason="learned")
    assert kept.rate == (3.0, T0 + 300, T0 - 3600) and store.feed_rates() == {"wire": (kept.rate, None)}
    assert store.feed_intervals() == {"wire": (90.0, "learned")}


def _indexes(store, table: str) -> set[str]:
    if isinstance(store, SQLiteStore):
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?"
    return {r[0] for r in store.conn.execute(sql, (table,)).fetchall()}


def test_version_11_story_terms_are_indexed_by_story_and_term_and_keep_finding_their_stories(open_store, backend):
    store = open_store()
    terms = ["israel", "relayed", "russia", "dissatisfaction"]
    story = store.new_story("https://x.org/a", "Israel relayed to Russia its dissatisfaction", T0, terms, T0)
    for sql in [*UNDO_VERSION_12, VERSION_11[backend]]:
        store.conn.execute(sql)
    store.close()

    store = open_store()
    assert {"story_terms_story_term", "story_terms_term_at"} <= _indexes(store, "story_terms")
    assert "story_terms_story" not in _indexes(store, "story_terms")
    found = store.story_candidates([*terms, "today"], "other-feed", T0, 3600.0)
    assert [candidate[0] for candidate in found] == [story]
