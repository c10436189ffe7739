"""Steady state of the real daemon (issue 8): CPU share and memory over time.

Runs `monitor run` (the daemon, not --once) against N local feeds (bench/feeds.py, served by
bench/feedserver.py in its own process) at a poll interval of INTERVAL, publishing a new item
in 10% of the feeds once per interval, on the fixed schedule. Every feed sets
`ignore_server_ttl`, so no server hint stretches the schedule: each feed really is polled once
per interval.

It samples the daemon's whole process tree (main process, forkserver, parser workers) every
SAMPLE seconds: CPU = utime + stime (+ reaped children's) from /proc, memory = sum of PSS.
After the first (cold) cycle and one more interval to settle, it reports:
- CPU over the next MEASURE minutes as a percentage of one core (goal: under 5%);
- per interval: CPU seconds, and the tree's PSS at the end of it and its largest sample
  (goal: under 150 MB and no growth cycle over cycle);
- CPU per interval of the first ten settled intervals against the last ten (goal: within 10%).

    .venv/bin/python bench/steady.py [--feeds 1000] [--interval 300] [--minutes 60] [--measure 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import feeds
import procs

MONITOR = Path(sys.executable).parent / "monitor"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def config(folder: Path, urls: list[str], interval: float) -> Path:
    lines = [
        f'[monitor]\ndatabase = "steady.db"\ninterval = "{interval:g}s"\nschedule = "fixed"\nconcurrency = 20\n'
        "per_host = 20\n"
    ]
    lines += [f'[[feeds]]\nname = "feed-{i}"\nurl = "{u}"\nignore_server_ttl = true\n' for i, u in enumerate(urls)]
    lines.append('[[rules]]\nname = "rift"\nquery = "Russia AND Israel"\nnotify = ["screen"]\n')
    lines.append('[[rules]]\nname = "breaking"\nquery = "breaking"\nnotify = ["screen"]\n')
    lines.append('[channels.screen]\nurls = ["console://"]\n')
    path = folder / "config.toml"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _tree(root: int) -> list[int]:
    children = procs.children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _cpu_seconds(pid: int) -> float:
    """utime + stime of the process and of its children it has waited for."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / CLOCK_TICKS


def sample(root: int) -> tuple[float, float]:
    """(CPU seconds so far, PSS MB now) of the daemon's process tree."""
    pids = _tree(root)
    return sum(_cpu_seconds(p) for p in pids), sum(procs.pss_kb(p) for p in pids) / 1024


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=300, help="poll interval, seconds")
    ap.add_argument("--minutes", type=float, default=60, help="how long to run after the first cycle")
    ap.add_argument("--measure", type=float, default=10, help="minutes of the CPU measurement")
    ap.add_argument("--sample", type=float, default=1.0, help="seconds between samples")
    args = ap.parse_args(argv)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    # A SIGTERM unwinds like Ctrl-C, so the daemon and the feed server are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = feeds.write_feeds(work / "served", args.feeds)
        server = feeds.Server(work / "served")
        cfg = config(work, [server.url(p) for p in paths], args.interval)
        log = (work / "daemon.log").open("w")
        proc = subprocess.Popen(
            [str(MONITOR), "--config", str(cfg), "run"], cwd=work, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            run(proc, server, paths, work / "served", args)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
            server.close()
            log.close()
            errors = [
                line
                for line in (work / "daemon.log").read_text().splitlines()
                if " ERROR " in line or "Traceback" in line
            ]
            print(f"daemon exited {proc.returncode}; {len(errors)} error lines in its log")
            for line in errors[:5]:
                print("  " + line)


def run(proc: subprocess.Popen, server: feeds.Server, paths: list[str], served: Path, args) -> None:
    start = time.monotonic()
    # The cold cycle: wait until every feed has answered once.
    polled = 0
    while polled < len(paths):
        time.sleep(1)
        full, not_modified = server.stats()
        polled += full + not_modified
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited {proc.returncode}")
    cold = time.monotonic() - start
    cpu0, mem0 = sample(proc.pid)
    print(f"cold cycle: {len(paths)} feeds in {cold:.1f} s, {cpu0:.1f} CPU s, {mem0:.0f} MB PSS after", flush=True)
    print("| interval | CPU s | % of one core | PSS MB at end | PSS MB max | full | 304 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    cycles = int(args.minutes * 60 // args.interval)
    history: list[tuple[float, float, float]] = []  # (cpu s, end MB, max MB) per interval
    cpu_prev, t_prev = cpu0, time.monotonic()
    for cycle in range(1, cycles + 1):
        feeds.change_feeds(served, paths, 0.1, cycle)
        server.reload()
        peak = 0.0
        deadline = t_prev + args.interval
        while time.monotonic() < deadline:
            time.sleep(min(args.sample, max(0.0, deadline - time.monotonic())))
            if proc.poll() is not None:
                raise SystemExit(f"the daemon exited {proc.returncode}")
            cpu, mem = sample(proc.pid)
            peak = max(peak, mem)
        now = time.monotonic()
        full, not_modified = server.stats()
        used = cpu - cpu_prev
        history.append((used, mem, peak))
        print(
            f"| {cycle} | {used:.2f} | {100 * used / (now - t_prev):.2f} | {mem:.0f} | {peak:.0f} | "
            f"{full} | {not_modified} |",
            flush=True,
        )
        cpu_prev, t_prev = cpu, now
    # Settled: skip the first interval after the cold cycle.
    window = max(1, round(args.measure * 60 / args.interval))
    measured = history[1 : 1 + window] or history
    share = 100 * sum(c for c, _, _ in measured) / (len(measured) * args.interval)
    print(
        f"\nCPU over {len(measured)} intervals ({len(measured) * args.interval / 60:.0f} min) after settling: "
        f"{share:.2f}% of one core (goal < 5%)"
    )
    if len(history) >= 21:
        # Growth with what is stored: the first ten settled intervals against the last ten.
        first = sum(c for c, _, _ in history[1:11]) / 10
        last = sum(c for c, _, _ in history[-10:]) / 10
        print(
            f"CPU per interval: intervals 2-11 {first:.2f} s, intervals {len(history) - 9}-{len(history)} "
            f"{last:.2f} s ({100 * (last - first) / first:+.1f}%; goal within 10%)"
        )
    if history:
        ends = [m for _, m, _ in history]
        print(
            f"PSS at the end of each interval: first {ends[0]:.0f} MB, last {ends[-1]:.0f} MB, "
            f"max {max(p for _, _, p in history):.0f} MB (goal < 150 MB, flat)"
        )


if __name__ == "__main__":
    main()
