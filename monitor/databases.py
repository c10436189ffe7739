"""What `[monitor] database` names: a postgresql:// URL, or else a SQLite file path; and how
to show it without its password."""

from __future__ import annotations

import re

SCHEMES = ("postgresql://", "postgres://")
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&]*)")


def is_postgres_url(database: object) -> bool:
    return isinstance(database, str) and database.startswith(SCHEMES)


def _user_info(url: str) -> str:
    """What precedes the host: up to the last `@` before the query, as a person wrote it (a
    password may hold `/` or `@` that a URL parser would cut it at; see check's warning)."""
    rest = url.split("://", 1)[1]
    head = rest.split("?", 1)[0]
    return (head if "@" in head else rest).rpartition("@")[0]


def database_password(database: object) -> str | None:
    """The password written into a PostgreSQL URL (in its user info or as ?password=), if any."""
    if not is_postgres_url(database):
        return None
    text = str(database)
    password = _user_info(text).partition(":")[2]
    if password:
        return password
    found = _QUERY_PASSWORD.search(text)
    return found.group(2) or None if found else None


def redact_database(database: object) -> str:
    """`database` fit for a log line, an error or --json: a URL without its password."""
    text = str(database)
    if not is_postgres_url(text):
        return text
    user_info = _user_info(text)
    if ":" in user_info:
        scheme, rest = text.split("://", 1)
        text = f"{scheme}://{user_info.partition(':')[0]}@{rest[len(user_info) + 1 :]}"
    return _QUERY_PASSWORD.sub(r"\1***", text)
