"""Publishing rates learned from what feeds show, and the request budget shared by them
(polling/rates.py, polling/schedule.py), on a simulated clock."""

from __future__ import annotations

import heapq
import random
import statistics
from dataclasses import dataclass, field, replace

import pytest
from testkit import T0

from monitor.config import FeedConfig, Settings
from monitor.polling.rates import BUDGET_AIM, Rate, Share, learn, solve_scale
from monitor.polling.schedule import (
    AT_MAX,
    AT_MIN,
    BACKOFF,
    FIXED,
    LEARNED,
    NEW,
    PINNED,
    RETRY_AFTER,
    SERVER,
    Schedule,
    too_fast_for_a_remote_site,
)
from monitor.store import FeedState

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
MEMORY = 24 * HOUR  # at the default max_interval
ADAPTIVE = Settings(database="m.db", jitter=0.0)  # interval 5m, bounds 1m and 1h
FIXED_SETTINGS = replace(ADAPTIVE, schedule="fixed")


def feed(name: str = "wire", **keys: object) -> FeedConfig:
    return FeedConfig(name=name, url=f"https://{name}.example/rss", interval=keys.pop("interval", 300.0), **keys)  # type: ignore[arg-type]


def per_day(rate: Rate, now: float) -> float:
    value = rate.per_second(now, MEMORY)
    assert value is not None
    return value * DAY


def test_a_first_document_tells_how_often_the_feed_published():
    wire = learn(None, [T0 - n * 6 * MINUTE for n in range(20)], T0, MEMORY)  # one every 6 minutes
    weekly = learn(None, [T0 - 2 * DAY - n * 7 * DAY for n in range(10)], T0, MEMORY)  # one a week, the last 2 days ago
    assert 230 < per_day(wire, T0) < 250  # 240 a day
    assert per_day(weekly, T0) < 0.3
    assert per_day(weekly, T0) < per_day(wire, T0) / 1000


def test_dates_in_the_future_count_as_now_and_a_document_of_nows_tells_nothing():
    stamped = learn(None, [T0 + DAY] * 30, T0, MEMORY)  # every item dated "now" (or later) by its generator
    assert (stamped.since, stamped.per_second(T0, MEMORY)) == (T0, None)
    # ... until new items arrive: then what arrived, over the time watched (at least ten minutes).
    later = learn(stamped, [T0 + 5 * MINUTE] * 2, T0 + 5 * MINUTE, MEMORY)
    assert per_day(later, T0 + 5 * MINUTE) == pytest.approx(2 / (10 * MINUTE) * DAY, rel=0.01)


def test_an_undated_feed_is_unknown_until_its_new_items_arrive():
    undated = learn(None, [], T0, MEMORY)
    assert undated.per_second(T0, MEMORY) is None
    later = learn(undated, [T0 + HOUR] * 3, T0 + HOUR, MEMORY)  # three new items an hour later, at "now"
    assert 60 < per_day(later, T0 + HOUR) < 80  # about three an hour


def test_a_feed_that_goes_quiet_slows_down_and_one_that_wakes_up_speeds_up():
    wire = learn(None, [T0 - n * 6 * MINUTE for n in range(20)], T0, MEMORY)
    assert per_day(wire, T0 + DAY) < per_day(wire, T0) / 2.5  # a day without a new item: less than half
    weekly = learn(None, [T0 - 2 * DAY - n * 7 * DAY for n in range(10)], T0, MEMORY)
    woken = learn(weekly, [T0 + HOUR - n * 10 * MINUTE for n in range(5)], T0 + HOUR, MEMORY)
    assert per_day(woken, T0 + HOUR) > 20 * per_day(weekly, T0 + HOUR)


def test_items_past_the_horizon_are_not_counted():
    ancient = learn(None, [T0 - 30 * DAY, T0 - 31 * DAY], T0, MEMORY)
    assert ancient.events == 0 and ancient.since == T0 - 4 * MEMORY
    assert per_day(ancient, T0) == 0  # watched four days (it says), nothing in them: as slow as allowed
    kept = learn(Rate(5.0, T0 - 10 * DAY, T0 - 20 * DAY), [], T0, MEMORY)
    assert kept.since == T0 - 4 * MEMORY and kept.events < 5.0 * 1e-4


def shares_spend(shares: list[Share], scale: float | None) -> float:
    return sum(1 / s.interval(scale) for s in shares)


