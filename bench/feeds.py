"""The benchmark's feeds: N documents built from the real fixtures, written to a folder and
served by bench/feedserver.py in its own process."""

from __future__ import annotations

import csv
import html
import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

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


_PUBLISHED = re.compile(rb"://(?:b\d+\.)+|(?:-b\d+)+$")


def _retagged(value: bytes, tag: bytes) -> bytes:
    """An earlier new item's id or link under `tag` instead of its own: the same length each time."""
    return _tagged(_PUBLISHED.sub(lambda m: b"://" if m.group().startswith(b"://") else b"", value), tag)


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
# An item's headline text, inside CDATA or not.
_TITLE_TEXT = re.compile(rb"<title\b[^>]*>\s*(?:<!\[CDATA\[)?\s*(.*?)\s*(?:\]\]>)?\s*</title>", re.S)


def headlines() -> list[str]:
    """Every item headline of the fixtures, as text: the vocabulary new items are written in."""
    found: list[str] = []
    for _, body in fixture_docs():
        if body.lstrip()[:1] == b"{":
            found += [str(i.get("title") or "") for i in json.loads(body).get("items") or []]
            continue
        for item in _ITEM.finditer(body):
            m = _TITLE_TEXT.search(item.group())
            if m:
                found.append(html.unescape(m.group(1).decode("utf-8", "replace")).strip())
    return [h for h in found if len(h.split()) >= 6]


def new_headline(pool: list[str], feed: int, generation: int) -> str:
    """A headline no earlier item had: the first half of one real headline and the second of
    another, picked by feed and generation. News in real words, a new story each time (a
    real headline repeated would join its first story, and cost nothing to match)."""
    first = pool[(generation * 7919 + feed * 31) % len(pool)].split()
    second = pool[(generation * 104729 + feed * 17 + 1) % len(pool)].split()
    return "Breaking: " + " ".join(first[: len(first) // 2] + second[len(second) // 2 :])


def add_item(body: bytes, headline: str, tag: bytes) -> bytes:
    """The document with one new item in front, a copy of its first under a new id and link
    (`tag`) and `headline`, and its last item gone: a feed carries its latest items, so a
    document keeps its length whatever has been published (as an outlet's feed does)."""
    if body.lstrip()[:1] == b"{":
        return _add_json_item(body, headline, tag)
    items = list(_ITEM.finditer(body))
    if not items:
        return body
    item = items[0].group()

    def new_url(value: bytes) -> bytes:
        return _retagged(value, tag)

    item = _FIELD.sub(lambda f: f.group(1) + new_url(f.group(2)) + f.group(3), item)
    item = _HREF.sub(lambda f: f.group(1) + new_url(f.group(2)) + f.group(3), item)
    text = xml_escape(headline).encode()
    item = _TITLE_TEXT.sub(lambda f: f.group().replace(f.group(1), text, 1), item, count=1)
    last = items[-1]
    kept = body[: last.start()] + body[last.end() :] if len(items) > 1 else body
    return kept[: items[0].start()] + item + kept[items[0].start() :]


def _add_json_item(body: bytes, headline: str, tag: bytes) -> bytes:
    doc = json.loads(body)
    items = doc.get("items") or []
    if not items:
        return body
    item = dict(items[0])
    for key in ("id", "url", "external_url"):
        if isinstance(item.get(key), str):
            item[key] = _retagged(item[key].encode(), tag).decode()
    item["title"] = headline
    doc["items"] = [item, *items[:-1]] if len(items) > 1 else [item, *items]
    return json.dumps(doc, ensure_ascii=False).encode()


def change_feeds(folder: Path, paths: list[str], fraction: float, generation: int) -> list[str]:
    """Publish a new item in every 1/fraction-th feed (a new headline, the oldest item
    dropped); the paths changed."""
    step = max(1, round(1 / fraction))
    changed = paths[::step]
    pool = headlines()
    for n, p in enumerate(changed):
        f = folder / p.lstrip("/")
        f.write_bytes(add_item(f.read_bytes(), new_headline(pool, n, generation), b"b%d" % generation))
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
