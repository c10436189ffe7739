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


def item_facts(item: Item, index: bool = False) -> ItemFacts:
    """`index`: with the item's full-text index text too (its body is not fetched yet)."""
    return ItemFacts(
        canonical=canonical_url(item.link),
        digest=content_digest(item.title, item.summary, item.link),
        signature=title_signature(item.title).encode(),
        tags=json.dumps(list(item.tags), ensure_ascii=False),
        index_text=search_text(item.title, item.summary) if index else "",
    )


def search_text(title: str, summary: str, body: str = "") -> str:
    """An item's text in the full-text index (title, summary and article body, tokenised),
    written with the item. The workers ship it for a feed's first document, every item of which
    is new; of a later document only the new items need it, and the rules' tokens give it
    (Document.fts_text), so there the workers do not make it for every item."""
    return fts_text({"title": title, "summary": summary, "body": body})


def with_facts(parsed: ParsedFeed, index: bool = False) -> ParsedFeed:
    """`parsed` carrying the facts of its items (`index`: their index texts too)."""
    return dataclasses.replace(parsed, facts=tuple(item_facts(i, index) for i in parsed.items))


def facts_of(parsed: ParsedFeed) -> tuple[ItemFacts, ...]:
    """The facts the parser shipped, or computed here when it shipped none."""
    if len(parsed.facts) == len(parsed.items):
        return parsed.facts
    return tuple(item_facts(i) for i in parsed.items)
