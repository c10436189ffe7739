"""What makes the daemon a well-behaved service: sd_notify (READY, WATCHDOG,
STATUS, RELOADING, STOPPING), the heartbeat behind /healthz and the watchdog,
metrics, the optional HTTP endpoint, and SIGHUP reloads.

The Daemon calls these hooks at a handful of points; everything here is passed
in (notifier, environment, logging set-up), so tests build it small.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ..config import Config
from ..models import PollOutcome
from ..polling.pipeline import Pipeline
from .endpoint import STALE_AFTER, HealthServer, Heartbeat, Metrics, StoreCollector, StoreReader, TimedFetcher
from .reload import reload_pipeline
from .systemd import SystemdNotifier

log = logging.getLogger("monitor.runtime.supervisor")

STATUS_EVERY = 10.0  # seconds between STATUS= updates


class Service:
    def __init__(
        self,
        notifier: SystemdNotifier | None = None,
        env: Mapping[str, str] = os.environ,
        on_config: Callable[[Config], None] | None = None,
    ) -> None:
        self.sd = notifier or SystemdNotifier(env)
        self.env = env
        self.on_config = on_config  # re-applies logging (level, secrets to redact) after a reload
        self.heartbeat = Heartbeat()
        self.metrics = Metrics()
        self.http: HealthServer | None = None
        self.reader: StoreReader | None = None
        self._pipeline: Callable[[], Pipeline] | None = None

    # -- start ------------------------------------------------------------------

    def prepare(self, pipeline: Pipeline, current: Callable[[], Pipeline]) -> None:
        """Before the scheduler starts: time fetches, open the HTTP endpoint if configured."""
        self._pipeline = current
        pipeline.fetcher = TimedFetcher(pipeline.fetcher, self.metrics)
        address = pipeline.config.settings.http
        if address is None:
            return
        self.reader = StoreReader(pipeline.config.settings.database)
        self.metrics.add_collector(
            StoreCollector(self.reader, lambda: [f.name for f in current().config.feeds if f.enabled])
        )
        self.http = HealthServer(address, self.heartbeat, self.metrics, self.reader)
        self.http.start()

    def add_jobs(self, scheduler: Any, common: dict[str, Any]) -> None:
        if self.sd.watchdog_interval:
            scheduler.add_job(self.watchdog, "interval", seconds=self.sd.watchdog_interval, id="watchdog", **common)
        if self.sd.enabled:
            scheduler.add_job(self.send_status, "interval", seconds=STATUS_EVERY, id="status", **common)

    def started(self) -> None:
        """The database, config and scheduler are up: tell systemd."""
        self.sd.ready(self.status_line())

    # -- while running ------------------------------------------------------------

    def tick(self) -> None:
        self.heartbeat.tick()

    def polled(self, outcome: PollOutcome) -> None:
        self.metrics.observe_poll(outcome)

    def delivered(self, report: Any) -> None:
        self.metrics.observe_delivery(report)

    def watchdog(self) -> None:
        """Ping systemd's watchdog only while the scheduler ticks and the database answers;
        a blocked loop never gets here at all, so either way systemd restarts us."""
        problem = self.heartbeat.problem(stale_after=max(STALE_AFTER, (self.sd.watchdog_interval or 0)))
        if problem is None:
            try:
                self._current().store.ping()
            except sqlite3.Error as exc:
                problem = f"the database does not answer: {exc}"
        if problem:
            log.warning("not pinging the systemd watchdog: %s", problem)
            return
        self.sd.watchdog()

    def send_status(self) -> None:
        self.sd.status(self.status_line())

    def status_line(self) -> str:
        """`12 feeds, 1 failing, 3 alerts today, 0 deliveries pending`."""
        pipeline = self._current()
        try:
            enabled = {f.name for f in pipeline.enabled_feeds()}
            errors = pipeline.store.feed_errors()
            failing = sum(1 for name in enabled if errors.get(name, 0) > 0)
            midnight = datetime.fromtimestamp(pipeline.clock()).replace(hour=0, minute=0, second=0, microsecond=0)
            alerts = pipeline.store.alerts_since(midnight.timestamp())
            pending = pipeline.store.outbox_counts().get("pending", 0)
        except sqlite3.Error as exc:
            return f"database error: {exc}"
        return f"{len(enabled)} feeds, {failing} failing, {alerts} alerts today, {pending} deliveries pending"

    def reload(self, pipeline: Pipeline) -> Pipeline:
        """SIGHUP: the new pipeline when the config is valid, else the old one (errors logged)."""
        self.sd.reloading(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
        log.info("reloading %s", pipeline.config.path)
        result = reload_pipeline(pipeline, self.env)
        if not result.ok:
            self.metrics.reloads.labels("rejected").inc()
            log.error(
                "reload rejected, still running the previous configuration; %d problem%s:\n%s",
                len(result.problems),
                "s" if len(result.problems) != 1 else "",
                "\n".join(result.problems),
            )
            self.sd.ready(self.status_line())
            return pipeline
        assert result.pipeline is not None
        if self.on_config:
            self.on_config(result.pipeline.config)
        for warning in result.pipeline.config.warnings:
            log.warning("%s", warning)
        for key in result.needs_restart:
            log.warning("[monitor] %s changed: restart the service for it to take effect", key)
        self.metrics.reloads.labels("applied").inc()
        n = len(result.pipeline.enabled_feeds())
        summary = "; ".join(result.changes) or "no changes"
        log.info("reloaded: %d feeds, %d rules (%s)", n, len(result.pipeline.config.rules), summary)
        self.sd.ready(self.status_line())
        return result.pipeline

    # -- stop ---------------------------------------------------------------------

    def stopping(self) -> None:
        self.heartbeat.stopping = True
        self.sd.stopping()

    def close(self) -> None:
        if self.http:
            self.http.close()
        if self.reader:
            self.reader.close()
        self.sd.close()

    def _current(self) -> Pipeline:
        assert self._pipeline is not None, "prepare() first"
        return self._pipeline()
