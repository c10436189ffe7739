"""When to poll a feed next: its interval (fixed, pinned, or learned from how often it
publishes: rates.py), server hints, jitter and error backoff. Pure but for `scale`, which the
daemon sets from every feed's rate (`rebalance`)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..config import FeedConfig, Settings
from .addresses import is_private_address
from .rates import MEMORY_INTERVALS, Rate, Share, solve_scale

# Why a feed's interval is what it is (`monitor feeds`, /metrics, the console).
FIXED = "fixed"  # [monitor] schedule = "fixed": the feed's interval
PINNED = "pinned"  # the feed sets its own interval
SERVER = "server"  # the site asks for no more (<ttl>, <sy:updatePeriod>, Cache-Control max-age)
NEW = "new"  # how often it publishes is not known yet: the interval
LEARNED = "learned"  # from how often it publishes
AT_MIN = "min_interval"  # learned, and held at the floor
AT_MAX = "max_interval"  # learned, and held at the ceiling
BACKOFF = "backoff"  # failing: exponential backoff
RETRY_AFTER = "retry-after"  # failing, and the server said when to come back


@dataclass(frozen=True)
class Plan:
    interval: float
    reason: str
    per_day: float | None = None  # the publishing rate it went by, items a day


def fastest(feed: FeedConfig, settings: Settings) -> float:
    """The shortest interval the schedule may give the feed, hints aside: an adaptive feed's
    floor is min_interval, or its interval when that is shorter (a local bridge polled every
    few seconds stays so)."""
    if settings.schedule == "fixed" or feed.pinned:
        return feed.interval
    return min(settings.min_interval, feed.interval)


@dataclass
class Schedule:
    settings: Settings
    rng: random.Random = field(default_factory=random.Random)
    # The adaptive intervals' common factor (rates.solve_scale); None until the first rebalance.
    scale: float | None = None

    @property
    def adaptive(self) -> bool:
        return self.settings.schedule == "adaptive"

    @property
    def memory(self) -> float:
        """How long a learned rate remembers (rates.py)."""
        return MEMORY_INTERVALS * self.settings.max_interval

    def hint(self, feed: FeedConfig, server_ttl: float | None) -> float:
        """What the site asks for (<ttl>, <sy:updatePeriod>, max-age), up to the ceiling; 0 for
        none, or for a feed that ignores server hints."""
        if feed.ignore_server_ttl or not server_ttl:
            return 0.0
        return min(server_ttl, self.settings.ttl_ceiling)

    def fixed_interval(self, feed: FeedConfig, server_ttl: float | None) -> float:
        """The feed's interval, lengthened (never shortened) by the server's hint."""
        return max(feed.interval, self.hint(feed, server_ttl))

    def share(self, feed: FeedConfig, server_ttl: float | None, rate: Rate | None, now: float) -> Share:
        """What the budget needs of an adaptive feed (rates.Share)."""
        return Share(
            rate=rate.per_second(now, self.memory) if rate else None,
            shortest=max(fastest(feed, self.settings), self.hint(feed, server_ttl)),
            longest=max(self.settings.max_interval, feed.interval),
            fixed=self.fixed_interval(feed, server_ttl),
        )

    def plan(self, feed: FeedConfig, server_ttl: float | None, rate: Rate | None, now: float) -> Plan:
        """The feed's interval now, and why."""
        hint = self.hint(feed, server_ttl)
        if not self.adaptive or feed.pinned:
            interval = self.fixed_interval(feed, server_ttl)
            return Plan(interval, SERVER if interval > feed.interval else PINNED if self.adaptive else FIXED)
        share = self.share(feed, server_ttl, rate, now)
        interval = share.interval(self.scale)
        if hint and interval <= hint:
            reason = SERVER
        elif share.rate is None or self.scale is None:
            reason = NEW
        elif interval <= share.shortest:
            reason = AT_MIN
        elif interval >= share.longest:
            reason = AT_MAX
        else:
            reason = LEARNED
        return Plan(interval, reason, share.rate * 86400 if share.rate is not None else None)

    def rebalance(self, shares: Sequence[Share]) -> None:
        """Share the request budget among the adaptive feeds by their rates (rates.solve_scale).
        Slow with many feeds: the daemon runs it off the event loop."""
        self.scale = solve_scale(shares)

    def next_poll(self, now: float, interval: float) -> float:
        jitter = self.settings.jitter
        return now + interval * (1 + self.rng.uniform(-jitter, jitter))

    def after_error(
        self, now: float, interval: float, errors_before: int, retry_after: float | None
    ) -> tuple[float, Plan]:
        """Retry-After when the server gave one (never sooner than the interval);
        else exponential backoff with jitter, capped. The next poll's time, and why."""
        if retry_after is not None:
            wait = max(retry_after, interval)
            return now + wait, Plan(wait, RETRY_AFTER)
        delay = min(
            interval * 2 ** min(errors_before + 1, 30) * (1 + self.rng.uniform(0, 0.2)), self.settings.max_backoff
        )
        return now + delay, Plan(delay, BACKOFF)


# How often the daemon looks for due feeds: a due feed waits half a tick on average, so the tick
# is a fiftieth of the shortest interval a feed may get (at most 1% added to it), between these.
TICK_LONGEST = 1.0
TICK_SHORTEST = 0.1


def dispatch_tick(feeds: Sequence[FeedConfig], settings: Settings) -> float:
    """Seconds between two looks for due feeds, for the shortest interval any of `feeds` may get."""
    shortest = min((fastest(feed, settings) for feed in feeds if feed.enabled), default=settings.interval)
    return min(TICK_LONGEST, max(TICK_SHORTEST, shortest / 50))


def too_fast_for_a_remote_site(feed: FeedConfig, settings: Settings) -> bool:
    """May be polled more than once a minute, on someone else's server: rude."""
    host = urlsplit(feed.url).hostname or ""
    return feed.enabled and fastest(feed, settings) < 60 and host != "localhost" and not is_private_address(host)
