"""The shipped units: systemd-analyze verify (where the tool exists) and the promises they make.
monitor@.service, the template for several nodes on one host, is monitor.service but for
the node's identity."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from testkit import monitor_exe

UNIT = Path(__file__).parents[2] / "systemd" / "monitor.service"
TEMPLATE = UNIT.with_name("monitor@.service")


def settings(unit: Path = UNIT) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


@pytest.mark.parametrize(
    ("shipped", "loaded"), [(UNIT, "monitor.service"), (TEMPLATE, "monitor@1.service")], ids=["unit", "template"]
)
def test_systemd_analyze_verify_accepts_the_unit(tmp_path, shipped, loaded):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart's program exists: point it at the installed command.
    unit = tmp_path / shipped.name
    unit.write_text(shipped.read_text(encoding="utf-8").replace("/opt/monitor/venv/bin/monitor", monitor_exe()[0]))
    # A template is verified as an instance of it, its specifiers (%i, %H) filled in.
    result = subprocess.run([tool, "verify", str(tmp_path / loaded)], capture_output=True, text=True, timeout=60)
    about_unit = [
        line for line in (result.stdout + result.stderr).splitlines() if shipped.name in line or loaded in line
    ]
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


def test_the_template_runs_one_node_of_many_as_the_unit_runs_one():
    """Each instance names its node and reads a file of its own (its /healthz port); the rest,
    the sandbox above all, is monitor.service's."""
    unit, template = settings(UNIT), settings(TEMPLATE)
    own = {"Description", "Documentation", "After", "Environment", "EnvironmentFile"}
    assert {k: v for k, v in template.items() if k not in own} == {k: v for k, v in unit.items() if k not in own}
    assert template["Environment"] == ["MONITOR_NODE=%H-%i"]
    assert template["EnvironmentFile"] == [*unit["EnvironmentFile"], "-/etc/monitor/monitor@%i.env"]
    assert "LoadCredential=" in TEMPLATE.read_text(encoding="utf-8")
    # The variables the template and its files set are the ones `monitor run` reads.
    from monitor.cli import run

    envvars = {p.name: p.envvar for p in run.params}
    assert (envvars["node"], envvars["listen"]) == ("MONITOR_NODE", "MONITOR_HTTP")
