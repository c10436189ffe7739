"""SIGHUP: read the config file again and say what a reload would change, or why not.

A valid config is put in force by the assembler (`Assembly.rebuild`): a new pipeline
(rules compiled again, a new Notifier for the channels, feeds synced into the store)
over the parts that hold live state, the store and the fetcher with its connection
pools. Polls already running finish with the pipeline they started with. Settings those
parts were built from cannot change without a restart; a reload says so instead of
silently ignoring them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..config import Config, DedupSettings, DeliverySettings, FeedConfig, RuleConfig, Settings, load_config
from ..config.declare import declared
from ..delivery.channels import Notifier
from ..errors import ConfigError, MonitorError


def _restart_settings() -> tuple[tuple[str, str, str], ...]:
    """Each setting declared `restart` (built into the store, the fetcher's HTTP transport, the
    parser workers, a listener or a job's timer when the daemon starts): the Config field of its
    table, its name in words ("[monitor] database") and its field."""
    tables = {d.name: d.key for d in declared(Config)}
    return tuple(
        (attr, f"[{tables[attr]}] {d.key}", d.name)
        for attr, cls in (("settings", Settings), ("dedup", DedupSettings), ("delivery", DeliverySettings))
        for d in declared(cls)
        if d.setting.restart
    )


RESTART_SETTINGS = _restart_settings()


@dataclass
class ReloadResult:
    config: Config | None  # None: rejected, the old configuration stays in force
    problems: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)  # e.g. "[monitor] database"


def _names(items: Iterable[FeedConfig | RuleConfig]) -> dict[str, object]:
    return {x.name: x for x in items}


def describe_changes(old: Config, new: Config) -> list[str]:
    """What a reload changes, in words, e.g. `feeds: +2 (a, b), -1 (c), ~1 (d)`."""
    out = []
    pairs: tuple[tuple[str, Mapping[str, object], Mapping[str, object]], ...] = (
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


def reload_config(old: Config, env: Mapping[str, str] = os.environ) -> ReloadResult:
    """Load the config file again; a valid one comes back with what it changes, else the problems."""
    path = old.path
    try:
        config = load_config(path, env)
        problems = [f"{path}: {p}" for p in Notifier(config.channels).validate()]
        if problems:
            raise ConfigError(problems)
    except ConfigError as exc:
        return ReloadResult(None, problems=exc.problems)
    except MonitorError as exc:
        return ReloadResult(None, problems=[exc.render()])
    needs_restart = [
        words
        for table, words, name in RESTART_SETTINGS
        if getattr(getattr(config, table), name) != getattr(getattr(old, table), name)
    ]
    return ReloadResult(config, changes=describe_changes(old, config), needs_restart=needs_restart)
