"""What the read-only commands show: match hits, backtests, feed health, alerts.

Plain dicts, ready for `--json`; cli.py only formats them.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .config import Config, Settings
from .delivery.render import snippet_spans
from .errors import MonitorError
from .models import Item, ParsedFeed
from .parsing.facts import search_text
from .redaction import redact_url
from .rules import CompiledQuery, Document, compile_query
from .rules.backtest import backtest as stored_matches
from .store import open_store
from .store.bodies import BODY_OUTCOMES
from .store.cluster import SILENT_AFTER

# `monitor match` reads the whole of an article page's text (more than any real article holds).
MATCH_BODY_CHARS = 200_000
SNIPPET_CONTEXT = 80  # about this many characters of a body hit's sentence shown on each side of it


def load_source(source: str, settings: Settings | None = None) -> tuple[str, ParsedFeed]:
    """A feed, or an article page as one item whose body is the page's main text, from a file
    path or an http(s) URL, for `monitor match`. A URL is fetched as a poll fetches it, with
    `settings` (the config's; None: their defaults). Raises MonitorError."""
    is_url = source.startswith(("http://", "https://"))
    if is_url:
        # Without a config, the defaults of its settings (match opens no database).
        body, ctype = asyncio.run(_fetch(source, settings or Settings(database=Path())))
    else:
        try:
            body, ctype = Path(source).read_bytes(), ""
        except OSError as exc:
            raise MonitorError(f"cannot read: {exc.strerror or exc}") from None
    from .parsing.article import is_html_page

    if is_html_page(body, ctype):
        shown = redact_url(source) if is_url else source
        return shown, _article(body, source if is_url else "", shown)
    from .parsing.feed import parse_feed  # start-up: only commands that read a feed need feedparser

    parsed = parse_feed(body, source, ctype)
    return parsed.title or source, parsed


def _article(html: bytes, url: str, shown: str) -> ParsedFeed:
    """An article page as a feed of one item: its headline and its main text as the body."""
    from .parsing.article import read_article  # start-up: trafilatura only for a page

    article = read_article(html, url, MATCH_BODY_CHARS)
    item = Item(key=shown, title=article.title, summary="", link=shown, body=article.body)
    warnings = () if article.body else ("no main text found on the page: only its headline is matched",)
    return ParsedFeed(title="", lang="", items=(item,), warnings=warnings)


async def _fetch(url: str, settings: Settings) -> tuple[bytes, str]:
    """The body and Content-Type of `url` through the pollers' Fetcher: its byte cap, time
    limits, redirect rules, address policy (as for a feed at `url`) and User-Agent. Raises FetchError."""
    from .polling.fetch import fetcher_for  # start-up: only a URL needs httpx

    fetcher = fetcher_for(settings)
    try:
        result = await fetcher.fetch(url)
    finally:
        await fetcher.aclose()
    return result.body or b"", result.content_type


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat() if ts else None


def match_items(compiled: CompiledQuery, label: str, parsed: ParsedFeed) -> list[dict[str, Any]]:
    hits = []
    for item in parsed.items:
        fields = item.fields(label)
        m = compiled.match(Document.build(fields))
        if m is None:
            continue
        hits.append(
            {
                "title": item.title,
                "link": item.link,
                "feed": label,
                "published": item.published.isoformat() if item.published else None,
                "terms": list(m.terms),
                "occurrences": [[o.field, o.start, o.end] for o in m.occurrences],
                "snippet": body_snippet(item.body, [(o.start, o.end) for o in m.occurrences if o.field == "body"]),
            }
        )
    return hits


def body_snippet(body: str, spans: list[tuple[int, int]]) -> dict[str, Any] | None:
    """The body's sentence holding its first hit, as an alert shows it (delivery/render.py
    snippet_spans): {"text", "spans"} with the hits inside it as offsets into `text` ("…" marks
    text left out). None without a body hit."""
    if not spans:
        return None
    parts = snippet_spans("", body, [("body", s, e) for s, e in spans], 2 * SNIPPET_CONTEXT)
    shown = "".join(p.text for p in parts).strip("…")
    # Unlike an alert's, the snippet says when the body goes on around its sentence.
    lead = "" if parts[0].text == "…" or body.startswith(shown) else "…"
    tail = "" if parts[-1].text == "…" or body.endswith(shown) else "…"
    text, marked, at = [lead], [], len(lead)
    for part in parts:
        if part.marked:
            marked.append([at, at + len(part.text)])
        text.append(part.text)
        at += len(part.text)
    return {"text": "".join(text) + tail, "spans": marked}


def _highlight(text: str, spans: list[tuple[int, int]], color: bool) -> str:
    """`text` with its matched spans bold on a terminal, **…** otherwise."""
    out, pos = [], 0
    for s, e in sorted(spans):
        if s < pos:
            continue
        out.append(text[pos:s])
        word = text[s:e]
        out.append(click.style(word, bold=True, fg="yellow") if color else f"**{word}**")
        pos = e
    out.append(text[pos:])
    return "".join(out)


def format_hit(hit: dict[str, Any], color: bool) -> str:
    """Headline with matched spans highlighted, and the body around a body hit."""
    title = _highlight(hit["title"] or "", [(s, e) for f, s, e in hit["occurrences"] if f == "title"], color)
    terms = ", ".join(hit["terms"])
    lines = [title, f"    {hit['link']}", f"    {hit['feed']}  {hit.get('published') or ''}  matched: {terms}"]
    snippet = hit.get("snippet")
    if snippet:
        lines.append(f"    body: {_highlight(snippet['text'], [(s, e) for s, e in snippet['spans']], color)}")
    return "\n".join(lines)


def backtest(config: Config, rule_or_query: str, window: float, limit: int | None) -> list[dict[str, Any]]:
    """What a rule or query would have matched among stored items, newest first."""
    rule = config.rule(rule_or_query)
    query = rule.query if rule else rule_or_query
    compiled = compile_query(query, config.aliases)
    feeds = {f.name: f for f in config.feeds}
    configured = {f.name: f.title or f.name for f in config.feeds}

    def applies(name: str) -> bool:
        return rule is None or name not in feeds or rule.applies_to(feeds[name])

    store = open_store(config.settings.database)
    hits = []
    try:
        since = time.time() - window
        own_titles = {s.name: s.title for s in store.feed_states(count_items=False)}
        for _ in store.index_pending(search_text):  # what was stored since the daemon last indexed
            pass
        rows = store.stored_items(since, compiled.fts_query())
        for row, m in stored_matches(compiled, rows, configured, own_titles, applies):
            hits.append(
                {
                    "title": row["title"],
                    "link": row["link"],
                    "feed": row["feed"],
                    "published": _iso(row["published"] or row["first_seen"]),
                    "terms": list(m.terms),
                    "occurrences": [[o.field, o.start, o.end] for o in m.occurrences],
                }
            )
            if limit and len(hits) >= limit:
                break
    finally:
        store.close()
    return hits


def feed_rows(config: Config) -> list[dict[str, Any]]:
    store = open_store(config.settings.database)
    try:
        states = {s.name: s for s in store.feed_states()}
        health = store.feed_healths()
        bodies = store.body_counts()
    finally:
        store.close()
    rows = []
    for feed in config.feeds:
        s = states.get(feed.name)
        rows.append(
            {
                "name": feed.name,
                "url": redact_url(feed.url),
                "enabled": feed.enabled,
                "interval": feed.interval,  # as configured
                # What the schedule chose at the last poll, why (polling/schedule.py), and the
                # publishing rate in items a day it went by (adaptive; None before it is known).
                "poll_interval": s.poll_interval if s else None,
                "poll_reason": s.poll_reason if s else None,
                "rate_per_day": s.poll_rate if s else None,
                "schedule": s.schedule_text if s else "",  # the three, for people
                "last_poll": _iso(s.last_poll) if s else None,
                "last_success": _iso(s.last_success) if s else None,
                "last_status": s.last_status if s else None,
                "consecutive_errors": s.consecutive_errors if s else 0,
                "last_error": s.last_error if s else None,
                "disabled_reason": s.disabled_reason if s else None,
                "next_poll": _iso(s.next_poll) if s else None,
                "items": s.items if s else 0,
                "polled_by": s.polled_by if s else None,  # the node that polled it last
                "adopted_url": redact_url(s.adopted_url) if s and s.adopted_url else None,
                "redirect_pending": redact_url(s.redirect_target) if s and s.redirect_target else None,
                # The state the health channel was last told of (desk/feed_health.py); None before the first poll.
                "health": health[feed.name]["state"] if feed.name in health else None,
                "health_since": _iso(health[feed.name]["since"]) if feed.name in health else None,
                "health_detail": (health[feed.name]["detail"] or None) if feed.name in health else None,
                "fulltext": feed.fulltext,
                # Article bodies by outcome: fetched, failed, robots, address (refused), skipped (queue full).
                "bodies": (
                    bodies.get(feed.name, dict.fromkeys(BODY_OUTCOMES, 0))
                    if feed.fulltext or feed.name in bodies
                    else None
                ),
            }
        )
    return rows


def alert_rows(config: Config, limit: int) -> list[dict[str, Any]]:
    store = open_store(config.settings.database)
    try:
        rows = store.recent_alerts(limit)
    finally:
        store.close()
    for r in rows:
        r["created"] = _iso(r["created"])
        r["published"] = _iso(r["published"])
        for d in r["deliveries"]:
            d["sent_at"] = _iso(d["sent_at"])
    return rows


def cluster_rows(config: Config) -> list[dict[str, Any]]:
    """The daemons that share the database, newest heartbeat first: `live`, `stopped` (it said
    so), or `silent` (no heartbeat for three beats: dead, or cut off from the database)."""
    store = open_store(config.settings.database)
    now = time.time()
    try:
        nodes = store.cluster_nodes(now)
    finally:
        store.close()
    rows = []
    for n in nodes:
        age = max(0.0, now - n["heartbeat"])
        rows.append(
            {
                "node": n["node"],
                "host": n["host"],
                "pid": n["pid"],
                "state": "stopped" if n["stopped"] else "silent" if age > SILENT_AFTER else "live",
                "started": _iso(n["started"]),
                "heartbeat": _iso(n["heartbeat"]),
                "heartbeat_age": round(age, 1),
                "stopped": _iso(n["stopped"]),
                "jobs": [{"job": j["job"], "expires": _iso(j["expires"])} for j in n["jobs"]],
                "feeds_leased": n["feeds_leased"],
                "feeds_polled_last": n["feeds_polled_last"],
            }
        )
    return rows
