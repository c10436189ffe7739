"""What only the PostgreSQL store has: a server that refuses a password or is not there, a
server that restarts under a running store, and full-text narrowing by tsquery. (The store's
queries themselves run on both backends: every test that takes the `database` fixture.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pgkit
import pytest
from storykit import desk, feed_doc
from testkit import T0, Clock, wait_for, write_config

from monitor.rules import compile_query
from monitor.rules.explain import _fts_safe
from monitor.store import DATABASE_ERRORS, StoreUnavailable, open_store
from monitor.store.pgindex import PENDING_LIST_LIMIT
from monitor.store.postgres import _lexemes, fts5_to_tsquery

PASSWORD = "Pg5ecretW0rdQ7"
WRONG = "Wr0ngGuessZ4"


@pytest.fixture
def guarded(postgres_server, postgres_schema):
    """The URL (password from ${PGPASSWORD}) of a schema of this test's own that only
    pgkit.GUARDED may use, logging in with PASSWORD."""
    postgres_server.guard(postgres_schema, PASSWORD)
    return postgres_server.url(postgres_schema, user=f"{pgkit.GUARDED}:${{PGPASSWORD}}")


def _feeds(run_cli, tmp_path, database: str, password: str) -> list[subprocess.CompletedProcess]:
    """`monitor feeds`, plain and --json, over `database` with PGPASSWORD=password."""
    write_config(tmp_path, feeds={"wire": "https://example.com/feed"}, monitor={"database": database})
    env = {"PGPASSWORD": password}
    return [run_cli("feeds", env=env), run_cli("feeds", "--json", env=env)]


def test_the_right_password_opens_the_store_and_is_never_shown(run_cli, tmp_path, guarded):
    plain, as_json = _feeds(run_cli, tmp_path, guarded, PASSWORD)
    assert plain.returncode == as_json.returncode == 0, plain.stderr
    assert [f["name"] for f in json.loads(as_json.stdout)] == ["wire"]
    assert all(PASSWORD not in out.stdout + out.stderr for out in (plain, as_json))


@pytest.mark.parametrize("given", ["in the environment", "in the URL"])
def test_a_wrong_password_is_an_error_naming_the_server_and_database_never_the_password(
    run_cli, tmp_path, guarded, postgres_server, given
):
    database = guarded if given == "in the environment" else guarded.replace("${PGPASSWORD}", WRONG)
    named = f"cannot connect to the database postgresql://{pgkit.GUARDED}@127.0.0.1:{postgres_server.port}/monitor"
    for result in _feeds(run_cli, tmp_path, database, WRONG):
        assert result.returncode == 1 and named in result.stderr
        assert "password authentication failed" in result.stderr and "hint:" in result.stderr
        assert WRONG not in result.stdout + result.stderr and PASSWORD not in result.stdout + result.stderr


def test_a_server_that_is_not_there_is_an_error_naming_it(run_cli, tmp_path):
    port = pgkit.free_port()  # nothing listens there
    database = f"postgresql://{pgkit.GUARDED}:${{PGPASSWORD}}@127.0.0.1:{port}/monitor"
    named = f"cannot connect to the database postgresql://{pgkit.GUARDED}@127.0.0.1:{port}/monitor"
    for result in _feeds(run_cli, tmp_path, database, PASSWORD):
        assert result.returncode == 1 and named in result.stderr and "Connection refused" in result.stderr
        assert PASSWORD not in result.stdout + result.stderr


def feed_names_once_back(store) -> list[str] | None:
    """The feeds' names, or None while the store still finds the server away."""
    try:
        return [f.name for f in store.feed_states()]
    except StoreUnavailable:
        return None