def test_the_budget_spends_what_fixed_polling_would_by_the_square_root_of_each_rate():
    rng = random.Random(7)
    shares = [Share(rate=10 ** rng.uniform(-6, -2), shortest=60, longest=3600, fixed=300) for _ in range(200)]
    shares += [Share(rate=None, shortest=60, longest=3600, fixed=300)] * 10  # not learned yet: at the interval
    scale = solve_scale(shares)
    assert scale is not None
    assert shares_spend(shares, scale) == pytest.approx(BUDGET_AIM * 210 / 300, rel=1e-6)
    free = [s for s in shares if s.rate and 60 < s.interval(scale) < 3600]
    busy, quiet = max(free, key=lambda s: s.rate or 0), min(free, key=lambda s: s.rate or 0)
    ratio = (quiet.interval(scale) / busy.interval(scale)) ** 2
    assert ratio == pytest.approx((busy.rate or 0) / (quiet.rate or 1), rel=1e-6)  # interval ∝ 1/√rate
    assert all(60 <= s.interval(scale) <= 3600 for s in shares)


def test_a_feed_held_back_by_its_site_leaves_its_share_to_the_others():
    hinted = Share(rate=1e-2, shortest=3600, longest=3600, fixed=3600)  # busy, but it asks for an hour
    others = [Share(rate=1e-4, shortest=60, longest=3600, fixed=300)] * 2
    scale = solve_scale([hinted, *others])
    assert hinted.interval(scale) == 3600
    assert shares_spend([hinted, *others], scale) == pytest.approx(BUDGET_AIM * (1 / 3600 + 2 / 300), rel=1e-6)
    assert solve_scale([Share(rate=None, shortest=60, longest=3600, fixed=300)]) is None


def test_plan_says_why():
    schedule = Schedule(ADAPTIVE)
    busy, quiet = Rate(1000.0, T0, T0 - DAY), Rate(0.0, T0, T0 - 30 * DAY)
    assert schedule.plan(feed(), None, busy, T0).reason == NEW  # no budget shared yet: the interval
    others = [busy, *[Rate(20.0, T0, T0 - DAY)] * 30, *[quiet] * 10]
    schedule.rebalance([schedule.share(feed(), None, r, T0) for r in others])
    assert schedule.plan(feed(), None, busy, T0).reason == AT_MIN
    assert schedule.plan(feed(), None, busy, T0).interval == 60
    assert schedule.plan(feed(), None, quiet, T0).reason == AT_MAX
    learned = schedule.plan(feed(), None, Rate(20.0, T0, T0 - DAY), T0)
    assert (
        learned.reason == LEARNED
        and 60 < learned.interval < 3600
        and learned.per_day == per_day(Rate(20.0, T0, T0 - DAY), T0)
    )
    assert schedule.plan(feed(), None, None, T0).reason == NEW
    # The site's hint is a floor (up to ttl_ceiling), a pinned feed keeps its own interval.
    hinted = schedule.plan(feed(), 1800.0, busy, T0)
    assert (hinted.interval, hinted.reason) == (1800, SERVER)
    assert schedule.plan(feed(ignore_server_ttl=True), 1800.0, busy, T0).reason == AT_MIN
    pinned = schedule.plan(feed(pinned=True, interval=120.0), None, busy, T0)
    assert (pinned.interval, pinned.reason) == (120, PINNED)
    assert schedule.plan(feed(pinned=True, interval=120.0), 900.0, busy, T0).reason == SERVER
    fixed = Schedule(FIXED_SETTINGS).plan(feed(), None, busy, T0)
    assert (fixed.interval, fixed.reason) == (300, FIXED)


def test_a_short_interval_widens_the_floor_and_a_long_one_the_ceiling():
    schedule = Schedule(ADAPTIVE)
    assert schedule.share(feed(interval=5.0), None, None, T0).shortest == 5  # a local bridge every 5 s stays so
    assert schedule.share(feed(interval=2 * HOUR), None, None, T0).longest == 2 * HOUR


def test_errors_back_off_from_the_planned_interval_and_say_so():
    schedule = Schedule(ADAPTIVE)
    at, plan = schedule.after_error(T0, 60.0, 0, None)
    assert (plan.reason, 120 <= at - T0 <= 144) == (BACKOFF, True)
    at, plan = schedule.after_error(T0, 60.0, 0, 900.0)
    assert (at - T0, plan.reason) == (900, RETRY_AFTER)
    assert schedule.after_error(T0, 60.0, 40, None)[1].interval == ADAPTIVE.max_backoff


def test_a_floor_under_a_minute_on_a_remote_site_is_rude():
    fast = replace(ADAPTIVE, min_interval=20.0)
    assert too_fast_for_a_remote_site(feed(), fast)
    assert not too_fast_for_a_remote_site(feed(), ADAPTIVE)
    assert not too_fast_for_a_remote_site(feed(pinned=True), fast)  # its own interval, 5m, wins
    assert not too_fast_for_a_remote_site(replace(feed(), url="http://127.0.0.1:8080/rss"), fast)


# -- a simulated day ---------------------------------------------------------------------------


