"""A document's items are decided and written together, in a few statements, under the write
lock only while deciding and writing: yet every story, alert and notice comes out as if each
item had been stored one by one, on both backends."""

from __future__ import annotations

import threading

from deskkit import HOUR, T0, desk_config, rss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.models import Item
from monitor.parsing.facts import item_facts
from monitor.polling.stories import StoryMatcher, TermRarity
from monitor.rules.index import RuleSet

HEADLINE = "Israel relayed to Russia its dissatisfaction over Syria strikes"


def _rig(tmp_path, open_rig):
    path = desk_config(
        tmp_path, {"wire": "https://wire.example/rss", "post": "https://post.example/rss"}, ["json://127.0.0.1:9/"]
    )
    rig = open_rig(path)
    for feed in ("wire", "post"):  # the first poll of each is its baseline
        rig.ingest(feed, rss([(f"{feed}-0", "Weather in Haifa", T0 - HOUR)]))
    return rig


def _story(rig, feed: str, key: str) -> int:
    return rig.store.find_item(feed, "guid:" + key)["story_id"]


def test_a_documents_items_join_stories_as_if_stored_one_by_one(tmp_path, open_rig):
    rig = _rig(tmp_path, open_rig)
    assert rig.ingest("post", rss([("p1", HEADLINE, T0)])).alerts == 1
    outcome = rig.ingest(
        "wire",
        rss(
            [
                ("a", HEADLINE + ", officials say", T0),  # the post's story, by its headline: no second alert
                ("b", HEADLINE + ", diplomats say", T0),  # alike, but the post's story has a wire item now
                ("c", "Israel and Russia sign a grain deal", T0),
                ("c-again", "Israel and Russia sign a grain deal (updated)", T0),  # c's link, guid differs
            ]
        ).replace(b"https://example.com/c-again", b"https://example.com/c"),
    )
    assert (outcome.new_items, outcome.alerts) == (4, 2)  # b and c: one alert per story
    assert _story(rig, "wire", "a") == _story(rig, "post", "p1")
    assert _story(rig, "wire", "b") not in (_story(rig, "post", "p1"), _story(rig, "wire", "a"))
    assert _story(rig, "wire", "c-again") == _story(rig, "wire", "c")
    assert rig.store.count_rows("alerts") == 3


def test_no_lock_is_held_while_the_rules_read_a_document(tmp_path, open_rig, open_store, monkeypatch):
    rig = _rig(tmp_path, open_rig)
    other = open_store(node="other:2")  # another node on the same database
    finished: list[bool] = []
    match = RuleSet.match

    def match_while_another_node_writes(ruleset, doc):
        writer = threading.Thread(target=lambda: _write(other))
        writer.start()
        writer.join(timeout=20)  # only a lock held here would keep it waiting
        finished.append(not writer.is_alive())
        writer.join()
        return match(ruleset, doc)

    monkeypatch.setattr(RuleSet, "match", match_while_another_node_writes)
    assert rig.ingest("wire", rss([("n1", HEADLINE, T0)])).alerts == 1
    assert finished == [True]


def _write(store) -> None:
    with store.transaction():
        store.beat(T0, T0)


def test_a_claimed_feed_this_configuration_does_not_know_is_left_to_the_others(tmp_path, open_rig, open_store):
    rig = _rig(tmp_path, open_rig)
    newer = open_store(node="newer:2")  # a node that put a configuration with one more feed in force
    newer.sync_feeds(
        [("wire", "https://wire.example/rss"), ("post", "https://post.example/rss"), ("x", "https://x")], T0
    )
    for name in ("wire", "post"):
        rig.store.record_poll(name, now=T0, next_poll=T0 + HOUR, status=200)
    assert rig.pipeline.claim(T0, 10) == []
    assert newer.claim_feeds(T0, 60, 10) == ["x"]


def test_a_claim_hands_its_polls_their_feeds_rows_read_in_one_statement(tmp_path, feed_server, open_rig, monkeypatch):
    """The rows of the feeds a tick leased are read at once, and each poll starts from its
    own: on PostgreSQL one round trip on the event loop per claim, not one per poll."""
    urls = {name: feed_server.serve(f"/{name}.xml", rss([(f"{name}-1", HEADLINE, T0)])) for name in ("wire", "post")}
    rig = open_rig(desk_config(tmp_path, urls, ["json://127.0.0.1:9/"]))
    reads: list[list[str]] = []  # feed_state reads through feed_states_of too
    read = rig.store.feed_states_of
    monkeypatch.setattr(rig.store, "feed_states_of", lambda names: reads.append(sorted(names)) or read(names))
    claimed = rig.pipeline.claim(rig.clock(), 10)
    assert reads == [["post", "wire"]]
    assert sorted((feed.name, state.name, state.baselined) for feed, state in claimed) == [
        ("post", "post", False),
        ("wire", "wire", False),
    ]
    for feed, state in claimed:
        assert rig.poll(feed.name, state).new_items == 1
    assert reads == [["post", "wire"]]
    assert all(state.baselined for state in read(["post", "wire"]).values())
    rig.clock.advance(HOUR)
    assert rig.poll("wire").status == "not-modified"  # from the validators of the row it read itself
    assert reads == [["post", "wire"], ["wire"]]


WORDS = [f"w{n}" for n in range(12)]
STORY = st.tuples(st.sets(st.sampled_from(WORDS), min_size=1, max_size=8), st.integers(-3, 3), st.sampled_from("fg"))
ASK = st.tuples(st.sets(st.sampled_from(WORDS), min_size=0, max_size=9), st.integers(-3, 3))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stored=st.lists(STORY, min_size=1, max_size=12),
    asks=st.lists(ASK, min_size=1, max_size=4),
    seen=st.lists(st.sampled_from(WORDS), max_size=40),
)
def test_the_candidates_of_many_headlines_probing_their_rarest_terms_are_exactly_those_sharing_four(
    new_database, stored, asks, seen
):
    from monitor.store import open_store

    store = open_store(new_database())
    try:
        with store.transaction():
            for n, (terms, hours, feed) in enumerate(stored):
                story = store.new_story("", f"story {n}", T0 + hours * HOUR, terms, T0)
                item = Item(key=f"k{n}", title=f"story {n}", summary="", link="")
                store.insert_item(feed, item, item_facts(item), story, T0)
        rarity = TermRarity()
        rarity.saw(seen)  # any history of what was common: it changes the cost, never the answer
        matcher = StoryMatcher(store, 0.5, HOUR, rarity)
        found = store.story_candidates_many(
            [(terms, matcher.probe(frozenset(terms)), T0 + hours * HOUR) for terms, hours in asks], "f", HOUR
        )
        for (terms, hours), answer in zip(asks, found, strict=True):
            shared = {
                n + 1: len(words & terms)
                for n, (words, at, feed) in enumerate(stored)
                if feed != "f" and abs(at - hours) <= 1 and len(terms) >= 4
            }
            expected = sorted((n for n, count in shared.items() if count >= 4), key=lambda n: (-shared[n], n))[:20]
            assert [story for story, _, _ in answer] == expected
    finally:
        store.close()
