"""A fast path in front of feedparser for the plain, common case: a well-formed RSS 2.0,
RSS 1.0 (RDF) or Atom 1.0 document in UTF-8 (or ISO-8859-1) whose elements we can read as
feedparser does. This module reads RSS; atom.py Atom; base.py has what both share.

feedparser stays the parser of record. This reads such a document with lxml (about ten
times faster than feedparser's SAX handlers in Python) into the few keys of feedparser's
result that feed.py reads, and answers None for anything else — another format or
version, another encoding, a DOCTYPE or entity, a base attribute (lang outside Atom), an
element feedparser gives a meaning we do not reproduce, an order of elements it treats
specially — so that feedparser parses it. Elements feedparser has no handler for it keeps
under their own names, which feed.py never reads: those are fine (see base.Names).
tests/parsing/test_fastparse.py proves that where it answers, parse_feed gives exactly the same
ParsedFeed as through feedparser, on every real fixture and the whole feedparser corpus.
Callers import fast_parse from the package (__init__.py), which turns the fast path off
when feedparser lacks one of the private names read here."""

from __future__ import annotations

import re
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.encodings import RE_XML_PI_ENCODING

from .atom import atom_feed
from .base import (
    ATOM,
    MEDIA_CHILDREN,
    XML_LANG,
    Names,
    add_content,
    add_summary,
    add_tag,
    map_content_type,
    pop_text,
    read_link,
    resolve_uri,
    unhandled,
)

try:
    from lxml import etree
except ImportError:  # pragma: no cover - lxml is a dependency; without it feedparser does everything
    etree = None
HAS_LXML = etree is not None

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
RSS1 = "{http://purl.org/rss/1.0/}"

# Handled item elements that feed no key we read (an enclosure, media, a publisher, the
# item's language, which ends with the element).
_ITEM_IGNORED = frozenset(
    {
        "enclosure",
        "media_content",
        "media_thumbnail",
        "media_credit",
        "media_group",
        "dc_publisher",
        "dc_language",
        "language",
    }
)
# Handled channel elements that feed no key we read (besides title, language, ttl and item).
_CHANNEL_IGNORED = frozenset(
    {
        "link",
        "description",
        "lastbuilddate",
        "pubdate",
        "generator",
        "copyright",
        "managingeditor",
        "webmaster",
        "author",
        "category",
        "cloud",
        "dc_date",
        "dc_rights",
        "dc_publisher",
        "dc_creator",
    }
)
# What may sit inside a channel's image (an unknown element would end feedparser's inimage),
# and inside an item's (where a description would be the item's summary).
_IMAGE_TAGS = frozenset({"url", "title", "link", "width", "height", "description"})
_ITEM_IMAGE_TAGS = _IMAGE_TAGS - {"description"}
_XML_DECL = re.compile(rb"^<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_LINK = re.compile(r"https?://[^\s<>\"'\\^`{|}]+\Z")
_ENTITY_IN_LINK = re.compile("&([A-Za-z0-9_]+);")
_UTF8 = ("", "utf-8", "utf8")
_XML_TYPES = ("application/rss+xml", "application/xml", "application/atom+xml", "application/rdf+xml")
# Item elements read below, once each (a repeated one: feedparser keeps one or the other).
_ITEM_ONCE = frozenset({"link", "description", "media_description", "content_encoded", "guid", "pubdate", "dc_date"})


def _new_parser() -> Any:  # an lxml XMLParser
    # One per call: lxml parser objects must not be shared between threads, and parse_feed
    # also runs in threads (asyncio.to_thread) outside the worker processes.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True, remove_pis=True
    )


def fast_parse(body: bytes, content_type: str = "") -> dict[str, Any] | None:
    """feedparser's result (the keys feed.py reads) for a plain RSS or Atom document, or None."""
    charset = _charset(content_type)
    if etree is None or charset not in _UTF8:
        return None
    parsed = _parse(body, charset)
    if parsed is None:
        return None
    root, encoding = parsed
    # feedparser lower-cases attribute names and drops an unknown prefix: base or lang in any
    # namespace and case is its xml:base (which moves the base URI, and leaks) or xml:lang.
    # (A set of every attribute name: a third of the time of an XPath query for them.)
    attributes = {key for element in root.iter() for key in element.keys()}  # noqa: SIM118 (`in` an lxml element tests its children)
    base_or_lang = {key for key in attributes if key.rpartition("}")[2].lower() in ("base", "lang")}
    if base_or_lang - {XML_LANG}:
        return None
    names = Names(body, encoding)
    if not names.ok:
        return None
    if root.tag == ATOM + "feed":
        return atom_feed(root, names)  # which reads xml:lang
    if base_or_lang:
        return None
    if root.tag == RDF + "RDF":
        return _rdf(root, names)
    if root.tag != "rss" or root.get("version") != "2.0":
        return None
    channels = [child for child in root if not unhandled(child, names)]
    if len(channels) != 1 or channels[0].tag != "channel":
        return None  # beside the channel, only elements feedparser keeps in keys we never read
    channel = _channel(channels[0], names)
    if channel is None:
        return None
    feed, entries = channel
    return {"version": "rss20", "feed": feed, "entries": entries, "bozo": False}


