"""Plain data passed between the stages. No behaviour beyond small conveniences."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple


def searchable_fields(
    title: str, summary: str, author: str, tags: Sequence[str], feed: str, url: str, lang: str, body: str = ""
) -> dict[str, str]:
    """The fields a rule searches (docs/rules.md §1), all plain text. `body` is the article's
    main text, once fetched (a `fulltext` feed's items)."""
    return {
        "title": title or "",
        "summary": summary or "",
        "body": body or "",
        "author": author or "",
        "tag": " ; ".join(tags),
        "feed": feed,
        "url": url or "",
        "lang": lang or "",
    }


def feed_label(configured: str, own_title: str | None) -> str:
    """What `feed:` searches: the configured name (or title) and the feed's own title."""
    return " ".join(x for x in (configured, own_title) if x)


def stored_fields(row: Mapping[str, Any], feed_label: str) -> dict[str, str]:
    """The searchable fields of an item as the store returns it (tags already a list)."""
    return searchable_fields(
        row["title"],
        row["summary"],
        row["author"],
        row["tags"],
        feed_label,
        row["link"],
        row["lang"],
        row.get("body") or "",
    )


@dataclass(frozen=True)
class Item:
    """One entry of a parsed feed, reduced to plain text."""

    key: str  # identity inside its feed: GUID, else canonical link, else title+date hash
    title: str
    summary: str
    link: str
    author: str = ""
    tags: tuple[str, ...] = ()
    lang: str = ""
    published: datetime | None = None  # UTC
    body: str = ""  # the article's main text, when its page was read (feed parsers leave it empty)

    def fields(self, feed_label: str) -> dict[str, str]:
        """The searchable fields of docs/rules.md §1."""
        return searchable_fields(
            self.title, self.summary, self.author, self.tags, feed_label, self.link, self.lang, self.body
        )


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    lang: str
    items: tuple[Item, ...]
    ttl_seconds: float | None = None
    warnings: tuple[str, ...] = ()
    # What ingest needs of each item (parsing/facts.py), when the parser computed it: one per
    # item, in order; empty when it did not.
    facts: tuple[ItemFacts, ...] = field(default=(), compare=False, repr=False)


class ItemFacts(NamedTuple):
    """What ingest derives from one item (parsing.facts.item_facts). A tuple: it crosses the
    process boundary once per item, and tuples pickle cheapest."""

    canonical: str  # canonical link (dedup.canonical_url)
    digest: str  # what the item says (dedup.content_digest): a change of it is an edit
    signature: str  # its headline's signature, encoded (dedup.TitleSignature.encode)
    tags: str  # its tags as stored: a JSON list
    index_text: str = ""  # its full-text index text, when the parser was asked (a first document)


@dataclass(frozen=True)
class FetchResult:
    """What the server answered. `body` is None on 304 Not Modified."""

    status: int
    url: str  # the URL that finally answered, after redirects
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # set when a 301/308 moved the feed
    content_type: str = ""
    max_age: float | None = None  # Cache-Control: max-age, in seconds

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass
class PollOutcome:
    """What one poll of one feed did, for summaries and logs."""

    feed: str
    status: str  # "ok", "not-modified", "error", "disabled"
    http_status: int | None = None
    new_items: int = 0
    changed_items: int = 0
    alerts: int = 0
    baseline: bool = False
    bodies_wanted: int = 0  # items whose article page is queued (`fulltext` feeds)
    error: str = ""
    warnings: list[str] = field(default_factory=list)
