"""Progress is drawn on a terminal only; piped output stays plain."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest
from testkit import monitor_exe, write_config

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_run_once_shows_progress_on_a_terminal_and_not_when_piped(tmp_path, feed_server):
    pytest.importorskip("rich")
    url = feed_server.serve("/toi.xml", (FIXTURES / "story/toi_v1.xml").read_bytes())
    write_config(tmp_path, feeds={"toi": url}, rules=[], channels={})
    cmd = [*monitor_exe(), "--config", str(tmp_path / "config.toml"), "run", "--once"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "TERM": "xterm", "COLUMNS": "100"}

    piped = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert piped.returncode == 0 and "polling feeds" not in piped.stderr
    assert "toi: 3 new" in piped.stdout

    master, slave = pty.openpty()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=slave, env=env, timeout=60)
        os.close(slave)
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert b"polling feeds" in drawn  # on the terminal (stderr) ...
    assert b"polling feeds" not in proc.stdout and b"toi: not modified" in proc.stdout  # ... never in the result
