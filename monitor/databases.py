"""What `[monitor] database` names: a postgresql:// URL, or else a SQLite file path; and how
to show it without its password."""

from __future__ import annotations

import re

SCHEMES = ("postgresql://", "postgres://")
_PASSWORD = re.compile(r"(://[^/@:]*):([^/@]*)@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&]*)")


def is_postgres_url(database: object) -> bool:
    return isinstance(database, str) and database.startswith(SCHEMES)


def database_password(database: object) -> str | None:
    """The password written into a PostgreSQL URL, if any."""
    if not is_postgres_url(database):
        return None
    text = str(database)
    found = _PASSWORD.search(text) or _QUERY_PASSWORD.search(text)
    return found.group(2) or None if found else None


def redact_database(database: object) -> str:
    """`database` fit for a log line, an error or --json: a URL without its password."""
    text = str(database)
    if not is_postgres_url(text):
        return text
    return _QUERY_PASSWORD.sub(r"\1***", _PASSWORD.sub(r"\1@", text))
