"""What the fast path's readers (rss.py for RSS, atom.py for Atom) share: feedparser's
name for each element, which tells which of its handlers reads it, and the few behaviours of
its handlers that RSS and Atom have in common (text as pop() gives it, tags, the summary and
content rule, links)."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin
from feedparser.util import FeedParserDict

DC = "{http://purl.org/dc/elements/1.1/}"
ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# feedparser's name for an element: its local name, lower-cased, after the prefix feedparser
# gives the namespace ("dc_creator"; none for RSS's and Atom's own), or after a prefix the
# document declares for a namespace it does not know ("mir_commentsid"). It calls
# _start_<name> and _end_<name> where it has them, and keeps any other element's text (or
# attributes) under its name (see Names).
_PREFIXES = MappingProxyType({uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()})
_HANDLED = frozenset(
    name.split("_", 2)[2].lower() for name in dir(_FeedParserMixin) if name.startswith(("_start_", "_end_"))
)
# The keys feed.py reads, and every name FeedParserDict stores under one of them ("date").
_READ_KEYS = frozenset(
    {
        "title",
        "title_detail",
        "summary",
        "content",
        "authors",
        "author",
        "tags",
        "link",
        "id",
        "published",
        "published_parsed",
        "updated",
        "updated_parsed",
        "language",
        "ttl",
        "sy_updateperiod",
        "sy_updatefrequency",
    }
)
_READ = _READ_KEYS | {
    name for name, key in FeedParserDict.keymap.items() if (key[0] if isinstance(key, list) else key) in _READ_KEYS
}
# What may sit inside media:group or media:content: feedparser keeps these in keys we never read.
MEDIA_CHILDREN = frozenset({"media_content", "media_thumbnail", "media_credit"})
_URIFIXER = re.compile(r"[A-Za-z][A-Za-z0-9+,\-.]*:///")  # where feedparser's _urifixer changes a URI
_XMLNS = re.compile(rb"""xmlns(:[^\s=/>]+)?\s*=\s*("[^"]*"|'[^']*')""")
# feedparser's own: "html" -> "text/html", "xhtml" -> "application/xhtml+xml", ...
map_content_type = _FeedParserMixin.map_content_type
_HTML_TYPES = ("text/html", "application/xhtml+xml")
# A link's attributes feedparser reads no other way (any other, e.g. an upper-case REL or a
# namespaced rel, it would read as rel/href/type).
_LINK_ATTRS = frozenset({"href", "rel", "type", "title", "hreflang", "length", XML_LANG})


class Names(dict[Any, str | None]):
    """feedparser's name for each element tag of one document (see _PREFIXES), or None where
    we cannot tell: a dict that fills itself, names[element.tag]. feedparser's SAX parser gets
    no qualified names, so for a namespace it does not know it takes the first prefix
    declared for it in the document (none for a default namespace), not the element's own;
    and it maps every prefix through the namespaces it knows, wherever they were declared
    (its namespacemap). So: one prefix (or only default declarations) per unknown namespace,
    one namespace per prefix, and no prefix that feedparser would read as another.
    """

    def __init__(self, body: bytes, encoding: str) -> None:
        super().__init__()
        self.ok = True
        self._remap: dict[str, str | None] = {}  # feedparser's namespacemap; None: two meanings
        self._unknown: dict[str, str | None] = {}  # unknown namespace -> prefix ("": none; None: several)
        uris: dict[str | None, str] = {}
        for raw_prefix, quoted in _XMLNS.findall(body):
            if b"&" in quoted:
                self.ok = False  # a character reference in a namespace: we cannot tell
                return
            prefix = raw_prefix[1:].decode(encoding) or None
            uri = quoted[1:-1].decode(encoding)
            if prefix is not None and uris.setdefault(prefix, uri) != uri:
                self.ok = False  # a prefix declared for two namespaces: it depends on the order
                return
            known = _known_prefix(uri.lower())
            if known is None:
                had = self._unknown.setdefault(uri, prefix or "")
                if had != (prefix or ""):
                    self._unknown[uri] = None
            elif prefix is not None:
                self._remap[prefix] = known

    def __missing__(self, tag: Any) -> str | None:
        if not isinstance(tag, str):
            return None  # a comment or processing instruction, not an element
        prefix: str | None
        if tag[0] != "{":
            prefix, local = "", tag
        else:
            ns, _, local = tag[1:].partition("}")
            prefix = _known_prefix(ns.lower())
            if prefix is None:
                prefix = self._unknown.get(ns)
        self[tag] = name = self._name(prefix, local)
        return name

    def keeps(self, prefix: str) -> bool:
        """Whether feedparser reads this (lower-case) prefix as itself."""
        return self._remap.get(prefix, prefix) == prefix

    def _name(self, prefix: str | None, local: str) -> str | None:
        if prefix is None:
            return None
        if not prefix:
            return local.lower()
        prefix = prefix.lower()
        return prefix + "_" + local.lower() if self.keeps(prefix) else None