def _parse(body: bytes, charset: str) -> tuple[Any, str] | None:
    """The document's root element and encoding, if it is well-formed XML of a kind we read,
    in an encoding that lxml and feedparser decode alike: UTF-8, or ISO-8859-1 (declared,
    no charset from the server); else None."""
    bom = body.startswith(b"\xef\xbb\xbf")  # UTF-8's byte order mark: lxml and feedparser drop it
    data = body[3:] if bom else body
    head = data[:200]
    if not head.lstrip().startswith((b"<?xml", b"<rss", b"<feed", b"<rdf:RDF", b"<!--")):
        return None  # another root: feedparser's business
    # The encoding as the XML declaration gives it to lxml, and as feedparser's own regex
    # reads it (first line only, no blanks around "=").
    m = _XML_DECL.match(head)
    declared = m.group(1).decode().lower() if m else ""
    m = RE_XML_PI_ENCODING.match(data)
    try:
        feedparsers = m.group(1).decode().lower() if m else ""
    except UnicodeDecodeError:
        return None
    if declared in _UTF8 and feedparsers in _UTF8:
        encoding = "utf-8"
    elif declared == feedparsers == "iso-8859-1" and not bom and not charset:
        # one byte, one character (U+0000-U+00FF) to Python's codec and libxml2's alike;
        # feedparser's pop() then repairs and maps the text as for UTF-8 (pop_text)
        encoding = "iso-8859-1"
    else:
        return None
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body or b"xml:base" in body:
        return None
    try:
        if encoding == "utf-8":
            body.decode("utf-8")
        root = etree.fromstring(body, _new_parser())
    except (UnicodeDecodeError, etree.XMLSyntaxError, ValueError):
        return None
    if (root.getroottree().docinfo.encoding or "").lower() not in (encoding, "utf8"):
        return None  # (lxml's own view, to be sure)
    return root, encoding


def _charset(content_type: str) -> str | None:
    """The charset of an XML media type feedparser accepts ("" for none, or no header),
    parsed as feedparser's parse_content_type does; None for another media type."""
    if not content_type:
        return ""
    mime, _, params = content_type.partition(";")
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower()
    # feedparser compares the media type as it is: "Application/XML" is not XML to it
    return charset if mime.strip() in _XML_TYPES else None


def _rdf(root: Any, names: Names) -> dict[str, Any] | None:
    """RSS 1.0: feedparser reads its channel and items (siblings of the channel) with the
    handlers of RSS 2.0; an item's rdf:about is its id."""
    if not names.keeps("rdf"):
        return None  # feedparser finds rdf:about through its prefix map
    children = [child for child in root if not unhandled(child, names)]
    if not children or children[0].tag != RSS1 + "channel":
        return None  # an image's title before the channel's would hide it (title_depth)
    channel = _channel(children[0], names)
    if channel is None:
        return None
    feed, entries = channel
    for child in children[1:]:
        name = names[child.tag]
        if name == "item":
            if set(child.attrib) - {RDF + "about"}:
                return None
            entry = _entry(child, names, child.get(RDF + "about"))
            if entry is None:
                return None
            entries.append(entry)
        elif name != "image" or any(names[c.tag] not in _IMAGE_TAGS or len(c) for c in child):
            return None  # (outside the channel nothing of an image's is stored at all)
    return {"version": "rss10", "feed": feed, "entries": entries, "bozo": False}


def _channel(channel: Any, names: Names) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The channel's title, language and ttl as feedparser keeps them, and its items."""
    feed: dict[str, Any] = {}
    entries = []
    for child in channel:
        name = names[child.tag]
        if name == "item":
            if child.attrib:
                return None  # rdf:about (the id), href (the link), lastmod: feedparser reads them
            entry = _entry(child, names)
            if entry is None:
                return None
            entries.append(entry)
        elif name in ("title", "language", "ttl", "dc_language", "sy_updateperiod", "sy_updatefrequency"):
            if len(child) or child.attrib:
                return None  # a type attribute may make the title base64, a ttl's are its value
            key = "language" if name == "dc_language" else name
            value = pop_text(child)
            if key in feed and (key != "language" or feed[key] != value):
                return None  # language and dc:language alike are fine
            feed[key] = value
        elif name == "image":
            if any(names[c.tag] not in _IMAGE_TAGS or len(c) for c in child):
                return None
        elif name in _CHANNEL_IGNORED:
            if len(child):
                return None
        elif not unhandled(child, names):
            return None
    return feed, entries


