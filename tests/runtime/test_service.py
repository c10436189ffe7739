"""The daemon as a service, run as a subprocess: sd_notify on a real datagram socket,
/healthz and /metrics over HTTP, SIGHUP reloads, SIGTERM mid-cycle, restart without a burst."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import threading
import uuid
from pathlib import Path

from consolekit import request
from daemonkit import DaemonProc, free_port, get
from storykit import feed_doc
from testkit import RIFT, Clock, wait_for, write_config

FIXTURES = Path(__file__).parents[1] / "fixtures"


class NotifyListener:
    """A real AF_UNIX datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self) -> None:
        self.name = f"@monitor-test-{uuid.uuid4().hex}"  # abstract namespace: no path length limits
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.messages: list[dict[str, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            self.messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))

    def keys(self) -> list[str]:
        """The first key of each message so far, in order (READY, RELOADING, WATCHDOG…)."""
        return [next(iter(m)) for m in list(self.messages)]

    def has(self, key: str, value: str | None = None) -> bool:
        return any(key in m and (value is None or m[key] == value) for m in list(self.messages))

    def close(self) -> None:
        self.sock.close()


RIFT_RULE = {"name": "rift", "query": RIFT, "notify": ["hook"]}
CONSOLE_TOKEN = "k3Vq-8sXbT1p_Zr0aW9cLm"


