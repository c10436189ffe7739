"""A SQLite store copied into a real PostgreSQL server (store/migrate.py): every row, its ids,
all or nothing. The command as a user runs it: tests/cli/test_migrate_db.py."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import psycopg
import pytest
from testkit import HOUR, T0

from monitor.errors import MonitorError, UsageError
from monitor.models import Item
from monitor.parsing.facts import item_facts, search_text
from monitor.store import SQLiteStore
from monitor.store.migrate import LEFT_BEHIND, TABLES, copy_database, migrate_database
from monitor.store.postgres import PostgresStore

HOOK, MAIL = "json://127.0.0.1:9/hook", "mailto://desk@example.org"


def _story(store: SQLiteStore, feed: str, key: str, title: str, now: float) -> tuple[int, int]:
    """(story id, item id) of a new item in a story of its own."""
    item = Item(
        key=key,
        title=title,
        summary=f"{title}, in more words",
        link=f"https://example.org/{key}",
        tags=("world",),
        published=datetime.fromtimestamp(now - 60, UTC),
    )
    facts = item_facts(item)
    with store.transaction():
        story = store.new_story(facts.canonical, title, now - 60, title.lower().split(), now, facts.signature)
        return story, store.insert_item(feed, item, facts, story, now)


def _fill(store: SQLiteStore) -> None:
    """A database as a daemon leaves it: validators and errors, indexed, unindexed and pruned items,
    alerts whose deliveries are sent, pending and dead, a notice, the desk's state, a lease."""
    store.sync_feeds([("wire", "https://example.org/wire.xml"), ("post", "https://example.org/post.xml")], T0)
    store.record_poll(
        "wire",
        now=T0,
        next_poll=T0 + 900,
        status=200,
        etag='"v1"',
        last_modified="Tue, 14 Nov 2023 22:13:20 GMT",
        title="The Wire",
        body_hash="b0dy",
        server_ttl=600.0,
    )
    store.mark_baselined("wire")
    store.record_poll("post", now=T0, next_poll=T0 + 120, status=503, error="HTTP 503")
    store.record_redirect("post", "https://example.org/moved.xml", 2, adopt=False)
    stories = [
        _story(store, "wire", f"k{n}", title, T0 + n)
        for n, title in enumerate(["Israel and Russia talk", "Markets rise in Asia", "Storm reaches the coast"])
    ]
    with store.transaction():
        alerts = [
            store.record_alert("r", story, item, ["israel"], [("title", 0, 6)], T0 + 10) for story, item in stories
        ]
        for alert in alerts:
            assert alert is not None
            store.enqueue(alert, "hook", HOOK, T0 + 10)
            store.enqueue(alert, "mail", MAIL, T0 + 10)
        notice = store.add_notice("health", "", "post", "post is failing", "HTTP 503 since …", T0 + 20)
        store.enqueue_notice(notice, "hook", HOOK, T0 + 20)
    due = {(d.alert_id, d.channel): d.id for d in store.due_deliveries(T0 + 30)}
    store.mark_sent_together([due[alerts[0], "hook"], due[alerts[1], "hook"]], T0 + 31, "<m1@example.org>")
    store.mark_failed_together([due[alerts[0], "mail"]], "refused", T0 + 90, T0 + 31, dead_after=0)  # dead
    store.mark_failed_together([due[alerts[1], "mail"]], "refused", T0 + 90, T0 + 31, dead_after=HOUR)  # pending
    store.set_feed_health("post", "failing", T0, "HTTP 503", T0 + 40)
    store.set_rule_state("r", cooldown_until=T0 + HOUR, spike_since=None)
    assert sum(store.index_pending(search_text)) == 3
    store.prune(T0 + 0.5)  # k0's text dropped
    _story(store, "post", "p0", "Late story, not indexed yet", T0 + 50)
    store.claim_feeds(T0 + 60, 300, 10)
    store.hold_lease("deliver", T0 + 60, 300)
    store.beat(T0 + 60, T0)


def _assert_same_rows(source: SQLiteStore, target: PostgresStore, table: str) -> None:
    columns = ", ".join(c for c in target.table_columns(table) if c not in LEFT_BEHIND)
    copied, original = (
        sorted(store.conn.execute(f"SELECT {columns} FROM {table}").fetchall(), key=repr) for store in (target, source)
    )
    assert copied == original, table


def _schema(target: PostgresStore) -> list[tuple]:
    """Every index and constraint of the target's tables, as PostgreSQL would create them again."""
    return sorted(
        target.conn.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema() UNION ALL"
            " SELECT conrelid::regclass::text, conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE connamespace = current_schema()::regnamespace"
        ).fetchall()
    )


@pytest.fixture
def stores(tmp_path, open_store, postgres_url):
    source = open_store(tmp_path / "m.db")
    _fill(source)
    with closing(PostgresStore(postgres_url, node="pg:1")) as target:
        yield source, target


def test_every_row_is_copied_with_its_ids_and_the_leases_stay_behind(stores):
    source, target = stores
    assert source.count_rows("leases") == source.count_rows("nodes") == 1  # what must stay behind
    rows = copy_database(source, target)
    assert list(rows) == list(TABLES)
    for table in TABLES:
        assert rows[table] == source.count_rows(table) == target.count_rows(table)
        _assert_same_rows(source, target, table)
    assert rows["items"] == 4 and rows["deliveries"] == 7 and rows["story_terms"] > 0
    assert target.count_rows("leases") == target.count_rows("nodes") == 0
    assert target.conn.execute("SELECT count(*) FROM feeds WHERE lease_node IS NOT NULL").fetchone()[0] == 0


