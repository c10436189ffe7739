"""Liveness and metrics: the scheduler's heartbeat, Prometheus metrics, and the
optional HTTP endpoint (`[monitor] http`) serving /healthz and /metrics.

The endpoint runs the stdlib http.server in its own thread, so it keeps answering
(503) even when the event loop is blocked; that is exactly when it matters. It
reads the database through its own read connection, never the daemon's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..errors import MonitorError
from ..models import FetchResult, PollOutcome
from ..polling.fetch import FeedFetcher
from ..polling.origins import AddressPolicy
from ..redaction import Redactor
from ..store import DATABASE_ERRORS, Store, StoreUnavailable, open_store

if TYPE_CHECKING:  # jinja2 is imported where the console is built (runtime/assembly.py)
    from ..web import Console

log = logging.getLogger("monitor.runtime.endpoint")

STALE_AFTER = 10.0  # seconds without a scheduler tick before the daemon counts as stuck
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Heartbeat:
    """When the scheduler last ticked. Written by the loop, read by any thread
    (single float assignments are atomic in CPython, so no lock is needed)."""

    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    last_tick: float | None = None
    ticks: int = 0
    stopping: bool = False

    def __post_init__(self) -> None:
        self.started = self.clock()

    def tick(self) -> None:
        self.last_tick = self.clock()
        self.ticks += 1

    def age(self) -> float | None:
        return None if self.last_tick is None else self.clock() - self.last_tick

    def problem(self, stale_after: float = STALE_AFTER) -> str | None:
        """Why the scheduler is not healthy, or None."""
        if self.stopping:
            return "stopping"
        age = self.age()
        if age is None:
            return "the scheduler has not ticked yet"
        if age > stale_after:
            return f"the scheduler last ticked {age:.0f}s ago (the event loop may be blocked)"
        return None


class Metrics:
    """The daemon's counters, in a registry of its own (no global state, so tests
    and several daemons in one process never share counts)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter("monitor_polls", "Feed polls by outcome.", ["outcome"], registry=r)
        self.fetch_seconds = Histogram(
            "monitor_fetch_duration_seconds", "Time to fetch one feed (HTTP only).", buckets=FETCH_BUCKETS, registry=r
        )
        self.items = Counter("monitor_items_ingested", "Items stored, new or changed.", ["kind"], registry=r)
        self.alerts = Counter("monitor_alerts", "Alerts recorded (one per rule and story).", registry=r)
        self.deliveries = Counter("monitor_deliveries", "Delivery attempts by outcome.", ["outcome"], registry=r)
        self.reloads = Counter("monitor_config_reloads", "SIGHUP reloads by result.", ["result"], registry=r)
        self.node = Info("monitor_node", "This daemon in the cluster (leases, `monitor cluster`).", registry=r)
        for outcome in ("ok", "not-modified", "error", "disabled"):
            self.polls.labels(outcome)  # present at 0, so rate() works from the first scrape
        for kind in ("new", "changed"):
            self.items.labels(kind)
        for outcome in ("sent", "failed"):
            self.deliveries.labels(outcome)

    def observe_poll(self, outcome: PollOutcome) -> None:
        self.polls.labels(outcome.status).inc()
        self.items.labels("new").inc(outcome.new_items)
        self.items.labels("changed").inc(outcome.changed_items)
        self.alerts.inc(outcome.alerts)

    def observe_body(self, outcome: PollOutcome) -> None:
        """An article body's outcome: only its alerts count here (the bodies themselves are
        counted per feed in the database, for the whole cluster: StoreCollector)."""
        self.alerts.inc(outcome.alerts)

    def observe_delivery(self, report: Any) -> None:
        # Any report with counts named after outcomes (sent, failed, later dead…).
        for outcome in ("sent", "failed", "dead"):
            n = getattr(report, outcome, 0)
            if isinstance(n, int) and n:
                self.deliveries.labels(outcome).inc(n)

    def add_collector(self, collector: Any) -> None:
        self.registry.register(collector)


@dataclass
class Liveness:
    """What the daemon says about itself: the scheduler's heartbeat and the metrics."""

    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    metrics: Metrics = field(default_factory=Metrics)


