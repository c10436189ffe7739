"""When to poll a feed next: its interval, server hints, jitter and error backoff. Pure."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..config import FeedConfig, Settings
from .addresses import is_private_address


@dataclass
class Schedule:
    jitter: float  # [monitor] jitter, a fraction of the interval
    max_backoff: float  # [monitor] max_backoff
    ttl_ceiling: float  # [monitor] ttl_ceiling
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_settings(cls, settings: Settings, rng: random.Random | None = None) -> Schedule:
        return cls(settings.jitter, settings.max_backoff, settings.ttl_ceiling, rng or random.Random())

    def interval(self, feed: FeedConfig, server_ttl: float | None) -> float:
        """The feed's interval, lengthened (never shortened) by the server's <ttl> or
        max-age up to the ceiling, unless the feed ignores server hints."""
        if feed.ignore_server_ttl or not server_ttl or server_ttl <= feed.interval:
            return feed.interval
        return max(feed.interval, min(server_ttl, self.ttl_ceiling))

    def next_poll(self, now: float, interval: float) -> float:
        return now + interval * (1 + self.rng.uniform(-self.jitter, self.jitter))

    def after_error(self, now: float, interval: float, errors_before: int, retry_after: float | None) -> float:
        """Retry-After when the server gave one (never sooner than the interval);
        else exponential backoff with jitter, capped."""
        if retry_after is not None:
            return now + max(retry_after, interval)
        delay = interval * 2 ** min(errors_before + 1, 30)
        return now + min(delay * (1 + self.rng.uniform(0, 0.2)), self.max_backoff)


def too_fast_for_a_remote_site(feed: FeedConfig) -> bool:
    """Polled more than once a minute, on someone else's server: rude."""
    host = urlsplit(feed.url).hostname or ""
    return feed.enabled and feed.interval < 60 and host != "localhost" and not is_private_address(host)