def test_the_copy_reads_as_the_original_through_the_store(stores):
    source, target = stores
    copy_database(source, target)
    wire = target.feed_state("wire")
    assert wire is not None and wire == source.feed_state("wire")
    assert (wire.etag, wire.last_modified, wire.baselined, wire.server_ttl) == (
        '"v1"',
        "Tue, 14 Nov 2023 22:13:20 GMT",
        True,
        600.0,
    )
    assert target.feed_state("post") == source.feed_state("post")
    assert target.recent_alerts() == source.recent_alerts()
    assert target.outbox() == source.outbox()
    assert {r["status"] for r in target.outbox()} == {"pending", "dead"}
    assert target.thread_message_id(1, "hook", HOOK) == "<m1@example.org>"
    assert target.feed_health("post") == source.feed_health("post")
    assert target.rule_state("r") == source.rule_state("r")
    # The index text came along: the GIN index finds k1; pruned k0 is found by nothing, and
    # the item the SQLite index had not reached yet is indexed on PostgreSQL's next pass.
    assert [i["key"] for i in target.stored_items(None, '"russia"')] == ["p0"]
    assert [i["key"] for i in target.stored_items(None, '"asia"')] == ["p0", "k1"]
    assert sum(target.index_pending(search_text)) == 1
    assert [i["key"] for i in target.stored_items(None, '"asia"')] == ["k1"]


def test_new_rows_are_numbered_after_the_copied_ones(stores):
    source, target = stores
    copy_database(source, target)
    with target.transaction():
        story = target.new_story("https://example.org/new", "New", T0, ["new"], T0 + 99)
        item = Item(key="n", title="New", summary="", link="https://example.org/new")
        item_id = target.insert_item("wire", item, item_facts(item), story, T0 + 99)
        alert = target.record_alert("r", story, item_id, [], [], T0 + 99)
        notice = target.add_notice("spike", "r", "", "spike", "", T0 + 99)
    assert (story, item_id, alert, notice) == (5, 5, 4, 2)


def test_a_used_target_is_refused_unless_replaced(stores):
    source, target = stores
    copy_database(source, target)
    target.beat(T0 + 70, T0)
    with pytest.raises(MonitorError, match=r"already holds monitor data \(2 feeds, 4 items\)") as refused:
        copy_database(source, target)
    assert "--replace" in refused.value.hint
    assert target.count_rows("items") == 4 and target.count_rows("nodes") == 1

    rows = copy_database(source, target, replace=True)
    for table in TABLES:
        assert rows[table] == target.count_rows(table)
        _assert_same_rows(source, target, table)
    assert target.count_rows("nodes") == 0  # its cluster state is emptied too


@pytest.mark.parametrize(
    ("damage", "refusal"),
    [
        # A text PostgreSQL cannot hold: refused as it is copied.
        ("UPDATE items SET title = 'a' || char(0) || 'b' WHERE key = 'k1'", r"refused a row of items: .*0x00"),
        # A delivery whose alert is gone: refused when the foreign keys are made again, at the end.
        (
            "INSERT INTO deliveries (alert_id, channel, target, status) VALUES (99, 'hook', 'x', 'sent')",
            r'refused the rows written: .*"deliveries_alert_id_fkey" \(Key \(alert_id\)=\(99\) is not present',
        ),
    ],
)
def test_what_the_target_refuses_leaves_it_as_it_was(stores, damage, refusal):
    source, target = stores
    schema = _schema(target)
    source.conn.execute("PRAGMA foreign_keys=OFF")
    source.conn.execute(damage)
    with pytest.raises(MonitorError, match=refusal) as refused:
        copy_database(source, target)
    assert "nothing was written" in refused.value.hint
    assert all(target.count_rows(table) == 0 for table in TABLES)
    assert _schema(target) == schema


def test_the_indexes_and_keys_set_aside_for_the_copy_are_all_back(stores):
    source, target = stores
    schema = _schema(target)
    assert len(schema) > 20
    copy_database(source, target)
    assert _schema(target) == schema


def test_a_column_the_target_lacks_is_refused_not_dropped(stores):
    source, target = stores
    source.conn.execute("ALTER TABLE items ADD COLUMN score REAL")
    with pytest.raises(MonitorError, match=r"items has other columns .*: score"):
        copy_database(source, target)
    assert target.count_rows("feeds") == 0


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("postgresql://u:S3cret@db/monitor", "postgresql://u@db2/monitor", "already PostgreSQL"),
        ("m.db", "postgress://u:S3cret@db/monitor", "must be a PostgreSQL URL"),
        ("m.db", "/var/lib/monitor/other.db", "must be a PostgreSQL URL"),
        ("missing.db", "postgresql://u:S3cret@db/monitor", "no SQLite database at"),
    ],
)
def test_usage_errors_name_the_problem_and_never_the_password(tmp_path, source, target, message):
    sqlite3.connect(tmp_path / "m.db").close()
    with pytest.raises(UsageError, match=message) as refused:
        migrate_database(source if "://" in source else tmp_path / source, target)
    assert "S3cret" not in refused.value.render()
    assert not (tmp_path / "missing.db").exists()


def test_a_daemon_polling_the_file_is_refused_before_the_target_is_touched(tmp_path, open_store, postgres_url):
    path = tmp_path / "m.db"
    _fill(open_store(path))
    with closing(SQLiteStore(path, poller=True)), pytest.raises(MonitorError, match="already polling") as refused:
        migrate_database(path, postgres_url)  # while the store above, the daemon, polls the file
    assert "stop it first" in refused.value.hint
    with psycopg.connect(postgres_url) as conn:  # not even the schema was created
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()").fetchone() == (0,)
