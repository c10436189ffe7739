"""A fast path in front of feedparser for the plain, common case: a well-formed UTF-8
RSS 2.0, RSS 1.0 (RDF) or Atom 1.0 document whose elements we can read as feedparser does.

feedparser stays the parser of record. This reads such a document with lxml (about ten
times faster than feedparser's SAX handlers in Python) into the few keys of feedparser's
result that parse.py reads, and answers None for anything else — another format or
version, another encoding, a DOCTYPE or entity, a base attribute (lang outside Atom), an
element feedparser gives a meaning we do not reproduce, an order of elements it treats
specially — so that feedparser parses it. Elements feedparser has no handler for it keeps
under their own names, which parse.py never reads: those are fine (see _Names).
tests/test_fastparse.py proves that where it answers, parse_feed gives exactly the same
ParsedFeed as through feedparser, on every real fixture and the whole feedparser corpus."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.encodings import RE_XML_PI_ENCODING
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin
from feedparser.util import FeedParserDict

try:
    from lxml import etree
except ImportError:  # pragma: no cover - lxml is a dependency; without it feedparser does everything
    etree = None

DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
MEDIA = "{http://search.yahoo.com/mrss/}"
ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
RSS1 = "{http://purl.org/rss/1.0/}"

# feedparser's name for an element: its local name, lower-cased, after the prefix feedparser
# gives the namespace ("dc_creator"; none for RSS's and Atom's own), or after a prefix the
# document declares for a namespace it does not know ("mir_commentsid"). It calls
# _start_<name> and _end_<name> where it has them, and keeps any other element's text (or
# attributes) under its name (see _Names).
_PREFIXES = MappingProxyType({uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()})
_HANDLED = frozenset(
    name.split("_", 2)[2].lower() for name in dir(_FeedParserMixin) if name.startswith(("_start_", "_end_"))
)
# The keys parse.py reads, and every name FeedParserDict stores under one of them ("date").
_READ_KEYS = frozenset({"title", "title_detail", "summary", "content", "authors", "author", "tags", "link", "id",
                        "published", "published_parsed", "updated", "updated_parsed", "language", "ttl"})
_READ = _READ_KEYS | {name for name, key in FeedParserDict.keymap.items()
                      if (key[0] if isinstance(key, list) else key) in _READ_KEYS}
# Handled item elements that feed no key we read (an enclosure, media, a publisher, the
# item's language, which ends with the element).
_ITEM_IGNORED = frozenset({"enclosure", "media_content", "media_thumbnail", "media_credit", "media_group",
                           "dc_publisher", "dc_language", "language"})
# What may sit inside media:group or media:content: feedparser keeps these in keys we never read.
_MEDIA_CHILDREN = frozenset({"media_content", "media_thumbnail", "media_credit"})
# Handled channel elements that feed no key we read (besides title, language, ttl and item).
_CHANNEL_IGNORED = frozenset({"link", "description", "lastbuilddate", "pubdate", "generator", "copyright",
                              "managingeditor", "webmaster", "author", "category", "cloud", "dc_date",
                              "dc_rights", "dc_publisher", "dc_creator"})
# What may sit inside a channel's image (an unknown element would end feedparser's inimage),
# and inside an item's (where a description would be the item's summary).
_IMAGE_TAGS = frozenset({"url", "title", "link", "width", "height", "description"})
_ITEM_IMAGE_TAGS = _IMAGE_TAGS - {"description"}
_XML_DECL = re.compile(rb"^<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_LINK = re.compile(r"https?://[^\s<>\"'\\^`{|}]+\Z")
_ENTITY_IN_LINK = re.compile("&([A-Za-z0-9_]+);")
_URIFIXER = re.compile(r"[A-Za-z][A-Za-z0-9+,\-.]*:///")  # where feedparser's _urifixer changes a URI
_XMLNS = re.compile(rb"""xmlns(:[^\s=/>]+)?\s*=\s*("[^"]*"|'[^']*')""")
_UTF8 = ("", "utf-8", "utf8")
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
    """feedparser's result (the keys parse.py reads) for a plain RSS or Atom document, or None."""
    charset = _charset(content_type)
    if etree is None or charset not in ("", "utf-8", "utf8"):
        return None
    parsed = _parse(body, charset)
    if parsed is None:
        return None
    root, encoding = parsed
    # feedparser lower-cases attribute names and drops an unknown prefix: base or lang in any
    # namespace and case is its xml:base (which moves the base URI, and leaks) or xml:lang.
    # (A set of every attribute name: a third of the time of an XPath query for them.)
    attributes = {key for element in root.iter() for key in element.keys()}
    base_or_lang = {key for key in attributes if key.rpartition("}")[2].lower() in ("base", "lang")}
    if base_or_lang - {XML_LANG}:
        return None
    names = _Names(body, encoding)
    if not names.ok:
        return None
    if root.tag == ATOM + "feed":
        return _atom(root, names)  # which reads xml:lang
    if base_or_lang:
        return None
    if root.tag == RDF + "RDF":
        return _rdf(root, names)
    if root.tag != "rss" or root.get("version") != "2.0":
        return None
    channels = [child for child in root if not _unknown(child, names)]
    if len(channels) != 1 or channels[0].tag != "channel":
        return None  # beside the channel, only elements feedparser keeps in keys we never read
    channel = _channel(channels[0], names)
    if channel is None:
        return None
    feed, entries = channel
    return {"version": "rss20", "feed": feed, "entries": entries, "bozo": False}


