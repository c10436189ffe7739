"""What a reload says about each setting of the single tables: one declared `restart` is named
as needing a restart, any other is put in force silently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from testkit import other_value, write_config

from monitor.config import DedupSettings, DeliverySettings, Settings, load_config
from monitor.config.declare import Declared, declared
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
    value = CHANGED.get(d.key, other_value(d.kind, d.default))
    if value is None:
        raise AssertionError(f"no changed value for {d.key}: add one to CHANGED")
    return value


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
