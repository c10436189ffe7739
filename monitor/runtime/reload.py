"""SIGHUP: re-read the config and rebuild what depends on it, or keep the old one.

A reload swaps the Pipeline (rules compiled again, a new Notifier for the
channels, feeds synced into the store) but keeps the parts that hold live state:
the Store (one SQLite connection) and the Fetcher with its HTTP transport and
connection pools. Polls already running finish with the pipeline they started
with. Settings those parts were built from cannot change without a restart; a
reload says so instead of silently ignoring them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..config import Config, load_config
from ..delivery.channels import Notifier
from ..errors import ConfigError, MonitorError
from ..polling.pipeline import Pipeline

log = logging.getLogger("monitor.runtime.reload")

# Settings baked into the Store, the Fetcher / HTTP transport or the HTTP endpoint at start.
RESTART_SETTINGS = (
    "database",
    "concurrency",
    "per_host",
    "timeout",
    "connect_timeout",
    "max_bytes",
    "user_agent",
    "parse_workers",
    "parse_timeout",
    "http",
)


@dataclass
class ReloadResult:
    pipeline: Pipeline | None  # None: rejected, the old pipeline keeps running
    problems: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.pipeline is not None


def build_pipeline(old: Pipeline, config: Config) -> Pipeline:
    """A pipeline for `config` on the old one's store, fetcher, parser pool, clock and rng."""
    return Pipeline(
        config,
        old.store,
        old.fetcher,
        Notifier(config.channels),
        clock=old.clock,
        rng=old.schedule.rng,
        parser=old.parser,
        start_parser=old.start_parser,
    )


def _names(items) -> dict[str, object]:
    return {x.name: x for x in items}


def describe_changes(old: Config, new: Config) -> list[str]:
    """What a reload changes, in words, e.g. `feeds: +2 (a, b), -1 (c), ~1 (d)`."""
    out = []
    pairs = (
        ("feeds", _names(old.feeds), _names(new.feeds)),
        ("rules", _names(old.rules), _names(new.rules)),
        ("aliases", dict(old.aliases), dict(new.aliases)),
        ("channels", dict(old.channels), dict(new.channels)),
    )
    for label, before, after in pairs:
        added = sorted(after.keys() - before.keys())
        removed = sorted(before.keys() - after.keys())
        changed = sorted(k for k in after.keys() & before.keys() if after[k] != before[k])
        parts = [
            f"{sign}{len(names)} ({', '.join(names)})"
            for sign, names in (("+", added), ("-", removed), ("~", changed))
            if names
        ]
        if parts:
            out.append(f"{label}: " + ", ".join(parts))
    return out


def reload_pipeline(old: Pipeline, env: Mapping[str, str] = os.environ) -> ReloadResult:
    """Load the config file again; a valid one gives a new pipeline, else the problems."""
    path = old.config.path
    try:
        config = load_config(path, env)
        problems = [f"{path}: {p}" for p in Notifier(config.channels).validate()]
        if problems:
            raise ConfigError(problems)
        new = build_pipeline(old, config)
    except ConfigError as exc:
        return ReloadResult(None, problems=exc.problems)
    except MonitorError as exc:
        return ReloadResult(None, problems=[exc.render()])
    needs_restart = [
        key
        for key in RESTART_SETTINGS
        if getattr(config.settings, key, None) != getattr(old.config.settings, key, None)
    ]
    return ReloadResult(new, changes=describe_changes(old.config, config), needs_restart=needs_restart)
