"""How values look on a page: the templates' environment (autoescape on), times, links, and
feed text with its matched terms in <mark>.

Feed text is hostile. It reaches a page only through autoescape, or through `marked`, which
escapes each piece itself and adds nothing but <mark> around the matched ones: markup is
never made first and trusted afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ..delivery.render import marked as in_dialect
from ..delivery.render import safe_link, snippet_spans, spans, when

SNIPPET = 300  # characters of a summary (or of a body's hit sentence) shown around its first match


def marked(
    text: str | None, occurrences: Sequence[tuple[str, int, int]], field: str, limit: int | None = None
) -> Markup:
    """`text` escaped, its matched spans in `field` wrapped in <mark> (cut to about `limit`
    characters around the first match)."""
    return Markup(in_dialect(spans(text or "", occurrences, field, limit), "html"))


def snippet(summary: str | None, body: str | None, occurrences: Sequence[tuple[str, int, int]]) -> Markup:
    """What an alert shows of its item (delivery/render.py snippet_spans): the summary, or the
    body's sentence holding the match when the match is in the body alone; escaped, matches marked."""
    return Markup(in_dialect(snippet_spans(summary or "", body or "", occurrences, SNIPPET), "html"))


def link(url: str | None) -> str:
    """An address fit for an href: http(s) only, else "" (the template then shows no link)."""
    return safe_link(url or "")


def iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds") if ts else ""


def ago(ts: float | None, now: float) -> str:
    """`5 min ago`, `in 2 h`, `3 d ago`: how far a time is from now, roughly."""
    if not ts:
        return ""
    seconds = abs(now - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{seconds / size:.0f} {unit}"
            break
    else:
        return "just now"
    return f"{amount} ago" if ts <= now else f"in {amount}"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("monitor.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters: dict[str, Any] = {"when": when, "iso": iso, "ago": ago}
    env.filters.update(filters)
    return env