def _rdf(root: Any, names: _Names) -> dict[str, Any] | None:
    """RSS 1.0: feedparser reads its channel and items (siblings of the channel) with the
    handlers of RSS 2.0; an item's rdf:about is its id."""
    if not names.keeps("rdf"):
        return None  # feedparser finds rdf:about through its prefix map
    children = [child for child in root if not _unknown(child, names)]
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


def _channel(channel: Any, names: _Names) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
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
        elif name in ("title", "language", "ttl", "dc_language"):
            if len(child) or child.attrib:
                return None  # a type attribute may make the title base64, a ttl's are its value
            key = "language" if name == "dc_language" else name
            value = _text(child)
            if key in feed and (key != "language" or feed[key] != value):
                return None  # language and dc:language alike are fine
            feed[key] = value
        elif name == "image":
            if any(names[c.tag] not in _IMAGE_TAGS or len(c) for c in child):
                return None
        elif name in _CHANNEL_IGNORED:
            if len(child):
                return None
        elif not _unknown(child, names):
            return None
    return feed, entries


class _Names(dict):
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


def _unknown(element: Any, names: _Names) -> bool:
    """Whether feedparser has no handler for this element nor for any inside it, so that it
    keeps them (their text, or their attributes) under names parse.py never reads."""
    for el in element.iter():
        name = names[el.tag]
        if name is None or name in _HANDLED or name in _READ:
            return False
    return True


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
        # feedparser's pop() then repairs and maps the text as for UTF-8 (_text)
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


def _atom(root: Any, names: _Names) -> dict[str, Any] | None:
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
            entry = _atom_entry(child, feed_lang, names)
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


def _link(link: Any, names: _Names, after_title: bool = False) -> tuple[bool, str] | None:
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
        elif name not in _MEDIA_CHILDREN and (name is None or name in _HANDLED or name in _READ):
            return None
    attrib = link.attrib
    if "href" not in attrib or any(name not in _LINK_ATTRS for name in attrib):
        return None
    rel = attrib.get("rel", "alternate").lower()
    kind = attrib.get("type", "application/atom+xml" if rel == "self" else "text/html").lower()
    return rel == "alternate" and _map_content_type(kind) in _HTML_TYPES, _resolve(attrib["href"])


