"""The long-running process: APScheduler drives due-feed dispatch and delivery.

The schedule itself lives in the database (each feed's next poll time), so the
scheduler only ticks: every tick polls what is due, which makes a restart resume
where it stopped instead of polling everything at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from .config import Config
from .fetch import Fetcher, make_client
from .models import PollOutcome
from .notify import Notifier
from .pipeline import DeliveryReport, Pipeline
from .store import Store

log = logging.getLogger("monitor.daemon")

DISPATCH_EVERY = 1.0  # seconds; one indexed query per tick
DELIVER_EVERY = 2.0  # default; [delivery] check_every sets it
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


async def run_once(pipeline: Pipeline) -> CycleSummary:
    """Poll every enabled feed once (due or not), then attempt every due delivery."""
    outcomes = await asyncio.gather(*(pipeline.poll(f) for f in pipeline.enabled_feeds()))
    delivery = await pipeline.deliver_due()
    return CycleSummary(list(outcomes), delivery)


class Daemon:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.in_flight: dict[str, asyncio.Task[PollOutcome]] = {}
        self.stopping = asyncio.Event()

    async def dispatch(self) -> None:
        """Start a poll for every feed that is due and not already being polled."""
        enabled = {f.name: f for f in self.pipeline.enabled_feeds()}
        for name in self.pipeline.store.due_feeds(enabled, self.pipeline.clock()):
            if name in self.in_flight or self.stopping.is_set():
                continue
            task = asyncio.create_task(self._poll(enabled[name]), name=f"poll:{name}")
            self.in_flight[name] = task

    async def _poll(self, feed) -> PollOutcome:
        try:
            outcome = await self.pipeline.poll(feed)
            if outcome.status == "ok" and (outcome.new_items or outcome.alerts):
                log.info("feed %s: %d new items, %d alerts", feed.name, outcome.new_items, outcome.alerts)
            return outcome
        except Exception:  # a bug must not stop the other feeds
            log.exception("feed %s: unexpected error while polling", feed.name)
            raise
        finally:
            self.in_flight.pop(feed.name, None)

    async def deliver(self) -> None:
        await self.pipeline.deliver_due()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        scheduler = AsyncIOScheduler(event_loop=loop)
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(self.dispatch, "interval", seconds=DISPATCH_EVERY, id="dispatch", **common)
        deliver_every = self.pipeline.config.delivery.check_every
        scheduler.add_job(self.deliver, "interval", seconds=deliver_every, id="deliver", **common)
        scheduler.start()
        n = len(self.pipeline.enabled_feeds())
        log.info("monitor started: %d feeds, %d rules", n, len(self.pipeline.config.rules))
        await self.dispatch()
        try:
            await self.stopping.wait()
        finally:
            log.info("stopping: finishing %d polls in flight", len(self.in_flight))
            scheduler.shutdown(wait=False)
            if self.in_flight:
                await asyncio.wait(list(self.in_flight.values()), timeout=STOP_GRACE)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


@contextmanager
def open_pipeline(config: Config) -> Iterator[Pipeline]:
    """Assemble the real parts for a config: store, HTTP client, notifier."""
    settings = config.settings
    store = Store(settings.database)
    client = make_client(settings.user_agent)
    fetcher = Fetcher(
        client,
        concurrency=settings.concurrency,
        per_host=settings.per_host,
        max_bytes=settings.max_bytes,
        timeout=settings.timeout,
    )
    try:
        yield Pipeline(config, store, fetcher, Notifier(config.channels))
    finally:
        store.close()