@dataclass
class SimFeed:
    config: FeedConfig
    times: list[float]  # its items' publication times, ascending
    seen: int = 0  # how many of them a poll has found
    rate: Rate | None = None
    polls: int = 0
    delays: list[float] = field(default_factory=list)
    missed: int = 0  # items that left the document before a poll found them

    def shown(self, now: float, window: int = 20) -> list[float]:
        published = [t for t in self.times if t <= now]
        return published[-window:]


def simulate(settings: Settings, plans: dict[str, list[float]], start: float, end: float) -> list[SimFeed]:
    """Every feed polled from `start` to `end` as the daemon would: learn at each poll, plan
    the next, share the budget again every interval. Returns the feeds with their polls and
    each item's wait from publication to the poll that found it."""
    schedule = Schedule(settings, random.Random(1))
    feeds = [SimFeed(feed(name), times) for name, times in plans.items()]
    for f in feeds:
        f.seen = len([t for t in f.times if t <= start])  # what was published before is history
    due = [(start + n * 0.01, n) for n in range(len(feeds))]
    next_share = start
    while due:
        now, n = heapq.heappop(due)
        if now >= end:
            break
        if now >= next_share:
            schedule.rebalance([schedule.share(f.config, None, f.rate, now) for f in feeds])
            next_share = now + settings.interval
        f = feeds[n]
        f.polls += 1
        shown = f.shown(now)
        new = [t for t in f.times[f.seen :] if t <= now]
        f.delays += [now - t for t in new if t in shown]
        f.missed += len([t for t in new if t not in shown])
        f.seen += len(new)
        f.rate = learn(f.rate, shown if f.rate is None else new, now, schedule.memory)
        plan = schedule.plan(f.config, None, f.rate, now)
        heapq.heappush(due, (schedule.next_poll(now, plan.interval), n))
    return feeds


def poisson(rng: random.Random, per_day: float, start: float, end: float) -> list[float]:
    times, t = [], start
    while True:
        t += rng.expovariate(per_day / DAY)
        if t >= end:
            return times
        times.append(t)


@pytest.fixture(scope="module")
def simulated_day():
    """40 feeds: 8 wires (100–300 items a day), 12 desks (10–50), 20 columns (0.2–3). A week
    of history, then a day polled fixed and the same day polled adaptive."""
    rng = random.Random(42)
    start, end = T0, T0 + DAY
    kinds = [("wire", 8, 100, 300), ("desk", 12, 10, 50), ("column", 20, 0.2, 3)]
    plans = {
        f"{kind}{n}": poisson(rng, rng.uniform(low, high), start - 7 * DAY, end)
        for kind, count, low, high in kinds
        for n in range(count)
    }
    return simulate(FIXED_SETTINGS, plans, start, end), simulate(ADAPTIVE, plans, start, end)


def test_a_simulated_day_halves_the_wait_for_no_more_requests(simulated_day):
    fixed, adaptive = simulated_day
    fixed_wait = statistics.median(d for f in fixed for d in f.delays)
    adaptive_wait = statistics.median(d for f in adaptive for d in f.delays)
    assert sum(f.polls for f in adaptive) <= sum(f.polls for f in fixed)
    assert adaptive_wait <= fixed_wait / 2
    # Nothing missed: every item was found before it left its document (the newest 20).
    assert sum(f.missed for f in adaptive) == 0


def test_a_simulated_day_polls_the_quiet_feeds_less_than_fixed_polling_and_the_busy_more(simulated_day):
    fixed, adaptive = simulated_day
    by_name = {f.config.name: f for f in fixed}
    for f in adaptive:
        if f.config.name.startswith("column"):
            assert f.polls < by_name[f.config.name].polls / 2
        if f.config.name.startswith("wire"):
            assert f.polls > by_name[f.config.name].polls


@pytest.mark.parametrize(
    ("interval", "reason", "rate", "text"),
    [
        (45.2, "min_interval", 300.0, "every 45s (min_interval: 300 items a day)"),
        (270.0, "learned", 37.04, "every 4m (learned: 37 items a day)"),
        (1800.0, "server", None, "every 30m (server)"),
        (9000.0, "backoff", 12.0, "every 2h 30m (backoff)"),  # a failing feed's rate says nothing of its wait
        (3 * DAY, "retry-after", None, "every 3d (retry-after)"),
    ],
)
def test_what_a_person_reads_of_a_feed_s_interval(interval, reason, rate, text):
    state = FeedState("wire", "https://wire.example/rss", None, None, 0.0, None, None, None, 0, None, None, True)
    assert replace(state, poll_interval=interval, poll_reason=reason, poll_rate=rate).schedule_text == text
    assert state.schedule_text == ""  # never polled
