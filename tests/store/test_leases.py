"""Leases and heartbeats in the store, between two nodes on one database: what lets several
daemons share PostgreSQL, and costs one daemon on SQLite nothing."""

from __future__ import annotations

import asyncio
import threading

from storykit import desk
from testkit import T0, Clock

from monitor.runtime.daemon import Daemon
from monitor.runtime.endpoint import Liveness
from monitor.runtime.supervisor import Supervisor

FEEDS = [(f"f{n}", f"https://example.com/{n}") for n in range(6)]
LEASE = 60.0


def test_a_due_feed_is_leased_to_one_node_until_its_poll_is_recorded_or_the_lease_expires(open_store):
    a, b = open_store(node="a:1"), open_store(node="b:2")
    a.sync_feeds(FEEDS[:3], T0)
    for n, (name, _) in enumerate(FEEDS[:3]):  # f2 most overdue, then f1, f0
        a.record_poll(name, now=T0, next_poll=T0 - n, status=200)
    assert a.claim_feeds(T0, LEASE, limit=2) == ["f2", "f1"]
    assert b.claim_feeds(T0, LEASE, limit=5) == ["f0"]
    assert a.claim_feeds(T0 + 1, LEASE, limit=5) == b.claim_feeds(T0 + 1, LEASE, limit=5) == []
    # A recorded poll frees the lease: f2 is due again at once, f0 in ten minutes.
    a.record_poll("f2", now=T0 + 2, next_poll=T0 + 2, status=200)
    b.record_poll("f0", now=T0 + 2, next_poll=T0 + 600, status=200)
    assert b.claim_feeds(T0 + 3, LEASE, limit=5) == ["f2"]
    assert (b.feed_state("f2").polled_by, b.feed_state("f0").polled_by) == ("a:1", "b:2")
    # a dies holding f1: its lease runs out and b takes the feed.
    assert b.claim_feeds(T0 + LEASE, LEASE, limit=5) == ["f1"]
    assert b.claim_feeds(T0, LEASE, limit=0) == []


def test_claims_racing_from_many_nodes_never_hand_a_feed_to_two(open_store):
    stores = [open_store(node=f"n{n}:{n}") for n in range(4)]
    feeds = [(f"f{n}", f"https://example.com/{n}") for n in range(40)]
    stores[0].sync_feeds(feeds, T0)
    names = [name for name, _ in feeds]
    claimed: list[list[str]] = [[] for _ in stores]
    start = threading.Barrier(len(stores))

    def claim(n: int) -> None:
        start.wait()
        while got := stores[n].claim_feeds(T0, LEASE, limit=3):
            claimed[n].extend(got)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    every = [name for got in claimed for name in got]
    assert sorted(every) == sorted(names)  # each feed once, none lost


def test_a_job_lease_is_held_by_one_live_node_renewed_by_it_and_taken_over_when_it_lapses(open_store):
    a, b = open_store(node="a:1"), open_store(node="b:2")
    assert a.hold_lease("deliver", T0, LEASE)
    assert not b.hold_lease("deliver", T0 + 1, LEASE)
    assert a.hold_lease("deliver", T0 + 30, LEASE)  # renewed: now until T0 + 90
    assert not b.hold_lease("deliver", T0 + LEASE, LEASE)
    assert b.hold_lease("deliver", T0 + 30 + LEASE, LEASE) and b.hold_lease("retention", T0, LEASE)
    assert not a.hold_lease("deliver", T0 + 30 + LEASE, LEASE)


def test_nodes_beat_leave_and_are_forgotten(open_store):
    a, b = open_store(node="host-a:10"), open_store(node="host-b:20")
    a.sync_feeds(FEEDS[:2], T0)
    a.beat(T0, started=T0)
    b.beat(T0 + 5, started=T0)
    assert a.hold_lease("deliver", T0, LEASE) and a.claim_feeds(T0, LEASE, limit=5) == ["f0", "f1"]
    b.record_poll("f0", now=T0, next_poll=T0 + 600, status=200)
    nodes = {n["node"]: n for n in b.cluster_nodes(T0 + 5)}
    assert [n["node"] for n in b.cluster_nodes(T0 + 5)] == ["host-b:20", "host-a:10"]  # newest heartbeat first
    assert nodes["host-a:10"] == {
        "node": "host-a:10",
        "host": "host-a",
        "pid": 10,
        "started": T0,
        "heartbeat": T0,
        "stopped": None,
        "jobs": [{"job": "deliver", "expires": T0 + LEASE}],
        "feeds_leased": 1,  # f0's poll freed its lease
        "feeds_polled_last": 0,
    }
    assert (nodes["host-b:20"]["feeds_polled_last"], nodes["host-b:20"]["jobs"]) == (1, [])
    a.leave(T0 + 10)  # a clean stop frees what it held at once
    assert b.hold_lease("deliver", T0 + 11, LEASE) and b.claim_feeds(T0 + 11, LEASE, limit=5) == ["f1"]
    assert {n["node"]: n["stopped"] for n in b.cluster_nodes(T0 + 5)} == {"host-a:10": T0 + 10, "host-b:20": None}
    a.beat(T0 + 20, started=T0 + 20)  # back again
    assert {n["node"]: n["stopped"] for n in b.cluster_nodes(T0 + 5)} == {"host-a:10": None, "host-b:20": None}
    assert b.forget_nodes(T0 + 10) == 1 and [n["node"] for n in b.cluster_nodes(T0 + 5)] == ["host-a:10"]


