"""Alert latency (issue 8): an item appears on the feed's server -> the webhook receives it.

Runs the real daemon (`monitor run`) against one feed on 127.0.0.1 (tests/servers.py) with a
short poll interval and a json:// webhook, lets it take its baseline, then publishes ROUNDS
matching items one at a time and times each from publication to the webhook's POST.
Goal: at most the poll interval + 2 s.

`--fulltext`: the feed is `fulltext = true` and each item's link is an article page on the same
server (a local bridge), every other one answering only after `--slow` seconds; a second rule,
`body:"foreign minister"`, alerts when a body arrives. The headline alert should come as soon
as without bodies; the body alert's latency is shown beside it.

    python bench/latency.py [--interval 5] [--rounds 5] [--fulltext] [--slow 3]
"""

from __future__ import annotations

import argparse
import email.utils
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from articlekit import article_page  # noqa: E402
from servers import FeedServer, WebhookReceiver  # noqa: E402

MONITOR = Path(sys.executable).parent / "monitor"
HEADLINE_RULE = "rift"
BODY_RULE = "body"  # matches the article page's text, never a headline


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """RSS of (guid, title, link) items, each published now."""
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>"
        f"<pubDate>{email.utils.formatdate(usegmt=True)}</pubDate><description>{title}.</description></item>"
        for guid, title, link in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>latency</title>'
        f"<link>https://example.org/</link><description>bench</description>{entries}</channel></rss>"
    ).encode()


def slow_page(seconds: float, page: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    """A FeedServer handler that answers with `page` after `seconds` (in the server's thread for
    that request: other requests go on meanwhile)."""

    def answer(request: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        request.send_response(200)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(page)))
        request.end_headers()
        request.wfile.write(page)

    return answer


class Arrivals:
    """When each webhook message arrived (a thread watching the receiver every `step` seconds):
    the receiver keeps bodies, not times."""

    def __init__(self, hook: WebhookReceiver, step: float = 0.01) -> None:
        self.hook = hook
        self.step = step
        self.stamped: list[tuple[float, str]] = []  # (time.monotonic(), message title)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.step):
            messages = self.hook.messages()
            for message in messages[len(self.stamped) :]:
                self.stamped.append((time.monotonic(), message.get("title", "")))

    def first(self, title: str) -> float | None:
        """When the message with this title arrived; None if it has not."""
        return next((at for at, seen in list(self.stamped) if seen == title), None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def wait_for(predicate, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def describe(latencies: list[float]) -> str:
    return f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interval", type=float, default=5.0, help="poll interval, seconds")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--fulltext", action="store_true", help="fetch each item's article page (fulltext = true)")
    ap.add_argument("--slow", type=float, default=3.0, help="seconds every other page takes to answer (--fulltext)")
    args = ap.parse_args(argv)
    feeds, hook = FeedServer(), WebhookReceiver()
    arrivals = Arrivals(hook)
    page = article_page()

    def publish(guid: str, title: str, slow: bool) -> tuple[str, str, str]:
        path = f"/news/{guid}"
        if slow:
            feeds.handlers[path] = slow_page(args.slow, page)
        return guid, title, feeds.serve(path, page, content_type="text/html; charset=utf-8")

    items = [publish("base-0", "Weather report for the coast", slow=False)]
    url = feeds.serve("/feed.xml", rss(items))
    fulltext = "fulltext = true\n" if args.fulltext else ""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(
            f'[monitor]\ndatabase = "m.db"\ninterval = "{args.interval:g}s"\nschedule = "fixed"\njitter = 0\n\n'
            f'[[feeds]]\nname = "latency"\nurl = "{url}"\n{fulltext}\n'
            f'[[rules]]\nname = "{HEADLINE_RULE}"\nquery = "Russia AND Israel"\nnotify = ["hook"]\n\n'
            f'[[rules]]\nname = "{BODY_RULE}"\nquery = \'body:"foreign minister"\'\nnotify = ["hook"]\n\n'
            # flood_threshold = 0: every alert is sent at once, however many rounds there are
            f'[channels.hook]\nurls = ["{hook.apprise_url}"]\nflood_threshold = 0\n',
            encoding="utf-8",
        )
        log = (Path(tmp) / "daemon.log").open("w")  # read on failure; a pipe nobody reads would fill
        proc = subprocess.Popen(
            [str(MONITOR), "--config", str(config), "run"], cwd=tmp, stdout=subprocess.DEVNULL, stderr=log
        )
        published: list[tuple[float, str]] = []  # (when, headline)
        latencies = []
        try:
            if not wait_for(lambda: feeds.statuses("/feed.xml"), 30):
                raise SystemExit("the daemon never polled the feed")
            time.sleep(0.5)  # the baseline poll's ingest
            for n in range(args.rounds):
                title = f"Israel and Russia at odds, round {n}"
                items.insert(0, publish(f"new-{n}", title, slow=n % 2 == 0))
                feeds.serve("/feed.xml", rss(items))
                t0 = time.monotonic()
                published.append((t0, title))
                headline = f"[{HEADLINE_RULE}] {title}"
                if not wait_for(lambda headline=headline: arrivals.first(headline) is not None, args.interval + 30):
                    raise SystemExit(f"round {n}: no webhook within {args.interval + 30:g} s")
                latencies.append((arrivals.first(headline) or t0) - t0)
                print(f"round {n}: {latencies[-1]:.2f} s", flush=True)
                # The next item goes up at a random point of the poll cycle, not right after a poll.
                time.sleep((n * 0.37 * args.interval) % args.interval)
            if args.fulltext:  # the last bodies, fetched after their headline alerts
                last = f"[{BODY_RULE}] {published[-1][1]}"
                wait_for(lambda: arrivals.first(last) is not None, args.slow + args.interval + 30)
        except SystemExit:
            log.flush()
            print((Path(tmp) / "daemon.log").read_text(encoding="utf-8")[-4000:], file=sys.stderr)
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
            arrivals.close()
            feeds.close()
            hook.close()
    mode = f"fulltext on, every other page {args.slow:g} s slow" if args.fulltext else "fulltext off"
    print(
        f"interval {args.interval:g} s, {mode}: headline alert latency {describe(latencies)} "
        f"(goal: at most {args.interval + 2:g} s)"
    )
    if args.fulltext:
        # Round n's body alert, when it came: even rounds had the slow pages.
        came = [(n, arrivals.first(f"[{BODY_RULE}] {title}"), t0) for n, (t0, title) in enumerate(published)]
        bodies = [at - t0 for _, at, t0 in came if at is not None]
        slow = [at - t0 for n, at, t0 in came if at is not None and n % 2 == 0]
        print(f"body alerts: {len(bodies)}/{len(published)}", end="")
        print(f", latency {describe(bodies)} (slow pages: {describe(slow)})" if slow else "")


if __name__ == "__main__":
    main()
