"""What hostile inputs cost: the figures behind "every input is bounded before work is spent on
it, and the event loop never waits on it". Each case is a function, runnable alone by name.

- `gzip_peak`: a gzip bomb (a body that inflates to many times `max_bytes`) fetched through the
  Fetcher from a local server; the Python heap's peak during the fetch (tracemalloc), as a
  multiple of `max_bytes`.
- `loop_stall`: a `fulltext` feed (a local bridge) whose three items link to 250 kB URLs on its
  own origin, whose robots.txt holds 28,000 distinct `Disallow: /*q…` rules (500 KiB); one
  `run --once` cycle in this process, and the longest the event loop went without running a
  10 ms ticker while the cycle fetched the article bodies.
- `loop_stall_at_the_caps`: the same with what monitor still reads: links of 4,000 characters
  against a robots.txt of 5,000 rules (robotstxt.MAX_RULES).
- `cookie_cost`: one Cookie header holding a quoted value of 40,000 backslashes (the shape of
  CVE-2024-7592) read through http.cookies.SimpleCookie, as the console read cookies before, and
  through its own parser (monitor/web/auth.py: `cookie_value` on the whole header, and
  `in_session` as a request meets it, 8 KiB cap first). CPU time of this process
  (time.process_time); the console's parser is timed over 1,000 repetitions and averaged.

    .venv/bin/python bench/hostile.py [CASE ...] [--max-bytes 10485760]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import random
import string
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from servers import FeedServer  # noqa: E402
from testkit import write_config  # noqa: E402

from monitor.config import load_config  # noqa: E402
from monitor.errors import FetchError  # noqa: E402
from monitor.polling.fetch import Fetcher, make_transport  # noqa: E402
from monitor.runtime.assembly import assemble  # noqa: E402
from monitor.runtime.daemon import CycleSummary, fetch_bodies  # noqa: E402
from monitor.web import auth  # noqa: E402

MIB = 1024 * 1024


def gzip_bomb(inflated: int) -> bytes:
    """`inflated` bytes of zeros, gzipped (about a thousandth of that)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as packed:
        chunk = bytes(MIB)
        for _ in range(inflated // MIB):
            packed.write(chunk)
    return out.getvalue()


def gzip_peak(max_bytes: int = 10 * MIB, times: float = 100) -> float:
    """The heap's peak while one bomb inflating to `times` x `max_bytes` is fetched, in multiples
    of `max_bytes` (a `times` under 1: a large body read whole)."""
    bomb = gzip_bomb(int(times * max_bytes))
    server = FeedServer()
    server.serve("/bomb", bomb, headers={"Content-Encoding": "gzip"})

    async def fetch() -> str:
        fetcher = Fetcher(
            make_transport(),
            user_agent="bench",
            connect_timeout=5.0,
            concurrency=1,
            per_host=1,
            max_bytes=max_bytes,
            timeout=60.0,
        )
        try:
            await fetcher.fetch(server.url("/bomb"))
            return "read whole (not refused)"
        except FetchError as exc:
            return exc.message
        finally:
            await fetcher.aclose()

    try:
        tracemalloc.start()
        outcome = asyncio.run(fetch())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        server.close()
    ratio = peak / max_bytes
    print(
        f"gzip bomb: {len(bomb) / 1024:.0f} KiB inflating to {times:g} x max_bytes ({max_bytes / MIB:g} MiB): "
        f"heap peak {peak / MIB:.1f} MiB = {ratio:.1f} x max_bytes; {outcome}"
    )
    return ratio


def hostile_robots(rules: int) -> bytes:
    random.seed(1)
    lines = ["User-agent: *"]
    lines += [f"Disallow: /*q{''.join(random.choices(string.ascii_lowercase, k=8))}{n}" for n in range(rules)]
    return "\n".join(lines).encode()[: 500 * 1024]


def loop_stall(link_chars: int = 250_000, links: int = 3, rules: int = 28_000) -> float:
    """The event loop's longest wait (seconds) while a cycle reads a hostile site's bodies."""
    from consolekit import rss

    server = FeedServer()
    server.serve("/robots.txt", hostile_robots(rules), content_type="text/plain")
    urls = [server.url(f"/a{n}?" + "q" * link_chars) for n in range(links)]
    now = time.time()
    server.serve("/feed", rss((f"g{n}", f"Item {n}", "", url, now - n) for n, url in enumerate(urls)))
    with tempfile.TemporaryDirectory() as folder:
        path = write_config(
            Path(folder),
            monitor={"backfill": "1d", "article_pace": "0.001s", "body_wait": "60s"},
            feeds={"site": {"url": server.url("/feed"), "fulltext": True}},
            rules=[{"name": "r", "query": "anything", "notify": ["screen"]}],
        )
        config = load_config(path, env={})

        async def cycle() -> float:
            """Poll the feed, then fetch its bodies with the ticker running: the loop's waits
            over the body stage alone (start-up and the first poll import and start things)."""
            longest = 0.0
            stop = asyncio.Event()

            async def ticker() -> None:
                nonlocal longest
                last = time.perf_counter()
                while not stop.is_set():
                    await asyncio.sleep(0.01)
                    now = time.perf_counter()
                    longest = max(longest, now - last - 0.01)
                    last = now

            async with assemble(config, console=io.StringIO()) as assembly:
                pipeline = assembly.pipeline
                started = pipeline.clock()
                outcomes = [await pipeline.poll(feed) for feed in pipeline.enabled_feeds()]
                assert pipeline.bodies is not None
                ticking = asyncio.create_task(ticker())
                bodies = await fetch_bodies(pipeline.bodies, since=started, wait=60.0)
                stop.set()
                await ticking
            summary = CycleSummary(outcomes, bodies=bodies)
            print(f"  the cycle: {'; '.join(summary.lines())}")
            return longest

        try:
            longest = asyncio.run(cycle())
        finally:
            server.close()
    print(
        f"loop stall: {links} links of {link_chars:,} characters on a site whose robots.txt has {rules:,} "
        f"`Disallow: /*q…` rules: the event loop's longest wait {longest:.2f} s"
    )
    return longest


def loop_stall_at_the_caps() -> float:
    return loop_stall(link_chars=4000, rules=5000)


def cpu_seconds(work: Callable[[], object], runs: int = 1) -> float:
    """CPU seconds of one call of `work`, averaged over `runs` calls."""
    start = time.process_time()
    for _ in range(runs):
        work()
    return (time.process_time() - start) / runs


def cookie_cost(backslashes: int = 40_000, runs: int = 1000) -> dict[str, float]:
    """CPU seconds of one hostile Cookie header: SimpleCookie (before), the console's parser on
    the whole header, and the console's check as a request meets it (after)."""
    header = f'{auth.COOKIE}="' + "\\" * backslashes + '"'
    token = "k3Vq-8sXbT1p_Zr0aW9cLm"
    costs = {
        "SimpleCookie().load": cpu_seconds(lambda: SimpleCookie().load(header)),
        "auth.cookie_value, whole header": cpu_seconds(lambda: auth.cookie_value(header, auth.COOKIE), runs),
        "auth.in_session (8 KiB cap first)": cpu_seconds(lambda: auth.in_session({"cookie": header}, token), runs),
    }
    print(f"one Cookie header of {backslashes:,} backslashes, CPU seconds (Python {sys.version.split()[0]}):")
    for label, seconds in costs.items():
        print(f"  {label:<36} {seconds:.3g}")
    return costs


CASES: dict[str, Callable[..., object]] = {
    "gzip_peak": gzip_peak,
    "loop_stall": loop_stall,
    "loop_stall_at_the_caps": loop_stall_at_the_caps,
    "cookie_cost": cookie_cost,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"of {', '.join(CASES)} (default: all)")
    parser.add_argument("--max-bytes", type=int, default=10 * MIB)
    args = parser.parse_args(argv)
    unknown = set(args.cases) - set(CASES)
    if unknown:
        parser.error(f"no case {', '.join(sorted(unknown))}")
    for name in args.cases or CASES:
        if name == "gzip_peak":
            gzip_peak(args.max_bytes)
            gzip_peak(args.max_bytes, times=0.9)
        else:
            CASES[name]()


if __name__ == "__main__":
    main()