def test_a_claim_takes_the_most_overdue_polled_feeds_up_to_its_limit(open_store):
    a, b = open_store(node="a:1"), open_store(node="b:2")
    due = {"new": T0 - 10, "old": T0 - 100, "mid": T0 - 50, "gone": T0 - 500, "off": T0 - 90, "paused": T0 - 400}
    a.sync_feeds([(name, f"http://x/{name}") for name in due], T0)
    for name, when in due.items():
        a.record_poll(name, now=when, next_poll=when, status=200)
    a.record_poll("off", now=T0 - 90, next_poll=T0 - 90, status=410, error="gone", disabled_reason="410 Gone")
    # The configuration put in force next: "gone" is no longer in it, "paused" is turned off.
    stopped = a.sync_feeds([(name, f"http://x/{name}") for name in due if name != "gone"], T0, off=["paused"])
    assert stopped == ["gone", "paused"]
    assert a.claim_feeds(T0, 6, 2) == ["old", "mid"]
    assert b.claim_feeds(T0, 6, 5) == ["new"]
    assert b.claim_feeds(T0, 6, 0) == []
    assert a.feed_state("gone") is not None  # known still: its items and history stay
    # Turned on again, "paused" is claimed like any other.
    assert a.sync_feeds([(name, f"http://x/{name}") for name in due], T0) == []
    assert b.claim_feeds(T0, 6, 5) == ["gone", "paused"]


def test_leaving_frees_a_nodes_leases_at_once_and_the_listing_shows_it(open_store):
    a, b = open_store(node="a:1"), open_store(node="b:2")
    names = ["f1", "f2", "f3"]
    a.sync_feeds([(n, f"http://x/{n}") for n in names], T0)
    a.beat(T0, T0 - 60)
    b.beat(T0, T0 - 30)
    assert a.claim_feeds(T0, 6, 2) == ["f1", "f2"]
    assert b.claim_feeds(T0, 6, 2) == ["f3"]
    a.record_poll("f2", now=T0, next_poll=T0 + 3600, status=200)
    assert a.hold_lease("deliver", T0, 6)
    nodes = {n["node"]: n for n in b.cluster_nodes(T0 + 1)}
    first = nodes["a:1"]
    assert (first["host"], first["pid"], first["started"], first["heartbeat"], first["stopped"]) == (
        "a",
        1,
        T0 - 60,
        T0,
        None,
    )
    assert [j["job"] for j in first["jobs"]] == ["deliver"]
    assert (first["feeds_leased"], first["feeds_polled_last"]) == (1, 1)
    assert (nodes["b:2"]["jobs"], nodes["b:2"]["feeds_leased"]) == ([], 1)
    # Leases past their expiry are nobody's any more: the listing says so.
    assert {n["node"]: n["feeds_leased"] for n in b.cluster_nodes(T0 + 7)} == {"a:1": 0, "b:2": 0}

    a.leave(T0 + 2)
    assert b.hold_lease("deliver", T0 + 2, 6)
    assert b.claim_feeds(T0 + 2, 6, 10) == ["f1"]
    nodes = {n["node"]: n for n in b.cluster_nodes(T0 + 3)}
    assert (nodes["a:1"]["stopped"], nodes["a:1"]["jobs"], nodes["a:1"]["feeds_leased"]) == (T0 + 2, [], 0)
    assert ([j["job"] for j in nodes["b:2"]["jobs"]], nodes["b:2"]["feeds_leased"]) == (["deliver"], 2)
    b.beat(T0 + 5, T0 - 30)
    assert b.forget_nodes(T0 + 4) == 1  # a, last heard at T0
    assert [n["node"] for n in b.cluster_nodes(T0 + 6)] == ["b:2"]


def test_a_daemon_renews_a_job_lease_a_quarter_of_it_at_a_time_and_yields_one_taken_over(tmp_path, open_store):
    """A job that runs every few seconds (delivery) writes its lease only as a quarter of it
    passes, not at every run, and a node that finds the lease taken over stops running it."""
    clock = Clock()
    with desk(tmp_path, ["wire"], clock=clock) as d:
        other = open_store(node="other:2")
        daemon = Daemon(d.assembly, Supervisor(d.assembly, Liveness()))
        lease = daemon._job_lease("deliver")

        def expires() -> float:
            return d.sql("SELECT expires FROM leases WHERE name = 'deliver'")[0][0]

        asyncio.run(daemon.deliver())
        assert expires() == T0 + lease
        clock.advance(lease / 4 - 1)
        asyncio.run(daemon.deliver())
        assert expires() == T0 + lease  # no statement: three quarters of it are still ahead
        renewed = clock.advance(2)
        asyncio.run(daemon.deliver())
        assert expires() == renewed + lease
        assert not other.hold_lease("deliver", renewed + lease - 1, lease)  # nobody takes it before
        clock.advance(2 * lease)  # this node stalled past its lease, and another took the job
        assert other.hold_lease("deliver", clock(), lease)
        assert not daemon._hold("deliver", clock())
        assert d.sql("SELECT node FROM leases WHERE name = 'deliver'") == [(other.node,)]
