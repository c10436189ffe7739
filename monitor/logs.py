"""Logging set-up and redaction: no secret may reach a log line."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def redact_url(url: str) -> str:
    """The URL without user:password and with secret-looking query values hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(r"\1***@", url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if "@" in parts.netloc:
        netloc = "***@" + netloc
    query = re.sub(r"(?i)((?:token|key|secret|password|pass|sig|auth)[^=&]*=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> set[str]:
    """The parts of a destination URL that are credentials: user, password, path tokens, query values.

    apprise and its HTTP libraries may log any of them on their own (a Slack webhook's
    token is its path), so each is redacted wherever it appears, not only the whole URL.
    """
    out: set[str] = set()
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return out
    if password:  # the user name is no secret, and redacting a word like "alerts" everywhere hurts
        out.add(password)
    for segment in re.split(r"[/?&=:@]", parts.path + "?" + parts.query):
        # Long opaque segments are tokens (Slack's T…/B…/secret); short ones are words like "hook".
        if len(segment) >= 8 and re.search(r"\d", segment) and not re.fullmatch(r"\d+", segment):
            out.add(segment)
    for key_value in parts.query.split("&"):
        key, _, value = key_value.partition("=")
        if value and re.search(r"(?i)token|key|secret|pass|auth|sig", key):
            out.add(value)
    if parts.scheme.lower() in ("slack", "discord", "tgram", "msteams", "pover", "pbul", "gotify") or (
        (parts.hostname or "").endswith("hooks.slack.com")
    ):
        # Every segment of these URLs is part of the credential.
        netloc = "" if parts.scheme.lower().startswith("http") else parts.netloc
        out.update(s for s in re.split(r"[/:@]", netloc + parts.path) if len(s) >= 4 and s != "services")
    return {s for s in out if len(s) >= 4}


class RedactFilter(logging.Filter):
    """Replaces every known secret value (from ${VAR}s) and URL credentials."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return _USERINFO.sub(r"\1***@", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


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


class _RedactingFormatter(logging.Formatter):
    """Redacts the finished line too: tracebacks and exception text bypass the filter."""

    def __init__(self, inner: logging.Formatter, redact: RedactFilter) -> None:
        super().__init__()
        self.inner = inner
        self.redact_filter = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact_filter.redact(self.inner.format(record))


def setup_logging(
    level: str = "info", secrets: Iterable[str] = (), stream: TextIO | None = None, fmt: str = "human"
) -> None:
    """Human-readable lines (or JSON lines with fmt="json") on stderr, redacted."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_monitor", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._monitor = True  # type: ignore[attr-defined]
    redact = RedactFilter(secrets)
    inner = (
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.setFormatter(_RedactingFormatter(inner, redact))
    handler.addFilter(redact)
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
