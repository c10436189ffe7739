"""The outbox with real parts (the database, apprise, a webhook receiver) and a clock the test drives."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime

import pytest
from testkit import T0, Clock

from monitor.config import ChannelConfig, DeliverySettings
from monitor.delivery.channels import Notifier, target_id
from monitor.delivery.outbox import Outbox
from monitor.models import Item
from monitor.parsing.facts import item_facts
from monitor.store import SQLiteStore, Store


def add_alert(store: Store, n: int, channel: str, url: str, now: float, due: float | None = None) -> int:
    title = f"Israel story number {n}"
    item = Item(
        key=f"k{n}",
        title=title,
        summary=f"Summary {n} about Israel.",
        link=f"https://example.com/{n}",
        published=datetime.fromtimestamp(now, tz=UTC),
    )
    with store.transaction():
        story_id = store.new_story(item.link, title, now, [], now)
        item_id = store.insert_item("feed", item, item_facts(item), story_id, now)
        alert_id = store.record_alert("rule", story_id, item_id, ["Israel"], [("title", 0, 6)], now)
        store.enqueue(alert_id, channel, target_id(url), now, due)
    return alert_id


@pytest.fixture
def make(open_store, webhook):
    """make(clock, **channel keys) -> (store, outbox, url): an outbox to the webhook over the test's database."""

    def build(clock, **channel):
        url = webhook.apprise_url
        channels = {"hook": ChannelConfig(name="hook", urls=(url,), **channel)}
        store = open_store()
        settings = DeliverySettings(retry_first=30, retry_max=120, dead_after=600)
        outbox = Outbox(store, Notifier(channels), channels, settings, clock=clock, sleep=clock.sleep)
        return store, outbox, url

    return build


def run(coro):
    return asyncio.run(coro)


def rows(store: Store):
    return store.conn.execute(
        "SELECT id, status, attempts, next_attempt, last_error FROM deliveries ORDER BY id"
    ).fetchall()


def test_backoff_doubles_to_the_cap_then_the_delivery_ages_out_and_can_be_retried(make, webhook):
    clock = Clock()
    store, outbox, url = make(clock)
    webhook.fail_first = 10**6
    add_alert(store, 1, "hook", url, clock())
    delays = []
    while True:
        report = run(outbox.deliver_due())
        assert report.sent == 0 and report.failed == 1
        [(_, status, attempts, next_attempt, error)] = rows(store)
        assert error.startswith('channel "hook": ')
        if status == "dead":
            break
        delays.append(next_attempt - clock())
        clock.now = next_attempt
    # 30 s doubling to the 120 s cap; dead once failing for 600 s (first failure at T0).
    assert delays[:4] == [30, 60, 120, 120]
    assert clock.now - T0 >= 600 and attempts == len(delays) + 1
    assert run(outbox.deliver_due()).failed == 0  # a dead letter is not retried by itself

    webhook.fail_first = 0
    report, status = run(outbox.retry(store.dead_ids()))
    assert report.sent == 1 and status == {1: "sent"}
    assert len(webhook.received) == 1


def test_a_failing_destination_holds_its_queue_and_delivers_each_alert_once_when_back(make, webhook):
    clock = Clock()
    store, outbox, url = make(clock)
    webhook.fail_first = 2
    for n in range(3):
        add_alert(store, n, "hook", url, clock())
    first = run(outbox.deliver_due())
    # One attempt reached the receiver; the other two waited behind it.
    assert (first.sent, first.failed, webhook.attempts) == (0, 3, 1)
    assert [r[2] for r in rows(store)] == [1, 0, 0]
    clock.advance(30)
    assert run(outbox.deliver_due()).sent == 0 and webhook.attempts == 2
    clock.advance(60)
    assert run(outbox.deliver_due()).sent == 3
    titles = [m["title"] for m in webhook.messages()]
    assert titles == [f"[rule] Israel story number {n}" for n in range(3)]


def test_rate_limit_spaces_messages_to_a_destination(make, webhook):
    clock = Clock()
    store, outbox, url = make(clock, min_gap=1.0)
    for n in range(3):
        add_alert(store, n, "hook", url, clock())
    assert run(outbox.deliver_due()).sent == 3
    # The clock does not move while sending, so each later message waited a whole gap.
    assert clock.slept == [1.0, 1.0]


def test_interval_digest_holds_alerts_until_the_quarter_hour_and_sends_one_message(make, webhook):
    clock = Clock()
    store, outbox, url = make(clock, digest="15m")
    due = outbox.hold_until("hook", clock())
    assert datetime.fromtimestamp(due, tz=UTC).strftime("%H:%M:%S") == "22:15:00"
    for n in range(3):
        add_alert(store, n, "hook", url, clock(), due)
    assert run(outbox.deliver_due()).sent == 0 and webhook.received == []
    clock.now = due
    report = run(outbox.deliver_due())
    assert (report.sent, report.messages) == (3, 1)
    [message] = webhook.messages()
    assert message["title"].startswith("[hook] 3 alerts (digest)")
    assert all(f"Israel story number {n}" in message["message"] for n in range(3))