def _entry(item: Any, names: Names, entry_id: str | None = None) -> dict[str, Any] | None:
    """An RSS item as feedparser reads it (for RDF, rdf:about as entry_id), or None."""
    entry: dict[str, Any] = {}
    if entry_id:
        entry["id"] = entry_id  # feedparser takes rdf:about as it is (no pop(): not even stripped)
    tags: list[list[Any]] = []
    content: list[dict[str, str]] = []
    authors = []
    titles = _Titles()
    seen: set[str] = set()
    has_content = False  # feedparser's hasContent: set by content:encoded or a second summary
    for child in item:
        name = names[child.tag]
        if name in ("media_group", "media_content"):
            # They may hold media elements that feed no key we read; a media:title or
            # media:description inside would, so those go to feedparser.
            if any(names[sub.tag] not in MEDIA_CHILDREN for sub in child.iterdescendants()):
                return None
            continue
        if name == "link" and child.attrib:  # an atom:link, or a link with an href
            link = read_link(child, names)
            if link is None:
                return None
            if link[0]:
                entry["link"] = link[1]
            continue
        if name == "image":
            # feedparser's inimage: the image's link and url go nowhere we read, but its title
            # is a title of the item (see _Titles); its own text is dropped.
            titles.reset()
            for sub in child:
                if names[sub.tag] not in _ITEM_IMAGE_TAGS or len(sub) or sub.attrib:
                    return None
                if names[sub.tag] == "title":
                    titles.add(pop_text(sub), 2)
            continue
        if len(child):
            if unhandled(child, names):
                continue
            return None
        if name in ("category", "dc_subject"):
            if set(child.attrib) - {"domain"}:
                return None
            # feedparser's _start_category/_end_category/_add_tag, step by step
            add_tag(tags, None, child.get("domain"))
            value = pop_text(child)
            if value:
                if tags and not tags[-1][0]:
                    tags[-1][0] = value
                else:
                    add_tag(tags, value, None)
        elif name in ("tags", "media_keywords"):
            if child.attrib:
                return None  # media:keywords with attributes makes no tags at all
            for term in pop_text(child).split(","):  # feedparser's _end_tags, _end_media_keywords
                add_tag(tags, term.strip(), None)
        elif name in ("author", "dc_creator"):
            # Each one is an author. feedparser splits off an e-mail address (and the
            # parentheses around it); a plain name, or nothing, it keeps as it is.
            value = pop_text(child)
            if child.attrib or "@" in value:
                return None
            if value:
                authors.append({"name": value})
        elif name in ("title", "dc_title"):
            if child.attrib:
                return None
            titles.add(pop_text(child), 1)
        elif name == "source":
            titles.reset()
        elif name in _ITEM_ONCE:
            if name in seen:
                return None
            seen.add(name)
            read = _read(entry, content, child, name, has_content)
            if read is None:
                return None
            has_content = read
        elif name not in _ITEM_IGNORED and not unhandled(child, names):
            return None
    if titles.value is not None:
        entry["title"] = titles.value
    if content:
        entry["content"] = content
    if authors:
        entry["authors"] = authors
    terms = [{"term": term} for term, _, _ in tags if term]
    if terms:
        entry["tags"] = terms
    return entry


def _read(
    entry: dict[str, Any], content: list[dict[str, str]], child: Any, name: str, has_content: bool
) -> bool | None:
    """One of _ITEM_ONCE into the entry. Returns hasContent, or None to refuse."""
    if child.attrib and name not in ("guid", "media_description"):
        return None
    value = pop_text(child)
    if name == "link":
        if not _LINK.match(value):
            return None
        # feedparser's pop(): resolved (extra slashes after the scheme dropped), then its
        # repair of query strings read as entity references ("&amp;" -> "&", "&b;" -> "&b")
        value = resolve_uri(value)
        if "&" in value:
            value = _ENTITY_IN_LINK.sub(r"&\g<1>", value.replace("&amp;", "&"))
        entry["link"] = value
    elif name in ("description", "media_description"):
        if set(child.attrib) - {"type"} or not map_content_type(child.get("type", "text/html")).startswith("text/"):
            return None  # another type: base64 or markup to feedparser
        return add_summary(entry, content, value, has_content)
    elif name == "content_encoded":
        return add_content(entry, content, value)
    elif name == "guid":
        if set(child.attrib) - {"isPermaLink"}:
            return None
        if child.get("isPermaLink", "true") == "true":  # exactly: "True" is not a permalink
            if "link" not in entry:
                return None  # feedparser would take the guid for the link
            value = resolve_uri(value)  # a permalink is resolved
        entry["id"] = value
    elif name == "pubdate":
        entry["published"] = value
        entry["published_parsed"] = _parse_date(value) if value else None
    elif name == "dc_date":
        entry["updated"] = value
        entry["updated_parsed"] = _parse_date(value) if value else None
    return has_content


class _Titles:
    """feedparser's titles in one item: a title is kept unless a non-empty one came before
    at its depth or above (title_depth), and then only if it is no deeper than the one kept
    (property_depth_map); an image or source inside the item starts afresh."""

    def __init__(self) -> None:
        self.depth = -1
        self.kept_at: int | None = None
        self.value: str | None = None

    def add(self, value: str, depth: int) -> None:
        if not -1 < self.depth <= depth and (self.kept_at is None or depth <= self.kept_at):
            self.value, self.kept_at = value, depth
        if value:
            self.depth = depth

    def reset(self) -> None:
        self.depth = -1