@pytest.mark.usefixtures("postgres_available")
def test_the_store_is_unavailable_while_the_server_is_down_and_works_again_after():
    server = pgkit.PostgresServer()  # of its own: the session's must stay up
    try:
        with closing(open_store(server.url(), busy_timeout=10.0)) as store:
            store.sync_feeds([("wire", "https://example.com/feed")], T0)
            # A restart while the store is idle: a connection the server closed is replaced as
            # it is lent, so the first statement after the restart works.
            for mode in ("fast", "immediate"):
                server.stop(mode)
                server.start()
                assert feed_names_once_back(store) == ["wire"]
        with closing(open_store(server.url(), busy_timeout=1.0)) as store:
            for mode in ("fast", "immediate"):  # a clean shutdown, and a crash
                server.stop(mode)
                with pytest.raises(StoreUnavailable) as down:
                    store.feed_states()
                assert isinstance(down.value, DATABASE_ERRORS)
                assert f"the database {server.url()} is unavailable" in str(down.value)
                server.start()
                # The pool replaced its connections: within its reconnect backoff (about a second
                # or two, longer than this store's 1 s checkout), the store works again by itself.
                wait_for(lambda: feed_names_once_back(store) == ["wire"])
            # A crash inside a transaction: unavailable, and nothing of it committed.
            with pytest.raises(StoreUnavailable), store.transaction():
                store.mark_baselined("wire")
                server.stop("immediate")
                store.record_redirect("wire", "https://example.com/moved", 1, adopt=False)
            server.start()
            wait_for(lambda: feed_names_once_back(store) == ["wire"])
            assert not store.feed_state("wire").baselined
            store.mark_baselined("wire")  # and it writes again
            assert store.feed_state("wire").baselined
    finally:
        server.close()


def test_fts5_narrowing_reads_as_a_tsquery():
    assert fts5_to_tsquery('"russia"') == "'russia'"
    assert fts5_to_tsquery('("russia" AND "isra"*)') == "( 'russia' & 'isra':* )"
    assert fts5_to_tsquery('(("روسيا" OR "רוסיה"*) AND "москва")') == "( ( 'روسيا' | 'רוסיה':* ) & 'москва' )"
    # What rules/explain.py writes for a rule, through to the tsquery.
    compiled = compile_query('روسيا AND (Isra* OR "rift widens")', {})
    assert fts5_to_tsquery(compiled.fts_query()) == "( 'روسيا' & ( 'isra':* | ( 'rift' & 'widens' ) ) )"


ARABIC = feed_doc(
    "الجزيرة نت",
    [
        ("aj-1", "https://www.aljazeera.net/news/1", "وروسيا تدعو إلى التهدئة في غزة"),
        ("aj-2", "https://www.aljazeera.net/news/2", "الروسي يزور القاهرة"),
        ("aj-3", "https://www.aljazeera.net/news/3", "إسرائيل تقصف جنوب لبنان"),
    ],
    lang="ar",
)
HEBREW = feed_doc(
    "ynet",
    [
        ("yn-1", "https://www.ynet.co.il/news/1", "השגריר וברוסיה זומן לשיחת נזיפה"),
        ("yn-2", "https://www.ynet.co.il/news/2", "רוסיה מגנה את התקיפה"),
        ("yn-3", "https://www.ynet.co.il/news/3", "מזג האוויר: גשם בצפון"),
    ],
    lang="he",
)
CORPUS = {
    "aj": "aljazeera_all_2026-08-13T0426.xml",
    "bbc": "bbc_world_2026-08-13.xml",
    "nyt": "nyt_world_2026-08-13.xml",
    "ynet": "ynet_hebrew-news_2021-10-07_MALFORMED-browser-copy.xml",
    "citydog": "citydog-by_ru_2017-01-25.xml",
    "jpost": "jpost_homepage_2023-02-27.xml",
}
# Words, prefixes, phrases, fields, Arabic and Hebrew with attached prefixes, and a query the
# index cannot narrow (a regular expression: every item is a candidate).
QUERIES = [
    "Israel",
    "Isra*",
    "Russia AND Ukraine",
    "Hezbollah OR Hamas",
    '"White House"',
    "title:Trump AND NOT Iran",
    "روسيا",
    "רוסיה",
    "Минск* OR Киев*",
    "/isr[a-z]+/",
]


