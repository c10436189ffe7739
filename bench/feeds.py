"""The benchmark's feeds: N documents built from the real fixtures, written to a folder and
served by bench/feedserver.py in its own process."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "feeds"


def fixture_docs() -> list[tuple[str, bytes]]:
    """The real fixtures with 20-100 items (well-formed or not, but not the deliberately
    broken ones): realistic sizes, encodings and oddities."""
    rows = csv.DictReader((FIXTURES / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t")
    return [
        (r["file"], (FIXTURES / r["file"]).read_bytes())
        for r in rows
        if 20 <= int(r["items_count"]) <= 100 and "MALFORMED" not in r["file"]
    ]


def write_feeds(folder: Path, n: int, identical: bool = False) -> list[str]:
    """N feed files (fixture i % len) under `folder`; their paths on the server.
    `identical`: byte-identical copies of the fixtures (the bench before 2026-11-26)."""
    docs = fixture_docs()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        name, body = docs[i % len(docs)]
        suffix = Path(name).suffix
        path = f"feed-{i}{suffix}"
        (folder / path).write_bytes(body if identical else distinct(body, i // len(docs)))
        paths.append("/" + path)
    return paths


def _tagged(value: bytes, tag: bytes) -> bytes:
    """A URL under a host prefix (no "&" to escape in XML, the same URL shape), any
    other id with a suffix."""
    if b"://" in value:
        return value.replace(b"://", b"://" + tag + b".", 1)
    return value + b"-" + tag


_JSON_ID = re.compile(rb'("(?:id|url|external_url)"\s*:\s*")([^"]+)(")')


def distinct(body: bytes, copy: int) -> bytes:
    """The document with every item id and link made unique to this copy: N feeds are N
    outlets, not one outlet N times (a copy's items would otherwise all join the first
    copy's stories by URL, a shortcut no real set of feeds offers)."""
    if copy == 0:
        return body

    def new_url(value: bytes) -> bytes:
        return _tagged(value, b"c%d" % copy)

    def items(match: re.Match) -> bytes:
        item = _FIELD.sub(lambda f: f.group(1) + new_url(f.group(2)) + f.group(3), match.group())
        return _HREF.sub(lambda f: f.group(1) + new_url(f.group(2)) + f.group(3), item)

    if body.lstrip()[:1] == b"{":
        return _JSON_ID.sub(lambda f: f.group(1) + new_url(f.group(2)) + f.group(3), body)
    return _ITEM.sub(items, body)


_ITEM = re.compile(rb"<(item|entry)\b.*?</\1\s*>", re.S)
# The value of an id or link, keeping any CDATA around it.
_FIELD = re.compile(
    rb"(<(?:guid|id|link)\b[^>]*>\s*(?:<!\[CDATA\[)?\s*)([^<\]]+?)(\s*(?:\]\]>)?\s*</(?:guid|id|link)>)"
)
_HREF = re.compile(rb'(<link\b[^>]*\bhref="|\brdf:about=")([^"]+)(")')
_TITLE = re.compile(rb"(<title\b[^>]*>)(\s*(?:<!\[CDATA\[)?)")


def add_item(body: bytes, generation: int) -> bytes:
    """The document with one new item in front: a copy of its first item under a new
    id, link and headline, as when an outlet publishes a story."""
    tag = b"b%d" % generation
    if body.lstrip()[:1] == b"{":
        return _add_json_item(body, tag, generation)
    m = _ITEM.search(body)
    if m is None:
        return body
    item = m.group()

    def new_url(value: bytes) -> bytes:
        return _tagged(value, tag)

    item = _FIELD.sub(lambda f: f.group(1) + new_url(f.group(2)) + f.group(3), item)
    item = _HREF.sub(lambda f: f.group(1) + new_url(f.group(2)) + f.group(3), item)
    item = _TITLE.sub(lambda f: f.group(1) + f.group(2) + b"Breaking %d: " % generation, item, count=1)
    return body[: m.start()] + item + body[m.start() :]


def _add_json_item(body: bytes, tag: bytes, generation: int) -> bytes:
    doc = json.loads(body)
    items = doc.get("items") or []
    if not items:
        return body
    item = dict(items[0])
    for key in ("id", "url", "external_url"):
        if isinstance(item.get(key), str):
            item[key] = _tagged(item[key].encode(), tag).decode()
    item["title"] = f"Breaking {generation}: {item.get('title', '')}"
    doc["items"] = [item, *items]
    return json.dumps(doc, ensure_ascii=False).encode()


def change_feeds(folder: Path, paths: list[str], fraction: float, generation: int) -> list[str]:
    """Publish a new item in every 1/fraction-th feed; the paths changed."""
    step = max(1, round(1 / fraction))
    changed = paths[::step]
    for p in changed:
        f = folder / p.lstrip("/")
        f.write_bytes(add_item(f.read_bytes(), generation))
    return changed


class Server:
    """bench/feedserver.py in its own process."""

    def __init__(self, folder: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("feedserver.py")), str(folder)],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise SystemExit("the feed server did not start")
        self.port = int(line.split()[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reload(self) -> None:
        urllib.request.urlopen(self.url("/_reload")).read()

    def stats(self) -> tuple[int, int]:
        """(full answers, 304s) since the last call."""
        full, not_modified = urllib.request.urlopen(self.url("/_stats")).read().split()
        return int(full), int(not_modified)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
