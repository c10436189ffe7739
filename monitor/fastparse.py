"""A fast path in front of feedparser for the plain, common case: a well-formed UTF-8
RSS 2.0 or Atom 1.0 document whose items use only a known set of elements.

feedparser stays the parser of record. This reads such a document with lxml (about ten
times faster than feedparser's SAX handlers in Python) into the few keys of feedparser's
result that parse.py reads, and answers None for anything else — another format or
version, another encoding, a DOCTYPE or entity, a base attribute (lang outside Atom), an element
outside the list, an order of elements feedparser treats specially — so that feedparser parses it.
tests/test_fastparse.py proves that where it answers, parse_feed gives exactly the same
ParsedFeed as through feedparser, on every real fixture and the whole feedparser corpus.
"""

from __future__ import annotations

import re
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin

try:
    from lxml import etree
except ImportError:  # pragma: no cover - lxml is a dependency; without it feedparser does everything
    etree = None

DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
MEDIA = "{http://search.yahoo.com/mrss/}"
ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Item children whose meaning to feedparser we reproduce (or that feed no key we read).
_ITEM_TAGS = frozenset({
    "title", "link", "description", "guid", "pubDate", "category", "comments", "enclosure",
    DC + "creator", DC + "date", CONTENT + "encoded", "author",
    MEDIA + "content", MEDIA + "thumbnail", MEDIA + "credit", MEDIA + "description", MEDIA + "group",
    "source", "{http://www.w3.org/2005/Atom}link", "{http://rssnamespace.org/feedburner/ext/1.0}origLink",
    "{com-wordpress:feed-additions:1}post-id",
})
_IGNORED = frozenset({
    "{com-wordpress:feed-additions:1}post-id",
    # not media:title or media:description: feedparser reads those as the item's own
    MEDIA + "content", MEDIA + "thumbnail", MEDIA + "credit", MEDIA + "group",
    "enclosure", "comments", "source",
    "{http://rssnamespace.org/feedburner/ext/1.0}origLink",
})
# Channel children that feed no key we read (besides title, language, ttl and item).
_CHANNEL_TAGS = frozenset({
    "title", "language", "ttl", "item", "link", "description", "lastBuildDate", "pubDate", "generator",
    "copyright", "docs", "managingEditor", "webMaster", "category", "image",
    "{http://www.w3.org/2005/Atom}link", "{http://rssnamespace.org/feedburner/ext/1.0}info",
    "{com-wordpress:feed-additions:1}site", "{http://purl.org/rss/1.0/modules/syndication/}updatePeriod",
    "{http://purl.org/rss/1.0/modules/syndication/}updateFrequency",
    DC + "date", DC + "rights", DC + "publisher", DC + "creator", DC + "language", DC + "source",
    "{http://www.w3.org/2003/01/geo/wgs84_pos#}lat", "{http://www.w3.org/2003/01/geo/wgs84_pos#}long",
})
# What may sit inside an ignored element: feedparser keeps these in keys we never read.
_IGNORED_CHILDREN = frozenset({MEDIA + "content", MEDIA + "thumbnail", MEDIA + "credit"})
_IMAGE_TAGS = frozenset({"url", "title", "link", "width", "height", "description"})
_XML_DECL = re.compile(rb"^<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_LINK = re.compile(r"https?://[^\s<>\"'\\^`{|}]+\Z")
_ENTITY_IN_LINK = re.compile("&([A-Za-z0-9_]+);")
_BASE_OR_LANG = "//@*[translate(local-name(), 'ABEGLNS', 'abeglns') = 'base' or translate(local-name(), 'ABEGLNS', 'abeglns') = 'lang']"
_XML_TYPES = ("application/rss+xml", "application/xml", "application/atom+xml", "application/rdf+xml")
# feedparser's own: "html" -> "text/html", "xhtml" -> "application/xhtml+xml", ...
_map_content_type = _FeedParserMixin.map_content_type
_HTML_TYPES = ("text/html", "application/xhtml+xml")
# A link's attributes feedparser reads no other way (any other, e.g. an upper-case REL or a
# namespaced rel, it would read as rel/href/type).
_LINK_ATTRS = frozenset({"href", "rel", "type", "title", "hreflang", "length", XML_LANG})


def _new_parser():
    # One per call: lxml parser objects must not be shared between threads, and parse_feed
    # also runs in threads (asyncio.to_thread) outside the worker processes.
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True, remove_pis=True)


