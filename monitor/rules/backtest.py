"""A query over stored items: what `monitor backtest` and the console's playground show.

The rows are the store's (`stored_items`, already narrowed by the full-text index); each is
matched exactly, as ingest would have matched it, with `feed:` searching the same label."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from monitor.models import feed_label, stored_fields

from . import CompiledQuery, Document, Match


def backtest(
    compiled: CompiledQuery,
    rows: Iterable[Mapping[str, Any]],
    configured: Mapping[str, str],
    own_titles: Mapping[str, str | None],
    applies: Callable[[str], bool] | None = None,
) -> Iterator[tuple[Mapping[str, Any], Match]]:
    """Each row that matches, with its match. `configured`: feed name -> the label the config
    gives it (its title or name); `own_titles`: what each feed calls itself; `applies`: whether
    a rule watches a feed (None: every feed)."""
    for row in rows:
        feed = row["feed"]
        if applies is not None and not applies(feed):
            continue
        label = feed_label(configured.get(feed, feed), own_titles.get(feed))
        m = compiled.match(Document.build(stored_fields(row, label)))
        if m is not None:
            yield row, m