def db_query(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_sd_notify_health_and_metrics(tmp_path, feed_server, webhook, daemons):
    url = feed_server.serve("/toi.xml", (FIXTURES / "story/toi_v2.xml").read_bytes())
    port = free_port()
    write_config(
        tmp_path,
        feeds={"toi": url, "broken": feed_server.url("/missing")},
        rules=[RIFT_RULE],
        channels={"hook": {"urls": [webhook.apprise_url]}},
        monitor={"interval": "1s", "http": f"127.0.0.1:{port}", "backfill": "100000d"},
    )
    listener = NotifyListener()
    try:
        d = DaemonProc(tmp_path, env={"NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "400000"})
        daemons.append(d)
        wait_for(lambda: listener.has("READY", "1"))
        ready = next(m for m in listener.messages if "READY" in m)
        assert ready["STATUS"].startswith("2 feeds, ")
        wait_for(lambda: listener.has("WATCHDOG", "1"))

        status, body = get(f"http://127.0.0.1:{port}/healthz")
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok", body
        assert health["checks"]["database"]["ok"] and health["checks"]["scheduler"]["ticks"] >= 1

        wait_for(lambda: len(webhook.received) == 1)

        def metrics() -> str:
            return get(f"http://127.0.0.1:{port}/metrics")[1]

        wait_for(lambda: 'monitor_deliveries_total{outcome="sent"} 1.0' in metrics())
        text = metrics()
        assert 'monitor_polls_total{outcome="ok"}' in text and 'monitor_polls_total{outcome="error"}' in text
        assert "monitor_alerts_total 1.0" in text
        assert 'monitor_items_ingested_total{kind="new"} 4.0' in text
        assert "monitor_fetch_duration_seconds_count" in text
        assert f'monitor_node_info{{node="{socket.gethostname()}:{d.proc.pid}"}} 1.0' in text
        assert 'monitor_outbox_depth{status="pending"} 0.0' in text
        assert 'monitor_feed_consecutive_errors{feed="toi"} 0.0' in text
        assert 'monitor_feed_poll_interval_seconds{feed="toi",reason="fixed"} 1.0' in text
        wait_for(lambda: 'monitor_feed_consecutive_errors{feed="broken"} 0.0' not in metrics())
        assert get(f"http://127.0.0.1:{port}/nope")[0] == 404
        assert d.stop() == 0
        assert listener.has("STOPPING", "1")
    finally:
        listener.close()
    assert "Traceback" not in d.log()


def test_healthz_is_503_until_the_scheduler_ticks_and_when_it_stalls(tmp_path):
    """The endpoint in-process with a controllable clock: a blocked loop cannot be
    simulated honestly in a subprocess without timing, a stalled heartbeat can."""
    from monitor.runtime.endpoint import HealthServer, Heartbeat, Metrics, StoreReader

    clock = Clock(100.0)
    beat = Heartbeat(clock=clock)
    reader = StoreReader(tmp_path / "h.db")
    server = HealthServer(("127.0.0.1", 0), beat, Metrics(), reader)
    server.start()
    url = f"http://127.0.0.1:{server.address[1]}/healthz"
    try:
        status, body = get(url)
        assert (
            status == 503 and json.loads(body)["checks"]["scheduler"]["problem"] == "the scheduler has not ticked yet"
        )
        beat.tick()
        assert get(url)[0] == 200
        clock.advance(60)
        status, body = get(url)
        assert status == 503 and "last ticked 60s ago" in json.loads(body)["checks"]["scheduler"]["problem"]
        assert request(url, "HEAD").status == 503  # a load balancer's probe
        beat.tick()
        beat.stopping = True
        assert json.loads(get(url)[1])["checks"]["scheduler"]["problem"] == "stopping"
    finally:
        server.close()
        reader.close()


def test_many_slow_connections_neither_grow_threads_nor_keep_healthz_from_answering(tmp_path):
    from monitor.runtime.endpoint import MAX_CONNECTIONS, HealthServer, Heartbeat, Metrics, StoreReader

    beat = Heartbeat()
    beat.tick()
    reader = StoreReader(tmp_path / "h.db")
    server = HealthServer(("127.0.0.1", 0), beat, Metrics(), reader)
    server.start()
    threads_before = threading.active_count()
    slow = []
    try:
        for _ in range(4 * MAX_CONNECTIONS):  # each sends half a request line, then nothing
            s = socket.create_connection(("127.0.0.1", server.address[1]))
            s.sendall(b"GET /healthz HTT")
            slow.append(s)
        # Accepted after every slow one (one accept loop): they have all been handed out by now.
        beat.tick()
        status, body = get(f"http://127.0.0.1:{server.address[1]}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok", body
        assert server.httpd.connections() <= MAX_CONNECTIONS
        assert threading.active_count() <= threads_before + MAX_CONNECTIONS + 1
    finally:
        for s in slow:
            s.close()
        server.close()
        reader.close()


def test_sighup_applies_a_valid_config_and_rejects_an_invalid_one(tmp_path, feed_server, webhook, daemons):
    a = feed_server.serve("/a.xml", (FIXTURES / "story/toi_v1.xml").read_bytes())
    b = feed_server.serve("/b.xml", (FIXTURES / "story/toi_v1.xml").read_bytes())
    c = feed_server.serve("/c.xml", (FIXTURES / "story/toi_v1.xml").read_bytes())
    hook = {"urls": [webhook.apprise_url]}
    quiet = {"name": "quiet", "query": "zzzznothing", "notify": ["hook"]}
    every_second = {"interval": "1s"}
    write_config(tmp_path, feeds={"a": a, "c": c}, rules=[quiet], channels={"hook": hook}, monitor=every_second)
    d = DaemonProc(tmp_path, "--log-format", "json")
    daemons.append(d)
    wait_for(lambda: feed_server.statuses("/a.xml") and feed_server.statuses("/c.xml"))

    # Valid: feed b added, feed c removed, a new rule with a new alias and a new channel.
    reloaded = {
        "feeds": {"a": a, "b": b},
        "channels": {"hook": hook, "hook2": {"urls": [webhook.apprise_url]}},
        "monitor": every_second,
        "extra": {"aliases": {"rift": RIFT}},
    }
    rift = {"name": "rift", "query": "@rift", "notify": ["hook2"]}
    write_config(tmp_path, rules=[quiet, rift], **reloaded)
    d.signal(signal.SIGHUP)
    wait_for(lambda: "reloaded: 2 feeds, 2 rules" in d.log())
    c_polls = len(feed_server.statuses("/c.xml"))
    wait_for(lambda: feed_server.statuses("/b.xml"))
    feed_server.serve("/a.xml", (FIXTURES / "story/toi_v2.xml").read_bytes())
    wait_for(lambda: len(webhook.received) == 1)
    assert webhook.messages()[0]["title"].startswith("[rift] ")
    assert len(feed_server.statuses("/c.xml")) == c_polls  # removed feeds stop being polled

    # Invalid: errors logged, the previous config keeps running.
    bad = {"name": "bad", "query": "(Russia AND", "notify": ["nowhere"]}
    write_config(tmp_path, rules=[quiet, rift, bad], **reloaded)
    d.signal(signal.SIGHUP)
    wait_for(lambda: "reload rejected" in d.log())
    a_polls = len(feed_server.statuses("/a.xml"))
    wait_for(lambda: len(feed_server.statuses("/a.xml")) >= a_polls + 2)
    assert d.stop() == 0

    records = [json.loads(line) for line in d.log().splitlines()]  # --log-format json: every line is JSON
    rejected = next(r for r in records if "reload rejected" in r["msg"])
    assert rejected["level"] == "error"
    assert 'unknown channel "nowhere"' in rejected["msg"] and "^" in rejected["msg"]
    applied = next(r for r in records if r["msg"].startswith("reloaded:"))
    assert "feeds: +1 (b), -1 (c)" in applied["msg"] and "rules: +1 (rift)" in applied["msg"]


def test_a_reload_adding_a_feed_polled_every_few_seconds_makes_the_daemon_look_for_due_feeds_more_often(
    tmp_path, feed_server, daemons
):
    doc = (FIXTURES / "story/toi_v1.xml").read_bytes()
    slow, fast = feed_server.serve("/slow.xml", doc), feed_server.serve("/fast.xml", doc)
    write_config(tmp_path, feeds={"slow": slow}, monitor={"interval": "1h"})
    d = DaemonProc(tmp_path)
    daemons.append(d)
    wait_for(lambda: feed_server.statuses("/slow.xml"))

    write_config(tmp_path, feeds={"slow": slow, "fast": {"url": fast, "interval": "5s"}}, monitor={"interval": "1h"})
    d.signal(signal.SIGHUP)
    wait_for(lambda: "reloaded: 2 feeds" in d.log())
    # A fiftieth of 5 s is under the shortest tick: a due feed waits 0.05 s on average, not 0.5 s.
    wait_for(lambda: "looking for due feeds every 0.1s" in d.log())
    wait_for(lambda: len(feed_server.statuses("/fast.xml")) >= 2)
    assert "looking for due feeds" not in d.log().split("reloaded: 2 feeds")[0]  # 1 h: the 1 s tick


def test_a_reload_of_a_file_too_deep_to_read_is_rejected_and_systemd_hears_ready(tmp_path, feed_server, daemons):
    url = feed_server.serve("/a.xml", (FIXTURES / "story/toi_v1.xml").read_bytes())
    port = free_port()
    write_config(tmp_path, feeds={"a": url}, monitor={"interval": "1s", "http": f"127.0.0.1:{port}"})
    listener = NotifyListener()
    try:
        d = DaemonProc(tmp_path, env={"NOTIFY_SOCKET": listener.name})
        daemons.append(d)
        wait_for(lambda: listener.has("READY", "1"))
        config = tmp_path / "config.toml"
        good = config.read_text()
        config.write_text(good + "deep = " + "[" * 5000 + "]" * 5000 + "\n")
        d.signal(signal.SIGHUP)
        wait_for(lambda: "reload rejected" in d.log())
        # RELOADING=1, then READY=1 again: systemd is not left waiting for the reload to end.
        wait_for(lambda: listener.keys()[listener.keys().index("RELOADING") :].count("READY") == 1)
        assert "arrays or tables nested too deeply" in d.log() and "Traceback" not in d.log()
        polls = len(feed_server.statuses("/a.xml"))
        wait_for(lambda: len(feed_server.statuses("/a.xml")) >= polls + 2)  # the old config goes on
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        config.write_text(good)
        d.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded: 1 feeds" in d.log())
        assert d.stop() == 0
    finally:
        listener.close()


def test_a_reload_that_would_open_the_console_beyond_loopback_is_rejected(tmp_path, feed_server, daemons):
    """Served on every interface by --http (as monitor@.service does through $MONITOR_HTTP), the
    file's `http` unset: taking the token out of the file, or emptying it, is refused against the
    address bound, the console stays closed to a request naming 127.0.0.1, and systemd hears
    READY=1 after each refusal as after any other."""
    port = free_port()
    feeds = {"a": feed_server.serve("/a.xml", (FIXTURES / "story/toi_v1.xml").read_bytes())}
    hourly = {"interval": "1h"}
    write_config(tmp_path, feeds=feeds, rules=[], channels={}, monitor={**hourly, "web_token": CONSOLE_TOKEN})
    listener = NotifyListener()
    try:
        d = DaemonProc(tmp_path, "--http", f"0.0.0.0:{port}", env={"NOTIFY_SOCKET": listener.name})
        daemons.append(d)
        wait_for(lambda: listener.has("READY", "1"))
        feeds_page = f"http://127.0.0.1:{port}/feeds"
        as_this_machine = {"Host": f"127.0.0.1:{port}"}
        assert request(feeds_page, headers=as_this_machine).status == 401
        for rejected, without_a_token in enumerate(({}, {"web_token": ""}), start=1):
            write_config(tmp_path, feeds=feeds, rules=[], channels={}, monitor={**hourly, **without_a_token})
            readies = sum(m.get("READY") == "1" for m in list(listener.messages))
            d.signal(signal.SIGHUP)
            wait_for(lambda n=rejected: d.log().count("reload rejected") + d.log().count("reloaded:") == n)
            assert d.log().count("reload rejected") == rejected, d.log()
            wait_for(lambda n=readies: sum(m.get("READY") == "1" for m in list(listener.messages)) > n)
            assert request(feeds_page, headers=as_this_machine).status == 401, without_a_token
        bearer = {**as_this_machine, "Authorization": f"Bearer {CONSOLE_TOKEN}"}
        assert request(feeds_page, headers=bearer).status == 200  # the previous configuration, token and all
        assert d.stop() == 0
    finally:
        listener.close()
    log = d.log()
    assert log.count("[monitor] web_token: is required: the console listens on 0.0.0.0:") == 2, log
    assert "reloaded:" not in log and CONSOLE_TOKEN not in log


def test_sigterm_during_a_busy_cycle_loses_nothing(tmp_path, feed_server, webhook, daemons):
    """Polls in flight when SIGTERM arrives finish their transaction; their alerts'
    deliveries stay pending in the outbox for the next start."""
    release = threading.Event()
    arrived: list[str] = []
    body = (FIXTURES / "story/toi_v2.xml").read_bytes()

    def slow(handler) -> None:
        arrived.append(handler.path)
        release.wait(20)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    names = [f"f{i}" for i in range(4)]
    for name in names:
        feed_server.handlers[f"/{name}.xml"] = slow
    write_config(
        tmp_path,
        feeds={n: feed_server.url(f"/{n}.xml") for n in names},
        rules=[RIFT_RULE],
        channels={"hook": {"urls": [webhook.apprise_url]}},
        monitor={"interval": "1h", "backfill": "100000d", "per_host": 4},
    )
    d = DaemonProc(tmp_path)
    daemons.append(d)
    wait_for(lambda: len(arrived) == len(names))
    d.signal(signal.SIGTERM)
    wait_for(lambda: "stopping: finishing 4 polls in flight" in d.log())
    release.set()
    assert d.stop() == 0, d.log()

    db = tmp_path / "m.db"
    assert db_query(db, "PRAGMA integrity_check") == [("ok",)]
    assert db_query(db, "SELECT count(*) FROM feeds WHERE last_success IS NOT NULL") == [(4,)]
    # One story across the four feeds: one alert, one delivery, not sent but kept.
    assert db_query(db, "SELECT count(*) FROM alerts") == [(1,)]
    assert db_query(db, "SELECT status FROM deliveries") == [("pending",)]
    assert webhook.received == []


def test_sigterm_mid_delivery_lets_the_delivery_finish(tmp_path, feed_server, webhook, daemons):
    """A stop waits for the delivery under way (the scheduler's shutdown would cancel it):
    every message of the run goes out and is marked sent, none is left to go out twice."""
    titles = ["Storm hits the coast", "Rates rise in the north", "Talks resume at the border"]
    url = feed_server.serve(
        "/wire.xml", feed_doc("Wire", [(f"g{n}", f"https://w.example/{n}", t) for n, t in enumerate(titles)])
    )
    write_config(
        tmp_path,
        feeds={"wire": url},
        channels={"hook": {"urls": [webhook.apprise_url], "rate_limit": "1/s"}},  # a run of 2 s and more
        monitor={"interval": "1h", "backfill": "100000d"},
    )
    d = DaemonProc(tmp_path)
    daemons.append(d)
    wait_for(lambda: webhook.received)
    d.signal(signal.SIGTERM)
    assert d.stop() == 0
    assert len(webhook.received) == len(titles)
    assert db_query(tmp_path / "m.db", "SELECT status, count(*) FROM deliveries GROUP BY status") == [("sent", 3)]
    assert "Traceback" not in d.log()


def test_restart_resumes_the_schedule_without_a_burst(tmp_path, feed_server, daemons):
    body = (FIXTURES / "story/toi_v1.xml").read_bytes()
    feeds = {n: feed_server.serve(f"/{n}.xml", body) for n in ("a", "b", "c")}
    port = free_port()
    hourly = {"interval": "1h", "http": f"127.0.0.1:{port}"}
    write_config(tmp_path, feeds=feeds, rules=[], channels={}, monitor=hourly)
    first = DaemonProc(tmp_path)
    daemons.append(first)
    wait_for(lambda: all(feed_server.statuses(f"/{n}.xml") for n in feeds))
    wait_for(lambda: db_query(tmp_path / "m.db", "SELECT count(*) FROM feeds WHERE last_poll IS NOT NULL") == [(3,)])
    assert first.stop() == 0

    # Restart with one feed added and one removed: d is due at once, a and b not for an hour,
    # and c, removed while the daemon was stopped, is said to be polled no more.
    feeds["d"] = feed_server.serve("/d.xml", body)
    write_config(tmp_path, feeds={n: u for n, u in feeds.items() if n != "c"}, rules=[], channels={}, monitor=hourly)
    second = DaemonProc(tmp_path)
    daemons.append(second)
    wait_for(lambda: feed_server.statuses("/d.xml"))

    def ticks() -> int:
        try:
            return json.loads(get(f"http://127.0.0.1:{port}/healthz")[1])["checks"]["scheduler"]["ticks"]
        except OSError:
            return 0

    wait_for(lambda: ticks() >= 3)  # several dispatch rounds after the restart
    assert second.stop() == 0
    assert [len(feed_server.statuses(f"/{n}.xml")) for n in ("a", "b", "c", "d")] == [1, 1, 1, 1]
    assert "1 feed(s) polled until now are no longer polled" in second.log() and ": c" in second.log()


def test_an_http_port_in_use_is_a_clear_error(tmp_path, run_cli, feed_server):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        write_config(
            tmp_path,
            feeds={"a": feed_server.url("/a.xml")},
            rules=[],
            channels={},
            monitor={"interval": "1s", "http": f"127.0.0.1:{port}"},
        )
        result = run_cli("run", timeout=30)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "hint:" in result.stderr


def test_sdnotify_is_a_no_op_outside_systemd():
    from monitor.runtime.systemd import SystemdNotifier

    quiet = SystemdNotifier({})
    assert not quiet.enabled and quiet.ready("x") is False and quiet.watchdog_interval is None
    other = SystemdNotifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.watchdog_interval is None  # the watchdog belongs to another process
    mine = SystemdNotifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_interval == 15.0
