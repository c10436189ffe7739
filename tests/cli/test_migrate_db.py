"""`monitor migrate-db` as a user runs it: a SQLite database filled by real polls, copied into a
real PostgreSQL server, and the daemon carrying on there as if nothing had moved."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from testkit import CATCH_ALL, monitor_exe, wait_for, write_config

FIXTURES = Path(__file__).parents[1] / "fixtures"
TABLES = [
    "feeds",
    "stories",
    "story_terms",
    "items",
    "alerts",
    "notices",
    "deliveries",
    "feed_health",
    "rule_state",
    "body_counts",
    "marks",
]
SECRET = "S3cretPassw0rdXYZ"
DOWN = "json://127.0.0.1:9/hook"  # nothing listens: its deliveries stay pending


def _configure(tmp_path: Path, feed: str, hook: str, database: str = "m.db") -> Path:
    return write_config(
        tmp_path,
        monitor={"database": database, "backfill": "100000d"},
        feeds={"toi": feed},
        rules=[{"name": "r", "query": CATCH_ALL, "notify": ["hook", "down"]}],
        channels={"hook": {"urls": [hook]}, "down": {"urls": [DOWN]}},
    )


def _sqlite(tmp_path: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(tmp_path / "m.db")) as conn:
        return conn.execute(sql).fetchall()


def _postgres(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]  # a test's own literal SQL


def _counts(query, tables=TABLES) -> dict[str, int]:
    return {table: query(f"SELECT count(*) FROM {table}")[0][0] for table in tables}


@pytest.fixture
def polled(tmp_path, feed_server, webhook, run_cli):
    """A SQLite database after one real poll: three alerts, each sent to `hook` and pending for `down`."""
    feed = feed_server.serve("/toi.xml", (FIXTURES / "story/toi_v1.xml").read_bytes())
    _configure(tmp_path, feed, webhook.apprise_url)
    first = run_cli("run", "--once")
    assert first.returncode == 0, first.stderr
    assert "3 new alerts; 3 deliveries sent, 3 failed" in first.stdout
    return feed


def test_the_daemon_carries_on_in_postgresql_where_it_left_sqlite(
    tmp_path, polled, feed_server, webhook, run_cli, postgres_url
):
    listings = ("alerts", "feeds", "outbox")
    before = {name: run_cli(name, "--json").stdout for name in listings}

    done = run_cli("migrate-db", "--to", postgres_url, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    counts = _counts(lambda sql: _sqlite(tmp_path, sql))
    assert report["rows"] == counts == _counts(lambda sql: _postgres(postgres_url, sql))
    assert (counts["alerts"], counts["deliveries"]) == (3, 6)
    assert report["source"] == str(tmp_path / "m.db") and not report["replaced"]
    # A sample, value for value: the feed's validators, each story's items, each alert's deliveries.
    for sql in (
        "SELECT name, etag, last_modified, next_poll, baselined FROM feeds",
        "SELECT story_id, id, key, fts FROM items ORDER BY id",
        "SELECT alert_id, channel, status, attempts, sent_at, next_attempt FROM deliveries ORDER BY id",
    ):
        assert _postgres(postgres_url, sql) == _sqlite(tmp_path, sql), sql
    assert _postgres(postgres_url, "SELECT etag FROM feeds")[0][0]

    _configure(tmp_path, polled, webhook.apprise_url, database=postgres_url)
    assert {name: run_cli(name, "--json").stdout for name in listings} == before

    again = run_cli("run", "--once")
    assert again.returncode == 0, again.stderr
    assert "toi: not modified" in again.stdout  # the validators came along
    assert "0 new alerts; 0 deliveries sent" in again.stdout
    assert len(webhook.received) == 3  # nothing sent twice

    feed_server.serve("/toi.xml", (FIXTURES / "story/toi_v2.xml").read_bytes())  # one item more
    later = run_cli("run", "--once")
    assert later.returncode == 0, later.stderr
    assert "toi: 1 new, 0 changed, 1 alerts" in later.stdout
    assert len(webhook.received) == 4
    assert "dissatisfaction" in json.dumps(webhook.messages()[-1])
    assert _postgres(postgres_url, "SELECT count(*) FROM deliveries WHERE channel = 'down' AND status = 'pending'") == [
        (4,)
    ]


def test_a_used_target_is_refused_replace_copies_again_and_the_password_never_shows(
    tmp_path, polled, run_cli, postgres_url
):
    url = postgres_url.replace("postgres@", f"postgres:{SECRET}@")  # the test server trusts 127.0.0.1
    outputs = [run_cli("migrate-db", "--to", url)]
    assert outputs[-1].returncode == 0, outputs[-1].stderr
    assert "copied" in outputs[-1].stdout and "postgresql://postgres@127.0.0.1" in outputs[-1].stdout

    outputs.append(run_cli("migrate-db", "--to", url, "--json"))
    refused = outputs[-1]
    assert refused.returncode == 1 and refused.stdout == ""
    assert "already holds monitor data (1 feeds, 3 items)" in refused.stderr and "--replace" in refused.stderr

    outputs.append(run_cli("migrate-db", "--to", url, "--replace", "--json"))
    assert outputs[-1].returncode == 0, outputs[-1].stderr
    assert json.loads(outputs[-1].stdout)["replaced"] is True
    assert _counts(lambda sql: _postgres(postgres_url, sql)) == _counts(lambda sql: _sqlite(tmp_path, sql))

    gone = url.split("@")[0] + "@127.0.0.1:9/monitor"  # nothing listens
    outputs.append(run_cli("migrate-db", "--to", gone))
    assert outputs[-1].returncode == 1 and "cannot connect to the database" in outputs[-1].stderr
    outputs.append(run_cli("migrate-db", "--to", url.replace("postgresql", "postgress")))
    assert outputs[-1].returncode == 2 and "must be a PostgreSQL URL" in outputs[-1].stderr
    for result in outputs:
        assert SECRET not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr


def test_a_config_already_on_postgresql_is_a_usage_error(tmp_path, feed_server, webhook, run_cli, postgres_url):
    _configure(tmp_path, feed_server.url("/toi.xml"), webhook.apprise_url, database=postgres_url)
    result = run_cli("migrate-db", "--to", postgres_url)
    assert result.returncode == 2
    assert "already PostgreSQL" in result.stderr and "copies a SQLite file" in result.stderr


def test_a_daemon_running_on_the_file_makes_it_refuse(tmp_path, polled, run_cli, postgres_url):
    daemon = subprocess.Popen(
        [*monitor_exe(), "--config", str(tmp_path / "config.toml"), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = tmp_path / "m.db.lock"
        wait_for(lambda: lock.exists() and lock.read_text().strip() == str(daemon.pid))
        refused = run_cli("migrate-db", "--to", postgres_url)
        assert refused.returncode == 1
        assert f"another monitor (pid {daemon.pid}) is already polling" in refused.stderr
        assert "stop it first" in refused.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)
    done = run_cli("migrate-db", "--to", postgres_url)  # stopped: the lock went with it
    assert done.returncode == 0, done.stderr
