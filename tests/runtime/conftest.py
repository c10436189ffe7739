from __future__ import annotations

import pytest


@pytest.fixture
def daemons():
    """The daemons (daemonkit.DaemonProc) a test starts: any still running at its end is killed."""
    started = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        d.log_file.close()
