"""Several daemons on one PostgreSQL (issue 17): cycle times and CPU with 1, 2 and 3 nodes,
and one node on SQLite against one on PostgreSQL.

N feeds (bench/feeds.py, served by bench/feedserver.py in its own process); a PostgreSQL 15
server of the bench's own (tests/pgkit.py, with the durability settings of a real server:
fsync and synchronous_commit on); K daemons `monitor run` on one config. Per setting:
- cold: from the daemons' start until every feed has been polled once (empty database:
  every feed fetched, parsed and stored as its baseline);
- changed: a new item in 10% of the feeds, every feed made due at once (the others answer
  304), until every feed has been polled again.
- idle (with --idle S): then S seconds with nothing due (the interval is an hour): the share
  of one core each daemon spends on its ticks, claims and jobs.
Wall time, then CPU seconds (utime + stime, reaped children included) of each daemon's
process tree and of the PostgreSQL server's. With --before, every setting runs twice in a
row, first with that older `monitor` executable (a venv of an earlier commit), then with
this one: before and after alternate on one machine in one run.

    .venv/bin/python bench/cluster.py [--feeds 10000] [--nodes 1,2,3] [--no-sqlite] [--idle 300]
        [--before /path/to/old/.venv/bin/monitor]
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import feeds  # noqa: E402
import pgkit  # noqa: E402
import procs  # noqa: E402

MONITOR = Path(sys.executable).parent / "monitor"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def config(folder: Path, database: str, urls: list[str]) -> Path:
    lines = [
        f'[monitor]\ndatabase = "{database}"\ninterval = "1h"\nschedule = "fixed"\njitter = 0\nconcurrency = 20\n'
        "per_host = 20\n"
    ]
    lines += [f'[[feeds]]\nname = "feed-{i}"\nurl = "{u}"\nignore_server_ttl = true\n' for i, u in enumerate(urls)]
    lines.append('[[rules]]\nname = "rift"\nquery = "Russia AND Israel"\nnotify = ["screen"]\n')
    lines.append('[[rules]]\nname = "breaking"\nquery = "breaking"\nnotify = ["screen"]\n')
    lines.append('[channels.screen]\nurls = ["console://"]\n')
    path = folder / "config.toml"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def tree_cpu(root: int) -> float:
    """CPU seconds of a process tree so far (the reaped children's included)."""
    children = procs.children()
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / CLOCK_TICKS
    return total


class Database:
    """How the bench reads and nudges the daemons' database, whichever it is."""

    def __init__(self, target: str) -> None:
        self.target = target

    def _run(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        if pgkit_url(self.target):
            import psycopg

            with psycopg.connect(self.target, autocommit=True) as conn:
                cur = conn.execute(sql.replace("?", "%s"), args)  # type: ignore[arg-type]
                return cur.fetchall() if cur.description else []
        with sqlite3.connect(self.target, timeout=30) as conn:
            return conn.execute(sql, args).fetchall()

    def polled_since(self, since: float) -> int:
        try:
            return int(self._run("SELECT count(*) FROM feeds WHERE last_poll >= ?", (since,))[0][0])
        except Exception as exc:  # the first daemon has not made the schema yet
            if "feeds" in str(exc):
                return 0
            raise

    def make_all_due(self) -> None:
        self._run("UPDATE feeds SET next_poll = 0")


class LockWaits:
    """Samples pg_stat_activity every 0.2 s while a cycle runs: how many of the daemons'
    connections are waiting for the cluster's write lock (an advisory lock), on average and
    as a share of the samples with any. What a finer lock than one per cluster could win back."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.target, autocommit=True) as conn:
            while not self._stop.wait(0.2):
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'monitor'"
                    " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
                ).fetchone()
                self.samples.append(int(row[0]) if row else 0)

    def stop(self) -> tuple[float, float]:
        """(mean connections waiting, share of samples with one waiting)."""
        self._stop.set()
        self._thread.join()
        if not self.samples:
            return 0.0, 0.0
        return sum(self.samples) / len(self.samples), sum(1 for s in self.samples if s) / len(self.samples)


def pgkit_url(target: str) -> bool:
    return target.startswith("postgresql://")


def wait_until(done: Callable[[], bool], daemons: list[subprocess.Popen[bytes]], limit: float = 1800) -> None:
    deadline = time.monotonic() + limit
    while not done():
        if any(d.poll() is not None for d in daemons):
            raise SystemExit("a daemon exited: " + ", ".join(str(d.returncode) for d in daemons))
        if time.monotonic() > deadline:
            raise SystemExit("the cycle did not finish")
        time.sleep(0.5)


def run_setting(
    work: Path, label: str, target: str, nodes: int, n: int, pg_pid: int | None, monitor: Path, idle: float
) -> dict[str, object]:
    served = work / "served"
    paths = feeds.write_feeds(served, n)
    server = feeds.Server(served)
    database = Database(target)
    cfg = config(work, target, [server.url(p) for p in paths])
    logs = [(work / f"{label}-node{k}.log").open("wb") for k in range(nodes)]
    daemons: list[subprocess.Popen[bytes]] = []
    result: dict[str, object] = {"setting": label, "nodes": nodes}
    try:
        pg0 = tree_cpu(pg_pid) if pg_pid else 0.0
        start_wall, start_epoch = time.monotonic(), time.time()
        waits = LockWaits(target) if pg_pid else None
        for k in range(nodes):
            env = {**os.environ, "MONITOR_NODE": f"node{k}"}
            daemons.append(
                subprocess.Popen(
                    [str(monitor), "--config", str(cfg), "run"],
                    cwd=work,
                    stdout=logs[k],
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        wait_until(lambda: database.polled_since(start_epoch) >= n, daemons)
        cold = time.monotonic() - start_wall
        if waits:
            result["cold_lock_waits"] = waits.stop()
        cpu_cold = [tree_cpu(d.pid) for d in daemons]
        pg_cold = (tree_cpu(pg_pid) - pg0) if pg_pid else 0.0
        result.update(cold_s=cold, cold_cpu=cpu_cold, cold_db_cpu=pg_cold)
        print(
            f"{label}: cold {cold:.1f} s, node CPU {[round(c, 1) for c in cpu_cold]}, db CPU {pg_cold:.1f}", flush=True
        )

        feeds.change_feeds(served, paths, 0.1, 1)
        server.reload()
        time.sleep(1)
        pg1 = tree_cpu(pg_pid) if pg_pid else 0.0
        cpu1 = [tree_cpu(d.pid) for d in daemons]
        start_wall, start_epoch = time.monotonic(), time.time()
        waits = LockWaits(target) if pg_pid else None
        database.make_all_due()
        wait_until(lambda: database.polled_since(start_epoch) >= n, daemons)
        changed = time.monotonic() - start_wall
        if waits:
            result["changed_lock_waits"] = waits.stop()
        cpu_changed = [tree_cpu(d.pid) - c for d, c in zip(daemons, cpu1, strict=True)]
        pg_changed = (tree_cpu(pg_pid) - pg1) if pg_pid else 0.0
        result.update(changed_s=changed, changed_cpu=cpu_changed, changed_db_cpu=pg_changed)
        print(
            f"{label}: changed {changed:.1f} s, node CPU {[round(c, 1) for c in cpu_changed]}, db CPU {pg_changed:.1f}",
            flush=True,
        )
        if idle:
            time.sleep(10)  # the last polls' jobs (deliveries, index) settle
            pg2 = tree_cpu(pg_pid) if pg_pid else 0.0
            cpu2 = [tree_cpu(d.pid) for d in daemons]
            time.sleep(idle)
            share = [100 * (tree_cpu(d.pid) - c) / idle for d, c in zip(daemons, cpu2, strict=True)]
            pg_share = 100 * (tree_cpu(pg_pid) - pg2) / idle if pg_pid else 0.0
            result.update(idle_share=share, idle_db_share=pg_share)
            print(
                f"{label}: idle {idle:.0f} s, % of one core per node {[round(c, 2) for c in share]}, db {pg_share:.2f}",
                flush=True,
            )
    finally:
        for d in daemons:
            d.send_signal(signal.SIGTERM)
        for d in daemons:
            d.wait(60)
        for log in logs:
            log.close()
        server.close()
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=10_000)
    ap.add_argument("--nodes", default="1,2,3", help="daemon counts to run on PostgreSQL ('' for none)")
    ap.add_argument("--no-sqlite", action="store_true", help="skip the one-node SQLite run")
    ap.add_argument("--idle", type=float, default=0, help="seconds of idle daemons to measure after each setting")
    ap.add_argument("--before", type=Path, help="an older monitor executable, run before this one in every setting")
    ap.add_argument("--before-nodes", help="the PostgreSQL node counts run with --before too (default: all)")
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.nodes.split(",") if x]
    before_counts = [int(x) for x in args.before_nodes.split(",") if x] if args.before_nodes else counts
    versions = [("before", args.before), ("after", MONITOR)] if args.before else [("", MONITOR)]

    def idle_for(nodes: int) -> float:
        """Idle daemons are measured on one node (of each version): what the goal is about."""
        return args.idle if nodes == 1 else 0.0

    results = []
    if not args.no_sqlite:
        for version, monitor in versions:
            with tempfile.TemporaryDirectory() as tmp:
                label = f"sqlite {version}".strip()
                database = str(Path(tmp) / "bench.db")
                results.append(run_setting(Path(tmp), label, database, 1, args.feeds, None, monitor, idle_for(1)))
    if counts:
        reason = pgkit.unavailable()
        if reason:
            raise SystemExit(reason)
        pg = pgkit.PostgresServer(durable=True)
        try:
            pg_pid = int((pg.data / "postmaster.pid").read_text().split()[0])
            for nodes in counts:
                for version, monitor in versions:
                    if version == "before" and nodes not in before_counts:
                        continue
                    schema = pg.new_schema()
                    with tempfile.TemporaryDirectory() as tmp:
                        label = f"postgresql x{nodes} {version}".strip()
                        results.append(
                            run_setting(
                                Path(tmp),
                                label,
                                pg.url(schema),
                                nodes,
                                args.feeds,
                                pg_pid,
                                monitor,
                                idle_for(nodes),
                            )
                        )
                    pg.drop_schema(schema)
        finally:
            pg.close()
    print(f"\n{args.feeds} feeds, {os.cpu_count()} cores\n")
    idle = " idle % of a core per node | DB |" if args.idle else ""
    print(
        f"| setting | cold s | cold CPU s per node | DB CPU s | 10%-changed s | changed CPU s per node | DB CPU s |{idle}"
    )
    print("|---|---:|---|---:|---:|---|---:|" + ("---|---:|" if args.idle else ""))
    for r in results:
        cold_cpu = ", ".join(f"{c:.0f}" for c in r["cold_cpu"])  # type: ignore[attr-defined]
        changed_cpu = ", ".join(f"{c:.1f}" for c in r["changed_cpu"])  # type: ignore[attr-defined]
        row = (
            f"| {r['setting']} | {r['cold_s']:.1f} | {cold_cpu} | {r['cold_db_cpu']:.0f} | {r['changed_s']:.1f} | "
            f"{changed_cpu} | {r['changed_db_cpu']:.1f} |"
        )
        if args.idle:
            shares = ", ".join(f"{c:.2f}" for c in r.get("idle_share", []))  # type: ignore[attr-defined]
            row += f" {shares or '–'} | {r['idle_db_share']:.2f} |" if shares else " – | – |"
        print(row, flush=True)
    waited = [r for r in results if "cold_lock_waits" in r]
    if waited:
        print("\nWaiting for the cluster's write lock (connections waiting, mean; share of 0.2 s samples with any):")
        for r in waited:
            (cold_mean, cold_any), (changed_mean, changed_any) = r["cold_lock_waits"], r["changed_lock_waits"]  # type: ignore[misc]
            print(
                f"- {r['setting']}: cold {cold_mean:.2f} ({100 * cold_any:.0f}%), "
                f"changed {changed_mean:.2f} ({100 * changed_any:.0f}%)"
            )


if __name__ == "__main__":
    main()
