"""Parsers of single configuration values: durations, rates, quiet hours, digests, addresses."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """`30s`, `10m`, `1h`, `2d`, `1h30m` (or a bare number of seconds) → seconds."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as "30s", "10m", "1h" or "2d"')
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError('expected a duration such as "30s", "10m", "1h" or "2d"')
    text = value.strip().lower()
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos and text[pos : m.start()].strip():
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError(f'{value!r} is not a duration; write it like "30s", "10m", "1h" or "2d"')
    return total


def parse_rate(value: Any) -> float:
    """`"1/s"`, `"20/m"`, `"100/h"` (messages per unit) or 0 (no limit, quoted or not) → seconds
    between messages."""
    if isinstance(value, str) and re.fullmatch(r"\s*0+(?:\.0+)?\s*", value):
        return 0.0
    if value == 0 and not isinstance(value, bool):
        return 0.0
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*([smh])\s*", value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f'{value!r} is not a rate; write it like "1/s", "20/m" or "100/h" (0: no limit)')
    if float(m.group(1)) == 0:
        # Read literally it forbids every message, the opposite of the 0 that means no limit.
        raise ValueError(f'{value!r} would let no message through; for no limit write 0, else a rate like "1/s"')
    return _DURATION_UNITS[m.group(2)] / float(m.group(1))


def parse_quiet(value: Any) -> tuple[int, int]:
    """`"22:00-07:00"` → (1320, 420): start and end in minutes after midnight (may wrap)."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value) if isinstance(value, str) else None
    if m:
        h1, m1, h2, m2 = map(int, m.groups())
        if h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60 and (h1, m1) != (h2, m2):
            return h1 * 60 + m1, h2 * 60 + m2
    raise ValueError(f'{value!r} is not a span of hours; write it like "22:00-07:00" (start-end, 24-hour clock)')


def valid_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_zone(value: Any) -> str:
    """An IANA time zone name, checked."""
    if not isinstance(value, str) or not valid_zone(value):
        raise ValueError(f'{value!r} is not a time zone name such as "UTC" or "Europe/London"')
    return value


def digest_problem(value: Any, tz: str) -> str:
    """Why `value` is not a digest schedule (an interval or a five-field crontab), or ""."""
    if not isinstance(value, str) or not value.strip():
        return 'must be an interval such as "15m" or a crontab such as "0 7 * * *"'
    try:
        if parse_duration(value) <= 0:
            return "must be longer than 0s"
        return ""
    except ValueError:
        pass
    from apscheduler.triggers.cron import CronTrigger

    if len(value.split()) != 5:
        return f'{value!r} is neither an interval ("15m") nor a five-field crontab ("0 7 * * *")'
    try:
        CronTrigger.from_crontab(value, timezone=tz)
    except ValueError as exc:
        return f"{value!r} is not a valid crontab: {exc}"
    return ""


def parse_listen(value: Any) -> tuple[str, int]:
    """`"127.0.0.1:9464"`, `"[::1]:9464"`, `"0.0.0.0:9464"` (every interface) or a port alone
    (`9464`, `":9464"`: this machine only, 127.0.0.1) → (host, port)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError('must be "HOST:PORT" or a port, e.g. "127.0.0.1:9464"')
    text = value.strip()
    if text.isdigit():
        text = ":" + text
    if ":" not in text:
        raise ValueError('must be "HOST:PORT" or a port, e.g. "127.0.0.1:9464"')
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError('write an IPv6 address in brackets, e.g. "[::1]:9464"')
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{port!r} is not a port number (1 to 65535)")
    # A port alone stays on this machine: serving beyond it is a choice written out in full.
    return host or "127.0.0.1", int(port)


def parse_listen_or_off(value: Any) -> tuple[str, int] | None:
    """What parse_listen reads, or None (no listener) for ""."""
    return None if value == "" else parse_listen(value)


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
