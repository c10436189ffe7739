"""Store queries whose answer must not hang on how a backend happens to order rows: SQLite
reads them in id order, PostgreSQL in the order they last changed."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.models import Item
from monitor.parsing.facts import item_facts
from monitor.store import SuccessfulPoll


def _item(key: str, title: str, link: str) -> Item:
    return Item(key=key, title=title, summary="", link=link)


def test_a_url_leads_to_the_story_of_the_first_item_stored_under_it_whatever_was_edited_since(open_store):
    store = open_store()
    first, other = _item("a", "A", "https://x.org/u"), _item("b", "B", "https://x.org/v")
    with store.transaction():
        story = store.new_story("https://x.org/u", "A", None, [], 0.0)
        first_id = store.insert_item("f", first, item_facts(first), story, 0.0)
        other_story = store.new_story("https://x.org/v", "B", None, [], 0.0)
        other_id = store.insert_item("g", other, item_facts(other), other_story, 0.0)
    url = item_facts(first).canonical
    # g's item is edited onto the same link, then f's item is edited (its row changes last).
    moved = _item("b", "B", "https://x.org/u")
    store.update_item(other_id, moved, item_facts(moved), "b", 1.0)
    edited = _item("a", "A, edited", "https://x.org/u")
    store.update_item(first_id, edited, item_facts(edited), "a edited", 2.0)
    assert store.story_by_url(url) == story != other_story


def test_an_item_found_by_its_link_is_the_first_of_several_alike(open_store):
    store = open_store()
    with store.transaction():
        story = store.new_story("", "t", None, [], 0.0)
        for key in ("title-and-date-1", "title-and-date-2"):  # one link repeated inside a document
            item = _item(key, "Same headline", "https://x.org/same")
            store.insert_item("f", item, item_facts(item), story, 0.0)
    again = _item("title-and-date-1", "Same headline", "https://x.org/same")
    store.update_item(store.find_item("f", "title-and-date-1")["id"], again, item_facts(again), "", 1.0)
    url = item_facts(again).canonical
    assert store.find_item_by_link("f", url, "Same headline")["key"] == "title-and-date-1"


def test_due_feeds_are_claimed_most_overdue_first_and_by_name_when_as_overdue(open_store):
    store = open_store()
    store.sync_feeds(
        [("wire", "https://x.org/w"), ("bulletin", "https://x.org/b"), ("agency", "https://x.org/a")], 10.0
    )
    store.record_poll("wire", now=5.0, next_poll=5.0, status=200)  # its row changes: last in PostgreSQL's order
    # A lease of 0 s lapses at once: each claim sees every due feed again.
    assert store.claim_feeds(10.0, 0, 10) == ["wire", "agency", "bulletin"]
    store.record_poll("wire", now=10.0, next_poll=10.0, status=200)
    assert store.claim_feeds(10.0, 0, 10) == ["agency", "bulletin", "wire"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 50), st.one_of(st.none(), st.integers(-20, 70))), min_size=0, max_size=40),
    st.integers(1, 8),
)
def test_a_feeds_latest_item_times_read_its_recent_arrivals_only_yet_are_the_newest(new_database, items, limit):
    from monitor.store import open_store

    store = open_store(new_database())
    try:
        with store.transaction():
            story = store.new_story("", "t", None, [], 0.0)
            for n, (seen, published) in enumerate(items):
                item = Item(key=f"k{n}", title="t", summary="", link="", published=None)
                item_id = store.insert_item("f", item, item_facts(item), story, float(seen))
                store.conn.execute("UPDATE items SET published = ? WHERE id = ?", (published, item_id))
        times = [float(min(p, s)) if p is not None else float(s) for s, p in items]
        assert store.item_times("f", limit) == sorted(times, reverse=True)[:limit]
    finally:
        store.close()


def test_a_poll_reads_a_feeds_row_with_its_health_and_gets_back_the_row_it_recorded(open_store):
    store = open_store()
    store.sync_feeds([("wire", "https://wire.example/rss"), ("post", "https://post.example/rss")], 0.0)
    assert store.feed_state("wire").health is None  # never assessed
    store.set_feed_health("wire", "failing", 3.0, "3 consecutive errors", 4.0)
    health = {"name": "wire", "state": "failing", "since": 3.0, "detail": "3 consecutive errors", "checked": 4.0}
    assert store.feed_state("wire").health == store.feed_health("wire") == health
    assert store.feed_state("post").health is None

    failed = store.record_poll("wire", now=5.0, next_poll=65.0, status=503, error="HTTP 503")
    assert (failed.consecutive_errors, failed.last_error, failed.last_poll, failed.next_poll) == (
        1,
        "HTTP 503",
        5.0,
        65.0,
    )
    recovered = store.record_poll("wire", now=6.0, next_poll=66.0, status=304, etag='"v2"')
    assert (recovered.consecutive_errors, recovered.last_success, recovered.etag) == (0, 6.0, '"v2"')
    assert recovered == replace(store.feed_state("wire"), health=None)  # the row as a read finds it
    assert store.record_poll("unknown", now=7.0, next_poll=67.0, status=200) is None


def test_a_round_of_polls_is_recorded_in_one_call_each_feed_as_its_own_poll_said(open_store):
    store = open_store()
    store.sync_feeds([(name, f"https://{name}.example/rss") for name in ("wire", "post", "desk")], 0.0)
    store.record_poll("wire", now=1.0, next_poll=61.0, status=200, etag='"v1"', title="Wire", rate=(3.0, 1.0, 0.0))
    store.claim_feeds(2.0, 60.0, 3)  # leased: a record frees the lease
    store.record_poll("desk", now=2.0, next_poll=62.0, status=503, error="HTTP 503")

    recorded = store.record_polls(
        [
            SuccessfulPoll("wire", 10.0, 70.0, 304, last_modified="Mon", interval=60.0, reason="fixed"),
            SuccessfulPoll("desk", 10.0, 75.0, 200, etag='"d1"', body_hash="abc", baselined=True),
            SuccessfulPoll("gone", 10.0, 80.0, 304),  # not a known feed
        ]
    )

    assert set(recorded) == {"wire", "desk"}
    wire, desk = recorded["wire"], recorded["desk"]
    # What the poll did not say is kept: validators, title, learned rate.
    assert (wire.etag, wire.last_modified, wire.title, wire.rate) == ('"v1"', "Mon", "Wire", (3.0, 1.0, 0.0))
    assert (wire.last_status, wire.last_success, wire.next_poll, wire.schedule_text) == (
        304,
        10.0,
        70.0,
        "every 1m (fixed)",
    )
    # A success resets the errors; its baseline is marked.
    assert (desk.consecutive_errors, desk.last_error, desk.etag, desk.body_hash, desk.baselined) == (
        0,
        None,
        '"d1"',
        "abc",
        True,
    )
    assert {name: replace(row, health=None) for name, row in recorded.items()} == {
        name: replace(store.feed_state(name), health=None) for name in ("wire", "desk")
    }  # the rows as a read finds them
    assert store.feed_state("post").last_poll is None  # not in the round
    # Their leases are free: due again, they are claimed again.
    assert sorted(store.claim_feeds(100.0, 60.0, 3)) == ["desk", "post", "wire"]
    assert store.record_polls([]) == {}


def test_new_stories_and_their_terms_are_written_under_their_own_ids(open_store):
    """On PostgreSQL the ids, the rows and their children are one statement: each story gets
    its own terms, dated by its own date, and the ids come back in the stories' order."""
    store = open_store()
    with store.transaction():
        ids = store.new_stories(
            [
                ("https://x.org/a", "A", None, ["alpha", "beta", "alpha"], "sig-a"),
                ("", "B", 5.0, ["gamma"], None),
                ("https://x.org/c", "C", None, [], None),
            ],
            1.0,
        )
        again = store.new_stories([("", "D", None, ["delta"], None)], 2.0)
    assert len(set(ids + again)) == 4
    stories = {
        r[0]: tuple(r[1:]) for r in store.conn.execute("SELECT id, title, canonical_url, signature FROM stories")
    }
    assert stories == {
        ids[0]: ("A", "https://x.org/a", "sig-a"),
        ids[1]: ("B", None, None),
        ids[2]: ("C", "https://x.org/c", None),
        again[0]: ("D", None, None),
    }
    terms = sorted(tuple(r) for r in store.conn.execute("SELECT story_id, term, at FROM story_terms"))
    assert terms == sorted(
        [(ids[0], "alpha", 1.0), (ids[0], "beta", 1.0), (ids[1], "gamma", 5.0), (again[0], "delta", 2.0)]
    )
    assert store.new_stories([], 3.0) == []


def test_a_feed_s_digests_say_too_whether_it_holds_any_item(open_store):
    store = open_store()
    stored = _item("a", "A", "https://x.org/a")
    assert store.item_digests("f", ["a"]) == ({}, False)
    with store.transaction():
        story = store.new_story("https://x.org/a", "A", None, [], 0.0)
        store.insert_item("f", stored, item_facts(stored), story, 0.0)
    assert store.item_digests("f", ["a", "b"]) == ({"a": item_facts(stored).digest}, True)
    assert store.item_digests("f", ["b"]) == ({}, True)  # its keys all new: look its links up
    assert store.item_digests("g", ["a"]) == ({}, False)
