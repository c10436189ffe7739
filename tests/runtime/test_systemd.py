"""The shipped unit: systemd-analyze verify (where the tool exists) and the promises it makes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from testkit import monitor_exe

UNIT = Path(__file__).parents[2] / "systemd" / "monitor.service"


def settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart's program exists: point it at the installed command.
    unit = tmp_path / "monitor.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace("/opt/monitor/venv/bin/monitor", monitor_exe()[0]))
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    about_unit = [line for line in (result.stdout + result.stderr).splitlines() if "monitor.service" in line]
    if result.returncode != 0 and not about_unit:
        pytest.skip(f"systemd-analyze cannot run here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0 and about_unit == [], result.stdout + result.stderr


def test_the_unit_is_a_hardened_notify_service():
    s = settings()
    assert s["Type"] == ["notify"] and s["WatchdogSec"] and s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "--config /etc/monitor/config.toml" in s["ExecStart"][0]
    assert s["StateDirectory"] == ["monitor"] and s["EnvironmentFile"] == ["-/etc/monitor/monitor.env"]
    assert "LoadCredential=" in UNIT.read_text(encoding="utf-8")
    # The daemon waits at most 20 s for work in flight; systemd must wait longer.
    from monitor.runtime.daemon import STOP_GRACE

    assert int(s["TimeoutStopSec"][0]) > STOP_GRACE
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "UMask": "0077",
    }.items():
        assert s[key] == [value], key
    assert "@system-service" in s["SystemCallFilter"]
