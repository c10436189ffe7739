"""What every kind of test needs: a config file written from Python values, a clock the test moves,
the installed command and a way to wait for a daemon."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import tomlkit

from monitor.config.declare import Choice, Duration, Flag, Kind, Number, Text, TextList, Whole

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC, 00:13 in Jerusalem
HOUR, DAY = 3600.0, 86400.0
CATCH_ALL = "the OR a OR in OR of OR to OR for OR on OR at OR by OR with"
RIFT = "Russia AND Israel AND dissatisfaction"  # only the item story/toi_v2.xml adds to toi_v1.xml matches

Table = Mapping[str, Any]
# The database write_config names unless told: set by the `database` fixture (conftest.py) for
# a test on PostgreSQL; "m.db" beside the config otherwise.
DATABASE_ENV = "MONITOR_TEST_DATABASE"


class Clock:
    """Time as the test sets it: `clock()` reads it, `advance` and `sleep` move it, nothing waits."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


def write_config(
    tmp_path: Path,
    *,
    feeds: Mapping[str, str | Table] | None = None,
    rules: list[Table] | None = None,
    channels: Mapping[str, Table] | None = None,
    monitor: Table | None = None,
    extra: Mapping[str, Table] | None = None,
) -> Path:
    """Write tmp_path/config.toml and return its path.

    feeds: name -> url, or name -> the feed's keys (url among them).
    monitor: keys over the defaults `database` (the test's: "m.db", or its PostgreSQL schema),
    `jitter = 0` (no random spread) and `schedule = "fixed"` (every feed at its interval: the
    tests of the adaptive schedule ask for it).
    channels: name -> keys; by default one console channel, "screen".
    rules: by default one rule, "r", matching nearly any English headline and notifying every channel.
    Pass rules=[] or channels={} for a config without them.
    extra: other top-level tables ([delivery], [dedup], [aliases]...).
    """
    channels = {"screen": {"urls": ["console://"]}} if channels is None else channels
    if rules is None:
        rules = [{"name": "r", "query": CATCH_ALL, "notify": list(channels)}]
    doc: dict[str, Any] = {
        "monitor": {
            "database": os.environ.get(DATABASE_ENV, "m.db"),
            "jitter": 0,
            "schedule": "fixed",
            **(monitor or {}),
        },
        "feeds": [{"name": name, **({"url": f} if isinstance(f, str) else f)} for name, f in (feeds or {}).items()],
        "rules": [dict(r) for r in rules],
        "channels": {name: dict(keys) for name, keys in channels.items()},
        **(extra or {}),
    }
    path = tmp_path / "config.toml"
    # Empty arrays and tables are left out: a config without rules has no `rules = []` either.
    path.write_text(tomlkit.dumps({k: v for k, v in doc.items() if v}), encoding="utf-8")
    return path


def monitor_exe() -> list[str]:
    """The installed console script (the CLI as a user runs it)."""
    exe = Path(sys.executable).parent / "monitor"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("monitor")
    assert found, "the monitor console script is not installed; run `make test`"
    return [found]


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    """For a subprocess's work: poll `condition` until it holds, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def other_value(kind: Kind, default: Any) -> Any:
    """A value of `kind` that it accepts and that is not `default`, as TOML gives it; None for a
    kind that cannot make one up (a parsed format, a value the loader reads itself)."""
    if isinstance(kind, Duration):
        return "90s"
    if isinstance(kind, Whole):
        return kind.at_least + 7
    if isinstance(kind, Number):
        low = kind.at_least if kind.at_least is not None else kind.above
        assert low is not None
        return (low + kind.at_most) / 2 if kind.at_most is not None else low + 1.5
    if isinstance(kind, Flag):
        return not default
    if isinstance(kind, Choice):
        return kind.options[-1]
    if isinstance(kind, Text):
        return "text"
    if isinstance(kind, TextList):
        return ["x"]
    return None
