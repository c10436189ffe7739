"""Several daemons on one database: real daemons (`monitor run` subprocesses) sharing a real
PostgreSQL server: a node killed mid-cycle, each feed fetched once per interval cluster-wide, the
server stopped and started. The store's lease logic itself: tests/store/test_leases.py."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

import pgkit
import pytest
from daemonkit import DaemonProc, free_port, get
from storykit import feed_doc
from testkit import wait_for, write_config

from monitor.store import StoreUnavailable

FIXTURES = Path(__file__).parents[1] / "fixtures"
WATCH = {"name": "watch", "query": "dispatch", "notify": ["hook"]}
# Short fetch deadlines: a claimed feed is leased for twice this, so a dead node's feeds come
# back within seconds.
FAST = {"timeout": "3s", "concurrency": 1, "parse_workers": 1}
PLACES = ["Haifa", "Aleppo", "Amman", "Basra", "Tabriz", "Sidon", "Jenin", "Mosul", "Aqaba", "Homs", "Eilat", "Tyre"]
EVENTS = ["flood", "strike", "election", "drought", "ceasefire", "protest", "blackout", "tender", "harvest", "census"]


def headline(n: int) -> str:
    """A headline the watch rule matches, too unlike any other to join its story."""
    return f"Dispatch {PLACES[n % len(PLACES)]} {EVENTS[n // len(PLACES)]} {n}"


def story_doc(*numbers: int) -> bytes:
    return feed_doc("Wire", [(f"g{n}", f"https://news.example/{n}", headline(n)) for n in numbers])


def pg_rows(url: str, sql: str, *params: object) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]  # the test's own literal SQL


def send_feed(handler, body: bytes) -> None:
    """Answer from a test's own route (FeedServer.handlers): no validators, so a poll tells an
    unchanged document by its hash."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def deliveries_of(webhook, text: str) -> int:
    return sum(text in body.decode() for body in webhook.received)


# -- the store: leases on feeds and jobs, on both databases ------------------------------------


# -- one daemon on SQLite: the same path, one node -----------------------------------------------


def test_on_sqlite_the_one_daemon_is_the_cluster(tmp_path, feed_server, run_cli, daemons):
    url = feed_server.serve("/a.xml", (FIXTURES / "story/toi_v1.xml").read_bytes())
    port = free_port()
    write_config(tmp_path, feeds={"a": url}, rules=[], channels={}, monitor={"interval": "1h", **FAST})
    # As monitor@.service names a node and its port: through the environment.
    d = DaemonProc(tmp_path, env={"MONITOR_NODE": "solo", "MONITOR_HTTP": f"127.0.0.1:{port}"})
    daemons.append(d)
    node = f"solo:{d.proc.pid}"

    def listing() -> list[dict]:
        return json.loads(run_cli("cluster", "--json").stdout)

    # The delivery job runs every 2 s: its lease is this node's from the first run.
    wait_for(lambda: [(r["feeds_polled_last"], [j["job"] for j in r["jobs"]]) for r in listing()] == [(1, ["deliver"])])
    [row] = listing()
    assert (row["node"], row["host"], row["pid"], row["state"], row["feeds_leased"]) == (
        node,
        "solo",
        d.proc.pid,
        "live",
        0,
    )
    assert json.loads(run_cli("feeds", "--json").stdout)[0]["polled_by"] == node
    assert f"by={node}" in run_cli("feeds").stdout
    assert f'monitor_node_info{{node="{node}"}} 1.0' in get(f"http://127.0.0.1:{port}/metrics")[1]
    assert d.stop() == 0

    [row] = listing()
    assert (row["state"], row["jobs"], row["feeds_leased"]) == ("stopped", [], 0)
    text = run_cli("cluster").stdout
    assert node in text and "stopped" in text and "polled_last=1" in text


# -- daemons sharing PostgreSQL ------------------------------------------------------------------


def start_nodes(tmp_path: Path, count: int, daemons: list[DaemonProc]) -> dict[str, tuple[DaemonProc, int]]:
    """`count` daemons named n1, n2...: node name -> (daemon, its /healthz port)."""
    nodes = {}
    for n in range(1, count + 1):
        port = free_port()
        d = DaemonProc(tmp_path, "--node", f"n{n}", "--http", f"127.0.0.1:{port}")
        daemons.append(d)
        nodes[f"n{n}:{d.proc.pid}"] = (d, port)
    return nodes


def health(port: int) -> tuple[int, dict]:
    try:
        status, body = get(f"http://127.0.0.1:{port}/healthz")
    except OSError:  # not listening yet
        return 0, {}
    return status, json.loads(body)


def ticks(port: int) -> int:
    return health(port)[1].get("checks", {}).get("scheduler", {}).get("ticks", 0)


