"""The fast path for Atom 1.0 (see rss.py): text/html text constructs, the alternate
link, the id as the link until a link comes, authors with a name, categories, xml:lang."""

from __future__ import annotations

from typing import Any

from feedparser.datetimes import _parse_date

from .base import ATOM, DC, XML_LANG, Names, add_content, add_summary, add_tag, pop_text, read_link, resolve_uri

# The entry elements we read, and those that feed no key we read.
_ENTRY_TAGS = frozenset(
    ATOM + t
    for t in (
        "id",
        "title",
        "link",
        "updated",
        "published",
        "summary",
        "content",
        "author",
        "category",
        "contributor",
        "rights",
    )
) | {DC + "identifier"}
_FEED_TAGS = frozenset(
    ATOM + t
    for t in (
        "title",
        "subtitle",
        "id",
        "updated",
        "link",
        "author",
        "contributor",
        "category",
        "generator",
        "icon",
        "logo",
        "rights",
        "entry",
    )
)
_PERSON_TAGS = frozenset(ATOM + t for t in ("name", "email", "uri"))
_TEXT_TYPES = {
    None: "text/plain",
    "text": "text/plain",
    "html": "text/html",
    "text/plain": "text/plain",
    "text/html": "text/html",
}


def _lang(element: Any, inherited: str | None) -> str | None:
    """feedparser's xml:lang tracking: a plain lang attribute counts, and "" means none."""
    lang = element.get(XML_LANG, element.get("lang"))
    if lang is None:
        return inherited
    return lang or None


def atom_feed(root: Any, names: Names) -> dict[str, Any] | None:
    """feedparser's result (the keys feed.py reads) for an Atom 1.0 feed, or None."""
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
            value = pop_text(child)
            if not value:
                return None  # an empty title leaves feedparser's title_depth alone
            feed["title"] = value
    return {"version": "atom10", "feed": feed, "entries": entries, "bozo": False}


def _person_ok(person: Any) -> bool:
    return all(isinstance(c.tag, str) and c.tag in _PERSON_TAGS and not len(c) and not c.attrib for c in person)


def _atom_entry(element: Any, feed_lang: str | None, names: Names) -> dict[str, Any] | None:
    if element.attrib:
        return None
    lang = feed_lang
    entry: dict[str, Any] = {}
    tags: list[list[Any]] = []
    content: list[dict[str, str]] = []
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
            link = read_link(child, names, after_title=bool(entry.get("title")))
            if link is None:
                return None
            if link[0]:
                entry["link"] = link[1]
            continue
        if tag in (ATOM + "author", ATOM + "contributor"):
            if attrib or not _person_ok(child):
                return None
            if tag == ATOM + "author":
                person_names = [c for c in child if c.tag == ATOM + "name"]
                # feedparser's name is stripped only (pop without text handling)
                name = (person_names[-1].text or "").strip() if person_names else ""
                if not name or len(person_names) > 1:
                    return None  # no name: feedparser falls back to the e-mail address
                authors.append({"name": name})
            continue
        if len(child):
            return None
        if tag == ATOM + "category":
            if set(attrib) - {"term", "scheme", "label", XML_LANG}:
                return None
            add_tag(
                tags, attrib.get("term", "") or None, attrib.get("scheme", "") or None, attrib.get("label", "") or None
            )
            value = pop_text(child)
            if value:
                if tags and not tags[-1][0]:
                    tags[-1][0] = value
                else:
                    add_tag(tags, value, None, None)
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
        value = pop_text(child)
        if tag == ATOM + "title":
            entry["title"] = value
            title_lang = _lang(child, lang)
            if title_lang:
                entry["title_detail"] = {"language": title_lang.replace("_", "-")}
        elif tag == ATOM + "id":
            value = resolve_uri(value)  # feedparser resolves an id that may be the link (always in Atom)
            entry["id"] = value
            if "link" not in entry:
                link_from_id = value  # feedparser takes an id for the link until a link comes
        elif tag == ATOM + "summary":
            has_content = add_summary(entry, content, value, has_content)
        elif tag == ATOM + "content":
            has_content = add_content(entry, content, value)
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
