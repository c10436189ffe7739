"""The full-text index may run a step behind ingest (SQLite's, since schema 6; on both backends
for an item stored without its index text): what a backtest finds never depends on how far
behind it is, and catching up, editing, pruning or deleting never corrupts it. On both
backends; how SQLite's FTS5 index keeps its place (a mark, triggers) only there."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storykit import desk

from monitor.models import Item
from monitor.parsing.facts import item_facts, search_text
from monitor.rules import compile_query
from monitor.runtime.daemon import Daemon
from monitor.runtime.endpoint import Liveness
from monitor.runtime.supervisor import Supervisor
from monitor.store import SCHEMA_VERSION, SQLiteStore, Store, open_store
from monitor.store.postgres import _lexemes, fts5_to_tsquery
from monitor.text import INDEXED_TOKEN_CHARS

WORDS = ["russia", "israel", "iran", "weather"]
FTS5_INTERNALS = pytest.mark.sqlite_only("FTS5's own bookkeeping: the index mark, its triggers, SQLite's rowid reuse")


def _new_store(database: str) -> Store:
    """A store holding one story, which every test item belongs to."""
    store = open_store(database)
    store.conn.execute("INSERT INTO stories (title, first_seen) VALUES ('s', 0)")
    return store


@pytest.fixture
def store(database):
    store = _new_store(database)
    yield store
    store.close()


def _item(key: str, word: str) -> tuple[Item, object]:
    item = Item(key=key, title=f"{word} headline", summary="", link=f"https://example.org/{key}")
    return item, item_facts(item)


def _candidates(store: Store, word: str) -> set[str]:
    """What a backtest's query hands the rule engine: the index's matches, and the items it
    does not hold yet."""
    return {i["key"] for i in store.stored_items(None, f'"{word}"')}


def _indexed(store: Store, word: str) -> list[str]:
    """Through the index alone: FTS5's, or PostgreSQL's GIN index over the same text."""
    if isinstance(store, SQLiteStore):
        sql, query = (
            "SELECT key FROM items WHERE id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)",
            f'"{word}"',
        )
    else:
        sql, query = (
            f"SELECT key FROM items WHERE {_lexemes('fts')} @@ ?::tsquery",
            fts5_to_tsquery(f'"{word}"'),
        )
    return sorted(r[0] for r in store.conn.execute(sql, (query,)).fetchall())


def _mark(store: SQLiteStore) -> int:
    return store.conn.execute("SELECT indexed_upto FROM index_state").fetchone()[0]


def _check_integrity(store: SQLiteStore) -> None:
    # rank 1: also compares the index with the items table, so only once it is caught up.
    store.conn.execute("INSERT INTO items_fts (items_fts, rank) VALUES ('integrity-check', 1)")


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.sampled_from(WORDS)),
        st.tuples(st.just("update"), st.integers(0, 15), st.sampled_from(WORDS)),
        st.tuples(st.just("delete"), st.integers(0, 15)),
        st.tuples(st.just("index"), st.integers(1, 4)),
        st.tuples(st.just("prune"), st.integers(0, 15)),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPS)
def test_backtests_find_every_item_however_far_behind_the_index_is(new_database, ops):
    with closing(_new_store(new_database())) as store:
        text: dict[str, str] = {}  # the model: key -> the one word its searchable text holds
        first_seen: dict[str, int] = {}
        for n, op in enumerate(ops):
            keys = sorted(text)
            with store.transaction():
                if op[0] == "insert":
                    key = f"k{n}"
                    store.insert_item("f", *_item(key, op[1]), 1, float(n))
                    text[key], first_seen[key] = op[1], n
                elif op[0] == "update" and keys:
                    key = keys[op[1] % len(keys)]
                    row_id = store.find_item("f", key)["id"]
                    store.update_item(row_id, *_item(key, op[2]), search_text(f"{op[2]} headline", ""), float(n))
                    text[key] = op[2]
                elif op[0] == "delete" and keys:
                    key = keys[op[1] % len(keys)]
                    store.conn.execute("DELETE FROM items WHERE key = ?", (key,))
                    del text[key]
                elif op[0] == "prune":
                    store.prune(op[1])
                    text.update({k: "" for k in text if first_seen[k] < op[1]})
            if op[0] == "index":
                for _ in store.index_pending(search_text, chunk=op[1]):
                    pass
        pruned = {k for k, t in text.items() if not t}
        for word in WORDS:
            candidates = _candidates(store, word)
            assert {k for k, t in text.items() if t == word} <= candidates and not candidates & pruned
        if isinstance(store, SQLiteStore):
            mark = _mark(store)
            ids = dict(store.conn.execute("SELECT key, id FROM items").fetchall())
            for word in WORDS:
                # FTS5 holds exactly the items up to its mark, with their current text.
                assert _indexed(store, word) == sorted(k for k, t in text.items() if t == word and ids[k] <= mark)
            assert sum(store.index_pending(search_text)) == sum(1 for i in ids.values() if i > mark)
            _check_integrity(store)
        for _ in store.index_pending(search_text):
            pass
        for word in WORDS:  # caught up: the index alone finds every item, and a backtest nothing more
            expected = sorted(k for k, t in text.items() if t == word)
            assert _indexed(store, word) == expected and sorted(_candidates(store, word)) == expected


def test_new_items_wait_for_the_index_and_a_backtest_finds_them_meanwhile(store):
    with store.transaction():
        for n in range(5):
            store.insert_item("f", *_item(f"k{n}", "russia"), 1, 0.0)
    assert _indexed(store, "russia") == [] and _candidates(store, "russia") == {"k0", "k1", "k2", "k3", "k4"}
    assert list(store.index_pending(search_text, chunk=2)) == [2, 2, 1]
    assert _indexed(store, "russia") == ["k0", "k1", "k2", "k3", "k4"]
    assert _candidates(store, "russia") == {"k0", "k1", "k2", "k3", "k4"}
    assert list(store.index_pending(search_text)) == []


@FTS5_INTERNALS
def test_fts5_marks_what_it_holds_and_stays_whole(store):
    with store.transaction():
        for n in range(5):
            store.insert_item("f", *_item(f"k{n}", "russia"), 1, 0.0)
    assert _mark(store) == 0
    assert list(store.index_pending(search_text, chunk=2)) == [2, 2, 1]
    assert _mark(store) == 5
    _check_integrity(store)


def test_a_word_longer_than_the_index_holds_is_stored_and_found_by_its_start(store):
    """A hostile feed's 2,048-letter word (a lexeme holds 2,047 bytes): its item is stored and
    indexed (PostgreSQL's index keeps the word's start), a prefix finds it, and a rule naming
    the whole word is not narrowed by the index (each of its candidates goes to the rule engine)."""
    word = "x" * 2048
    with store.transaction():
        store.insert_item("f", *_item("long", f"{word} russia"), 1, 0.0)
        store.insert_item("f", *_item("short", "russia"), 1, 0.0)
    assert sum(store.index_pending(search_text)) == 2
    assert _indexed(store, "russia") == ["long", "short"]
    assert {i["key"] for i in store.stored_items(None, '"xxxxx"*')} == {"long"}
    assert compile_query(word).fts_query() is None
    assert compile_query("x" * INDEXED_TOKEN_CHARS).fts_query() is not None


def test_a_pruned_item_is_no_candidate_whether_indexed_or_not(store):
    with store.transaction():
        store.insert_item("f", *_item("indexed", "russia"), 1, 0.0)
    assert sum(store.index_pending(search_text)) == 1
    with store.transaction():
        store.insert_item("f", *_item("behind", "russia"), 1, 0.0)
        store.insert_item("f", *_item("recent", "russia"), 1, 5.0)
        assert store.prune(1.0) == 2
    assert [i["key"] for i in store.stored_items(None, '"russia"')] == ["recent"]


@FTS5_INTERNALS
def test_an_id_reused_below_the_mark_lowers_the_mark(store):
    with store.transaction():
        store.insert_item("f", *_item("first", "weather"), 1, 0.0)
        store.insert_item("f", *_item("old", "russia"), 1, 0.0)
    assert sum(store.index_pending(search_text)) == 2
    with store.transaction():
        store.conn.execute("DELETE FROM items WHERE key = 'old'")
        store.insert_item("f", *_item("new", "iran"), 1, 0.0)  # SQLite gives it id 2 again
    assert store.find_item("f", "new")["id"] == 2 and _mark(store) == 1
    assert _candidates(store, "iran") == {"new"} and _indexed(store, "russia") == []
    assert sum(store.index_pending(search_text)) == 1 and _indexed(store, "iran") == ["new"]
    _check_integrity(store)


V5_TRIGGERS = [  # as schema 5 had them: every insert indexed at once
    "DROP TABLE index_state",
    "DROP TRIGGER items_ai",
    "DROP TRIGGER items_au",
    "DROP TRIGGER items_ad",
    "CREATE TRIGGER items_ai AFTER INSERT ON items BEGIN"
    " INSERT INTO items_fts (rowid, fts) VALUES (new.rowid, new.fts); END",
    "CREATE TRIGGER items_ad AFTER DELETE ON items BEGIN"
    " INSERT INTO items_fts (items_fts, rowid, fts) VALUES ('delete', old.rowid, old.fts); END",
    "CREATE TRIGGER items_au AFTER UPDATE ON items BEGIN"
    " INSERT INTO items_fts (items_fts, rowid, fts) VALUES ('delete', old.rowid, old.fts);"
    " INSERT INTO items_fts (rowid, fts) VALUES (new.rowid, new.fts); END",
    "PRAGMA user_version=5",
]


@pytest.mark.sqlite_only("a SQLite file of schema 5 and its FTS5 triggers")
def test_a_version_5_database_keeps_its_index_and_indexes_what_comes_after_a_step_behind(tmp_path, open_store):
    path = tmp_path / "v5.db"
    store = open_store(path)
    for sql in V5_TRIGGERS:
        store.conn.execute(sql)
    store.conn.execute("INSERT INTO stories (title, first_seen) VALUES ('s', 0)")
    with store.transaction():
        for key, word in (("a", "russia"), ("b", "weather")):
            store.insert_item("f", *_item(key, word), 1, 0.0)
            # schema 5 stored the text with the item, and its trigger indexed it
            store.conn.execute("UPDATE items SET fts = ? WHERE key = ?", (search_text(f"{word} headline", ""), key))
    store.close()

    store = open_store(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert _mark(store) == 2 and _indexed(store, "russia") == ["a"]
    with store.transaction():
        store.insert_item("f", *_item("c", "russia"), 1, 0.0)
        store.update_item(store.find_item("f", "a")["id"], *_item("a", "iran"), search_text("iran headline", ""), 0.0)
    assert _indexed(store, "russia") == [] and _candidates(store, "russia") == {"c"}
    assert _indexed(store, "iran") == ["a"]  # an indexed item's edit reaches the index at once
    assert sum(store.index_pending(search_text)) == 1 and _indexed(store, "russia") == ["c"]
    _check_integrity(store)
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.usefixtures("database")
def test_ingest_writes_each_item_s_index_text_and_the_daemon_brings_the_index_up_to_it(tmp_path):
    with desk(tmp_path, ["aj"]) as d:
        d.ingest_file("aj", "aljazeera-america_articles_2016-02-26.xml")
        assert d.sql("SELECT count(*) FROM items")[0][0] >= 10
        assert d.sql("SELECT count(*) FROM items WHERE fts IS NULL") == [(0,)]
        having = sorted(k for (k,) in d.sql("SELECT key FROM items WHERE ' ' || fts || ' ' LIKE '% the %'"))
        assert having
        # PostgreSQL's GIN index follows the column at once; SQLite's FTS5 index, a step behind.
        assert _indexed(d.pipeline.store, "the") == ([] if isinstance(d.pipeline.store, SQLiteStore) else having)
        liveness = Liveness()
        asyncio.run(Daemon(d.assembly, Supervisor(d.assembly, liveness)).index())
        assert _indexed(d.pipeline.store, "the") == having
