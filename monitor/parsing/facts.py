"""What ingest derives from each parsed item, computed once, where it is cheapest.

The parser workers compute it beside the parse (`with_facts`), so the main process, which
bounds a cold cycle, only stores and matches. Pure functions, no I/O.
"""

from __future__ import annotations

import dataclasses
import json

from ..identity import canonical_url, content_digest, title_signature
from ..models import Item, ItemFacts, ParsedFeed
from ..rules.document import fts_text


def item_facts(item: Item) -> ItemFacts:
    return ItemFacts(
        canonical=canonical_url(item.link),
        digest=content_digest(item.title, item.summary, item.link),
        signature=title_signature(item.title).encode(),
        tags=json.dumps(list(item.tags), ensure_ascii=False),
    )


def search_text(title: str, summary: str, body: str = "") -> str:
    """An item's text in the full-text index (title, summary and article body, tokenised). Not a
    fact the workers ship: the index is built a step behind ingest (Store.index_pending), off the
    cycle, and again when a body arrives."""
    return fts_text({"title": title, "summary": summary, "body": body})


def with_facts(parsed: ParsedFeed) -> ParsedFeed:
    """`parsed` carrying the facts of its items."""
    return dataclasses.replace(parsed, facts=tuple(item_facts(i) for i in parsed.items))


def facts_of(parsed: ParsedFeed) -> tuple[ItemFacts, ...]:
    """The facts the parser shipped, or computed here when it shipped none."""
    if len(parsed.facts) == len(parsed.items):
        return parsed.facts
    return tuple(item_facts(i) for i in parsed.items)
