"""What a reload says about each setting of the single tables: one declared `restart` is named
as needing a restart, any other is put in force silently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from testkit import write_config

from monitor.config import DedupSettings, DeliverySettings, Settings, load_config
from monitor.config.declare import Choice, Declared, Duration, Flag, Number, Parsed, Text, Whole, declared
from monitor.runtime.reload import reload_config

# A value that is valid and differs from write_config's, for the settings whose kind cannot make one up.
CHANGED: dict[str, Any] = {
    "database": "elsewhere.db",
    "http": "127.0.0.1:9464",
    "web_token": "long-enough-to-be-a-token",
    "health_channel": "screen",
    "schedule": "adaptive",
}
TABLES = (("monitor", Settings), ("dedup", DedupSettings), ("delivery", DeliverySettings))
CASES = [(table, d) for table, cls in TABLES for d in declared(cls)]


def changed(d: Declared) -> Any:
    if d.key in CHANGED:
        return CHANGED[d.key]
    kind = d.kind
    if isinstance(kind, Duration):
        return "97s"
    if isinstance(kind, Whole):
        return kind.at_least + 7
    if isinstance(kind, Number):
        low = kind.at_least if kind.at_least is not None else kind.above
        assert low is not None
        return (low + kind.at_most) / 3 if kind.at_most is not None else low + 1.5
    if isinstance(kind, Flag):
        return not d.default
    if isinstance(kind, Choice):
        return kind.options[-1]
    if isinstance(kind, (Text, Parsed)):
        return "other"
    raise AssertionError(f"no changed value for {d.key}: add one to CHANGED")


@pytest.mark.parametrize("table, d", CASES, ids=[f"{t}.{d.key}" for t, d in CASES])
def test_a_reload_names_exactly_the_changed_settings_that_need_a_restart(tmp_path: Path, table: str, d: Declared):
    old = load_config(write_config(tmp_path), env={})
    tables: dict[str, Any] = {"monitor": {}, "extra": {}}
    if table == "monitor":
        tables["monitor"][d.key] = changed(d)
    else:
        tables["extra"][table] = {d.key: changed(d)}
    write_config(tmp_path, monitor=tables["monitor"], extra=tables["extra"])
    result = reload_config(old, env={})
    assert result.config is not None, result.problems
    assert result.needs_restart == ([f"[{table}] {d.key}"] if d.setting.restart else [])


def test_the_settings_built_in_at_start_need_a_restart():
    needing = {d.key for _, cls in TABLES for d in declared(cls) if d.setting.restart}
    assert {"database", "concurrency", "per_host", "timeout", "http", "parse_workers", "check_every"} <= needing
    assert not {"interval", "log_level", "retry_first"} & needing
