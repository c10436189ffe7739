from __future__ import annotations

import itertools
import os
import re
import subprocess
from collections import Counter
from contextlib import ExitStack, closing
from pathlib import Path

import pytest
from servers import FeedServer, WebhookReceiver
from testkit import DATABASE_ENV, monitor_exe

FIXTURES = Path(__file__).parent / "fixtures"
# Every test that opens a store (through the `database` fixture, or `open_store` / `open_rig`,
# which use it) runs once on each; a test marked sqlite_only on the first alone.
BACKENDS = ("sqlite", "postgresql")
# The browser the console's tests drive: Debian's, never one downloaded by `playwright install`.
CHROMIUM = "/usr/bin/chromium"
# How skip_unless_ci words a skip, so that the summary can count them from the reports alone
# (under pytest-xdist the skips happen in the workers, the summary in the controller).
SKIPPED_FOR = re.compile(r"Skipped: (\w+) tests cannot run here: (.*)", re.S)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sqlite_only(reason): a test of what only SQLite has (its files, FTS5, the poller lock)"
    )
    config.addinivalue_line(
        "markers", "pypi: installs monitor from PyPI into a fresh venv, the one test that uses the network"
    )


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("backend", BACKENDS[:1] if only_sqlite else BACKENDS, indirect=True)


def pytest_terminal_summary(terminalreporter, config):
    """One line for each kind of test this machine could not run, and why (skip_unless_ci)."""
    skipped: Counter[tuple[str, str]] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        message = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        found = SKIPPED_FOR.match(message)
        if found:
            skipped[found[1], found[2]] += 1
    for (what, reason), count in skipped.items():
        terminalreporter.write_line(f"{what} tests skipped ({count}): {reason}", yellow=True)


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
def backend(request) -> str:
    """The database this run of the test is on, "sqlite" or "postgresql" (pytest_generate_tests)."""
    return getattr(request, "param", BACKENDS[0])


@pytest.fixture
def database(backend, tmp_path, monkeypatch, request) -> str:
    """This test's database: tmp_path/m.db, or a schema of its own on the session's PostgreSQL
    server, which testkit.write_config then writes into the config by default."""
    if backend == "sqlite":
        return str(tmp_path / "m.db")
    url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv(DATABASE_ENV, url)
    return url


@pytest.fixture
def new_database(backend, tmp_path, request):
    """new_database() -> an empty database of the test's backend, for a test that needs one
    after another (one per hypothesis example), each closed before the next is asked for: a
    new file, or on PostgreSQL the test's schema emptied (pgkit.PostgresServer.empty)."""
    if backend == "sqlite":
        folders = (tmp_path / f"db{n}" for n in itertools.count(1))
        return lambda: str(next(folders) / "m.db")
    server, schema = request.getfixturevalue("postgres_server"), request.getfixturevalue("postgres_schema")
    emptied = itertools.count()

    def new() -> str:
        if next(emptied):  # the first is new already
            server.empty(schema)
        return server.url(schema)

    return new


@pytest.fixture
def open_rig(database):
    """open_rig(config_path, clock=None) -> a deskkit.Rig, closed when the test ends, pass or fail."""
    from deskkit import Rig  # here, not at the top: a test that opens no rig does not import the pipeline

    with ExitStack() as opened:
        yield lambda config_path, clock=None: opened.enter_context(closing(Rig(config_path, clock)))


@pytest.fixture
def open_store(database):
    """open_store(database=the test's, **options of monitor.store.open_store) -> its store,
    closed when the test ends, pass or fail."""
    from monitor.store import open_store

    with ExitStack() as opened:
        yield lambda path=database, **options: opened.enter_context(closing(open_store(path, **options)))


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
def postgres_available() -> None:
    """Skips, with the reason, a test that needs a PostgreSQL server where none can run here
    (tests/pgkit.py), and fails it under CI."""
    import pgkit

    reason = pgkit.unavailable()
    if reason:
        skip_unless_ci("PostgreSQL", reason)


@pytest.fixture(scope="session")
def browser_available() -> str:
    """The path of the browser the console's tests drive; skips them, with the reason, where it
    or playwright is missing, and fails them under CI."""
    reason = ""
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} is missing (Debian: apt-get install chromium chromium-driver; make test does as root)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (pip install -e '.[test]')"
    if reason:
        skip_unless_ci("Browser", reason)
    return CHROMIUM


@pytest.fixture
def pypi_unreachable():
    """pypi_unreachable(reason) skips the install test, with the reason, where pip cannot reach
    its package index; under CI it fails the test instead."""
    return lambda reason: skip_unless_ci("Install", reason)


def skip_unless_ci(what: str, reason: str) -> None:
    """Skip the test for a reason of this machine (counted in the session's summary line), but
    fail it under CI=true, where every test must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} tests cannot run under CI: {reason}")
    pytest.skip(f"{what} tests cannot run here: {reason}")


@pytest.fixture(scope="session")
def postgres_server(postgres_available):
    """A real PostgreSQL server for the session (tests/pgkit.py)."""
    import pgkit

    server = pgkit.PostgresServer()
    yield server
    server.close()


@pytest.fixture
def postgres_schema(postgres_server):
    """A schema of the session's server for this test's own, dropped when it ends."""
    schema = postgres_server.new_schema()
    yield schema
    postgres_server.drop_schema(schema)


@pytest.fixture
def postgres_url(postgres_server, postgres_schema):
    """A database URL of the session's server, in a schema of this test's own."""
    return postgres_server.url(postgres_schema)