def test_cron_digest_follows_the_channel_time_zone(make, webhook):
    clock = Clock()
    _, outbox, _ = make(clock, digest="0 7 * * *", timezone="Asia/Jerusalem")
    due = outbox.hold_until("hook", clock())
    # 22:13 UTC is 00:13 in Jerusalem (UTC+2 in November): the next 07:00 there is 05:00 UTC.
    assert datetime.fromtimestamp(due, tz=UTC).isoformat() == "2023-11-15T05:00:00+00:00"


def test_flood_guard_folds_a_burst_into_one_digest(make, webhook):
    clock = Clock()
    store, outbox, url = make(clock, flood_threshold=3, flood_window=600.0)
    for n in range(10):
        add_alert(store, n, "hook", url, clock())
    first = run(outbox.deliver_due())
    assert (first.sent, first.messages, first.folded) == (3, 3, 7)
    # More alerts during the window join the held digest.
    clock.advance(60)
    for n in range(10, 12):
        add_alert(store, n, "hook", url, clock())
    assert run(outbox.deliver_due()).folded == 2
    assert len(webhook.received) == 3
    clock.now = T0 + 600
    report = run(outbox.deliver_due())
    assert (report.sent, report.messages) == (9, 1)
    digest = webhook.messages()[-1]
    assert digest["title"].startswith("[hook] 9 alerts (flood)")
    assert store.outbox_counts().get("pending", 0) == 0
    # Every alert went out exactly once: three on their own, nine in the digest.
    singles = [int(re.search(r"number (\d+)", m["title"]).group(1)) for m in webhook.messages()[:3]]
    folded = [int(n) for n in re.findall(r"Israel story number (\d+)\b", digest["message"])]
    assert sorted(singles + folded) == list(range(12))


@pytest.mark.sqlite_only("a SQLite file of schema 1; PostgreSQL's first schema is 8")
def test_schema_migrates_a_version_1_database(tmp_path, open_store):
    path = tmp_path / "old.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    # Rebuild deliveries as version 1 had it, then reopen.
    conn.executescript(
        "DROP TABLE deliveries; CREATE TABLE deliveries (id INTEGER PRIMARY KEY, alert_id INTEGER, channel TEXT,"
        " target TEXT, status TEXT DEFAULT 'pending', attempts INTEGER DEFAULT 0, next_attempt REAL,"
        " last_error TEXT, created REAL, sent_at REAL); PRAGMA user_version=1;"
    )
    conn.close()
    store = open_store(path)
    columns = {r[1] for r in store.conn.execute("PRAGMA table_info(deliveries)")}
    assert {"dead_at", "first_failed", "fold", "batch"} <= columns
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] >= 2


@pytest.mark.parametrize("value", ["1/s", "20/m", "100/h", 0])
def test_rate_limit_values(value):
    from monitor.config import parse_rate

    assert parse_rate(value) in (1.0, 3.0, 36.0, 0.0)


@pytest.mark.sqlite_only("SQLite's synchronous setting; PostgreSQL syncs every commit (synchronous_commit)")
def test_the_commit_that_marks_a_delivery_sent_is_synced_to_disk_and_only_that_one(make, webhook):
    """synchronous=FULL around the sent mark (a power cut cannot undo it and send again);
    NORMAL everywhere else. Read from the statements the connection runs."""
    clock = Clock()
    store, outbox, url = make(clock)
    add_alert(store, 1, "hook", url, clock())
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        assert run(outbox.deliver_due()).sent == 1
    finally:
        store.conn.set_trace_callback(None)
    mark = next(i for i, s in enumerate(statements) if s.startswith("UPDATE deliveries SET status = 'sent'"))
    settings = [(i, s) for i, s in enumerate(statements) if s.startswith("PRAGMA synchronous")]
    assert [s for _, s in settings] == ["PRAGMA synchronous=FULL", "PRAGMA synchronous=NORMAL"]
    (full, _), (normal, _) = settings
    commit = next(i for i in range(mark, len(statements)) if statements[i] == "COMMIT")
    assert full < mark < commit < normal
    assert store.conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL again


def test_an_alert_matched_in_the_body_goes_out_with_the_body_sentence(make, webhook):
    """The item's body (items.body) comes with a delivery whose alert matched in it, and only then."""
    clock = Clock()
    store, outbox, url = make(clock)
    body = "Officials met on Monday. Israel relayed to Russia its dissatisfaction over the visit. Talks went on."
    start = body.index("dissatisfaction")
    now = clock()
    with store.transaction():
        for n, occurrences in ((1, [("body", start, start + 15)]), (2, [("title", 0, 6)])):
            item = Item(
                key=f"k{n}",
                title=f"Envoy summoned {n}",
                summary="The ministry met the ambassador.",
                link=f"https://example.com/{n}",
            )
            story_id = store.new_story(item.link, item.title, now, [], now)
            item_id = store.insert_item("feed", item, item_facts(item), story_id, now)
            store.conn.execute("UPDATE items SET body = ? WHERE id = ?", (body, item_id))
            alert_id = store.record_alert("rule", story_id, item_id, ["dissatisfaction"], occurrences, now)
            store.enqueue(alert_id, "hook", target_id(url), now)
    assert [d.body for d in store.due_deliveries(now)] == [body, ""]
    assert run(outbox.deliver_due()).sent == 2
    by_body, by_title = webhook.messages()
    assert by_body["message"].endswith("\n\nIsrael relayed to Russia its dissatisfaction over the visit.")
    assert by_title["message"].endswith("\n\nThe ministry met the ambassador.")
