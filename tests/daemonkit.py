"""The installed daemon as a subprocess (`monitor run`), its log in a file, and a way to read
its /healthz and /metrics."""

from __future__ import annotations

import signal
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from testkit import monitor_exe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonProc:
    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log_path = tmp_path / f"daemon-{uuid.uuid4().hex[:6]}.log"
        self.log_file = open(self.log_path, "w")
        # TMPDIR in the test's folder: a killed daemon cannot remove its forkserver's folder.
        base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "TMPDIR": str(tmp_path)}
        self.proc = subprocess.Popen(
            [*monitor_exe(), "--config", str(tmp_path / "config.toml"), "run", *args],
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
            env={**base, **(env or {})},
            cwd=tmp_path,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        # TimeoutStopSec in systemd/monitor.service is 30s; a clean stop must fit in it.
        code = self.proc.wait(timeout=30)
        self.log_file.close()
        return code


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
