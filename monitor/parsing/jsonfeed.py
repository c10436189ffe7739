"""JSON Feed 1.0 / 1.1 → the feedparser-shaped dicts that feed.py reads.

feedparser 6.0 does not read JSON Feed, so this small adapter does.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any


def looks_like_json(body: bytes) -> bool:
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def parse_json_feed(body: bytes) -> dict[str, Any] | None:
    """A dict like feedparser's result ({"feed", "entries", "version"}), or None if not a JSON Feed."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or "jsonfeed.org/version/" not in str(data.get("version", "")):
        return None
    items = data.get("items")
    entries = [_entry(i, data) for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    version = "json1" + ("1" if str(data["version"]).rstrip("/").endswith("1.1") else "0")
    meta = {"title": _text(data.get("title")), "language": _text(data.get("language"))}
    return {"feed": meta, "entries": entries, "version": version, "bozo": False}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _entry(item: dict[str, Any], feed: dict[str, Any]) -> dict[str, Any]:
    authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
    if not authors:
        authors = feed.get("authors") or ([feed["author"]] if isinstance(feed.get("author"), dict) else [])
    content = [{"value": _text(item.get(k))} for k in ("content_html", "content_text") if _text(item.get(k))]
    published = _text(item.get("date_published")) or _text(item.get("date_modified"))
    return {
        "id": str(item.get("id", "")),
        "link": _text(item.get("url")) or _text(item.get("external_url")),
        "title": _text(item.get("title")),
        "summary": _text(item.get("summary")),
        "content": content,
        "authors": [{"name": _text(a.get("name"))} for a in authors if isinstance(a, dict)],
        "tags": [{"term": t} for t in item.get("tags") or [] if isinstance(t, str)],
        "published": published,
        "published_parsed": _time(published),
        "title_detail": {"language": _text(item.get("language"))},
    }


def _time(value: str) -> time.struct_time | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).timetuple()
