"""The one way into the fast path (rss.py, atom.py, base.py): import from here, not from them.

The fast path reads feedparser's private names (_parse_date, _FeedParserMixin, _urljoin, ...)
to give exactly its result. A feedparser release may rename any of them; then the fast path
is off, `fast_parse` answers None, and feedparser parses every document: the same items,
only slower. `AVAILABLE` and `UNAVAILABLE_REASON` say which it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["AVAILABLE", "UNAVAILABLE_REASON", "fast_parse"]

log = logging.getLogger("monitor.parsing.fast")

Reader = Callable[[bytes, str], dict[str, Any] | None]


def _load() -> tuple[Reader | None, str]:
    """The fast path's reader, or None and why it cannot run."""
    try:
        from . import rss
    except (ImportError, AttributeError) as exc:  # what a renamed module, name or attribute raises
        return None, (
            f"feedparser {_version('feedparser')} lacks an internal the fast path "
            f"reads ({type(exc).__name__}: {exc}); feedparser parses every feed (same items, slower). "
            "Install the feedparser version monitor declares (`pip check` names a mismatch)"
        )
    if not rss.HAS_LXML:
        return None, "lxml is not installed; feedparser parses every feed (same items, slower)"
    return rss.fast_parse, ""


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "(version unknown)"


_READ, UNAVAILABLE_REASON = _load()
AVAILABLE = _READ is not None
if not AVAILABLE:
    # Once per process, at import: per document it would flood the log with one fact.
    log.debug("fast path off: %s", UNAVAILABLE_REASON)


def fast_parse(body: bytes, content_type: str = "") -> dict[str, Any] | None:
    """feedparser's result (the keys parsing/feed.py reads) for a plain RSS or Atom document,
    or None: feedparser's business (or the fast path is off)."""
    return _READ(body, content_type) if _READ is not None else None
