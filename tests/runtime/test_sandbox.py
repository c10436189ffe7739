"""The daemon under the unit's own system call filter, without systemd: a launcher run by the
system Python (python3-seccomp) loads the filter that systemd/monitor.service asks for, built
from the unit's SystemCallFilter= lines and the groups as `systemd-analyze syscall-filter`
lists them, then execs the installed daemon. A call the unit forbids kills the process that
makes it (SIGSYS), as under systemd, unless the unit sets SystemCallErrorNumber=."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from testkit import RIFT, monitor_exe, wait_for, write_config

UNIT = Path(__file__).parents[2] / "systemd" / "monitor.service"
FIXTURES = Path(__file__).parents[1] / "fixtures"
SYSTEM_PYTHON = "/usr/bin/python3"  # where Debian's python3-seccomp installs

# Run by SYSTEM_PYTHON: launcher.py SPEC.json PROGRAM ARGS...; SPEC is {"allow": [names], "errno": n or null}.
LAUNCHER = """\
import json, os, sys
import seccomp

spec = json.loads(open(sys.argv[1]).read())
# systemd kills the whole process (SCMP_ACT_KILL_PROCESS) unless SystemCallErrorNumber= is set.
default = seccomp.KILL_PROCESS if spec["errno"] is None else seccomp.ERRNO(spec["errno"])
rules = seccomp.SyscallFilter(default)
rules.set_attr(seccomp.Attr.CTL_NNP, 1)  # NoNewPrivileges=yes, which a filter needs anyway
for name in spec["allow"]:
    try:
        rules.add_rule(seccomp.ALLOW, name)
    except RuntimeError:  # unknown to this libseccomp: systemd skips such names as well
        pass
rules.load()
os.execv(sys.argv[2], sys.argv[2:])
"""


def require(available: bool, reason: str) -> None:
    """Skip without the tools; under CI a skip would hide an untested sandbox, so it fails."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run this test (.ci/run installs it)")
    pytest.skip(reason)


def sandbox_tools() -> str:
    """The systemd-analyze to read the groups from, once both tools are known to work."""
    analyze = shutil.which("systemd-analyze")
    require(analyze is not None, "systemd-analyze is not installed (Debian: apt-get install systemd)")
    assert analyze is not None
    has_seccomp = (
        Path(SYSTEM_PYTHON).exists()
        and subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True, timeout=30).returncode == 0
    )
    require(has_seccomp, f"{SYSTEM_PYTHON} cannot import seccomp (Debian: apt-get install python3-seccomp)")
    return analyze


def unit_values(key: str) -> list[str]:
    values = []
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key and not line.startswith(("#", ";")):
            values.append(value.strip())
    return values


class Groups:
    """Syscall groups (@name) as the installed systemd defines them, nested groups expanded."""

    def __init__(self, analyze: str) -> None:
        self.analyze = analyze
        self.known: dict[str, set[str]] = {}

    def expand(self, name: str) -> set[str]:
        if not name.startswith("@"):
            return {name}
        if name not in self.known:
            out = subprocess.run(
                [self.analyze, "--no-pager", "syscall-filter", name],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
            self.known[name] = set()
            for line in out.splitlines()[1:]:  # the first line is the group's own name
                entry = line.strip()
                if entry and not entry.startswith("#"):
                    self.known[name] |= self.expand(entry)
        return self.known[name]


def allowed_syscalls(lines: list[str], groups: Groups) -> set[str]:
    """What systemd allows for these SystemCallFilter= values (systemd.exec(5)): the first line
    decides; an allow list starts from @default, later plain lines add to it, ~lines take away."""
    assert lines and not lines[0].startswith("~"), "the unit's filter is an allow list; this test builds only those"
    allowed = groups.expand("@default")
    for line in lines:
        names = set().union(*(groups.expand(n) for n in line.removeprefix("~").split()))
        allowed = allowed - names if line.startswith("~") else allowed | names
    return allowed


def error_number(values: list[str]) -> int | None:
    """SystemCallErrorNumber= (the last one counts): None (kill) or the errno a refused call returns."""
    if not values or values[-1] in ("", "kill"):
        return None
    return int(values[-1]) if values[-1].isdigit() else getattr(errno, values[-1])


def polls(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM feeds WHERE last_poll IS NOT NULL").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid ...: comm may hold spaces and parentheses
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # exited meanwhile
            continue
    found, todo = [], [pid]
    while todo:
        of = todo.pop()
        children = [child for child, parent in parents.items() if parent == of]
        found += children
        todo += children
    return found


def priorities(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            found.append(os.getpriority(os.PRIO_PROCESS, pid))
        except ProcessLookupError:  # exited meanwhile
            continue
    return found


# (extra SystemCallFilter= lines, SystemCallErrorNumber= lines, whether the workers get below the daemon)
AS_SHIPPED = ([], [], True)
# Without the unit's allowance, with refusals as errors: the worker must parse at the daemon's priority.
NICE_REFUSED = (["~setpriority"], ["EPERM"], False)


@pytest.mark.parametrize(("extra_filter", "extra_errno", "niced"), [AS_SHIPPED, NICE_REFUSED], ids=["unit", "refused"])
def test_daemon_parses_and_delivers_under_the_units_syscall_filter(
    tmp_path, feed_server, webhook, extra_filter, extra_errno, niced
):
    groups = Groups(sandbox_tools())
    allowed = allowed_syscalls(unit_values("SystemCallFilter") + extra_filter, groups)
    if os.geteuid() == 0:
        # The unit runs as User=monitor. Only as root does SQLite hand each new journal to the
        # database's owner (fchown, in @privileged): allowed here, where the test runs as root.
        allowed.add("fchown")
    spec = {
        "allow": sorted(allowed),
        "errno": error_number(unit_values("SystemCallErrorNumber") + extra_errno),
    }
    (tmp_path / "filter.json").write_text(json.dumps(spec), encoding="utf-8")
    (tmp_path / "launcher.py").write_text(LAUNCHER, encoding="utf-8")
    url = feed_server.serve("/toi.xml", (FIXTURES / "story/toi_v1.xml").read_bytes())
    write_config(
        tmp_path,
        monitor={"interval": "1s", "parse_workers": 1},
        feeds={"toi": url},
        rules=[{"name": "rift", "query": RIFT, "notify": ["hook"]}],
        channels={"hook": {"urls": [webhook.apprise_url]}},
    )
    launcher = [SYSTEM_PYTHON, str(tmp_path / "launcher.py"), str(tmp_path / "filter.json")]
    proc = subprocess.Popen(
        [*launcher, *monitor_exe(), "--config", str(tmp_path / "config.toml"), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        wait_for(lambda: polls(tmp_path / "m.db") == 1)
        feed_server.serve("/toi.xml", (FIXTURES / "story/toi_v2.xml").read_bytes())
        wait_for(lambda: len(webhook.received) == 1)
        # The worker that parsed both versions is still up: its priority tells whether nice took.
        daemon_nice = os.getpriority(os.PRIO_PROCESS, proc.pid)
        below = [nice > daemon_nice for nice in priorities(descendants(proc.pid))]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        print(err)  # the daemon's log, shown when the test fails
    assert proc.returncode == 0, err
    for sign_of_a_dead_worker in ("SIGSYS", "killed", "parser process died", "Traceback"):
        assert sign_of_a_dead_worker not in err, err
    if niced:
        assert any(below), "no parser worker runs below the daemon's priority"
    else:
        assert below and not any(below), "a parser worker runs below the daemon's priority although nice was refused"
