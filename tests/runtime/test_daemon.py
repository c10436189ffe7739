"""The long-running daemon as a subprocess: schedule, deliver, stop on SIGTERM."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

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