def _known_prefix(uri: str) -> str | None:
    """feedparser's prefix for a (lower-case) namespace URI, or None for one it does not know."""
    if "backend.userland.com/rss" in uri:
        return ""
    return _PREFIXES.get(uri)


def unhandled(element: Any, names: Names) -> bool:
    """Whether feedparser has no handler for this element nor for any inside it, so that it
    keeps them (their text, or their attributes) under names feed.py never reads."""
    return all(_unhandled(names[el.tag]) for el in element.iter())


def _unhandled(name: str | None) -> bool:
    return name is not None and name not in _HANDLED and name not in _READ


def read_link(link: Any, names: Names, after_title: bool = False) -> tuple[bool, str] | None:
    """feedparser's _start_link for a link with an href (Atom's, or an atom:link in RSS):
    (True, href) when it is the item's link (rel alternate, an HTML type: the last one wins),
    (False, href) for another link; None to refuse. Inside it may be media elements, elements
    feedparser keeps under names we never read, and, after_title (a non-empty title of the
    entry before it), a dc:title, which title_depth then makes feedparser drop (bbc-chinese).
    """
    for sub in link.iterdescendants():
        name = names[sub.tag]
        if name == "dc_title":
            if not after_title or len(sub) or sub.attrib:
                return None
        elif name not in MEDIA_CHILDREN and not _unhandled(name):
            return None
    attrib = link.attrib
    if "href" not in attrib or any(name not in _LINK_ATTRS for name in attrib):
        return None
    rel = attrib.get("rel", "alternate").lower()
    kind = attrib.get("type", "application/atom+xml" if rel == "self" else "text/html").lower()
    return rel == "alternate" and map_content_type(kind) in _HTML_TYPES, resolve_uri(attrib["href"])


def resolve_uri(uri: str) -> str:
    """feedparser's resolve_uri() against its base URI, "" here (no xml:base, no
    Content-Location): urljoin leaves the URI alone, but _urljoin first drops extra slashes
    after the scheme. (Called only then: its regex substitution is slow for every URI.)"""
    return _urljoin("", uri) if _URIFIXER.match(uri) else uri


_C1_CONTROL = re.compile("[\x80-\x9f]")


def pop_text(element: Any) -> str:
    """An element's text as feedparser's pop() gives it (its SAX parser always reads UTF-8,
    the document converted first): stripped, UTF-8 that was read as Latin-1 and encoded
    again repaired ("Ã©" → "é"), and C1 controls mapped to their Windows-1252 characters."""
    value = (element.text or "").strip()
    if value.isascii():
        return value
    try:
        value = value.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    # translate() looks every character up; C1 controls are rare, so look for one first.
    return value.translate(_cp1252) if _C1_CONTROL.search(value) else value


def add_tag(tags: list[list[Any]], term: str | None, scheme: str | None, label: str | None = None) -> None:
    """feedparser's _add_tag: [term, scheme, label], none all empty, none twice."""
    if (term or scheme or label) and [term, scheme, label] not in tags:
        tags.append([term, scheme, label])


def add_summary(entry: dict[str, Any], content: list[dict[str, str]], value: str, has_content: bool) -> bool:
    """feedparser's rule: a summary after the first one becomes content, unless the item
    already has content, in which case it replaces the summary. Returns hasContent."""
    if "summary" in entry and not has_content:
        content.append({"value": value})
        return True
    entry["summary"] = value
    return has_content


def add_content(entry: dict[str, Any], content: list[dict[str, str]], value: str) -> bool:
    """Content counts as content and stands in for a missing summary. Returns hasContent."""
    content.append({"value": value})
    entry.setdefault("summary", value)
    return True
