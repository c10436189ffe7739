"""The long-running process: APScheduler drives due-feed dispatch and delivery.

The schedule itself lives in the database (each feed's next poll time), so the
scheduler only ticks: every tick claims what is due, which makes a restart resume
where it stopped instead of polling everything at once. Several daemons on one
PostgreSQL database share the feeds by those claims (leases, store/cluster.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..config import FeedConfig
from ..delivery.outbox import DeliveryReport
from ..models import PollOutcome
from ..polling.bodies import Bodies
from ..polling.pipeline import Pipeline
from ..polling.schedule import dispatch_tick
from ..store import DATABASE_ERRORS, FeedState
from ..store.cluster import BEAT_EVERY
from .outage import Outage

if TYPE_CHECKING:  # imported where used: apscheduler and prometheus_client cost ~50 ms of start-up
    from .assembly import Assembly  # that `run --once` does not need
    from .supervisor import Supervisor

log = logging.getLogger("monitor.runtime.daemon")

PRUNE_EVERY = 3600.0
INDEX_EVERY = 30.0  # the full-text index follows ingest this far behind at most (a backtest catches it up)
REBALANCE_CHECK = 1.0  # seconds; the budget is shared again every interval, and at once after a reload
STOP_GRACE = 20.0


@dataclass
class BodySummary:
    """What `run --once` did of article bodies."""

    fetched: int = 0
    alerts: int = 0
    without: int = 0  # failed, refused or skipped: those items keep their headline only
    left: int = 0  # still queued when the wait ended

    def count(self, outcome: PollOutcome) -> None:
        if outcome.status == "ok":
            self.fetched += 1
            self.alerts += outcome.alerts
        elif outcome.status != "retry":
            self.without += 1


@dataclass
class CycleSummary:
    outcomes: list[PollOutcome] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    bodies: BodySummary | None = None

    def lines(self) -> list[str]:
        out = []
        for o in sorted(self.outcomes, key=lambda o: o.feed):
            if o.status == "ok":
                extra = " (baseline)" if o.baseline else ""
                out.append(f"{o.feed}: {o.new_items} new, {o.changed_items} changed, {o.alerts} alerts{extra}")
            elif o.status == "not-modified":
                out.append(f"{o.feed}: not modified")
            else:
                out.append(f"{o.feed}: {o.status}: {o.error}")
        errors = sum(o.status in ("error", "disabled") for o in self.outcomes)
        alerts = sum(o.alerts for o in self.outcomes)
        if self.bodies is not None:
            b = self.bodies
            alerts += b.alerts
            out.append(
                f"article bodies: {b.fetched} fetched, {b.alerts} alerts on them, {b.without} without a body"
                + (f", {b.left} still queued (next run)" if b.left else "")
            )
        out.append(
            f"{len(self.outcomes)} feeds polled, {errors} failed, {alerts} new alerts; "
            f"{self.delivery.sent} deliveries sent, {self.delivery.failed} failed (kept for retry)"
        )
        return out


async def run_once(pipeline: Pipeline, on_polled: Callable[[PollOutcome], None] | None = None) -> CycleSummary:
    """Poll every enabled feed once (due or not), then attempt every due delivery.
    `on_polled` sees each outcome as it arrives (progress on a terminal)."""

    async def poll(feed: FeedConfig) -> PollOutcome:
        outcome = await pipeline.poll(feed)
        if on_polled:
            on_polled(outcome)
        return outcome

    started = pipeline.clock()
    pipeline.expect_parsing()
    outcomes = await asyncio.gather(*(poll(f) for f in pipeline.enabled_feeds()))
    summary = CycleSummary(list(outcomes))
    if pipeline.bodies is not None:
        summary.bodies = await fetch_bodies(pipeline.bodies, since=started, wait=pipeline.config.settings.body_wait)
    summary.delivery = await pipeline.deliver_due()
    pipeline.prune()
    return summary


async def fetch_bodies(bodies: Bodies, since: float, wait: float) -> BodySummary:
    """`run --once`: fetch the bodies of the items stored since `since`, for up to `wait`
    seconds, so that a cron user gets body matches too. What is left waits in the queue for
    the next run (an item cut off keeps its lease until it runs out)."""
    summary = BodySummary()
    deadline = bodies.clock() + wait
    running: set[asyncio.Task[PollOutcome]] = set()
    try:
        while True:
            now = bodies.clock()
            if now < deadline:
                # A slot freed is filled at once: one slow page never idles the others.
                for item in bodies.claim(now, bodies.window - len(running)):
                    running.add(asyncio.create_task(bodies.fetch(item)))
            if running:
                done, running = await asyncio.wait(
                    running, timeout=max(0.0, deadline - now), return_when=asyncio.FIRST_COMPLETED
                )
                if not done:  # the deadline passed
                    break
                for task in done:
                    summary.count(task.result())
                continue
            if now >= deadline or not bodies.store.bodies_pending(since=since):
                break
            await asyncio.sleep(min(1.0, deadline - now))  # a retry not due yet, or another node's claim
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
    summary.left = bodies.store.bodies_pending(since=since)
    return summary


class Daemon:
    """One node of the cluster: every tick it beats and claims due feeds (as many as its
    pipeline's window has room for) and polls them; delivery, retention and index catch-up
    run on the node holding each one's lease. On SQLite the one daemon holds every lease."""

    def __init__(self, assembly: Assembly, supervisor: Supervisor) -> None:
        self.assembly = assembly
        self.supervisor = supervisor
        self.store = assembly.store
        self.in_flight: dict[str, asyncio.Task[PollOutcome | None]] = {}
        self.bodies_in_flight: dict[int, asyncio.Task[None]] = {}  # by item id
        self._claim_bodies_again: asyncio.Handle | None = None
        self.stopping = asyncio.Event()
        self.outage = Outage(assembly.config.settings.database, on_away=self._drop_polls)
        self.started = assembly.clock()
        self._last_beat = -math.inf
        self._more_due = False  # the last claim was full: claim again as soon as a poll ends
        self._claim_again: asyncio.Handle | None = None
        # The jobs that run on one node at a time, and how often each runs.
        self._jobs_every = {
            "deliver": assembly.config.delivery.check_every,
            "retention": PRUNE_EVERY,
            "index": INDEX_EVERY,
        }
        # The job runs under way here: the tick renews their leases, a stop waits for them.
        self._jobs_running: dict[str, asyncio.Task[Any]] = {}
        self._leased_until: dict[str, float] = {}  # each job's lease, as this node last took it (_hold)
        self._scheduler: Any = None  # set by run()
        self._rebalanced: tuple[Pipeline | None, float] = (None, -math.inf)  # for which pipeline, when

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline of the configuration in force (a reload replaces it)."""
        return self.assembly.pipeline

    async def dispatch(self) -> None:
        """The tick: beat, renew the leases of the jobs running here, claim due feeds and
        start their polls. While the database is away it only asks whether it is back."""
        now = self.pipeline.clock()
        with self.outage.guard():
            if self.outage.away:
                self.store.ping()
                self.outage.answered()
            if now - self._last_beat >= BEAT_EVERY:
                self.store.beat(now, self.started)
                self._last_beat = now
            for job in self._jobs_running:
                self._hold(job, now)
            self._claim(now)
            self._claim_bodies(now)
        self.supervisor.tick()  # the heartbeat behind /healthz and the systemd watchdog

    def _claim(self, now: float) -> None:
        """Lease as many due feeds as the window has room for, and poll them."""
        if self.stopping.is_set():
            return
        pipeline = self.pipeline
        room = pipeline.window - len(self.in_flight)
        claimed = pipeline.claim(now, room)
        self._more_due = len(claimed) >= room
        for feed, state in claimed:
            if feed.name not in self.in_flight:  # its lease ran out while its poll went on: it is ours again
                self.in_flight[feed.name] = asyncio.create_task(
                    self._poll(pipeline, feed, state), name=f"poll:{feed.name}"
                )

    def _claim_bodies(self, now: float) -> None:
        """Lease as many queued article bodies as this node fetches at once, and fetch them."""
        bodies = self.pipeline.bodies
        if bodies is None or self.stopping.is_set():
            return
        for item in bodies.claim(now, bodies.window - len(self.bodies_in_flight)):
            if item["id"] not in self.bodies_in_flight:
                self.bodies_in_flight[item["id"]] = asyncio.create_task(
                    self._fetch_body(bodies, item), name=f"body:{item['id']}"
                )

    def _bodies_soon(self) -> None:
        """A poll queued bodies: claim them now rather than at the next tick."""
        if self._claim_bodies_again is None and not self.stopping.is_set():
            self._claim_bodies_again = asyncio.get_running_loop().call_soon(self._claim_bodies_now)

    def _claim_bodies_now(self) -> None:
        self._claim_bodies_again = None
        if not self.outage.away:
            with self.outage.guard():
                self._claim_bodies(self.pipeline.clock())

    async def _fetch_body(self, bodies: Bodies, item: Mapping[str, Any]) -> None:
        try:
            outcome = await bodies.fetch(item)
        except DATABASE_ERRORS as exc:  # rolled back; the item's lease runs out and it is claimed again
            self.outage.failed(exc)
            return
        except Exception:  # a bug must not stop the other bodies
            log.exception("feed %s: unexpected error while fetching an article body", item["feed"])
            raise
        finally:
            self.bodies_in_flight.pop(item["id"], None)
        self.supervisor.body_fetched(outcome)
        if outcome.alerts:
            self._deliver_soon()

    def _claim_soon(self) -> None:
        """A poll ended while more feeds may be due: claim again at once, not at the next tick
        (a cold cycle of thousands of feeds would otherwise move one window per tick). Polls
        that end together share one claim, and so do polls ending while half the window is
        still busy: that half keeps every fetch slot working meanwhile, at a claim per half
        window instead of a claim per poll."""
        room = self.pipeline.window - len(self.in_flight)
        half = max(1, self.pipeline.window // 2)
        if self._more_due and room >= half and self._claim_again is None and not self.stopping.is_set():
            self._claim_again = asyncio.get_running_loop().call_soon(self._claim_now)

    def _claim_now(self) -> None:
        self._claim_again = None
        if not self.outage.away:
            with self.outage.guard():
                self._claim(self.pipeline.clock())

    async def _poll(self, pipeline: Pipeline, feed: FeedConfig, state: FeedState | None) -> PollOutcome | None:
        try:
            outcome = await pipeline.poll(feed, state)
        except DATABASE_ERRORS as exc:
            # The ingest was rolled back; the feed's lease runs out and a node polls it again.
            self.outage.failed(exc)
            return None
        except Exception:  # a bug must not stop the other feeds
            log.exception("feed %s: unexpected error while polling", feed.name)
            raise
        finally:
            self.in_flight.pop(feed.name, None)
            self._claim_soon()
        self.supervisor.polled(outcome)
        if outcome.bodies_wanted:
            self._bodies_soon()
        if outcome.status == "ok" and (outcome.new_items or outcome.alerts):
            log.info("feed %s: %d new items, %d alerts", feed.name, outcome.new_items, outcome.alerts)
        if outcome.alerts:
            self._deliver_soon()
        return outcome

    def _drop_polls(self) -> None:
        """The database went away: the other polls in flight stop at their next await (a fetch
        or a parse; an ingest is one transaction, done or rolled back) instead of each waiting
        out the connection timeout at its next store call, the event loop blocked meanwhile.
        Their leases run out and a node polls them again."""
        for task in (*self.in_flight.values(), *self.bodies_in_flight.values()):
            if task is not asyncio.current_task():
                task.cancel()

    def _deliver_soon(self) -> None:
        """New alerts: run the delivery job now instead of at its next tick (up to check_every
        later). It only sends what is due, so digests, holds and retries are unchanged."""
        job = self._scheduler.get_job("deliver") if self._scheduler is not None else None
        if job is not None and not self.stopping.is_set():
            job.modify(next_run_time=datetime.now(UTC))

    @contextmanager
    def _once_per_cluster(self, job: str) -> Iterator[bool]:
        """Whether this node holds (takes or renews now) the lease of a job that must run on
        one node at a time; while the block runs, the tick keeps renewing it."""
        held = self._hold(job, self.pipeline.clock())
        run = asyncio.current_task()
        if held and run is not None:
            self._jobs_running[job] = run
        try:
            yield held
        finally:
            self._jobs_running.pop(job, None)

    def _hold(self, job: str, now: float) -> bool:
        """Take or renew a job's lease, with a statement only once a quarter of it has passed
        since this node took it: the delivery job runs every `check_every`, and a write at each
        run was a quarter of an idle daemon's statements. No other node may take a lease before it
        expires, so what is left of it is this node's; were the last renewal lost (a server
        crash loses the last commits), the one before still holds it for half its length."""
        lease = self._job_lease(job)
        if self._leased_until.get(job, -math.inf) - now > lease * 3 / 4:
            return True
        held = self.store.hold_lease(job, now, lease)
        self._leased_until[job] = now + lease if held else -math.inf
        return held

    def _job_lease(self, job: str) -> float:
        """A holder that died is replaced after the feed lease, or after two of its runs missed
        if they are further apart (a lease shorter than the gap between runs would move the
        job to whichever node ran next)."""
        return max(self.pipeline.lease, 2 * self._jobs_every[job])

    async def deliver(self) -> None:
        """The outbox, on one node at a time: a destination's order, its flood guard and its
        rate limit hold across the cluster."""
        if self.stopping.is_set() or self.outage.away:
            return
        with self.outage.guard(), self._once_per_cluster("deliver") as mine:
            if mine:
                self.supervisor.delivered(await self.pipeline.deliver_due())

    async def rebalance(self) -> None:
        """An adaptive schedule's budget shared again by the feeds' rates (on every node: each
        plans the polls it makes): every `interval`, and at once for a configuration put in force."""
        pipeline, now = self.pipeline, self.pipeline.clock()
        done_for, done_at = self._rebalanced
        if done_for is not pipeline:  # reads no database: done even while it is away
            self._follow_the_fastest_interval(pipeline)
        if self.outage.away or (done_for is pipeline and now - done_at < pipeline.config.settings.interval):
            return
        with self.outage.guard():
            await pipeline.rebalance()
            self._rebalanced = (pipeline, now)

    def _follow_the_fastest_interval(self, pipeline: Pipeline) -> None:
        """The dispatch tick of a configuration put in force (one polling a bridge every few
        seconds looks for due feeds more often than one polling every few minutes)."""
        tick = dispatch_tick(pipeline.enabled_feeds(), pipeline.config.settings)
        job = self._scheduler.get_job("dispatch") if self._scheduler is not None else None
        if job is not None and job.trigger.interval.total_seconds() != tick:
            job.reschedule("interval", seconds=tick)
            log.info("looking for due feeds every %gs", tick)

    def reload(self) -> None:
        """SIGHUP: put the re-read config in force, or keep this one."""
        self.supervisor.reload()

    async def prune(self) -> None:
        # A coroutine, so it runs on the loop thread like every other database write.
        if self.outage.away:
            return
        with self.outage.guard(), self._once_per_cluster("retention") as mine:
            if mine:
                self.pipeline.prune()

    async def index(self) -> None:
        if self.stopping.is_set() or self.outage.away:
            return
        with self.outage.guard(), self._once_per_cluster("index") as mine:
            if mine:
                indexed = await self.pipeline.index_pending()
                if indexed:
                    log.debug("full-text index: %d items added", indexed)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(event_loop=loop)
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        tick = dispatch_tick(self.pipeline.enabled_feeds(), self.pipeline.config.settings)
        scheduler.add_job(self.dispatch, "interval", seconds=tick, id="dispatch", **common)
        scheduler.add_job(self.rebalance, "interval", seconds=REBALANCE_CHECK, id="rebalance", **common)
        jobs = {"deliver": self.deliver, "retention": self.prune, "index": self.index}
        for job, every in self._jobs_every.items():
            scheduler.add_job(jobs[job], "interval", seconds=every, id=job, **common)
        self.supervisor.add_jobs(scheduler, common)
        scheduler.start()
        self._scheduler = scheduler
        n = len(self.pipeline.enabled_feeds())
        log.info("monitor started: %d feeds, %d rules (node %s)", n, len(self.pipeline.config.rules), self.store.node)
        self.pipeline.expect_parsing()
        await self.rebalance()
        await self.dispatch()
        self.supervisor.started()
        try:
            await self.stopping.wait()
        finally:
            log.info("stopping: finishing %d polls in flight", len(self.in_flight))
            self.supervisor.stopping()
            self._scheduler = None
            # Polls and a running delivery finish (each ingest is one transaction, each
            # sent delivery is marked); what is cut off at the grace period is rolled
            # back or stays pending in the outbox, to be done after the restart. The
            # scheduler only pauses meanwhile: its shutdown cancels the jobs still running.
            scheduler.pause()
            running = [*self.in_flight.values(), *self.bodies_in_flight.values(), *self._jobs_running.values()]
            if running:
                await asyncio.wait(running, timeout=STOP_GRACE)
            scheduler.shutdown(wait=False)
            if not self.outage.away:  # away, it would wait for the database: the leases run out instead
                with self.outage.guard():
                    self.store.leave(self.pipeline.clock())  # the other nodes take this one's work at once
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            self.supervisor.close()