def _add_summary(entry: dict[str, Any], content: list[dict[str, str]], value: str, has_content: bool) -> bool:
    """feedparser's rule: a summary after the first one becomes content, unless the item
    already has content, in which case it replaces the summary. Returns hasContent."""
    if "summary" in entry and not has_content:
        content.append({"value": value})
        return True
    entry["summary"] = value
    return has_content


def _add_content(entry: dict[str, Any], content: list[dict[str, str]], value: str) -> bool:
    """Content counts as content and stands in for a missing summary. Returns hasContent."""
    content.append({"value": value})
    entry.setdefault("summary", value)
    return True


def fast_parse(body: bytes, content_type: str = "") -> dict[str, Any] | None:
    """feedparser's result (the keys parse.py reads) for a plain RSS 2.0 or Atom 1.0 document, or None."""
    if etree is None or not _content_type_ok(content_type):
        return None
    root = _parse(body)
    if root is None:
        return None
    # feedparser lower-cases attribute names and drops an unknown prefix: base or lang in any
    # namespace and case is its xml:base (which moves the base URI, and leaks) or xml:lang.
    base_or_lang = root.xpath(_BASE_OR_LANG)
    if any(value.attrname != XML_LANG for value in base_or_lang):
        return None
    if root.tag == ATOM + "feed":
        return _atom(root)  # which reads xml:lang
    if base_or_lang:
        return None
    if root.tag != "rss" or root.get("version") != "2.0" or len(root) != 1 or root[0].tag != "channel":
        return None
    channel = root[0]
    feed: dict[str, Any] = {}
    entries = []
    for child in channel:
        tag = child.tag
        if not isinstance(tag, str) or tag not in _CHANNEL_TAGS:
            return None
        if tag == "image":
            if any(not isinstance(c.tag, str) or c.tag not in _IMAGE_TAGS or len(c) for c in child):
                return None
        elif len(child) and tag != "item":
            return None
        if tag == "item":
            if child.attrib:
                return None  # rdf:about (the id), href (the link), lastmod: feedparser reads them
            entry = _entry(child)
            if entry is None:
                return None
            entries.append(entry)
        elif tag in ("title", "language", "ttl", DC + "language"):
            key = "language" if tag == DC + "language" else tag
            value = _text(child)
            if key in feed and (key != "language" or feed[key] != value):
                return None  # language and dc:language alike are fine
            feed[key] = value
    return {"version": "rss20", "feed": feed, "entries": entries, "bozo": False}


def _parse(body: bytes) -> Any:
    """The document's root element, if it is well-formed UTF-8 XML of a kind we read; else None."""
    head = body[:200]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]  # a UTF-8 byte order mark: lxml and feedparser both drop it
    if not head.lstrip().startswith((b"<?xml", b"<rss", b"<feed", b"<!--")):
        return None  # another root: feedparser's business
    m = _XML_DECL.match(head)
    if m and m.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body or b"xml:base" in body:
        return None
    try:
        body.decode("utf-8")
        return etree.fromstring(body, _new_parser())
    except (UnicodeDecodeError, etree.XMLSyntaxError, ValueError):
        return None


# Atom 1.0: the entry elements we read, and those that feed no key we read.
_ENTRY_TAGS = frozenset(ATOM + t for t in ("id", "title", "link", "updated", "published", "summary", "content",
                                           "author", "category", "contributor", "rights")) | {DC + "identifier"}
_FEED_TAGS = frozenset(ATOM + t for t in ("title", "subtitle", "id", "updated", "link", "author", "contributor",
                                          "category", "generator", "icon", "logo", "rights", "entry"))
_PERSON_TAGS = frozenset(ATOM + t for t in ("name", "email", "uri"))
_TEXT_TYPES = {None: "text/plain", "text": "text/plain", "html": "text/html", "text/plain": "text/plain",
               "text/html": "text/html"}


def _lang(element: Any, inherited: str | None) -> str | None:
    """feedparser's xml:lang tracking: a plain lang attribute counts, and "" means none."""
    lang = element.get(XML_LANG, element.get("lang"))
    if lang is None:
        return inherited
    return lang or None


