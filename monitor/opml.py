"""OPML in and out: read feed lists as readers export them, add them to the config
file without disturbing its comments or layout (tomlkit), write OPML 2.0.

Readers disagree on details, so the reader is lenient: outlines nest in folders
(a folder's name becomes a tag), `xmlUrl` is spelled in several cases, titles are
in `title`, `text`, both or neither.
"""

from __future__ import annotations

import re
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import tomlkit
from tomlkit.items import AoT, Array, Comment, Whitespace

from .config import Config, FeedConfig
from .errors import ConfigError, MonitorError


@dataclass(frozen=True)
class Outline:
    url: str
    title: str
    tags: tuple[str, ...]


def _attr(element: ET.Element, name: str) -> str:
    """An attribute by name, whatever its case (`xmlUrl`, `xmlurl`, `XMLURL`…)."""
    for key, value in element.attrib.items():
        if key.lower() == name.lower():
            return value.strip()
    return ""


def slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", text.lower(), flags=re.UNICODE).strip("-_")


def read_opml(data: bytes, source: str = "OPML") -> list[Outline]:
    """Every outline with a feed URL, in document order, tagged by its folders."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise MonitorError(f"{source}: not valid XML: {exc}", hint="export the feed list again as OPML") from None
    if root.tag.lower() != "opml":
        raise MonitorError(
            f"{source}: not an OPML file (the root element is <{root.tag}>)",
            hint="export the subscriptions from your reader as OPML",
        )
    body = next((child for child in root if child.tag.lower() == "body"), None)
    if body is None:
        raise MonitorError(f"{source}: the OPML file has no <body>", hint="export the feed list again as OPML")
    found: list[Outline] = []

    def walk(element: ET.Element, folders: tuple[str, ...]) -> None:
        for child in element:
            if child.tag.lower() != "outline":
                continue
            url = _attr(child, "xmlUrl")
            title = _attr(child, "title") or _attr(child, "text")
            if url:
                categories = [c.strip("/ ") for c in _attr(child, "category").split(",") if "/" in c or c.strip()]
                tags = tuple(dict.fromkeys(t for t in (*folders, *map(slug, categories)) if t))
                found.append(Outline(url=url, title=title, tags=tags))
            # A folder outline carries no xmlUrl; its children do. Some readers nest
            # feeds under feeds too, so walk every outline's children.
            folder = slug(title) if not url and title else ""
            walk(child, (*folders, folder) if folder else folders)

    walk(body, ())
    return found


def feed_key(url: str) -> str:
    """What makes two feed URLs the same subscription: scheme, host case, `www.`,
    default port and a trailing slash do not matter; the query does (search feeds)."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().removeprefix("www.")
        port = parts.port
    except ValueError:
        return url.strip()
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    return urlunsplit(("", netloc, parts.path.rstrip("/"), parts.query, ""))


@dataclass
class ImportPlan:
    added: list[dict[str, Any]]  # {"name", "url", "title", "tags"}
    skipped: list[dict[str, Any]]  # {"url", "title", "reason"}


def plan_import(
    outlines: Iterable[Outline], feeds: Iterable[FeedConfig], raw_urls: dict[str, str] | None = None
) -> ImportPlan:
    """Which outlines become new feeds (with unique names) and which are skipped, and why.
    `raw_urls` (as written, ${VAR}s unexpanded) match an export of this same config."""
    feeds = list(feeds)
    known = {feed_key(f.url): f.name for f in feeds}
    known.update({feed_key(url): name for name, url in (raw_urls or {}).items()})
    names = {f.name for f in feeds}
    plan = ImportPlan([], [])
    for o in outlines:
        if not re.match(r"^https?://[^/\s]+", o.url, re.I):
            plan.skipped.append({"url": o.url, "title": o.title, "reason": "not an http(s) URL"})
            continue
        key = feed_key(o.url)
        if key in known:
            plan.skipped.append({"url": o.url, "title": o.title, "reason": f'already configured as "{known[key]}"'})
            continue
        base = slug(o.title) or slug(urlsplit(o.url).hostname or "") or "feed"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        known[key] = name
        plan.added.append({"name": name, "url": o.url, "title": o.title, "tags": list(o.tags)})
    return plan


def add_feeds_to_toml(text: str, added: list[dict[str, Any]], comment: str) -> str:
    """The config text with `added` as new [[feeds]] tables after the existing ones;
    every comment, blank line and key order elsewhere stays as it was."""
    doc = tomlkit.parse(text)
    feeds = doc.get("feeds")
    if isinstance(feeds, Array):  # written inline: feeds = [{...}]
        for f in added:
            feeds.append(_inline(f))
        return tomlkit.dumps(doc)
    if feeds is None:
        feeds = tomlkit.aot()
        doc.append("feeds", feeds)
    if not isinstance(feeds, AoT):
        raise ConfigError(["feeds must be an array of tables, each written [[feeds]]"])
    # Comments after the last feed belong to what follows it (e.g. "# Rules: …"):
    # move them below the new feeds so they stay above the section they describe.
    trailing: list[tuple[Any, Any]] = []
    if len(feeds):
        body = feeds[-1].value.body
        while body and body[-1][0] is None and isinstance(body[-1][1], (Comment, Whitespace)):
            trailing.insert(0, body.pop())
    for i, f in enumerate(added):
        if len(feeds):
            feeds[-1].add(tomlkit.nl())
        table = tomlkit.table()
        if i == 0:
            table.add(tomlkit.comment(comment))
        for key, value in _fields(f).items():
            table.add(key, value)
        feeds.append(table)
    if trailing:
        feeds[-1].value.body.extend(trailing)
    return tomlkit.dumps(doc)


def _fields(f: dict[str, Any]) -> dict[str, Any]:
    out = {"name": f["name"], "url": f["url"]}
    if f.get("title") and f["title"] != f["name"]:
        out["title"] = f["title"]
    if f.get("tags"):
        out["tags"] = list(f["tags"])
    return out


def _inline(f: dict[str, Any]) -> Any:  # a tomlkit InlineTable
    table = tomlkit.inline_table()
    table.update(_fields(f))
    return table


def write_atomically(path: Path, text: str) -> None:
    """Write beside the file and rename: a crash never leaves half a config."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        tmp.chmod(path.stat().st_mode & 0o7777)
    except OSError:
        pass
    tmp.replace(path)


def raw_feed_urls(path: Path) -> dict[str, str]:
    """Feed URLs as written in the file, ${VAR}s unexpanded: an export must not leak secrets."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    feeds = data.get("feeds", [])
    return (
        {
            f["name"]: f["url"]
            for f in feeds
            if isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("url"), str)
        }
        if isinstance(feeds, list)
        else {}
    )


def export_opml(config: Config, raw_urls: dict[str, str] | None = None, now: datetime | None = None) -> str:
    """The configured feeds as OPML 2.0; tags become `category` (a reader's folders)."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = f"monitor feeds ({config.path.name})"
    ET.SubElement(head, "dateCreated").text = format_datetime(now or datetime.now(UTC), usegmt=True)
    ET.SubElement(head, "docs").text = "https://opml.org/spec2.opml"
    body = ET.SubElement(root, "body")
    for feed in config.feeds:
        attrs = {
            "type": "rss",
            "text": feed.title or feed.name,
            "title": feed.title or feed.name,
            "xmlUrl": (raw_urls or {}).get(feed.name, feed.url),
        }
        if feed.tags:
            attrs["category"] = ",".join(f"/{t}" for t in feed.tags)
        if not feed.enabled:
            attrs["isComment"] = "true"  # OPML 2.0: present but switched off
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
