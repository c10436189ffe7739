"""The database going away and coming back (a PostgreSQL restart, the network): the daemon's
jobs stop at the first failing store call and try again at their next run, and the log says
so once per outage, not once per call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..databases import redact_database
from ..errors import MonitorError
from ..store import DATABASE_ERRORS

log = logging.getLogger("monitor.runtime.outage")


class Outage:
    """Whether the database is away, as the daemon's store calls last found it. `on_away` runs
    when an outage begins."""

    def __init__(self, database: object, on_away: Callable[[], None] = lambda: None) -> None:
        self.database = redact_database(database)  # what the log names: never the password
        self.on_away = on_away
        self.away = False

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Run a block of store calls; a database that fails ends the block, logged, instead
        of the job (and no traceback: it is not a bug)."""
        try:
            yield
        except DATABASE_ERRORS as exc:
            self.failed(exc)

    def failed(self, exc: Exception) -> None:
        if self.away:
            log.debug("the database is still away: %s", exc)
            return
        self.away = True
        # StoreUnavailable names the database already (redacted); sqlite3's errors do not.
        reason = exc.message if isinstance(exc, MonitorError) else f"the database {self.database} failed: {exc}"
        log.warning("%s; polls and deliveries wait for it, and resume when it answers", reason)
        self.on_away()

    def answered(self) -> None:
        if self.away:
            self.away = False
            log.info("the database %s answers again", self.database)