def _atom(root: Any) -> dict[str, Any] | None:
    if set(root.attrib) - {XML_LANG}:
        return None
    feed_lang = _lang(root, None)
    feed: dict[str, Any] = {}
    if feed_lang:
        feed["language"] = feed_lang.replace("_", "-")
    entries = []
    for child in root:
        tag = child.tag
        if not isinstance(tag, str) or tag not in _FEED_TAGS:
            return None
        if tag == ATOM + "entry":
            entry = _atom_entry(child, feed_lang)
            if entry is None:
                return None
            entries.append(entry)
            continue
        # (an xml:lang here ends with the element: feedparser reads no key we use under it)
        if tag in (ATOM + "author", ATOM + "contributor"):
            if not _person_ok(child):
                return None
        elif len(child):
            return None
        elif tag == ATOM + "title":
            if "title" in feed or _TEXT_TYPES.get(child.get("type")) is None or set(child.attrib) - {"type"}:
                return None
            value = _text(child)
            if not value:
                return None  # an empty title leaves feedparser's title_depth alone
            feed["title"] = value
    return {"version": "atom10", "feed": feed, "entries": entries, "bozo": False}


def _link(link: Any) -> tuple[bool, str] | None:
    """feedparser's _start_link for a link with an href (Atom's, or an atom:link in RSS):
    (True, href) when it is the item's link (rel alternate, an HTML type: the last one wins),
    (False, href) for another link; None to refuse."""
    for sub in link.iterdescendants():
        if not isinstance(sub.tag, str) or sub.tag not in _IGNORED_CHILDREN:
            return None
    attrib = link.attrib
    if "href" not in attrib or any(name not in _LINK_ATTRS for name in attrib):
        return None
    rel = attrib.get("rel", "alternate").lower()
    kind = attrib.get("type", "application/atom+xml" if rel == "self" else "text/html").lower()
    # resolved against the base URI: "" (no xml:base, no Content-Location), but feedparser's
    # _urljoin still drops extra slashes after the scheme
    href = _urljoin("", attrib["href"])
    return rel == "alternate" and _map_content_type(kind) in _HTML_TYPES, href


def _person_ok(person: Any) -> bool:
    return all(isinstance(c.tag, str) and c.tag in _PERSON_TAGS and not len(c) and not c.attrib for c in person)


def _atom_entry(element: Any, feed_lang: str | None) -> dict[str, Any] | None:
    if element.attrib:
        return None
    lang = feed_lang
    entry: dict[str, Any] = {}
    tags: list[list[Any]] = []
    content = []
    authors = []
    seen: set[str] = set()
    has_content = False
    link_from_id = None
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag not in _ENTRY_TAGS:
            return None
        attrib = child.attrib
        if tag == ATOM + "link":
            link = _link(child)
            if link is None:
                return None
            if link[0]:
                entry["link"] = link[1]
            continue
        if tag in (ATOM + "author", ATOM + "contributor"):
            if attrib or not _person_ok(child):
                return None
            if tag == ATOM + "author":
                names = [c for c in child if c.tag == ATOM + "name"]
                # feedparser's name is stripped only (pop without text handling)
                name = (names[-1].text or "").strip() if names else ""
                if not name or len(names) > 1:
                    return None  # no name: feedparser falls back to the e-mail address
                authors.append({"name": name})
            continue
        if len(child):
            return None
        if tag == ATOM + "category":
            if set(attrib) - {"term", "scheme", "label", XML_LANG}:
                return None
            _add_tag(tags, attrib.get("term", "") or None,
                     attrib.get("scheme", "") or None,
                     attrib.get("label", "") or None)
            value = _text(child)
            if value:
                if tags and not tags[-1][0]:
                    tags[-1][0] = value
                else:
                    _add_tag(tags, value, None, None)
            continue
        if tag in (ATOM + "rights", DC + "identifier"):
            continue
        if tag in seen:
            return None
        seen.add(tag)
        if tag in (ATOM + "title", ATOM + "summary", ATOM + "content"):
            if set(attrib) - {"type", XML_LANG} or _TEXT_TYPES.get(attrib.get("type")) is None:
                return None
        elif attrib:
            return None
        value = _text(child)
        if tag == ATOM + "title":
            entry["title"] = value
            title_lang = _lang(child, lang)
            if title_lang:
                entry["title_detail"] = {"language": title_lang.replace("_", "-")}
        elif tag == ATOM + "id":
            value = _urljoin("", value)  # feedparser resolves an id that may be the link (always in Atom)
            entry["id"] = value
            if "link" not in entry:
                link_from_id = value  # feedparser takes an id for the link until a link comes
        elif tag == ATOM + "summary":
            has_content = _add_summary(entry, content, value, has_content)
        elif tag == ATOM + "content":
            has_content = _add_content(entry, content, value)
        elif tag == ATOM + "published":
            entry["published"] = value
            entry["published_parsed"] = _parse_date(value) if value else None
        elif tag == ATOM + "updated":
            entry["updated"] = value
            entry["updated_parsed"] = _parse_date(value) if value else None
    if "link" not in entry and link_from_id is not None:
        entry["link"] = link_from_id
    if content:
        entry["content"] = content
    if authors:
        entry["authors"] = authors
    terms = [{"term": term or label} for term, _, label in tags if term or label]
    if terms:
        entry["tags"] = terms
    return entry


