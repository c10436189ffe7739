"""Delivery through restarts and kills of the real daemon, and the outbox commands, as a user runs them."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from testkit import Table, monitor_exe, wait_for, write_config

KILL_ROUNDS = 4
# Every table of the store, by backend: where a secret must not be.
TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
}


def rss(ids) -> bytes:
    items = "".join(
        f"<item><title>Israel bulletin {n}</title><link>https://example.com/news/{n}</link>"
        f"<guid>https://example.com/news/{n}</guid><description>Israel and Russia, item {n}.</description>"
        f"<pubDate>Tue, 14 Nov 2023 22:00:00 GMT</pubDate></item>"
        for n in ids
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{items}</channel></rss>'.encode()


def wire_config(
    tmp_path: Path,
    feed_url: str,
    hook_url: str,
    hook: Table | None = None,
    *,
    monitor: Table | None = None,
    others: dict[str, Table] | None = None,
) -> Path:
    """One feed polled every second, a rule on Israel to the "hook" channel (flood guard off,
    `hook` its other keys) and to the `others`, fast retries."""
    return write_config(
        tmp_path,
        monitor={"interval": "1s", "backfill": "100000d", **(monitor or {})},
        feeds={"wire": feed_url},
        rules=[{"name": "israel", "query": "Israel", "notify": ["hook", *(others or {})]}],
        channels={"hook": {"urls": [hook_url], "flood_threshold": 0, **(hook or {})}, **(others or {})},
        extra={"delivery": {"retry_first": "0.2s", "retry_max": "0.5s", "check_every": "0.1s"}},
    )


def start(config: Path) -> subprocess.Popen:
    # TMPDIR in the test's folder: a SIGKILLed daemon cannot remove its forkserver's folder.
    return subprocess.Popen(
        [*monitor_exe(), "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(config.parent)},
    )


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err


def delivered(store, alerts: int) -> bool:
    rows = store.conn.execute(
        "SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM deliveries WHERE status = 'sent')"
    ).fetchall()
    return rows[0] == (alerts, alerts)


def titles(webhook) -> Counter:
    return Counter(m["title"] for m in webhook.messages())


def test_outage_across_a_restart_delivers_every_alert_exactly_once(tmp_path, feed_server, webhook, open_store):
    webhook.fail_first = 4
    config = wire_config(tmp_path, feed_server.serve("/wire.xml", rss(range(3))), webhook.apprise_url)
    store = open_store()
    proc = start(config)
    try:
        wait_for(lambda: webhook.attempts >= 2)
    finally:
        stop(proc)
    assert webhook.received == []
    proc = start(config)
    try:
        wait_for(lambda: delivered(store, 3))
    finally:
        err = stop(proc)
    assert titles(webhook) == Counter(f"[israel] Israel bulletin {n}" for n in range(3))
    assert "Traceback" not in err


def test_sigkill_at_random_moments_loses_nothing(tmp_path, feed_server, webhook, open_store, backend):
    rng = random.Random(6)
    url = feed_server.serve("/wire.xml", rss(range(20)))
    # A rate limit keeps the daemon busy sending while it is killed. On PostgreSQL a killed
    # daemon's leases (its feed, the outbox) hold until they expire, twice the fetch timeout:
    # a short timeout lets each restart take the work over within seconds.
    config = wire_config(tmp_path, url, webhook.apprise_url, {"rate_limit": "20/s"}, monitor={"timeout": "2s"})
    store = open_store()
    total = 20
    for _ in range(KILL_ROUNDS):
        proc = start(config)
        # Let it get somewhere (start-up, ingest, sends), then kill it mid-whatever.
        wait_for(lambda: store.feed_state("wire") is not None)
        time.sleep(rng.uniform(0.3, 1.5))
        proc.kill()
        proc.wait(timeout=10)
        proc.stderr.close()
        # New stories keep arriving between the kills.
        total += 15
        feed_server.serve("/wire.xml", rss(range(total)))
    proc = start(config)
    try:
        wait_for(lambda: delivered(store, total), timeout=60)
    finally:
        stop(proc)
    got = titles(webhook)
    expected = {f"[israel] Israel bulletin {n}" for n in range(total)}
    assert set(got) == expected  # nothing lost
    duplicates = sum(count - 1 for count in got.values())
    # Only a message accepted just before a kill and not yet marked can come twice: one per kill at most.
    assert duplicates <= KILL_ROUNDS
    if backend == "sqlite":  # the file survived the kills whole (a server recovers its own)
        assert store.conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_outbox_lists_retries_and_revives_dead_letters(run_cli, tmp_path, feed_server, webhook, open_store):
    url = feed_server.serve("/wire.xml", rss(range(2)))
    dead_end = "json://127.0.0.1:9/hook"  # nothing listens on the discard port
    wire_config(tmp_path, url, dead_end)
    run = run_cli("run", "--once")
    assert run.returncode == 0 and "0 deliveries sent, 2 failed" in run.stdout
    listing = run_cli("outbox", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 1), ("pending", 0)]
    assert rows[0]["last_error"].startswith('channel "hook"') and rows[0]["title"] == "Israel bulletin 0"
    plain = run_cli("outbox")
    assert "#1" in plain.stdout and "last error" in plain.stdout

    # Age them out by hand (24 h is a long test), then point the channel at a working receiver.
    store = open_store()
    store.conn.execute("UPDATE deliveries SET status = 'dead', dead_at = 1")
    wire_config(tmp_path, url, dead_end.replace("127.0.0.1:9", f"127.0.0.1:{webhook.port}"))
    # The destination changed, so its hash did too: the old rows now fail as "no longer has this destination".
    retry = run_cli("outbox", "--retry", "1", "--json")
    assert retry.returncode == 1 and json.loads(retry.stdout)["deliveries"] == [{"id": 1, "status": "pending"}]
    assert "no longer has this destination" in json.loads(retry.stdout)["errors"][0]

    wire_config(tmp_path, url, dead_end)
    assert run_cli("outbox", "--retry", "99").returncode == 2
    store.conn.execute("UPDATE deliveries SET status = 'dead', dead_at = 1")
    dead = json.loads(run_cli("outbox", "--json").stdout)
    assert {r["status"] for r in dead} == {"dead"}


def test_retry_dead_sends_them_and_notify_test_sends_a_sample(run_cli, tmp_path, feed_server, webhook, open_store):
    url = feed_server.serve("/wire.xml", rss(range(2)))
    webhook.fail_first = 1  # the second delivery waits behind the first, failed one
    wire_config(tmp_path, url, webhook.apprise_url)
    assert "0 deliveries sent, 2 failed" in run_cli("run", "--once").stdout
    open_store().conn.execute("UPDATE deliveries SET status = 'dead', dead_at = 1")
    result = run_cli("outbox", "--retry-dead")
    assert result.returncode == 0, result.stderr
    assert "2 sent, 0 failed" in result.stdout
    assert run_cli("outbox").stdout.strip() == "the outbox is empty: every alert was delivered"
    assert sorted(titles(webhook)) == ["[israel] Israel bulletin 0", "[israel] Israel bulletin 1"]

    sample = run_cli("notify-test", "hook")
    assert sample.returncode == 0 and "hook destination #1: sent" in sample.stdout
    assert "dissatisfaction" in webhook.messages()[-1]["message"]
    assert run_cli("notify-test", "nope").returncode == 2


def test_check_rejects_a_template_that_reaches_for_internals(run_cli, tmp_path, feed_server, webhook):
    (tmp_path / "evil.j2").write_text("{{ alert.title.__class__.__mro__ }}", encoding="utf-8")
    (tmp_path / "good.j2").write_text("{% for a in alerts %}{{ a.title_marked }} {{ a.link }}\n{% endfor %}")
    wire_config(tmp_path, feed_server.url("/x"), webhook.apprise_url, {"template": "evil.j2"})
    bad = run_cli("check")
    assert bad.returncode == 2 and "[channels.hook] template" in bad.stderr and "SecurityError" in bad.stderr
    wire_config(
        tmp_path,
        feed_server.url("/x"),
        webhook.apprise_url,
        {"template": "good.j2", "digest": "0 25 * * *", "rate_limit": "fast"},
    )
    bad = run_cli("check")
    assert bad.returncode == 2 and "digest" in bad.stderr and "rate_limit" in bad.stderr
    wire_config(tmp_path, feed_server.url("/x"), webhook.apprise_url, {"template": "good.j2"})
    assert run_cli("check").returncode == 0


def test_no_secret_in_any_output_of_a_debug_cycle(run_cli, tmp_path, feed_server, webhook, open_store, backend):
    """A full cycle at debug level, with recognisable secrets in a working and a failing channel."""
    password, token = "Pw4ssSecretQ9", "Tok3nSecretZ8"
    good = f"json://analyst:{password}@127.0.0.1:{webhook.port}/hook?token={token}"
    bad = f"json://analyst:{password}@127.0.0.1:9/{token}/hook"
    url = feed_server.serve("/wire.xml", rss(range(2)))
    wire_config(
        tmp_path, url, "${GOOD_HOOK}", monitor={"log_level": "debug"}, others={"down": {"urls": ["${BAD_HOOK}"]}}
    )
    env = {"GOOD_HOOK": good, "BAD_HOOK": bad}
    outputs = [
        run_cli("run", "--once", env=env),
        run_cli("outbox", "--json", env=env),
        run_cli("outbox", env=env),
        run_cli("outbox", "--retry", "2", env=env),
        run_cli("alerts", "--json", env=env),
        run_cli("notify-test", "down", env=env),
        run_cli("check", env=env),
    ]
    assert "2 deliveries sent, 2 failed" in outputs[0].stdout
    assert len(webhook.received) == 2
    captured = "\n".join(o.stdout + o.stderr for o in outputs)
    assert "DEBUG" in captured  # the cycle really ran at debug level
    assert password not in captured and token not in captured
    store = open_store()
    tables = [name for (name,) in store.conn.execute(TABLES[backend]).fetchall()]
    assert "deliveries" in tables
    dump = "\n".join(repr(store.conn.execute(f"SELECT * FROM {name}").fetchall()) for name in tables)
    assert password not in dump and token not in dump