def test_backtest_finds_the_same_items_on_both_backends(tmp_path, postgres_url):
    from monitor.reports import backtest

    found = {}
    for backend, database in (("sqlite", str(tmp_path / "m.db")), ("postgresql", postgres_url)):
        folder = tmp_path / backend
        folder.mkdir()
        with desk(folder, [*CORPUS, "ar", "he"], monitor={"database": database}, clock=Clock(T0)) as d:
            for feed, file in CORPUS.items():
                d.ingest_file(feed, file)
            d.ingest("ar", ARABIC)
            d.ingest("he", HEBREW)
            found[backend] = [backtest(d.pipeline.config, query, 10**10, None) for query in QUERIES]
    for query, on_sqlite, on_postgres in zip(QUERIES, found["sqlite"], found["postgresql"], strict=True):
        assert on_sqlite, query  # each query finds something, so that agreeing means something
        assert on_postgres == on_sqlite, query
    by_query = dict(zip(QUERIES, found["postgresql"], strict=True))
    assert [h["title"] for h in by_query["روسيا"]] == ["وروسيا تدعو إلى التهدئة في غزة"]  # not الروسي
    assert {h["title"] for h in by_query["רוסיה"]} >= {"השגריר וברוסיה זומן לשיחת נזיפה", "רוסיה מגנה את התקיפה"}

    with closing(open_store(postgres_url)) as store:
        # The narrowing is PostgreSQL's own: a rare word's candidates are a few items of many.
        every = sum(1 for _ in store.stored_items(None, None))
        candidates = sum(1 for _ in store.stored_items(None, '"hezbollah"'))
        assert 0 < candidates < every / 10
        # Sound for every rule: each token of an item's text (that a narrowing may name) is a
        # lexeme of its tsvector, whatever the script.
        rows = store.conn.execute(
            f"SELECT key, fts, array(SELECT lexeme FROM unnest({_lexemes('fts')})) FROM items"
        ).fetchall()
    assert len(rows) == every
    for key, fts, lexemes in rows:
        assert {t for t in fts.split() if _fts_safe(t)} <= set(lexemes), key


def test_a_version_12_full_text_index_is_made_again_over_the_client_s_tokens(postgres_url):
    """Schema 13 indexes items.fts's own tokens: a database of 12, indexed by PostgreSQL's
    parser, gets the new index at upgrade, and a backtest's narrowing reads it."""
    from monitor.models import Item
    from monitor.parsing.facts import item_facts, search_text
    from monitor.store import SCHEMA_VERSION

    item = Item(key="k", title="Russia warns Israel", summary="", link="https://x.org/k")
    with closing(open_store(postgres_url)) as store:
        store.conn.execute("INSERT INTO stories (title, first_seen) VALUES ('s', 0)")
        with store.transaction():
            store.insert_items("f", [(item, item_facts(item), 1, search_text(item.title, ""))], 0.0)
        store.conn.execute("DROP INDEX items_fts")
        store.conn.execute("CREATE INDEX items_fts ON items USING gin (to_tsvector('simple', fts))")
        store.conn.execute("UPDATE schema_version SET version = 12")
    with closing(open_store(postgres_url)) as store:
        assert store.conn.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
        (definition,) = store.conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'items_fts'"
        ).fetchone()
        assert "array_to_tsvector" in definition and "to_tsvector('simple'" not in definition
        assert [i["key"] for i in store.stored_items(None, '"israel"')] == ["k"]
        assert list(store.stored_items(None, '"iran"')) == []
        with store.transaction():
            store.conn.execute("SET LOCAL enable_seqscan = off")
            plan = store.conn.execute(
                f"EXPLAIN SELECT i.id FROM items i WHERE {_lexemes('i.fts')} @@ ?::tsquery", ("'israel'",)
            ).fetchall()
        assert "items_fts" in "\n".join(row[0] for row in plan)


