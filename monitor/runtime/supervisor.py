"""What makes the daemon a well-behaved service: sd_notify (READY, WATCHDOG, STATUS,
RELOADING, STOPPING), the heartbeat and metrics behind /healthz and /metrics, and SIGHUP
reloads put in force through the assembler.

The Daemon calls these hooks at a handful of points; everything here is passed in
(the assembly, the systemd notifier, the environment, the logging set-up), so tests
build it small.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ..config import Config
from ..delivery.outbox import DeliveryReport
from ..errors import ConfigError, MonitorError
from ..models import PollOutcome
from ..store import DATABASE_ERRORS, StoreUnavailable
from .assembly import Assembly
from .endpoint import STALE_AFTER, Liveness
from .reload import reload_config
from .systemd import SystemdNotifier

log = logging.getLogger("monitor.runtime.supervisor")

STATUS_EVERY = 10.0  # seconds between STATUS= updates


class Supervisor:
    def __init__(
        self,
        assembly: Assembly,
        liveness: Liveness,
        notifier: SystemdNotifier | None = None,
        env: Mapping[str, str] = os.environ,
        on_config: Callable[[Config], None] | None = None,
    ) -> None:
        self.assembly = assembly
        self.liveness = liveness
        self.sd = notifier or SystemdNotifier(env)
        self.env = env
        self.on_config = on_config  # re-applies logging (level, secrets to redact) after a reload

    # -- start ------------------------------------------------------------------

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
        self.liveness.heartbeat.tick()

    def polled(self, outcome: PollOutcome) -> None:
        self.liveness.metrics.observe_poll(outcome)

    def body_fetched(self, outcome: PollOutcome) -> None:
        self.liveness.metrics.observe_body(outcome)

    def delivered(self, report: DeliveryReport) -> None:
        self.liveness.metrics.observe_delivery(report)

    def watchdog(self) -> None:
        """Ping systemd's watchdog only while the scheduler ticks and the database answers
        (a SQLite file; a PostgreSQL server that is away is waited for, /healthz says 503);
        a blocked loop never gets here at all, so either way systemd restarts us."""
        problem = self.liveness.heartbeat.problem(stale_after=max(STALE_AFTER, (self.sd.watchdog_interval or 0)))
        if problem is None:
            try:
                self.assembly.store.ping()
            except StoreUnavailable:
                pass  # a database server away: the daemon reconnects by itself, a restart would not bring it back
            except DATABASE_ERRORS as exc:
                problem = f"the database does not answer: {exc}"
        if problem:
            log.warning("not pinging the systemd watchdog: %s", problem)
            return
        self.sd.watchdog()

    def send_status(self) -> None:
        self.sd.status(self.status_line())

    def status_line(self) -> str:
        """`12 feeds, 1 failing, 3 alerts today, 0 deliveries pending`."""
        store, pipeline = self.assembly.store, self.assembly.pipeline
        try:
            enabled = {f.name for f in pipeline.enabled_feeds()}
            errors = store.feed_errors()
            failing = sum(1 for name in enabled if errors.get(name, 0) > 0)
            midnight = datetime.fromtimestamp(pipeline.clock()).replace(hour=0, minute=0, second=0, microsecond=0)
            alerts = store.alerts_since(midnight.timestamp())
            pending = store.outbox_counts().get("pending", 0)
        except DATABASE_ERRORS as exc:
            return f"database error: {exc}"
        return f"{len(enabled)} feeds, {failing} failing, {alerts} alerts today, {pending} deliveries pending"

    def reload(self) -> None:
        """SIGHUP: put the re-read config in force when it is valid, else keep the one running
        (its problems logged). Whatever happens, systemd hears READY=1 at the end: a reload
        left "reloading" would hold every later `systemctl reload` and restart."""
        self.sd.reloading(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
        try:
            self._reload()
        except Exception:
            self.liveness.metrics.reloads.labels("rejected").inc()
            log.exception("reload failed, still running the previous configuration")
        finally:
            self.sd.ready(self.status_line())

    def _reload(self) -> None:
        old = self.assembly.config
        log.info("reloading %s", old.path)
        result = reload_config(old, self.env)
        reloads = self.liveness.metrics.reloads
        config = result.config
        pipeline = None
        try:
            pipeline = self.assembly.rebuild(config) if config is not None else None
        except ConfigError as exc:  # valid alone, not for this daemon: its console's address
            result.problems.extend(exc.problems)
        except MonitorError as exc:
            result.problems.append(exc.render())
        if config is None or pipeline is None:
            reloads.labels("rejected").inc()
            log.error(
                "reload rejected, still running the previous configuration; %d problem%s:\n%s",
                len(result.problems),
                "s" if len(result.problems) != 1 else "",
                "\n".join(result.problems),
            )
            return
        if self.on_config:
            self.on_config(config)
        for warning in config.warnings:
            log.warning("%s", warning)
        for key in result.needs_restart:
            log.warning("%s changed: restart the service for it to take effect", key)
        reloads.labels("applied").inc()
        summary = "; ".join(result.changes) or "no changes"
        log.info("reloaded: %d feeds, %d rules (%s)", len(pipeline.enabled_feeds()), len(config.rules), summary)

    # -- stop ---------------------------------------------------------------------

    def stopping(self) -> None:
        self.liveness.heartbeat.stopping = True
        self.sd.stopping()

    def close(self) -> None:
        self.sd.close()