def _content_type_ok(content_type: str) -> bool:
    if not content_type:
        return True
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower()
    return mime in _XML_TYPES and charset in ("", "utf-8", "utf8")


def _entry(item: Any) -> dict[str, Any] | None:
    entry: dict[str, Any] = {}
    tags = []
    content = []
    authors = []
    seen: set[str] = set()
    has_content = False  # feedparser's hasContent: set by content:encoded or a second summary
    for child in item:
        tag = child.tag
        if not isinstance(tag, str) or tag not in _ITEM_TAGS:
            return None
        if len(child):
            # media:group and media:content may hold media elements that feed no key we
            # read; a media:title or media:description inside would, so those go to feedparser.
            if tag not in (MEDIA + "group", MEDIA + "content"):
                return None
            for sub in child.iterdescendants():
                if not isinstance(sub.tag, str) or sub.tag not in _IGNORED_CHILDREN:
                    return None
        if tag == "category":
            if set(child.attrib) - {"domain"}:
                return None
            # feedparser's _start_category/_end_category/_add_tag, step by step
            _add_tag(tags, None, child.get("domain"))
            value = _text(child)
            if value:
                if tags and not tags[-1][0]:
                    tags[-1][0] = value
                else:
                    _add_tag(tags, value, None)
            continue
        if tag == ATOM + "link":
            link = _link(child)
            if link is None:
                return None
            if link[0]:
                entry["link"] = link[1]  # feedparser reads an atom:link like a link, here too
            continue
        if tag in _IGNORED:
            continue
        if tag in (DC + "creator", "author"):
            # Each one is an author. feedparser splits off an e-mail address (and the
            # parentheses around it); a plain name, or nothing, it keeps as it is.
            value = _text(child)
            if child.attrib or "@" in value:
                return None
            if value:
                authors.append({"name": value})
            continue
        if tag in seen:
            return None  # a repeated element: feedparser keeps one or the other
        seen.add(tag)
        if child.attrib and tag not in ("guid", MEDIA + "description"):
            return None
        value = _text(child)
        if tag == "title":
            entry["title"] = value
        elif tag == "link":
            if not _LINK.match(value):
                return None
            # feedparser's pop(): resolved (extra slashes after the scheme dropped), then its
            # repair of query strings read as entity references ("&amp;" -> "&", "&b;" -> "&b")
            value = _urljoin("", value).replace("&amp;", "&")
            entry["link"] = _ENTITY_IN_LINK.sub(r"&\g<1>", value)
        elif tag in ("description", MEDIA + "description"):
            if set(child.attrib) - {"type"} or not _map_content_type(child.get("type", "text/html")).startswith("text/"):
                return None  # another type: base64 or markup to feedparser
            has_content = _add_summary(entry, content, value, has_content)
        elif tag == CONTENT + "encoded":
            has_content = _add_content(entry, content, value)
        elif tag == "guid":
            if set(child.attrib) - {"isPermaLink"}:
                return None
            if child.get("isPermaLink", "true") == "true":  # exactly: "True" is not a permalink
                if "link" not in entry:
                    return None  # feedparser would take the guid for the link
                value = _urljoin("", value)  # a permalink is resolved
            entry["id"] = value
        elif tag == "pubDate":
            entry["published"] = value
            entry["published_parsed"] = _parse_date(value) if value else None
        elif tag == DC + "date":
            entry["updated"] = value
            entry["updated_parsed"] = _parse_date(value) if value else None
    if "link" not in entry:
        return None
    if content:
        entry["content"] = content
    if authors:
        entry["authors"] = authors
    terms = [{"term": term} for term, _, _ in tags if term]
    if terms:
        entry["tags"] = terms
    return entry


def _add_tag(tags: list[list[Any]], term: str | None, scheme: str | None, label: str | None = None) -> None:
    if (term or scheme or label) and [term, scheme, label] not in tags:
        tags.append([term, scheme, label])


def _text(element: Any) -> str:
    """An element's text as feedparser's pop() gives it for a UTF-8 document: stripped,
    UTF-8 that was read as Latin-1 and encoded again repaired ("Ã©" → "é"), and C1
    controls mapped to their Windows-1252 characters."""
    value = (element.text or "").strip()
    if value.isascii():
        return value
    try:
        value = value.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return value.translate(_cp1252)