def test_lookups_whose_plan_depends_on_table_size_are_planned_each_time(postgres_url):
    """The server keeps one plan for a prepared statement, made for the tables as they were: a
    story lookup prepared while `items` was nearly empty would scan all of it ever after."""
    with closing(open_store(postgres_url)) as store, store.transaction():
        for _ in range(10):  # twice psycopg's threshold for preparing a statement
            store.stories_by_urls(["https://x.org/a"])
            store.story_candidates_many([(("israel", "russia", "syria", "strike", "talks"), None, 0.0)], "f", 3600)
            store.conn.execute("SELECT count(*) FROM feeds").fetchone()
        prepared = [r[0] for r in store.conn.execute("SELECT statement FROM pg_prepared_statements")]
    assert any("count(*) FROM feeds" in s for s in prepared)  # what a statement run ten times becomes
    assert not [s for s in prepared if "FROM items" in s or "story_terms" in s]


def test_a_failed_transaction_leaves_nothing_and_the_lock_free(postgres_url, caplog):
    """A transaction is BEGIN and the write lock in one round trip, and COMMIT; a failure
    inside it, the code's or the server's, rolls all of it back and frees the lock, so the
    next writer (this store or another node) goes on."""
    import psycopg

    def locks_held(store) -> int:  # this schema's write lock, by any session
        return store.conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND objid = (hashtext(current_schema())::bigint & 4294967295)::oid"
        ).fetchone()[0]

    with closing(open_store(postgres_url)) as store, closing(open_store(postgres_url)) as other:
        store.sync_feeds([("wire", "https://example.com/feed")], T0)
        with store.transaction():
            assert locks_held(other) == 1
        assert locks_held(other) == 0
        with pytest.raises(ValueError), store.transaction():
            store.mark_baselined("wire")
            raise ValueError("the code's failure")
        assert locks_held(other) == 0
        with pytest.raises(psycopg.errors.UndefinedColumn), store.transaction():
            store.mark_baselined("wire")
            store.conn.execute("SELECT no_such_column FROM feeds")
        assert locks_held(other) == 0
        assert not other.feed_state("wire").baselined
        with store.transaction():  # the connection went back to the pool fit for use
            store.mark_baselined("wire")
        assert other.feed_state("wire").baselined
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")]  # none left to the pool


def test_only_a_durable_commit_waits_for_the_disk(postgres_url):
    """As on SQLite (synchronous=NORMAL, FULL for durable()): the outbox's sent marks are synced,
    and with them every commit before; polls and ingests are not."""

    def synced(store) -> str:
        return store.conn.execute("SHOW synchronous_commit").fetchone()[0]

    with closing(open_store(postgres_url)) as store:
        assert synced(store) == "off"
        with store.transaction():
            assert synced(store) == "off"
        with store.durable():
            assert synced(store) == "on"
        with store.transaction():
            assert synced(store) == "off"


def test_a_skipped_postgresql_half_is_one_line_and_a_failure_under_ci(tmp_path):
    """The suite itself, on one test, without server binaries."""
    test = f"{Path(__file__).parent / 'test_schema.py'}::test_a_database_from_a_newer_monitor_is_refused_with_advice"
    env = {**os.environ, "MONITOR_PG_BIN": str(tmp_path / "nowhere"), "CI": ""}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-k", "postgresql", test]
    local = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert local.returncode == 0, local.stdout
    reason = f"PostgreSQL server binaries not found in {tmp_path / 'nowhere'}"
    assert [line for line in local.stdout.splitlines() if "PostgreSQL" in line] == [
        f"PostgreSQL tests skipped (1): {reason} (install postgresql-15, or set MONITOR_PG_BIN)"
    ]
    assert "1 skipped, 1 deselected" in local.stdout
    under_ci = subprocess.run(
        command, capture_output=True, text=True, env={**env, "CI": "true"}, cwd=tmp_path, timeout=120
    )
    assert under_ci.returncode == 1 and f"PostgreSQL tests cannot run under CI: {reason}" in under_ci.stdout


