"""Screenshots of the web console for the docs (docs/console-*.png), from a demo run: the real
daemon polling five real news feeds (test fixtures, re-dated to the last hours) served on
127.0.0.1, a failing and a gone feed, four rules, a webhook that takes every alert and one that
never answers. Needs Debian's chromium (/usr/bin/chromium) and the test extras (playwright).

    .venv/bin/python bench/console_shots.py [--out docs] [--width 900] [--height 1000]
"""

from __future__ import annotations

import argparse
import email.utils
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from servers import FeedServer, WebhookReceiver  # noqa: E402
from testkit import monitor_exe, wait_for, write_config  # noqa: E402

from monitor.parsing.feed import parse_feed  # noqa: E402

FEEDS = ROOT / "tests" / "fixtures" / "feeds"
OUTLETS = {
    "aljazeera": "aljazeera_all_2026-08-13T0404.xml",
    "bbc-world": "bbc_world_2026-08-13.xml",
    "nyt-world": "nyt_world_2026-08-13.xml",
    "mehr-news": "mehrnews_en_2026-08-13.xml",
    "jpost": "jpost_homepage_2023-02-27.xml",
}
ALIASES = {
    "russia": "Russia OR Russian OR Moscow OR Kremlin OR Putin",
    "israel": "Israel OR Israeli OR Israelis OR Netanyahu OR IDF",
    "iran": "Iran OR Iranian OR Tehran OR Khamenei OR Pezeshkian",
}
RULES = [
    {"name": "israel-iran", "query": "@israel AND @iran", "notify": ["desk"]},
    {"name": "west-bank", "query": '"West Bank" AND (settler* OR siege OR besieg*)', "notify": ["desk", "archive"]},
    {"name": "black-sea-grain", "query": "@russia AND (grain OR ports OR port)", "notify": ["desk"]},
    {
        "name": "iran-talks",
        "query": "@iran AND (talks OR negotiating OR negotiations)",
        "notify": ["desk"],
        "spike": True,
    },
]
PAGES = {
    "alerts": "/",
    "story": None,  # the first story carried by more than one outlet
    "feeds": "/feeds",
    "rules": "/rules",
    "playground": "/playground?q=%40iran+NEAR%2F4+%28Israel+OR+US%29&since=1d",
    "outbox": "/outbox",
}
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def redated(fixture: Path, newest: float) -> bytes:
    """The fixture's items as RSS whose newest item is dated `newest`, the others as far before it as they were."""
    parsed = parse_feed(fixture.read_bytes())
    dated = [i.published.timestamp() for i in parsed.items if i.published]
    shift = newest - max(dated) if dated else 0.0
    items = []
    for n, item in enumerate(parsed.items):
        when = item.published.timestamp() + shift if item.published else newest - 600 * n
        items.append(
            f'<item><guid isPermaLink="false">{escape(item.key)}</guid><title>{escape(item.title)}</title>'
            f"<link>{escape(item.link)}</link><description>{escape(item.summary)}</description>"
            f"<pubDate>{email.utils.formatdate(when, usegmt=True)}</pubDate></item>"
        )
    title = escape(parsed.title or fixture.stem)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--width", type=int, default=900)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    feeds, hook = FeedServer(), WebhookReceiver()
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="console-shots-") as folder:
        tmp = Path(folder)
        urls: dict[str, str | dict[str, str]] = {
            name: feeds.serve(f"/{name}.xml", redated(FEEDS / file, now - 300 - 900 * n))
            for n, (name, file) in enumerate(OUTLETS.items())
        }
        urls["reuters"] = {"url": feeds.url("/reuters-moved-away.xml"), "interval": "1s"}  # 404: failing
        urls["ajam"] = feeds.serve("/ajam.xml", b"gone", status=410)
        write_config(
            tmp,
            feeds=urls,
            rules=RULES,
            channels={"desk": {"urls": [hook.apprise_url]}, "archive": {"urls": [f"json://127.0.0.1:{free_port()}/"]}},
            monitor={"interval": "1h", "backfill": "2d", "http": f"127.0.0.1:{(port := free_port())}"},
            extra={"aliases": ALIASES, "delivery": {"retry_first": "1s", "retry_max": "1s", "dead_after": "3s"}},
        )
        base = f"http://127.0.0.1:{port}"
        log = (tmp / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [*monitor_exe(), "--config", str(tmp / "config.toml"), "run"], stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            wait_for(lambda: _answers(base + "/outbox") and "dead" in page_text(base + "/outbox"), timeout=60)
            wait_for(lambda: "failing</span>" in page_text(base + "/feeds"), timeout=60)
            args.out.mkdir(parents=True, exist_ok=True)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
                page = browser.new_page(viewport={"width": args.width, "height": args.height})
                page.goto(base + "/")
                story = page.locator(".alert:has(.also) h2 a").first.get_attribute("href")
                for name, path in PAGES.items():
                    page.goto(base + (path or story or "/stories/1"))
                    shot = args.out / f"console-{name}.png"
                    page.screenshot(path=str(shot))
                    print(f"{shot}: {shot.stat().st_size / 1000:.0f} kB")
                browser.close()
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
            log.close()
            feeds.close()
            hook.close()


def _answers(url: str) -> bool:
    try:
        page_text(url)
    except OSError:
        return False
    return True


if __name__ == "__main__":
    main()