class TimedFetcher:
    """A fetcher whose fetches are timed into the metrics."""

    def __init__(self, fetcher: FeedFetcher, metrics: Metrics) -> None:
        self._fetcher = fetcher
        self._metrics = metrics

    async def fetch(
        self,
        url: str,
        etag: str | None = None,
        last_modified: str | None = None,
        *,
        policy: AddressPolicy | None = None,
    ) -> FetchResult:
        with self._metrics.fetch_seconds.time():
            return await self._fetcher.fetch(url, etag, last_modified, policy=policy)


class StoreReader:
    """A read connection of the HTTP thread's own, serialised by a lock (the
    server answers each request in a thread)."""

    def __init__(self, database: Path | str) -> None:
        self.store = open_store(database, busy_timeout=2.0)  # a health check must answer quickly
        self.lock = threading.Lock()

    def call(self, fn: Callable[[Store], Any]) -> Any:
        with self.lock:
            return fn(self.store)

    def close(self) -> None:
        with self.lock:
            self.store.close()


class StoreCollector:
    """Gauges read from the database at scrape time: outbox depth, and each configured feed's
    consecutive errors (they also change through the CLI) and poll interval."""

    def __init__(self, reader: StoreReader, feed_names: Callable[[], Iterable[str]]) -> None:
        self.reader = reader
        self.feed_names = feed_names

    def describe(self) -> list[Any]:
        return []  # unknown until read; prometheus-client then calls collect lazily

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        try:
            outbox = self.reader.call(lambda s: s.outbox_counts())
            errors = self.reader.call(lambda s: s.feed_errors())
            intervals = self.reader.call(lambda s: s.feed_intervals())
            bodies = self.reader.call(lambda s: s.body_counts())
            queued = self.reader.call(lambda s: s.bodies_pending())
        except DATABASE_ERRORS as exc:
            # A server away is logged once by the daemon, not at every scrape.
            log.log(
                logging.DEBUG if isinstance(exc, StoreUnavailable) else logging.WARNING,
                "metrics: cannot read the database: %s",
                exc,
            )
            return
        depth = GaugeMetricFamily("monitor_outbox_depth", "Deliveries not yet sent, by status.", labels=["status"])
        for status in sorted({"pending", *outbox}):
            depth.add_metric([status], outbox.get(status, 0))
        yield depth
        feeds = GaugeMetricFamily(
            "monitor_feed_consecutive_errors", "Consecutive failed polls of each configured feed.", labels=["feed"]
        )
        names = sorted(self.feed_names())
        for name in names:
            feeds.add_metric([name], errors.get(name, 0))
        yield feeds
        every = GaugeMetricFamily(
            "monitor_feed_poll_interval_seconds",
            "The interval each configured feed's last poll chose, and why (learned, server, pinned, backoff...).",
            labels=["feed", "reason"],
        )
        for name in names:
            if name in intervals:
                interval, reason = intervals[name]
                every.add_metric([name, reason], interval)
        yield every
        counts = CounterMetricFamily(
            "monitor_article_bodies",
            "Article bodies of each feed by outcome (fetched, failed, robots, address, skipped), all nodes.",
            labels=["feed", "outcome"],
        )
        for name in sorted(bodies):
            for outcome, count in bodies[name].items():
                counts.add_metric([name, outcome], count)
        yield counts
        yield GaugeMetricFamily("monitor_article_queue", "Items waiting for their article page.", value=queued)


