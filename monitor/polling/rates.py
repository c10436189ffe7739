"""How often a feed publishes, learned from what it shows, and how a request budget is shared
among feeds by those rates. Pure: no clock, no store.

The rate is an exponentially weighted count of the feed's items over the time it has been
watched: each item weighs exp(-age / memory), so a feed that goes quiet slows down on its own
(the count decays while the time watched does not), and one that wakes up speeds up with its
first new items. The first document seen says the most: its items' dates tell how often the
feed published before anyone watched it.

The budget is shared by the square-root rule: polling a feed publishing λ items a second every
I seconds makes its items wait I/2 on average, and costs 1/I requests a second; with the total
Σ 1/I fixed, the summed wait of all items, Σ λ·I/2, is least when each I is proportional to
1/√λ (a Lagrange multiplier: λ/2 = μ/I²). A feed ten times busier is polled about three times
as often, not ten.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Learning, in units of the longest interval, so that the model holds at any time scale: items
# weigh e^-1 after a day (at max_interval = 1h), and a feed watched for less than ten minutes
# counts as watched for ten (a first document whose items all say "now" is not a torrent).
MEMORY_INTERVALS = 24.0
SHORTEST_WATCH_INTERVALS = 1 / 6
# Items older than this many memories weigh under 2% and are not counted at all.
HORIZON_MEMORIES = 4.0
# The intervals are planned right after a poll has learned the feed's newest items, when its
# rate is at its highest; aiming a little under the budget keeps the day's requests within it.
BUDGET_AIM = 0.95


@dataclass(frozen=True)
class Rate:
    """A feed's learned publishing rate: `events` (its items, weighted by age) as of `at`,
    counted since `since` (when watching began, or its oldest item still counted)."""

    events: float
    at: float
    since: float

    @classmethod
    def stored(cls, row: tuple[float, float, float] | None) -> Rate | None:
        """The rate as the store keeps it (FeedState.rate), None before any."""
        return cls(*row) if row else None

    def per_second(self, now: float, memory: float) -> float | None:
        """Items a second at `now`; None while nothing is known (watched for too short a time
        and no item seen)."""
        shortest = memory * SHORTEST_WATCH_INTERVALS / MEMORY_INTERVALS
        watched = now - self.since
        if self.events <= 0 and watched < shortest:
            return None
        weighted = self.events * math.exp(-max(0.0, now - self.at) / memory)
        return weighted / (memory * -math.expm1(-max(watched, shortest) / memory))


def learn(rate: Rate | None, item_times: Iterable[float], now: float, memory: float) -> Rate:
    """The rate after a document was read. `rate` None (never learned, or a baseline): the
    document's dated items, every one, start it, the oldest marking when watching began; else
    `item_times` are the new items' times (their dates where they have one, else now), added
    to what was learned. Dates after `now` count as now; items past the horizon weigh nothing."""
    horizon = now - HORIZON_MEMORIES * memory
    times = [min(t, now) for t in item_times]
    if rate is None:
        since = max(min(times, default=now), horizon)
        counted = [t for t in times if t > since]
        return Rate(sum(math.exp(-(now - t) / memory) for t in counted), now, since)
    added = sum(math.exp(-(now - t) / memory) for t in times if t > horizon)
    return Rate(rate.events * math.exp(-max(0.0, now - rate.at) / memory) + added, now, max(rate.since, horizon))


@dataclass(frozen=True)
class Share:
    """What the budget needs of one feed: its rate (None: unknown, polled at its fixed
    interval), the bounds of its interval, and that fixed interval (what fixed polling spends)."""

    rate: float | None
    shortest: float
    longest: float
    fixed: float

    def interval(self, scale: float | None) -> float:
        if self.rate is None or scale is None:
            wanted = self.fixed
        elif self.rate <= 0:
            wanted = self.longest
        else:
            wanted = scale / math.sqrt(self.rate)
        return max(self.shortest, min(wanted, self.longest))


def solve_scale(shares: Sequence[Share], iterations: int = 48) -> float | None:
    """The scale at which the feeds' intervals (each scale/√rate, within its bounds) spend
    what fixed polling would (Σ 1/interval = Σ 1/fixed, less BUDGET_AIM's margin); None when no
    feed's rate is known. Bisection on log(scale): the requests spent fall as the scale grows."""
    learned = [(math.sqrt(s.rate), s.shortest, max(s.longest, s.shortest)) for s in shares if s.rate]
    if not learned:
        return None
    budget = BUDGET_AIM * sum(1 / s.fixed for s in shares)
    budget -= sum(1 / s.interval(1.0) for s in shares if not s.rate)  # unknown: fixed; none: longest

    def spent(scale: float) -> float:
        return sum(
            max(root / scale, 1 / longest) if root / scale < 1 / shortest else 1 / shortest
            for root, shortest, longest in learned
        )

    low = min(shortest * root for root, shortest, _ in learned)  # every learned feed at its floor
    high = max(longest * root for root, _, longest in learned)  # ... at its ceiling
    if spent(high) >= budget:  # the floors and the feeds not learned spend it all: as slow as allowed
        return high
    if spent(low) <= budget:
        return low
    for _ in range(iterations):
        middle = math.sqrt(low * high)
        if spent(middle) > budget:
            low = middle
        else:
            high = middle
    return high