def _resolve(uri: str) -> str:
    """feedparser's resolve_uri() against its base URI, "" here (no xml:base, no
    Content-Location): urljoin leaves the URI alone, but _urljoin first drops extra slashes
    after the scheme. (Called only then: its regex substitution is slow for every URI.)"""
    return _urljoin("", uri) if _URIFIXER.match(uri) else uri


def _person_ok(person: Any) -> bool:
    return all(isinstance(c.tag, str) and c.tag in _PERSON_TAGS and not len(c) and not c.attrib for c in person)


def _atom_entry(element: Any, feed_lang: str | None, names: _Names) -> dict[str, Any] | None:
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
            link = _link(child, names, after_title=bool(entry.get("title")))
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
            value = _resolve(value)  # feedparser resolves an id that may be the link (always in Atom)
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


# Item elements read below, once each (a repeated one: feedparser keeps one or the other).
_ITEM_ONCE = frozenset({"link", "description", "media_description", "content_encoded", "guid", "pubdate", "dc_date"})


def _entry(item: Any, names: _Names, entry_id: str | None = None) -> dict[str, Any] | None:
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
            if any(names[sub.tag] not in _MEDIA_CHILDREN for sub in child.iterdescendants()):
                return None
            continue
        if name == "link" and child.attrib:  # an atom:link, or a link with an href
            link = _link(child, names)
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
                    titles.add(_text(sub), 2)
            continue
        if len(child):
            if _unknown(child, names):
                continue
            return None
        if name in ("category", "dc_subject"):
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
        elif name in ("tags", "media_keywords"):
            if child.attrib:
                return None  # media:keywords with attributes makes no tags at all
            for term in _text(child).split(","):  # feedparser's _end_tags, _end_media_keywords
                _add_tag(tags, term.strip(), None)
        elif name in ("author", "dc_creator"):
            # Each one is an author. feedparser splits off an e-mail address (and the
            # parentheses around it); a plain name, or nothing, it keeps as it is.
            value = _text(child)
            if child.attrib or "@" in value:
                return None
            if value:
                authors.append({"name": value})
        elif name in ("title", "dc_title"):
            if child.attrib:
                return None
            titles.add(_text(child), 1)
        elif name == "source":
            titles.reset()
        elif name in _ITEM_ONCE:
            if name in seen:
                return None
            seen.add(name)
            has_content = _read(entry, content, child, name, has_content)
            if has_content is None:
                return None
        elif name not in _ITEM_IGNORED and not _unknown(child, names):
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


def _read(entry: dict[str, Any], content: list[dict[str, str]], child: Any, name: str, has_content: bool) -> bool | None:
    """One of _ITEM_ONCE into the entry. Returns hasContent, or None to refuse."""
    if child.attrib and name not in ("guid", "media_description"):
        return None
    value = _text(child)
    if name == "link":
        if not _LINK.match(value):
            return None
        # feedparser's pop(): resolved (extra slashes after the scheme dropped), then its
        # repair of query strings read as entity references ("&amp;" -> "&", "&b;" -> "&b")
        value = _resolve(value)
        if "&" in value:
            value = _ENTITY_IN_LINK.sub(r"&\g<1>", value.replace("&amp;", "&"))
        entry["link"] = value
    elif name in ("description", "media_description"):
        if set(child.attrib) - {"type"} or not _map_content_type(child.get("type", "text/html")).startswith("text/"):
            return None  # another type: base64 or markup to feedparser
        return _add_summary(entry, content, value, has_content)
    elif name == "content_encoded":
        return _add_content(entry, content, value)
    elif name == "guid":
        if set(child.attrib) - {"isPermaLink"}:
            return None
        if child.get("isPermaLink", "true") == "true":  # exactly: "True" is not a permalink
            if "link" not in entry:
                return None  # feedparser would take the guid for the link
            value = _resolve(value)  # a permalink is resolved
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
