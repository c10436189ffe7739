"""Logging set-up: lines (human or JSON) on stderr, every one through the secrets' gate
(redaction.py)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from .redaction import Redactor, redacting

LOG_FORMATS = ("human", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for journald and log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(
    level: str = "info", redactor: Redactor | None = None, stream: TextIO | None = None, fmt: str = "human"
) -> None:
    """Human-readable lines (or JSON lines with fmt="json") on stderr, through `redactor` (a
    Redactor of no secrets at all still masks URL credentials)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_monitor", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(redacting(stream or sys.stderr, redactor or Redactor()))
    handler._monitor = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that log request URLs (webhook tokens live in them) stay quiet.
    for noisy in ("httpx", "httpcore", "apprise", "apscheduler.executors.default", "apscheduler.scheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING if level != "debug" else logging.INFO)
    # requests' urllib3 logs each request line, a webhook's token included, at debug.
    for noisy in ("urllib3", "requests"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # psycopg's pool logs every checkout (info) and every failed reconnect (warning); the
    # daemon says itself, once, that the database is away and when it is back.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR if level != "debug" else logging.INFO)