def test_each_feed_is_fetched_once_per_interval_across_the_cluster(
    tmp_path, postgres_url, feed_server, run_cli, daemons
):
    paths = [f"/f{n}.xml" for n in range(6)]
    feeds = {f"f{n}": feed_server.serve(p, story_doc(n)) for n, p in enumerate(paths)}
    write_config(
        tmp_path, feeds=feeds, rules=[], channels={}, monitor={"database": postgres_url, "interval": "1h", **FAST}
    )
    nodes = start_nodes(tmp_path, 3, daemons)
    wait_for(lambda: all(feed_server.statuses(p) for p in paths))
    # Every daemon has since had several ticks, each a chance to claim a feed again.
    seen = {node: ticks(port) for node, (_, port) in nodes.items()}
    wait_for(lambda: all(ticks(port) >= seen[node] + 3 for node, (_, port) in nodes.items()))
    assert [len(feed_server.statuses(p)) for p in paths] == [1] * len(paths)

    def listing() -> dict[str, dict]:
        return {r["node"]: r for r in json.loads(run_cli("cluster", "--json").stdout)}

    def deliverers() -> list[str]:
        return [node for node, r in listing().items() if any(j["job"] == "deliver" for j in r["jobs"])]

    wait_for(lambda: len(deliverers()) == 1)
    rows = listing()
    assert set(rows) == set(nodes) and {r["state"] for r in rows.values()} == {"live"}
    assert sum(r["feeds_polled_last"] for r in rows.values()) == len(paths)
    assert {f["polled_by"] for f in json.loads(run_cli("feeds", "--json").stdout)} <= set(nodes)

    # The deliverer stops cleanly: it says so, and another node takes the job.
    [gone] = deliverers()
    assert nodes[gone][0].stop() == 0
    assert (listing()[gone]["state"], listing()[gone]["jobs"]) == ("stopped", [])
    wait_for(lambda: len(deliverers()) == 1)
    assert deliverers() != [gone]
    for d, _ in nodes.values():
        assert d.stop() == 0
        assert "Traceback" not in d.log()
    assert [len(feed_server.statuses(p)) for p in paths] == [1] * len(paths)


def test_a_node_killed_mid_cycle_loses_no_alert(tmp_path, postgres_url, feed_server, webhook, daemons):
    """Three fast feeds and twelve slow ones (each answers after 2 s): a cycle of three nodes
    polling two feeds each takes two rounds of slow feeds. A node is killed while it holds
    leases it took in the second round, after the first alerts went out."""
    slow_for = 2.0  # well inside the fetch deadline (timeout = "4s")

    def slow(body: bytes):
        def answer(handler) -> None:
            time.sleep(slow_for)  # a slow site, on the server's own thread
            send_feed(handler, body)

        return answer

    feeds = {}
    for n in range(15):
        if n < 3:
            feeds[f"f{n}"] = feed_server.serve(f"/f{n}.xml", story_doc(n))
        else:
            feed_server.handlers[f"/f{n}.xml"] = slow(story_doc(n))
            feeds[f"f{n}"] = feed_server.url(f"/f{n}.xml")
    slow_feeds = [name for name in feeds if int(name[1:]) >= 3]
    lease = 8.0
    write_config(
        tmp_path,
        feeds=feeds,
        rules=[WATCH],
        channels={"hook": {"urls": [webhook.apprise_url]}},
        monitor={"database": postgres_url, "interval": "1h", "backfill": "100000d", **FAST, "timeout": "4s"},
        extra={"delivery": {"check_every": "1s"}},
    )
    nodes = start_nodes(tmp_path, 3, daemons)
    wait_for(lambda: webhook.received)

    def holding_fresh_leases() -> list[str]:
        """Nodes holding a slow feed they claimed within the last second: its answer is a second off."""
        rows = pg_rows(
            postgres_url,
            "SELECT DISTINCT lease_node FROM feeds WHERE name = ANY(%s) AND lease_until > %s",
            slow_feeds,
            time.time() + lease - 1.0,
        )
        return [node for (node,) in rows]

    wait_for(holding_fresh_leases)
    victim = holding_fresh_leases()[0]
    nodes[victim][0].proc.kill()
    nodes[victim][0].proc.wait()
    held = pg_rows(postgres_url, "SELECT name FROM feeds WHERE lease_node = %s", victim)
    assert held, "the node died holding no lease"
    assert len(webhook.received) < len(feeds)  # killed mid-cycle

    # The survivors poll what it held once its leases run out; every story goes out.
    wait_for(lambda: all(deliveries_of(webhook, headline(n)) for n in range(len(feeds))), timeout=60)
    survivors = [d for node, (d, _) in nodes.items() if node != victim]
    for d in survivors:
        assert d.stop() == 0
        assert "Traceback" not in d.log()
    repeats = sum(deliveries_of(webhook, headline(n)) - 1 for n in range(len(feeds)))
    assert repeats <= 1  # one kill: at most the one message it sent and had no time to record
    polled_by = dict(pg_rows(postgres_url, "SELECT name, polled_by FROM feeds"))
    assert all(polled_by[name] != victim for (name,) in held)


