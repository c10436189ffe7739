"""`make bench`: every benchmark, one after the other. Figures go to standard output."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import articles
import bench_poll
import bench_rules
import compare
import console
import fulltext
import hostile


def main() -> None:
    print("== rules: indexed engine vs naive evaluation ==")
    bench_rules.main([])
    print()
    print("== poll cycle: monitor run --once vs a naive feedparser loop ==")
    bench_poll.main([100, 1000])
    print()
    print("== side by side: monitor, newsboat, rss2email, feed2exec, naive loop (see bench/README.md) ==")
    compare.main([])
    print()
    print("== the web console: server time per page, 100,000 items and 10,000 alerts (SQLite) ==")
    console.main([])
    print()
    print("== article extraction: 120 annotated pages, body: rules, CPU per page ==")
    articles.main([])
    print()
    print("== article bodies, the whole path: 120 pages behind a feed, body: rules, CPU per article ==")
    fulltext.main([])
    print()
    print("== hostile inputs: a gzip bomb's heap peak, the event loop's longest wait, a hostile cookie's CPU ==")
    hostile.main([])


if __name__ == "__main__":
    main()
