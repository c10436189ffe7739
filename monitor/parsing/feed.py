"""Bytes → feed metadata and `Item`s (feedparser); HTML → plain text; dates → UTC."""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser

from ..errors import ParseError
from ..identity import MAX_LINK_CHARS, canonical_url, item_key
from ..models import Item, ParsedFeed
from ..text import html_to_text
from .fast import fast_parse
from .jsonfeed import looks_like_json, parse_json_feed

# Large enough for any real headline; stops a hostile feed from bloating the store.
MAX_TITLE = 2_000
MAX_SUMMARY = 20_000
MAX_AUTHOR = 500


def parse_feed(body: bytes, url: str = "", content_type: str = "", fast: bool = True) -> ParsedFeed:
    """Parse a feed document. Raises ParseError when it is not a feed at all.

    `fast`: let the fast path (parsing/fast) read a plain RSS or Atom document (same result,
    see there); False sends everything through feedparser."""
    headers = {"content-type": content_type} if content_type else None
    parsed = parse_json_feed(body) if looks_like_json(body) else None
    if parsed is None and fast:
        parsed = fast_parse(body, content_type)
    if parsed is None:
        # We never render feed HTML (only reduce it to text), so the sanitiser and
        # URI resolution are pure cost: about half of feedparser's time on a large feed.
        parsed = feedparser.parse(
            body,
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    entries = parsed.get("entries") or []
    version = parsed.get("version") or ""
    if not entries and not version:
        reason = parsed.get("bozo_exception")
        what = _looks_like(body)
        detail = f": {reason}" if reason and what == "" else what
        raise ParseError(f"not a feed{detail}")
    meta = parsed.get("feed") or {}
    feed_lang = _clean(meta.get("language", ""))
    long_links = sum(len(_link(e)) > MAX_LINK_CHARS for e in entries)
    link_counts = Counter(canonical_url(_item_link(e)) for e in entries)
    guid_counts: Counter[str] = Counter(e.get("id", "").strip() for e in entries)
    for link, n in link_counts.items():
        guid_counts["link:" + link] = n
    items = []
    seen_keys: set[str] = set()
    for entry in entries:
        item = _item(entry, feed_lang, guid_counts)
        if item.key in seen_keys:  # an exact repeat inside one document
            continue
        seen_keys.add(item.key)
        items.append(item)
    warnings = []
    if long_links:
        warnings.append(f"{long_links} item links longer than {MAX_LINK_CHARS} characters ignored (the items are kept)")
    if parsed.get("bozo") and entries:
        warnings.append(f"feed is not well-formed ({parsed.get('bozo_exception')}); parsed what could be read")
    ttl_seconds = server_hint(meta)
    return ParsedFeed(
        title=_clean(html_to_text(_clean(meta.get("title", ""))))[:MAX_TITLE],
        lang=feed_lang,
        items=tuple(items),
        ttl_seconds=ttl_seconds,
        warnings=tuple(warnings),
    )


# <sy:updatePeriod>: the period <sy:updateFrequency> (default 1) divides.
_UPDATE_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400, "yearly": 365 * 86400}


def server_hint(meta: Mapping[str, Any]) -> float | None:
    """How often the document says it is worth fetching, in seconds: RSS <ttl> (minutes) or
    <sy:updatePeriod>/<sy:updateFrequency>, the longer; None when it says neither."""
    hints = []
    ttl = _positive(meta.get("ttl"))
    if ttl:
        hints.append(ttl * 60)
    period = _UPDATE_PERIODS.get(str(meta.get("sy_updateperiod") or "").strip().lower())
    if period:
        hints.append(period / max(1.0, _positive(meta.get("sy_updatefrequency")) or 1.0))
    return max(hints) if hints else None


def _positive(value: Any) -> float | None:
    """A positive finite number written in a document, or None."""
    text = str(value or "").strip()
    if not text or len(text) > 12:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if 0 < number < float("inf") else None


def _looks_like(body: bytes) -> str:
    head = body[:512].lstrip().lower()
    if not head:
        return " (the response was empty)"
    if head.startswith((b"<!doctype html", b"<html")):
        return " (the server sent an HTML page, not a feed)"
    return ""


# C0 controls but tab, newline and carriage return. A regex, not str.translate with a dict:
# translate looks every character up in Python, a few percent of a whole cold cycle.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]+")


def _clean(value: Any) -> str:
    """A stripped string without NUL and other control characters (SQLite and logs choke on them)."""
    if not isinstance(value, str):
        return ""
    # isprintable() rules every control character out ~10x faster than the regex finds none.
    return (value if value.isprintable() else _CONTROL.sub("", value)).strip()


def _item(entry: Any, feed_lang: str, guid_counts: Counter[str]) -> Item:
    title = _clean(html_to_text(_clean(entry.get("title", ""))))[:MAX_TITLE]
    parts = []
    summary = _clean(entry.get("summary", ""))
    if summary:
        parts.append(summary)
    for content in entry.get("content") or []:
        value = _clean(content.get("value", ""))
        if value and value != summary:
            parts.append(value)
    text = _clean(html_to_text("\n".join(parts)))[:MAX_SUMMARY]
    authors = [_clean(a.get("name", "")) for a in entry.get("authors") or [] if isinstance(a, dict)]
    if not any(authors):
        authors = [_clean(entry.get("author", ""))]
    author = html_to_text(", ".join(a for a in authors if a))[:MAX_AUTHOR]
    tags = tuple(
        t
        for t in (html_to_text(_clean(tag.get("term") or tag.get("label") or "")) for tag in entry.get("tags") or [])
        if t
    )
    # dict.get bypasses feedparser's deprecated updated→published key aliasing.
    published = _utc(dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed"))
    link = _item_link(entry)
    date_text = _clean(dict.get(entry, "published", "")) or _clean(dict.get(entry, "updated", ""))
    lang = ""
    detail = entry.get("title_detail") or {}
    if isinstance(detail, dict):
        lang = _clean(detail.get("language") or "")
    return Item(
        key=item_key(_clean(entry.get("id", "")), link, title, date_text, guid_counts),
        title=title,
        summary=text,
        link=link,
        author=author,
        tags=tags[:50],
        lang=lang or feed_lang,
        published=published,
    )


def _link(entry: Any) -> str:
    value = entry.get("link", "")
    return value if isinstance(value, str) else ""


def _item_link(entry: Any) -> str:
    """The entry's link, or "" for one too long to be a link: measured before anything reads it."""
    link = _link(entry)
    return "" if len(link) > MAX_LINK_CHARS else _clean(link)


def _utc(parsed_time: Any) -> datetime | None:
    if not parsed_time:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed_time), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
