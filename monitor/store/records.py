"""Rows the store hands out, as plain frozen dataclasses; how lists go in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..text import span


@dataclass(frozen=True)
class FeedState:
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    next_poll: float
    last_poll: float | None
    last_success: float | None
    last_status: int | None
    consecutive_errors: int
    last_error: str | None
    disabled_reason: str | None
    baselined: bool
    adopted_url: str | None = None
    items: int = 0
    redirect_target: str | None = None  # a permanent move seen but not yet adopted
    redirect_count: int = 0
    body_hash: str | None = None
    server_ttl: float | None = None  # the server's own idea of an interval (ttl, max-age)
    title: str | None = None  # the feed's own title, as it last said
    polled_by: str | None = None  # the node that polled it last (cluster.py)
    # Its feed_health row (state, since, detail, checked), where the read joined it: feed_state().
    health: dict[str, Any] | None = None
    # Its publishing rate as learned (events, at, since: polling/rates.py), None before any.
    rate: tuple[float, float, float] | None = None
    poll_interval: float | None = None  # the interval its last poll chose
    poll_reason: str | None = None  # ... why (polling/schedule.py)
    poll_rate: float | None = None  # ... and the items a day it went by, when known

    @property
    def schedule_text(self) -> str:
        """Its interval and why, for people: "every 4m (learned: 37 items a day)"."""
        if self.poll_interval is None:
            return ""
        why = self.poll_reason or ""
        if self.poll_rate is not None and why not in ("backoff", "retry-after"):
            why += f": {self.poll_rate:.3g} items a day"
        return f"every {span(self.poll_interval)}" + (f" ({why})" if why else "")

    @property
    def poll_url(self) -> str:
        return self.adopted_url or self.url


@dataclass(frozen=True)
class SuccessfulPoll:
    """A poll that read its feed (a document, or a 304), as store.record_polls records it. None
    keeps what the feed's row holds (validators, title, body hash, server hint, learned rate)."""

    name: str
    now: float
    next_poll: float
    status: int | None
    etag: str | None = None
    last_modified: str | None = None
    title: str | None = None
    body_hash: str | None = None
    server_ttl: float | None = None
    baselined: bool = False  # the poll stored the feed's baseline
    interval: float | None = None  # what the schedule chose,
    reason: str | None = None  # why,
    per_day: float | None = None  # and the items a day it went by
    rate: tuple[float, float, float] | None = None  # the publishing rate as learned now


@dataclass(frozen=True)
class Delivery:
    id: int
    alert_id: int | None  # None for a notice (feed health, spike, story update)
    channel: str
    target: str
    attempts: int
    rule: str
    title: str
    link: str
    feed: str
    summary: str
    published: float | None
    terms: tuple[str, ...]
    occurrences: tuple[tuple[str, int, int], ...]
    created: float = 0.0
    fold: bool = False  # held by the flood guard, to go out in one digest
    hold: str | None = None  # "cooldown" or "quiet": held to go out folded with its kind (desk.py)
    notice: str | None = None  # a notice's kind ("health", "spike", "update"); None for a story alert
    notice_alert: int | None = None  # an "update" notice: the alert whose email thread it continues
    body: str = ""  # the item's body, read only when the alert matched in it (else "")