@pytest.fixture
def private_postgres(postgres_server):
    """A PostgreSQL server of this test's own, to stop and start (skipped, or failed under CI,
    as the session's server is)."""
    server = pgkit.PostgresServer()
    yield server
    server.close()


def test_the_database_going_away_and_coming_back(tmp_path, private_postgres, feed_server, webhook, daemons):
    """The server stops while a poll is in flight with news; it is rolled back, and polled
    again once the server is back and the poll's lease has run out."""
    password = "Secr3t-pw-4-test"  # the server trusts local connections: any password passes
    port = private_postgres.port
    url = f"postgresql://postgres:{password}@127.0.0.1:{port}/monitor"
    a_doc, a_requests, a_slow = [story_doc(0)], [], threading.Event()

    def feed_a(handler) -> None:
        a_requests.append(handler.path)
        if a_slow.is_set():
            time.sleep(1.0)  # a slow site: its poll is in flight while the server stops
        send_feed(handler, a_doc[0])

    feed_server.handlers["/a.xml"] = feed_a
    feed_server.serve("/b.xml", story_doc(1))
    write_config(
        tmp_path,
        feeds={"a": feed_server.url("/a.xml"), "b": feed_server.url("/b.xml")},
        rules=[WATCH],
        channels={"hook": {"urls": [webhook.apprise_url]}},
        monitor={"database": url, "interval": "1s", **FAST},
        extra={"delivery": {"check_every": "1s"}},
    )
    nodes = start_nodes(tmp_path, 2, daemons)
    ports = [p for _, p in nodes.values()]
    # Baselined (no alert on what was there), then polled again, unchanged.
    wait_for(lambda: len(a_requests) >= 2 and len(feed_server.statuses("/b.xml")) >= 2)
    assert all(health(p)[0] == 200 for p in ports)

    a_slow.set()
    a_doc[0] = story_doc(0, 2)  # news, fetched just as the server stops
    polls_of_a = len(a_requests)
    wait_for(lambda: len(a_requests) > polls_of_a)
    private_postgres.stop()
    a_slow.clear()
    wait_for(lambda: all(health(p)[0] == 503 for p in ports))
    assert all(not health(p)[1]["checks"]["database"]["ok"] for p in ports)
    wait_for(lambda: all("polls and deliveries wait for it" in d.log() for d, _ in nodes.values()))

    private_postgres.start()
    wait_for(lambda: all(health(p)[0] == 200 for p in ports), timeout=60)
    wait_for(lambda: deliveries_of(webhook, headline(2)))
    feed_server.serve("/b.xml", story_doc(1, 3))  # news after it came back
    wait_for(lambda: deliveries_of(webhook, headline(3)))
    for d, _ in nodes.values():
        assert d.stop() == 0

    assert [deliveries_of(webhook, headline(n)) for n in range(4)] == [0, 0, 1, 1]
    for d, _ in nodes.values():
        log = d.log()
        # One warning naming the database (its user, never its password), one line when it is back.
        warnings = [line for line in log.splitlines() if "polls and deliveries wait for it" in line]
        assert len(warnings) == 1 and " WARNING " in warnings[0], log
        named = f"the database postgresql://postgres@127.0.0.1:{port}/monitor"
        assert f"{named} is unavailable" in warnings[0]
        assert log.count(f"{named} answers again") == 1, log
        assert "Traceback" not in log and password not in log


def test_an_outage_is_told_once_when_it_begins_and_once_when_it_ends(caplog):
    from monitor.runtime.outage import Outage

    began = []
    outage = Outage("postgresql://monitor:Secr3t-pw@db:5432/monitor", on_away=lambda: began.append(True))
    with caplog.at_level(logging.DEBUG, logger="monitor.runtime.outage"):
        for _ in range(3):  # every store call of the outage fails; one warning says so
            with outage.guard():
                raise StoreUnavailable("the database postgresql://monitor@db:5432/monitor is unavailable: refused")
        outage.answered()
        outage.answered()
        with outage.guard():  # an error that does not name the database (SQLite's): the warning names it
            raise sqlite3.OperationalError("disk I/O error")
    told = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    # (The user part of the URL may be redacted too, by the logging of an earlier test in this process.)
    assert [level for level, _ in told] == ["WARNING", "INFO", "WARNING"]
    assert "@db:5432/monitor is unavailable: refused; polls and deliveries wait for it" in told[0][1]
    assert told[1][1].endswith("@db:5432/monitor answers again")
    assert "@db:5432/monitor failed: disk I/O error; polls and deliveries wait for it" in told[2][1]
    assert not any("Secr3t-pw" in message for _, message in told)
    assert began == [True, True] and outage.away
    with pytest.raises(ZeroDivisionError), outage.guard():  # a bug is not an outage
        _ = 1 / 0
