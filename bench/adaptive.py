"""First to know: fixed and adaptive polling side by side on real publishing patterns.

Each real fixture feed's item dates (tests/fixtures/feeds, parsed as monitor parses them) are
replayed, time-compressed, by a server on 127.0.0.1: at each request a feed shows the items
published by then (as many as its real document held), dated in the replay's time, with an
ETag (a 304 when nothing changed). Two real daemons (`monitor run`) poll two such servers at
once, one with `schedule = "fixed"`, one with `"adaptive"`, the same budget (`interval`), a
rule that matches every item and a json:// webhook. The first poll is each feed's baseline;
every item published after it should alert once.

Reported for each: requests, items alerted, items missed, and the delay from an item's
publication to its webhook POST (median, p90), in the feeds' own time (the replay's seconds
times --speed).

    python bench/adaptive.py [--hours 6] [--speed 30] [--interval 300]
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from servers import WebhookReceiver  # noqa: E402

from monitor.errors import ParseError  # noqa: E402
from monitor.parsing.feed import parse_feed  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "feeds"
MONITOR = Path(sys.executable).parent / "monitor"


def timelines(hours: float, rng: random.Random) -> dict[str, tuple[list[float], int]]:
    """Each fixture feed with at least two dated items: its item dates in feed time (seconds
    before the replay's end, negative), its pattern repeated back from a random point of its
    last cycle (one cycle: the span of its dates and one mean gap) so that it publishes at its
    real rhythm through the whole replay and the history before it; and how many items its
    document held."""
    out = {}
    for path in sorted(FIXTURES.iterdir()):
        if path.suffix not in (".xml", ".rss", ".rdf", ".atom") or "MALFORMED" in path.name:
            continue
        try:
            parsed = parse_feed(path.read_bytes(), "https://example.org/", "application/xml")
        except ParseError:  # a fixture monitor refuses has no pattern to replay
            continue
        dates = sorted({i.published.timestamp() for i in parsed.items if i.published})
        if len(dates) < 2:
            continue
        span = dates[-1] - dates[0]
        period = span + span / (len(dates) - 1)
        last = -rng.uniform(0, period)  # where the newest item of the last cycle falls
        earliest = -(hours * 3600 + period + span)  # the replay, and a full document before it
        offsets = []
        cycle = 0
        while last - cycle * period >= earliest:
            offsets += [last - cycle * period + d - dates[-1] for d in dates]
            cycle += 1
        out[path.stem] = (sorted(o for o in offsets if o >= earliest), len(parsed.items))
    return out


class Replay:
    """Serves every feed at /<name> as it stood at the replay's current time."""

    def __init__(self, feeds: dict[str, tuple[list[float], int]], start: float, hours: float, speed: float) -> None:
        self.feeds, self.start, self.span, self.speed = feeds, start, hours * 3600, speed
        self.requests = 0
        self.lock = threading.Lock()
        # A word of its own for each feed's headlines (the fixture names share words: several
        # snapshots of one feed), so that no two feeds' items are one story.
        self.word = {name: f"w{hashlib.sha256(name.encode()).hexdigest()[:8]}" for name in feeds}
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.strip("/")
                with replay.lock:
                    replay.requests += 1
                if name not in replay.feeds:
                    self.send_error(404)
                    return
                body = replay.document(name, time.time())
                tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == tag:
                    self.send_response(304)
                    self.send_header("ETag", tag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("ETag", tag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def when(self, offset: float) -> float:
        """Wall-clock time of a feed-time offset (seconds before the replay's end)."""
        return self.start + (self.span + offset) / self.speed

    def document(self, name: str, now: float) -> bytes:
        offsets, window = self.feeds[name]
        shown = [(n, o) for n, o in enumerate(offsets) if self.when(o) <= now][-window:]
        items = "".join(
            f"<item><title>{self.word[name]} item {n} report</title><link>https://{name}.example/{n}</link>"
            f"<guid>{name}-{n}</guid><pubDate>{email.utils.formatdate(self.when(o), usegmt=True)}</pubDate></item>"
            for n, o in reversed(shown)
        )
        return (
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{name}</title>'
            f"<link>https://{name}.example/</link><description>replay</description>{items}</channel></rss>"
        ).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Arrivals:
    """When each webhook message arrived, by title (the receiver keeps bodies, not times)."""

    def __init__(self, hook: WebhookReceiver) -> None:
        self.hook, self.at = hook, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        seen = 0
        while not self._stop.wait(0.02):
            messages = self.hook.messages()
            for message in messages[seen:]:
                self.at.setdefault(message.get("title", ""), time.time())
            seen = len(messages)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def config_text(url_of: dict[str, str], schedule: str, hook: WebhookReceiver, speed: float, interval: float) -> str:
    feeds = "".join(f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n\n' for name, url in url_of.items())
    return (
        f'[monitor]\ndatabase = "m.db"\nschedule = "{schedule}"\ninterval = "{interval / speed:g}s"\n'
        f'min_interval = "{60 / speed:g}s"\nmax_interval = "{3600 / speed:g}s"\n\n{feeds}'
        '[[rules]]\nname = "all"\nquery = "report"\nnotify = ["hook"]\n\n'
        f'[channels.hook]\nurls = ["{hook.apprise_url}"]\nflood_threshold = 0\n'
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=6.0, help="feed time replayed")
    ap.add_argument("--speed", type=float, default=30.0, help="feed seconds per real second")
    ap.add_argument("--interval", type=float, default=300.0, help="the budget's mean interval, feed seconds")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    feeds = timelines(args.hours, random.Random(args.seed))
    start = time.time() + 5
    modes = ("fixed", "adaptive")
    replays = {m: Replay(feeds, start, args.hours, args.speed) for m in modes}
    hooks = {m: WebhookReceiver() for m in modes}
    arrivals = {m: Arrivals(hooks[m]) for m in modes}
    live = sum(1 for offsets, _ in feeds.values() for o in offsets if o > -args.hours * 3600)
    print(
        f"{len(feeds)} feeds, {live} items published in {args.hours:g} h of feed time, at {args.speed:g}x", flush=True
    )
    procs, logs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for m in modes:
            folder = Path(tmp) / m
            folder.mkdir()
            urls = {name: replays[m].url(name) for name in feeds}
            (folder / "config.toml").write_text(
                config_text(urls, m, hooks[m], args.speed, args.interval), encoding="utf-8"
            )
            logs[m] = (folder / "daemon.log").open("w")
            procs[m] = subprocess.Popen(
                [str(MONITOR), "--config", "config.toml", "run"], cwd=folder, stdout=subprocess.DEVNULL, stderr=logs[m]
            )
        # The baseline: the daemons start before the replay does, and take what each feed held.
        time.sleep(max(0.0, start - time.time()))
        counted_from = {m: replays[m].requests for m in modes}
        end = start + args.hours * 3600 / args.speed
        time.sleep(max(0.0, end - time.time()) + 3600 / args.speed + 5)  # a max_interval more to find the last
        requests = {m: replays[m].requests - counted_from[m] for m in modes}
        for m in modes:
            procs[m].terminate()
            procs[m].wait(timeout=30)
            logs[m].close()
            arrivals[m].close()
            errors = [line for line in (Path(tmp) / m / "daemon.log").read_text().splitlines() if "ERROR" in line]
            if errors:
                print(f"{m}: {len(errors)} error lines, first: {errors[0]}")
    print()
    print("| schedule | requests | items alerted | missed | median delay | p90 delay |")
    print("|---|---:|---:|---:|---:|---:|")
    for m in modes:
        delays = []
        missed = 0
        for name, (offsets, _) in feeds.items():
            for n, o in enumerate(offsets):
                if o <= -args.hours * 3600:
                    continue  # history: in the baseline
                at = arrivals[m].at.get(f"[all] {replays[m].word[name]} item {n} report")
                if at is None:
                    missed += 1
                else:
                    delays.append((at - replays[m].when(o)) * args.speed)
        delays.sort()
        median = statistics.median(delays) if delays else float("nan")
        p90 = delays[int(0.9 * (len(delays) - 1))] if delays else float("nan")
        print(f"| {m} | {requests[m]} | {len(delays)} | {missed} | {median:.0f} s | {p90:.0f} s |")
    for r in replays.values():
        r.close()
    for h in hooks.values():
        h.close()


if __name__ == "__main__":
    main()
