"""Synthetic items for the benchmarks that need a large store (bench/console.py, bench/migrate.py):
headlines of eight words from a small vocabulary, so that rules match a known share of them."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.models import Item

WORDS = ["israel", "russia", "talks", "markets", "storm", "coast", "minister", "election", "court", "strike"]
WORDS += ["border", "rates"]


def item(n: int, seen: float) -> Item:
    """The n-th item, first seen at `seen`, published a minute before."""
    title = " ".join(WORDS[(n + k * 7) % len(WORDS)] for k in range(8)) + f" {n}"
    return Item(
        key=f"k{n}",
        title=title,
        summary=f"{title}, told at more length in the item's summary, as feeds do ({n}).",
        link=f"https://example.org/story/{n}",
        tags=("world",),
        published=datetime.fromtimestamp(seen - 60, UTC),
    )
