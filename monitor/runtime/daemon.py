"""The long-running process: APScheduler drives due-feed dispatch and delivery.

The schedule itself lives in the database (each feed's next poll time), so the
scheduler only ticks: every tick polls what is due, which makes a restart resume
where it stopped instead of polling everything at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..config import FeedConfig
from ..delivery.outbox import DeliveryReport
from ..models import PollOutcome
from ..polling.pipeline import Pipeline

if TYPE_CHECKING:  # imported where used: apscheduler and prometheus_client cost ~50 ms of start-up
    from .assembly import Assembly  # that `run --once` does not need
    from .supervisor import Supervisor

log = logging.getLogger("monitor.runtime.daemon")

DISPATCH_EVERY = 1.0  # seconds; one indexed query per tick
PRUNE_EVERY = 3600.0
INDEX_EVERY = 30.0  # the full-text index follows ingest this far behind at most (a backtest catches it up)
STOP_GRACE = 20.0


@dataclass
class CycleSummary:
    outcomes: list[PollOutcome] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

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

    pipeline.expect_parsing()
    outcomes = await asyncio.gather(*(poll(f) for f in pipeline.enabled_feeds()))
    delivery = await pipeline.deliver_due()
    pipeline.prune()
    return CycleSummary(list(outcomes), delivery)


class Daemon:
    def __init__(self, assembly: Assembly, supervisor: Supervisor) -> None:
        self.assembly = assembly
        self.supervisor = supervisor
        self.in_flight: dict[str, asyncio.Task[PollOutcome]] = {}
        self.delivering: asyncio.Task[None] | None = None  # the running delivery job, waited for on stop
        self.stopping = asyncio.Event()
        self._scheduler: Any = None  # set by run()

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline of the configuration in force (a reload replaces it)."""
        return self.assembly.pipeline

    async def dispatch(self) -> None:
        """Start a poll for every feed that is due and not already being polled."""
        pipeline = self.pipeline
        for feed in pipeline.due(pipeline.clock()):
            if feed.name in self.in_flight or self.stopping.is_set():
                continue
            task = asyncio.create_task(self._poll(pipeline, feed), name=f"poll:{feed.name}")
            self.in_flight[feed.name] = task
        self.supervisor.tick()  # the heartbeat behind /healthz and the systemd watchdog

    async def _poll(self, pipeline: Pipeline, feed: FeedConfig) -> PollOutcome:
        try:
            outcome = await pipeline.poll(feed)
            self.supervisor.polled(outcome)
            if outcome.status == "ok" and (outcome.new_items or outcome.alerts):
                log.info("feed %s: %d new items, %d alerts", feed.name, outcome.new_items, outcome.alerts)
            if outcome.alerts:
                self._deliver_soon()
            return outcome
        except Exception:  # a bug must not stop the other feeds
            log.exception("feed %s: unexpected error while polling", feed.name)
            raise
        finally:
            self.in_flight.pop(feed.name, None)

    def _deliver_soon(self) -> None:
        """New alerts: run the delivery job now instead of at its next tick (up to check_every
        later). It only sends what is due, so digests, holds and retries are unchanged."""
        job = self._scheduler.get_job("deliver") if self._scheduler is not None else None
        if job is not None and not self.stopping.is_set():
            job.modify(next_run_time=datetime.now(UTC))

    async def deliver(self) -> None:
        if self.stopping.is_set():
            return
        self.delivering = asyncio.current_task()
        try:
            self.supervisor.delivered(await self.pipeline.deliver_due())
        finally:
            self.delivering = None

    def reload(self) -> None:
        """SIGHUP: put the re-read config in force, or keep this one."""
        self.supervisor.reload()

    async def prune(self) -> None:
        # A coroutine, so it runs on the loop thread like every other database write.
        self.pipeline.prune()

    async def index(self) -> None:
        if not self.stopping.is_set():
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
        scheduler.add_job(self.dispatch, "interval", seconds=DISPATCH_EVERY, id="dispatch", **common)
        deliver_every = self.pipeline.config.delivery.check_every
        scheduler.add_job(self.deliver, "interval", seconds=deliver_every, id="deliver", **common)
        scheduler.add_job(self.prune, "interval", seconds=PRUNE_EVERY, id="retention", **common)
        scheduler.add_job(self.index, "interval", seconds=INDEX_EVERY, id="index", **common)
        self.supervisor.add_jobs(scheduler, common)
        scheduler.start()
        self._scheduler = scheduler
        n = len(self.pipeline.enabled_feeds())
        log.info("monitor started: %d feeds, %d rules", n, len(self.pipeline.config.rules))
        self.pipeline.expect_parsing()
        await self.dispatch()
        self.supervisor.started()
        try:
            await self.stopping.wait()
        finally:
            log.info("stopping: finishing %d polls in flight", len(self.in_flight))
            self.supervisor.stopping()
            self._scheduler = None
            scheduler.shutdown(wait=False)
            # Polls and a running delivery finish (each ingest is one transaction, each
            # sent delivery is marked); what is cut off at the grace period is rolled
            # back or stays pending in the outbox, to be done after the restart.
            running = [*self.in_flight.values(), *([self.delivering] if self.delivering else [])]
            if running:
                await asyncio.wait(running, timeout=STOP_GRACE)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            self.supervisor.close()