def test_a_story_s_lookups_read_by_index_before_the_server_has_statistics(postgres_url, monkeypatch):
    """A cold start fills tables faster than autovacuum analyses them, and a planner without
    statistics would scan all of `items` for a document's links, or all of `story_terms` for
    a headline's candidates. Each lookup reads by index, without statistics and with them."""
    import psycopg

    from monitor.store.pgconnection import _dialect

    with closing(open_store(postgres_url)) as store:
        for table in ("stories", "items", "story_terms"):
            store.conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        store.conn.execute("INSERT INTO stories (id, title) SELECT g, 'story' FROM generate_series(1, 20000) g")
        store.conn.execute(
            "INSERT INTO items (feed, key, story_id, canonical_url, first_seen) SELECT 'feed-' || (g % 100),"
            " 'k' || g, g, 'https://x.org/' || g, g FROM generate_series(1, 20000) g"
        )
        store.conn.execute(  # four common words in every headline, one of its own
            "INSERT INTO story_terms (story_id, term, at) SELECT g, w || (g % 3), g FROM generate_series(1, 20000) g,"
            " unnest(ARRAY['iran', 'talks', 'oil', 'deal']) w UNION ALL SELECT g, 'own' || g, g"
            " FROM generate_series(1, 20000) g"
        )
        statements: list[tuple[str, tuple]] = []
        execute = store.conn.execute

        def recorded(sql, params=(), prepare=None):
            statements.append((sql, tuple(params)))
            return execute(sql, params, prepare=prepare)

        monkeypatch.setattr(store.conn, "execute", recorded)
        assert store.stories_by_urls([f"https://x.org/{n}" for n in range(100, 150)])["https://x.org/120"] == 120
        found = store.story_candidates(["iran0", "talks0", "oil0", "deal0", "own900"], "feed-x", 900.0, 20.0)
        assert found[0][0] == 900 and {story for story, _, _ in found} == set(range(882, 919, 3))
        monkeypatch.undo()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for analysed in (False, True):
            if analysed:
                conn.execute("ANALYZE stories, items, story_terms")
            plans = [
                "\n".join(row[0] for row in conn.execute("EXPLAIN " + _dialect(sql), params))
                for sql, params in statements
            ]
            urls, candidates = plans
            assert all("Seq Scan" not in plan for plan in plans), plans
            assert "items_canonical" in urls and "using items_pkey" in urls, urls
            # the postings of the probe terms inside the window, then each candidate's own terms
            assert "story_terms_term_at" in candidates and "story_terms_story_term" in candidates, candidates
            assert "Index Cond: (term = " not in candidates, candidates  # a term's postings, all of them


def _write_items(store, count: int, feed: str) -> None:
    """`count` new items of `feed`, of one story, with words of their own, by ingest's bulk insert."""
    from monitor.models import Item
    from monitor.parsing.facts import item_facts, search_text

    with store.transaction():
        story = store.new_story("", "a story", T0, [], T0)
        items = [
            Item(
                key=f"k{n}",
                title=f"Talks in Doha round {n}",
                summary=f"word{n} envoy{n % 97}",
                link=f"https://x.org/{n}",
            )
            for n in range(count)
        ]
        store.insert_items(feed, [(i, item_facts(i), story, search_text(i.title, i.summary)) for i in items], T0)


def _pending_pages(postgres_server, schema: str) -> int:
    """Folds the full-text index's pending list: how many pages it held."""
    return postgres_server.admin(f"SELECT gin_clean_pending_list('{schema}.items_fts'::regclass)")[0][0]


FOLD_EVERY = 5000  # pgindex's, in these tests: a fold as a daemon makes it, from less text


