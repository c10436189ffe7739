from __future__ import annotations

import os
import subprocess
from contextlib import ExitStack, closing
from pathlib import Path

import pytest
from servers import FeedServer, WebhookReceiver
from testkit import monitor_exe

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def feed_server():
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def open_rig():
    """open_rig(config_path, clock=None) -> a deskkit.Rig, closed when the test ends, pass or fail."""
    from deskkit import Rig  # here, not at the top: a test that opens no rig does not import the pipeline

    with ExitStack() as opened:
        yield lambda config_path, clock=None: opened.enter_context(closing(Rig(config_path, clock)))


@pytest.fixture
def open_store(tmp_path):
    """open_store(path=tmp_path/"m.db") -> a SQLiteStore, closed when the test ends, pass or fail."""
    from monitor.store import SQLiteStore

    with ExitStack() as opened:
        yield lambda path=tmp_path / "m.db": opened.enter_context(closing(SQLiteStore(path)))


@pytest.fixture
def fixture_bytes():
    def read(relative: str) -> bytes:
        return (FIXTURES / relative).read_bytes()

    return read


@pytest.fixture
def run_cli(tmp_path):
    """Run the installed `monitor` CLI as a subprocess; returns CompletedProcess."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "TMPDIR": str(tmp_path)}
        return subprocess.run(
            [*monitor_exe(), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**base, **(env or {})},
            cwd=tmp_path,
        )

    return run


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (tests/pgkit.py); skipped, with the reason, where
    none can run here, and a failure under CI."""
    import pgkit

    reason = pgkit.unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL tests cannot run under CI: {reason}")
        pytest.skip(reason)
    server = pgkit.PostgresServer()
    yield server
    server.close()


@pytest.fixture
def postgres_url(postgres_server):
    """A database URL of the session's server, in a schema of this test's own."""
    schema = postgres_server.new_schema()
    yield postgres_server.url(schema)
    postgres_server.drop_schema(schema)
