"""What the web console reads (store/listings.py), on both backends: pages of alerts by keyset,
filtered by rule, channel or story, with outlets and deliveries; a story whole; counts per rule;
the items that arrived in a window, for the playground and backtest."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime

from monitor.models import Item
from monitor.parsing.facts import item_facts, search_text

T = 1_700_000_000.0


class Desk:
    """Items, stories and alerts written through the store API, as ingest writes them."""

    def __init__(self, store) -> None:
        self.store = store
        self.keys = itertools.count(1)

    def item(self, feed: str, title: str, seen: float, story: int | None = None, published: float | None = None):
        """(story id, item id) of a new item; a new story unless `story` is given."""
        n = next(self.keys)
        item = Item(key=f"k{n}", title=title, summary=f"{title}, at length.", link=f"https://example.org/{n}")
        if published is not None:
            item = replace(item, published=datetime.fromtimestamp(published, UTC))
        facts = item_facts(item)
        with self.store.transaction():
            if story is None:
                story = self.store.new_story(facts.canonical, title, published, title.lower().split(), seen)
            return story, self.store.insert_item(feed, item, facts, story, seen)

    def alert(self, rule: str, story: int, item: int, at: float, channels=("desk",)) -> int:
        with self.store.transaction():
            alert = self.store.record_alert(rule, story, item, ["Israel"], [("title", 0, 6)], at)
            for channel in channels:
                self.store.enqueue(alert, channel, f"target-{channel}", at)
        return alert


def test_a_page_of_alerts_is_newest_first_and_the_next_begins_below_its_last(open_store):
    store = open_store()
    desk = Desk(store)
    ids = []
    for n in range(7):
        story, item = desk.item("wire", f"Israel story {n}", T + n)
        ids.append(desk.alert("r", story, item, T + n))
    first = store.alert_page(3)
    assert [a["id"] for a in first] == ids[::-1][:3]
    second = store.alert_page(3, before=first[-1]["id"])
    third = store.alert_page(3, before=second[-1]["id"])
    assert [a["id"] for a in first + second + third] == ids[::-1]
    assert store.alert_page(3, before=ids[0]) == []
    alert = first[0]
    assert alert["title"] == "Israel story 6" and alert["feed"] == "wire" and alert["link"] == "https://example.org/7"
    assert alert["terms"] == ["Israel"] and alert["occurrences"] == [("title", 0, 6)]
    assert alert["created"] == T + 6 and alert["summary"] == "Israel story 6, at length."


def test_alerts_by_rule_by_channel_and_by_story(open_store):
    store = open_store()
    desk = Desk(store)
    a_story, a_item = desk.item("wire", "Israel and Russia", T)
    b_story, b_item = desk.item("agency", "Israel and Iran", T + 1)
    ra = desk.alert("russia", a_story, a_item, T, channels=("desk", "mail"))
    ia = desk.alert("iran", b_story, b_item, T + 1, channels=("desk",))
    ib = desk.alert("iran", a_story, a_item, T + 2, channels=("mail",))
    assert [a["id"] for a in store.alert_page(10, rule="iran")] == [ib, ia]
    assert [a["id"] for a in store.alert_page(10, channel="mail")] == [ib, ra]
    assert [a["id"] for a in store.alert_page(10, story=a_story)] == [ib, ra]
    assert [a["id"] for a in store.alert_page(10, rule="iran", channel="mail", before=ib)] == []
    assert store.alert_page(10, rule="nobody") == []


def test_each_alert_comes_with_its_storys_outlets_in_order_and_its_deliveries(open_store):
    store = open_store()
    desk = Desk(store)
    story, item = desk.item("agency", "Israel relayed dissatisfaction", T)
    desk.item("wire", "Israel relayed dissatisfaction", T + 5, story=story)
    desk.item("agency", "Israel relayed dissatisfaction, updated", T + 6, story=story)  # a second item, same outlet
    desk.item("bulletin", "Israel relayed dissatisfaction", T + 7, story=story)
    alert = desk.alert("r", story, item, T, channels=("desk", "mail"))
    store.mark_sent_together([d.id for d in store.due_deliveries(T + 10) if d.channel == "desk"], T + 11)
    [row] = store.alert_page(10)
    assert row["id"] == alert and row["outlets"] == ["agency", "wire", "bulletin"]
    assert [(d["channel"], d["target"], d["status"], d["sent_at"]) for d in row["deliveries"]] == [
        ("desk", "target-desk", "sent", T + 11),
        ("mail", "target-mail", "pending", None),
    ]


def test_a_story_whole_its_items_and_its_updates_each_once(open_store):
    store = open_store()
    desk = Desk(store)
    story, item = desk.item("agency", "Israel relayed dissatisfaction", T)
    desk.item("wire", "Israel relayed dissatisfaction", T + 5, story=story)
    first, second = desk.alert("r1", story, item, T), desk.alert("r2", story, item, T)
    with store.transaction():
        for alert in (first, second):  # one update notice per alert on the story, as the desk records them
            store.add_notice("update", "r", "wire", "t", "Now also carried by wire", T + 5, alert_id=alert)
        store.add_notice("health", "", "wire", "t", "wire is failing", T + 6)
    assert store.story_record(story)["title"] == "Israel relayed dissatisfaction"
    assert store.story_record(story + 1000) is None
    assert [(i["feed"], i["first_seen"]) for i in store.story_items(story)] == [("agency", T), ("wire", T + 5)]
    assert [(n["feed"], n["body"], n["created"]) for n in store.story_notices(story)] == [
        ("wire", "Now also carried by wire", T + 5)
    ]


def test_alerts_per_rule_since_a_time(open_store):
    store = open_store()
    desk = Desk(store)
    for n, (rule, at) in enumerate((("a", T), ("a", T + 100), ("b", T + 100), ("a", T + 200))):
        story, item = desk.item("wire", f"Israel {n}", at)
        desk.alert(rule, story, item, at)
    assert store.rule_alert_counts(T + 100) == {"a": 2, "b": 1}
    assert store.rule_alert_counts(T + 201) == {}


def test_stored_items_are_those_that_arrived_in_the_window_newest_stored_first_whatever_their_date(open_store):
    store = open_store()
    desk = Desk(store)
    desk.item("wire", "Israel old news, stored first", T, published=T + 500)
    desk.item("wire", "Israel stored second, dated long ago", T + 10, published=T - 86400)
    desk.item("wire", "Israel stored last", T + 20, published=T + 15)
    desk.item("wire", "Nothing to see", T + 30)
    not_indexed = [r["title"] for r in store.stored_items(T + 5, '"israel"')]
    assert not_indexed[0] == "Nothing to see"  # every item not yet in the index is a candidate
    for _ in store.index_pending(search_text):
        pass
    in_window = [r["title"] for r in store.stored_items(T + 5, '"israel"')]
    every = [r["title"] for r in store.stored_items(T - 10**6, '"israel"')]
    assert in_window == ["Israel stored last", "Israel stored second, dated long ago"]
    assert every == ["Israel stored last", "Israel stored second, dated long ago", "Israel old news, stored first"]
    assert [r["title"] for r in store.stored_items(T, '"israel"', limit=1)] == ["Israel stored last"]
    assert len(list(store.stored_items(T, None))) == 4


def test_feed_states_count_items_only_when_asked(open_store):
    store = open_store()
    store.sync_feeds([("wire", "https://example.org/w")], T)
    Desk(store).item("wire", "Israel", T)
    assert [s.items for s in store.feed_states()] == [1]
    assert [(s.name, s.items) for s in store.feed_states(count_items=False)] == [("wire", 0)]


def test_the_outbox_a_page_at_a_time_oldest_first(open_store):
    store = open_store()
    desk = Desk(store)
    for n in range(5):
        story, item = desk.item("wire", f"Israel {n}", T + n)
        desk.alert("r", story, item, T + n, channels=("desk", "mail"))
    store.mark_sent_together([d.id for d in store.due_deliveries(T + 10) if d.channel == "desk"], T + 11)
    first = store.outbox(3)
    rest = store.outbox(3, after=first[-1]["id"])
    assert [r["channel"] for r in first + rest] == ["mail"] * 5
    assert [r["id"] for r in first + rest] == sorted(r["id"] for r in first + rest) and len(rest) == 2