def health_report(heartbeat: Heartbeat, reader: StoreReader) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of /healthz: 200 when the scheduler ticks and the database answers."""
    scheduler_problem = heartbeat.problem()
    try:
        reader.call(lambda s: s.ping())
        db_problem = None
    except DATABASE_ERRORS as exc:
        db_problem = f"the database does not answer: {exc}"
    age = heartbeat.age()
    body = {
        "status": "ok" if not (scheduler_problem or db_problem) else "unhealthy",
        "checks": {
            "scheduler": {
                "ok": scheduler_problem is None,
                "last_tick_seconds_ago": None if age is None else round(age, 3),
                "ticks": heartbeat.ticks,
                **({"problem": scheduler_problem} if scheduler_problem else {}),
            },
            "database": {"ok": db_problem is None, **({"problem": db_problem} if db_problem else {})},
        },
        "uptime_seconds": round(heartbeat.clock() - heartbeat.started, 3),
    }
    return (200 if body["status"] == "ok" else 503), body


MAX_CONNECTIONS = 16  # threads serving the endpoint at once
REQUEST_TIMEOUT = 5.0  # seconds a client may take over each read or write


class _Server(ThreadingHTTPServer):
    """A thread per connection, but at most MAX_CONNECTIONS of them: past that, the
    connection open the longest is cut, so a client holding many slow connections can
    neither grow threads without bound nor keep /healthz from answering."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # a burst of connections waits in the kernel, not in SYN retries

    def server_activate(self) -> None:
        self._open: dict[socket.socket, float] = {}  # connection -> when accepted
        self._open_lock = threading.Lock()
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            if len(self._open) >= MAX_CONNECTIONS:
                oldest = min(self._open, key=self._open.__getitem__)
                del self._open[oldest]
                with contextlib.suppress(OSError):  # its thread sees the end of the stream and exits
                    oldest.shutdown(socket.SHUT_RDWR)
            self._open[request] = time.monotonic()
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client gone mid-request (or cut above) is routine; anything else is a bug to see.
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("http: connection from %s ended: %s", client_address[0], sys.exc_info()[1])
        else:
            log.exception("http: request from %s failed", client_address[0])

    def connections(self) -> int:
        with self._open_lock:
            return len(self._open)


class _Server6(_Server):
    address_family = socket.AF_INET6


class HealthServer:
    """/healthz and /metrics on (host, port), in a background thread, and the web console
    (monitor/web) on every other path when one is given."""

    def __init__(
        self,
        address: tuple[str, int],
        heartbeat: Heartbeat,
        metrics: Metrics,
        reader: StoreReader,
        console: Console | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        owner = self
        self.heartbeat, self.metrics, self.reader, self.console = heartbeat, metrics, reader, console
        # Every answer passes it, headers and body: a page, /metrics and /healthz (a database
        # error quoting its URL) alike.
        self.redactor = redactor or Redactor()

        class Handler(BaseHTTPRequestHandler):
            server_version = "monitor"
            timeout = REQUEST_TIMEOUT  # a client that stops sending is dropped, its thread freed

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("http: " + fmt, *args)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    status, body = health_report(owner.heartbeat, owner.reader)
                    self._send(status, "application/json", json.dumps(body).encode())
                elif path == "/metrics":
                    # Feed names, the host and the outbox: what the console's own Host rule
                    # keeps from a page elsewhere. /healthz says less and answers any name.
                    if owner.console is not None and not owner.console.answers_host(self._headers()):
                        self._send(400, "text/plain; charset=utf-8", b"/metrics answers on this machine only\n")
                    else:
                        self._send(200, CONTENT_TYPE_LATEST, generate_latest(owner.metrics.registry))
                elif owner.console is not None:
                    self._console(owner.console)
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n")

            def do_HEAD(self) -> None:  # what GET answers, without the body: load balancers probe so
                self.do_GET()

            def do_POST(self) -> None:  # the console's login form
                if owner.console is not None:
                    self._console(owner.console)
                else:
                    self._send(405, "text/plain; charset=utf-8", b"GET /healthz or /metrics\n")

            def _console(self, console: Console) -> None:
                method = "GET" if self.command == "HEAD" else self.command
                reply = console.handle(method, self.path, self._headers(), self.rfile, self.client_address[0])
                self._send(reply.status, reply.content_type, reply.body, reply.headers)

            def _headers(self) -> dict[str, str]:
                return {name.lower(): value for name, value in self.headers.items()}

            def _send(self, status: int, ctype: str, payload: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
                payload = owner.redactor.redact_bytes(payload)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for name, value in headers:
                    self.send_header(name, owner.redactor.redact(value))
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

        try:
            server_class = _Server6 if ":" in address[0] else _Server
            self.httpd = server_class(address, Handler)
        except OSError as exc:
            host, port = address
            raise MonitorError(
                f"cannot listen on {host}:{port} for /healthz and /metrics: {exc.strerror or exc}",
                hint="choose a free port in [monitor] http, or remove the key to turn the endpoint off",
            ) from None
        self.address = self.httpd.server_address[:2]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="monitor-http", daemon=True)

    def start(self) -> None:
        self.thread.start()
        log.info(
            "serving %s on http://%s:%d",
            "the console, /healthz and /metrics" if self.console else "/healthz and /metrics",
            *self.address,
        )

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
