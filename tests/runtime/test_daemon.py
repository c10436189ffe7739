"""The long-running daemon as a subprocess: schedule, deliver, stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from deskkit import rss
from testkit import RIFT, monitor_exe, wait_for, write_config

FIXTURES = Path(__file__).parents[1] / "fixtures"


def polls(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT count(*) FROM feeds WHERE last_poll IS NOT NULL").fetchone()
            return row[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def test_daemon_polls_on_schedule_delivers_and_stops_cleanly(tmp_path, feed_server, webhook):
    url = feed_server.serve("/toi.xml", (FIXTURES / "story/toi_v1.xml").read_bytes())
    write_config(
        tmp_path,
        monitor={"interval": "1s"},
        feeds={"toi": url},
        rules=[{"name": "rift", "query": RIFT, "notify": ["hook"]}],
        channels={"hook": {"urls": [webhook.apprise_url]}},
    )
    proc = subprocess.Popen(
        [*monitor_exe(), "--config", str(tmp_path / "config.toml"), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: polls(tmp_path / "m.db") == 1)
        feed_server.serve("/toi.xml", (FIXTURES / "story/toi_v2.xml").read_bytes())
        wait_for(lambda: len(webhook.received) == 1)
        # Several more polls of the unchanged feed: 304s, no second alert.
        wait_for(lambda: feed_server.statuses("/toi.xml").count(304) >= 2)
        assert len(webhook.received) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "monitor started: 1 feeds, 1 rules" in err and "stopping" in err
    assert "Traceback" not in err


def test_a_second_poller_on_the_same_database_is_refused_while_readers_work(tmp_path, feed_server, run_cli):
    url = feed_server.serve("/toi.xml", (FIXTURES / "story/toi_v1.xml").read_bytes())
    config = write_config(tmp_path, monitor={"interval": "1h"}, feeds={"toi": url})
    first = subprocess.Popen(
        [*monitor_exe(), "--config", str(config), "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: polls(tmp_path / "m.db") == 1)
        for args in (("run",), ("run", "--once")):
            second = run_cli("--config", str(config), *args)
            assert second.returncode == 1, second.stderr
            assert f"another monitor (pid {first.pid}) is already polling {tmp_path / 'm.db'}" in second.stderr
            assert "one daemon per database file" in second.stderr and "Traceback" not in second.stderr
        listing = run_cli("--config", str(config), "feeds", "--json")
        assert listing.returncode == 0 and '"toi"' in listing.stdout
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0
    after = run_cli("--config", str(config), "run", "--once")  # the lock went with its holder
    assert after.returncode == 0, after.stderr


def test_an_adaptive_daemon_polls_its_busy_feed_more_often_than_its_quiet_one(tmp_path, feed_server, run_cli):
    now = time.time()
    busy = rss([(f"b{n}", f"Wire item {n}", now - 10 * n) for n in range(20)])  # one every 10 s
    quiet = rss([(f"q{n}", f"Column {n}", now - 2 * 86400 * (n + 1)) for n in range(5)])  # every other day
    urls = {name: feed_server.serve(f"/{name}", body) for name, body in (("busy", busy), ("quiet", quiet))}
    config = write_config(
        tmp_path,
        monitor={"schedule": "adaptive", "interval": "2s", "min_interval": "1s", "max_interval": "20s"},
        feeds=urls,
    )
    proc = subprocess.Popen(
        [*monitor_exe(), "--config", str(config), "run"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: len(feed_server.statuses("/busy")) >= 8)
        # Both at the interval until the budget is first shared (after a poll of each), then
        # the quiet one at max_interval: at most three requests in the time the busy one had eight.
        assert len(feed_server.statuses("/quiet")) <= 3
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    listed = {f["name"]: f for f in json.loads(run_cli("--config", str(config), "feeds", "--json").stdout)}
    assert listed["quiet"]["poll_reason"] == "max_interval" and listed["quiet"]["poll_interval"] == 20
    assert listed["busy"]["poll_reason"] in ("learned", "min_interval") and listed["busy"]["poll_interval"] < 2
    assert listed["busy"]["rate_per_day"] > 1000 and listed["busy"]["schedule"].startswith("every 1s (")