def test_the_store_folds_the_full_text_index_s_pending_list_itself(postgres_server, postgres_schema, monkeypatch):
    """Left to the inserts, the list is folded inside an ingest's transaction, under the
    cluster's write lock. The store folds it beside them, once enough text was written."""
    from monitor.parsing.facts import search_text

    monkeypatch.setattr("monitor.store.pgindex.FOLD_EVERY", FOLD_EVERY)
    url = postgres_server.url(postgres_schema)
    with closing(open_store(url)) as store:
        _write_items(store, 100, "wire")  # some 3,500 characters of index text: not yet a fold
    assert _pending_pages(postgres_server, postgres_schema) > 0
    with closing(open_store(url)) as store:  # closing waits for a fold under way
        _write_items(store, 200, "agency")
        assert store.conn.execute("SELECT count(*) FROM items").fetchone()[0] == 300
    assert _pending_pages(postgres_server, postgres_schema) == 0
    with closing(open_store(url)) as store:  # an article body counts as the words it brings
        body = " ".join(f"paragraph{n}" for n in range(500))
        item = store.conn.execute("SELECT id FROM items WHERE feed = 'wire' AND key = 'k7'").fetchone()[0]
        assert store.store_body(item, body, search_text("Talks in Doha round 7", "", body))
    assert _pending_pages(postgres_server, postgres_schema) == 0
    with closing(open_store(url)) as store:  # the folded index still finds what it holds
        assert [i["key"] for i in store.stored_items(None, '"paragraph499"')] == ["k7"]
        assert [i["key"] for i in store.stored_items(None, '"word42"')] == ["k42", "k42"]
        # and the store's connections let the list grow to the limit pgindex folds it under
        assert store.conn.execute("SHOW gin_pending_list_limit").fetchone()[0] == PENDING_LIST_LIMIT


def test_a_role_that_may_not_fold_the_index_says_so_once_and_ingest_goes_on(
    postgres_server, postgres_schema, caplog, monkeypatch
):
    """Only an index's owner may fold it: a role given the tables but not owning them stores
    every item (its inserts fold the list, as they always did) and is told why it is slower."""
    monkeypatch.setattr("monitor.store.pgindex.FOLD_EVERY", FOLD_EVERY)
    open_store(postgres_server.url(postgres_schema)).close()  # the tables, owned by postgres
    postgres_server.guard(postgres_schema, PASSWORD)
    postgres_server.admin(f"GRANT ALL ON ALL TABLES IN SCHEMA {postgres_schema} TO {pgkit.GUARDED}")
    postgres_server.admin(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA {postgres_schema} TO {pgkit.GUARDED}")
    url = postgres_server.url(postgres_schema, user=f"{pgkit.GUARDED}:{PASSWORD}")
    with caplog.at_level("WARNING", logger="monitor.store.pgindex"), closing(open_store(url)) as store:
        for n in range(3):
            _write_items(store, 200, f"wire{n}")
        _write_items(store, 10, "agency")
        assert store.conn.execute("SELECT count(*) FROM items").fetchone()[0] == 610
    assert [r.getMessage() for r in caplog.records] == [
        "the database role does not own the full-text index, so ingest folds its pending list itself (slower); "
        "make the role monitor logs in as the owner of its tables to spare it"
    ]
    assert PASSWORD not in caplog.text


def test_an_index_the_store_cannot_fold_is_named_once_and_ingest_goes_on(postgres_url, caplog, monkeypatch):
    monkeypatch.setattr("monitor.store.pgindex.FOLD_EVERY", FOLD_EVERY)
    with caplog.at_level("WARNING", logger="monitor.store.pgindex"), closing(open_store(postgres_url)) as store:
        store.conn.execute("DROP INDEX items_fts")  # by hand, say
        for n in range(3):
            _write_items(store, 200, f"wire{n}")
        assert store.conn.execute("SELECT count(*) FROM items").fetchone()[0] == 600
    assert [r.getMessage() for r in caplog.records] == [
        'full-text index not folded (relation "items_fts" does not exist), so ingest folds its pending list '
        "itself (slower)"
    ]
