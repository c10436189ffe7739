"""Poll-cycle benchmark: `monitor run --once` cold and warm (all 304) over N local feeds,
against a naive sequential `feedparser.parse(url)` loop over the same feeds.

Feeds are the real fixtures with 20-100 items, served on 127.0.0.1 with ETag and
Last-Modified. Run with `make bench` (or `.venv/bin/python bench/bench_poll.py [N ...]`).
"""

from __future__ import annotations

import csv
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import feedparser  # noqa: E402
from servers import FeedServer  # noqa: E402

FEEDS = ROOT / "tests" / "fixtures" / "feeds"
MONITOR = [str(Path(sys.executable).parent / "monitor")]


def fixture_docs() -> list[bytes]:
    rows = csv.DictReader((FEEDS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t")
    return [
        (FEEDS / r["file"]).read_bytes()
        for r in rows
        if 20 <= int(r["items_count"]) <= 100 and "MALFORMED" not in r["file"]
    ]


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user+sys of the child) and stdout of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stdout


def write_config(directory: Path, urls: list[str], name: str = "config.toml") -> Path:
    lines = ['[monitor]\ndatabase = "bench.db"\nconcurrency = 20\nper_host = 20\n']
    for i, url in enumerate(urls):
        lines.append(f'[[feeds]]\nname = "feed-{i}"\nurl = "{url}"\n')
    lines.append('[[rules]]\nname = "rift"\nquery = "Russia AND Israel"\nnotify = ["screen"]\n')
    lines.append('[[rules]]\nname = "iran"\nquery = "Iran AND (nuclear OR sanctions)"\nnotify = ["screen"]\n')
    lines.append('[channels.screen]\nurls = ["console://"]\n')
    path = directory / name
    path.write_text("".join(lines), encoding="utf-8")
    return path


def bench(n: int, server: FeedServer, docs: list[bytes]) -> dict[str, float]:
    urls = [server.serve(f"/{n}/feed-{i}.xml", docs[i % len(docs)]) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), urls)
        empty = write_config(Path(tmp), [], "empty.toml")
        cold = timed([*MONITOR, "--config", str(config), "run", "--once"])
        warm = timed([*MONITOR, "--config", str(config), "run", "--once"])
        assert f"{n} feeds polled, 0 failed" in warm[2], warm[2][-500:]
        assert warm[2].count("not modified") == n
        (Path(tmp) / "bench.db").unlink()
        startup = timed([*MONITOR, "--config", str(empty), "run", "--once"])
    start = time.perf_counter()
    for url in urls:
        feedparser.parse(url)
    naive = time.perf_counter() - start
    return {
        "n": n,
        "cold": cold[0],
        "cold_cpu": cold[1],
        "warm": warm[0],
        "warm_cpu": warm[1],
        "startup": startup[0],
        "naive": naive,
    }


def main(sizes: list[int]) -> None:
    docs = fixture_docs()
    server = FeedServer()
    print(f"poll cycle: {len(docs)} distinct real feeds (20-100 items) served on 127.0.0.1")
    print(
        f"{'N':>6} {'cold s':>8} {'feeds/s':>8} {'warm s':>8} {'feeds/s':>8} {'warm-start':>10} "
        f"{'startup':>8} {'naive s':>8} {'cold vs naive':>13}"
    )
    try:
        for n in sizes:
            r = bench(n, server, docs)
            warm_net = max(r["warm"] - r["startup"], 1e-6)
            print(
                f"{n:>6} {r['cold']:>8.2f} {n / r['cold']:>8.0f} {r['warm']:>8.2f} {n / r['warm']:>8.0f} "
                f"{n / warm_net:>10.0f} {r['startup']:>8.2f} {r['naive']:>8.2f} {r['naive'] / r['cold']:>12.1f}x"
            )
            print(f"{'':>6} cpu: cold {r['cold_cpu']:.2f}s, warm {r['warm_cpu']:.2f}s")
    finally:
        server.close()


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000])
