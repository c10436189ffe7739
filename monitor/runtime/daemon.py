"""The long-running process: APScheduler drives due-feed dispatch and delivery.

The schedule itself lives in the database (each feed's next poll time), so the
scheduler only ticks: every tick polls what is due, which makes a restart resume
where it stopped instead of polling everything at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..config import Config
from ..delivery.channels import Notifier
from ..models import PollOutcome
from ..parsing.pool import ParserPool
from ..polling.fetch import Fetcher, make_transport
from ..polling.pipeline import DeliveryReport, Pipeline
from ..store import Store

if TYPE_CHECKING:  # both imported where used: apscheduler and the service's prometheus_client cost
    from .supervisor import Service  # ~50 ms of start-up that `run --once` does not need

log = logging.getLogger("monitor.runtime.daemon")

DISPATCH_EVERY = 1.0  # seconds; one indexed query per tick
DELIVER_EVERY = 2.0  # default; [delivery] check_every sets it
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

    async def poll(feed) -> PollOutcome:
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
    def __init__(self, pipeline: Pipeline, service: Service | None = None) -> None:
        self.pipeline = pipeline
        if service is None:
            from .supervisor import Service

            service = Service()
        self.service = service
        self.in_flight: dict[str, asyncio.Task[PollOutcome]] = {}
        self.delivering: asyncio.Task | None = None  # the running delivery job, waited for on stop
        self.stopping = asyncio.Event()
        self._scheduler = None  # set by run()

    async def dispatch(self) -> None:
        """Start a poll for every feed that is due and not already being polled."""
        enabled = {f.name: f for f in self.pipeline.enabled_feeds()}
        for name in self.pipeline.store.due_feeds(enabled, self.pipeline.clock()):
            if name in self.in_flight or self.stopping.is_set():
                continue
            task = asyncio.create_task(self._poll(enabled[name]), name=f"poll:{name}")
            self.in_flight[name] = task
        self.service.tick()  # the heartbeat behind /healthz and the systemd watchdog

    async def _poll(self, feed) -> PollOutcome:
        try:
            outcome = await self.pipeline.poll(feed)
            self.service.polled(outcome)
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
            self.service.delivered(await self.pipeline.deliver_due())
        finally:
            self.delivering = None

    def reload(self) -> None:
        """SIGHUP: swap in a pipeline for the re-read config, or keep this one."""
        self.pipeline = self.service.reload(self.pipeline)

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
        self.service.prepare(self.pipeline, lambda: self.pipeline)
        loop.add_signal_handler(signal.SIGHUP, self.reload)  # after prepare(): reload reports through it
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(event_loop=loop)
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(self.dispatch, "interval", seconds=DISPATCH_EVERY, id="dispatch", **common)
        deliver_every = self.pipeline.config.delivery.check_every
        scheduler.add_job(self.deliver, "interval", seconds=deliver_every, id="deliver", **common)
        scheduler.add_job(self.prune, "interval", seconds=PRUNE_EVERY, id="retention", **common)
        scheduler.add_job(self.index, "interval", seconds=INDEX_EVERY, id="index", **common)
        self.service.add_jobs(scheduler, common)
        scheduler.start()
        self._scheduler = scheduler
        n = len(self.pipeline.enabled_feeds())
        log.info("monitor started: %d feeds, %d rules", n, len(self.pipeline.config.rules))
        self.pipeline.expect_parsing()
        await self.dispatch()
        self.service.started()
        try:
            await self.stopping.wait()
        finally:
            log.info("stopping: finishing %d polls in flight", len(self.in_flight))
            self.service.stopping()
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
            self.service.close()


@contextmanager
def open_pipeline(config: Config) -> Iterator[Pipeline]:
    """Assemble the real parts for a config: store, HTTP transport, parser pool, notifier."""
    settings = config.settings
    store = Store(settings.database)
    parsers = ParserPool(settings.parse_workers, settings.parse_timeout)
    fetcher = Fetcher(
        make_transport(),
        user_agent=settings.user_agent,
        connect_timeout=settings.connect_timeout,
        concurrency=settings.concurrency,
        per_host=settings.per_host,
        max_bytes=settings.max_bytes,
        timeout=settings.timeout,
    )
    try:
        yield Pipeline(
            config, store, fetcher, Notifier(config.channels), parser=parsers.parse, start_parser=parsers.start
        )
    finally:
        parsers.close()
        store.close()
