"""A throwaway PostgreSQL server for the tests: initdb in a temporary directory, listening on
127.0.0.1 and a free port, one schema per test. As root, the server runs as the `postgres`
user (PostgreSQL refuses root). Nothing is installed: where the server binaries are missing
the PostgreSQL tests skip with one line saying so, except under CI, where that is a failure."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

BIN = Path(os.environ.get("MONITOR_PG_BIN", "/usr/lib/postgresql/15/bin"))
DATABASE = "monitor"
# The one role that must give a password (scram-sha-256, from 127.0.0.1); every other is trusted.
GUARDED = "guarded"


def unavailable() -> str | None:
    """Why no server can be started here, or None."""
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (BIN / name).exists()]
    if missing:
        return f"PostgreSQL server binaries not found in {BIN} (install postgresql-15, or set MONITOR_PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no `postgres` user to run the PostgreSQL server as"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One server for the session; `url(schema)` for a store, `stop`/`start` for the tests of a
    database that goes away."""

    def __init__(self, durable: bool = False) -> None:
        """`durable`: a real server's fsync and synchronous commits (bench/cluster.py measures with them)."""
        self.root = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self._run(
            BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-locale"
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": "200",
        }
        if not durable:  # a test server: durability is not what the tests check, speed is what they need
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        hba = self.data / "pg_hba.conf"  # the first line that matches decides
        hba.write_text(f"host all {GUARDED} 127.0.0.1/32 scram-sha-256\n{hba.read_text()}", encoding="utf-8")
        self.start()
        self.admin(f"CREATE DATABASE {DATABASE}", database="postgres")
        self.admin(f"CREATE ROLE {GUARDED} LOGIN")
        self._schemas = itertools.count(1)

    def _run(self, *args: object) -> None:
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **self._user, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(str(args[0])).name} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        self._run(BIN / "pg_ctl", "-D", self.data, "-l", self.root / "server.log", "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects clients and shuts down cleanly; `immediate` is a crash."""
        self._run(BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop")

    def url(self, schema: str | None = None, database: str = DATABASE, user: str = "postgres") -> str:
        """`user` may carry a password: "name:secret", or "name:${PGPASSWORD}" for a config."""
        url = f"postgresql://{user}@127.0.0.1:{self.port}/{database}"
        return url + (f"?options=-csearch_path%3D{schema}" if schema else "")

    def guard(self, schema: str, password: str) -> None:
        """Let GUARDED log in with `password` and own `schema`."""
        self.admin(f"ALTER ROLE {GUARDED} PASSWORD '{password}'")
        self.admin(f"ALTER SCHEMA {schema} OWNER TO {GUARDED}")

    def admin(self, sql: str, database: str = DATABASE) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url(database=database), autocommit=True) as conn:
            cur = conn.execute(sql)  # type: ignore[arg-type]  # a test's own literal SQL
            return cur.fetchall() if cur.description else []

    def new_schema(self) -> str:
        """A schema of its own for one test: as good as a fresh database, and cheaper."""
        name = f"t{next(self._schemas)}"
        self.admin(f"CREATE SCHEMA {name}")
        return name

    def empty(self, schema: str) -> None:
        """Every table of `schema` but schema_version emptied and its ids restarted: a store
        opened on it again finds a new database, for a few milliseconds where creating and
        migrating another schema costs a tenth of a second. (DELETE, not TRUNCATE: that makes
        new files for every table; foreign keys are not checked meanwhile.)"""
        self.admin(
            f"""DO $$ DECLARE r record; BEGIN
            SET LOCAL session_replication_role = replica;
            FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = '{schema}' AND tablename != 'schema_version'
            LOOP EXECUTE format('DELETE FROM %I.%I', '{schema}', r.tablename); END LOOP;
            FOR r IN SELECT sequencename FROM pg_sequences WHERE schemaname = '{schema}'
            LOOP EXECUTE format('ALTER SEQUENCE %I.%I RESTART', '{schema}', r.sequencename); END LOOP;
            END $$"""
        )

    def drop_schema(self, name: str) -> None:
        self.admin(f"DROP SCHEMA IF EXISTS {name} CASCADE")

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
