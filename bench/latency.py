"""Alert latency (issue 8): an item appears on the feed's server -> the webhook receives it.

Runs the real daemon (`monitor run`) against one feed on 127.0.0.1 (tests/servers.py) with a
short poll interval and a json:// webhook, lets it take its baseline, then publishes ROUNDS
matching items one at a time and times each from publication to the webhook's POST.
Goal: at most the poll interval + 2 s.

    python bench/latency.py [--interval 5] [--rounds 5]
"""

from __future__ import annotations

import argparse
import email.utils
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from servers import FeedServer, WebhookReceiver  # noqa: E402

MONITOR = Path(sys.executable).parent / "monitor"


def rss(items: list[tuple[str, str]]) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>https://example.org/{guid}</link><guid>{guid}</guid>"
        f"<pubDate>{email.utils.formatdate(usegmt=True)}</pubDate><description>{title}.</description></item>"
        for guid, title in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>latency</title>'
        f"<link>https://example.org/</link><description>bench</description>{entries}</channel></rss>"
    ).encode()


def wait_for(predicate, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interval", type=float, default=5.0, help="poll interval, seconds")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    feeds, hook = FeedServer(), WebhookReceiver()
    items = [("base-0", "Weather report for the coast")]
    url = feeds.serve("/feed.xml", rss(items))
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(
            f'[monitor]\ndatabase = "m.db"\ninterval = "{args.interval:g}s"\njitter = 0\n\n'
            f'[[feeds]]\nname = "latency"\nurl = "{url}"\n\n'
            '[[rules]]\nname = "rift"\nquery = "Russia AND Israel"\nnotify = ["hook"]\n\n'
            f'[channels.hook]\nurls = ["{hook.apprise_url}"]\n',
            encoding="utf-8",
        )
        proc = subprocess.Popen(
            [str(MONITOR), "--config", str(config), "run"],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        latencies = []
        try:
            if not wait_for(lambda: feeds.statuses("/feed.xml"), 30):
                raise SystemExit("the daemon never polled the feed")
            time.sleep(0.5)  # the baseline poll's ingest
            for n in range(args.rounds):
                before = len(hook.received)
                items.insert(0, (f"new-{n}", f"Israel and Russia at odds, round {n}"))
                feeds.serve("/feed.xml", rss(items))
                t0 = time.monotonic()
                if not wait_for(lambda before=before: len(hook.received) > before, args.interval + 30):
                    raise SystemExit(f"round {n}: no webhook within {args.interval + 30:g} s")
                latencies.append(time.monotonic() - t0)
                print(f"round {n}: {latencies[-1]:.2f} s", flush=True)
                # The next item goes up at a random point of the poll cycle, not right after a poll.
                time.sleep((n * 0.37 * args.interval) % args.interval)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            feeds.close()
            hook.close()
    print(
        f"interval {args.interval:g} s: alert latency median {statistics.median(latencies):.2f} s, "
        f"max {max(latencies):.2f} s (goal: at most {args.interval + 2:g} s)"
    )


if __name__ == "__main__":
    main()
