"""The queue of items waiting for their article page, their bodies and the counters per feed,
on both backends: what the body stage (polling/bodies.py) and `monitor feeds` rely on."""

from __future__ import annotations

from testkit import T0

from monitor.models import Item
from monitor.parsing.facts import item_facts, search_text

LEASE = 60.0


def _stored(store, feed: str, keys: list[str]) -> dict[str, int]:
    """Items of `feed` (one story each), queued for their page in this order; their ids."""
    ids = {}
    with store.transaction():
        for key in keys:
            item = Item(key=key, title=f"headline {key}", summary="", link=f"https://news.example/{key}")
            story = store.new_story(f"https://news.example/{key}", item.title, None, [], T0)
            ids[key] = store.insert_item(feed, item, item_facts(item), story, T0)
            store.want_body(ids[key], T0)
    return ids


def test_queued_items_are_claimed_oldest_first_by_one_node_until_their_lease_runs_out(open_store):
    a, b = open_store(node="a:1"), open_store(node="b:2")
    ids = _stored(a, "f", ["k1", "k2", "k3"])
    claimed = a.claim_bodies(T0, LEASE, limit=2)
    assert [(r["id"], r["feed"], r["key"], r["link"]) for r in claimed] == [
        (ids["k1"], "f", "k1", "https://news.example/k1"),
        (ids["k2"], "f", "k2", "https://news.example/k2"),
    ]
    assert [r["key"] for r in b.claim_bodies(T0, LEASE, limit=5)] == ["k3"]
    assert b.claim_bodies(T0 + 1, LEASE, limit=5) == []
    b.no_body(ids["k3"], "failed")
    # a died with k1 and k2: once their lease has run out, b takes them.
    assert [r["key"] for r in b.claim_bodies(T0 + LEASE, LEASE, limit=5)] == ["k1", "k2"]
    assert a.bodies_pending() == 2 and a.bodies_pending(feeds=["other"]) == 0


def test_a_body_is_stored_with_the_item_and_its_search_text_and_leaves_the_queue(open_store):
    store = open_store()
    ids = _stored(store, "f", ["k1"])
    body = "The foreign minister conveyed Israel's dissatisfaction to Moscow."
    with store.transaction():
        store.store_body(ids["k1"], body, search_text("headline k1", "", body))
        store.count_bodies("f", "fetched")
    row = store.find_item("f", "k1")
    assert row["body"] == body
    assert store.bodies_pending() == 0
    assert store.claim_bodies(T0 + 1000, LEASE, limit=5) == []
    assert {i["key"] for i in store.stored_items(None, '"dissatisfaction"')} == {"k1"}
    assert store.body_counts() == {"f": {"fetched": 1, "failed": 0, "robots": 0, "address": 0, "skipped": 0}}


def test_a_retry_waits_for_its_time_and_a_refusal_leaves_the_queue_counted(open_store):
    store = open_store()
    ids = _stored(store, "f", ["k1", "k2"])
    store.claim_bodies(T0, LEASE, limit=5)
    store.retry_body(ids["k1"], T0 + 600)
    store.no_body(ids["k2"], "robots")
    store.count_bodies("f", "robots")
    assert store.claim_bodies(T0 + LEASE, LEASE, limit=5) == []
    again = store.claim_bodies(T0 + 600, LEASE, limit=5)
    assert [(r["key"], r["body_attempts"]) for r in again] == [("k1", 1)]
    assert store.body_counts()["f"]["robots"] == 1
    assert store.find_item("f", "k2")["body"] is None


def test_past_its_limit_the_queue_skips_its_oldest_items_and_counts_them_per_feed(open_store):
    store = open_store()
    _stored(store, "f", ["k1", "k2"])
    _stored(store, "g", ["k3", "k4", "k5"])
    with store.transaction():
        assert store.trim_body_queue(limit=2) == {"f": 2, "g": 1}
        assert store.trim_body_queue(limit=2) == {}
    assert [r["key"] for r in store.claim_bodies(T0, LEASE, limit=5)] == ["k4", "k5"]
    assert store.body_counts()["f"]["skipped"] == 2
    assert store.body_counts()["g"]["skipped"] == 1


def test_retention_blanks_bodies_with_the_rest_of_the_text(open_store):
    store = open_store()
    ids = _stored(store, "f", ["k1"])
    with store.transaction():
        store.store_body(ids["k1"], "a long article body", search_text("headline k1", "", "a long article body"))
    with store.transaction():
        assert store.prune(T0 + 1) == 1
    assert store.find_item("f", "k1")["body"] is None
    assert not list(store.stored_items(None, '"article"'))
