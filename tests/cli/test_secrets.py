"""One gate for every secret (monitor/redaction.py): passwords as `openssl rand` and people make
them, with every URL delimiter, spaces and non-ASCII, through every command a user runs and a
real PostgreSQL server that refuses them. No output may carry any stretch of one."""

from __future__ import annotations

import json
import random
import string
import sys
from pathlib import Path
from urllib.parse import quote

import pgkit
import pytest
from hypothesis import given
from hypothesis import strategies as st
from testkit import write_config

from monitor.config import CredentialEnv, load_config
from monitor.redaction import Redactor, Secrets, redacted_output

pytestmark = pytest.mark.usefixtures("postgres_available")

SPECIAL = "/@:#?%+= "
NON_ASCII = "éشжß"
WINDOW = 6  # no run of this many characters of a password may be in any output
TOKEN = "Vb3_pQ9-zX2kLm7-Rt5wYc8-Hn4sJd6"  # the console's, from ${MONITOR_WEB_TOKEN}


def generated_password(seed: int, length: int = 32) -> str:
    """A password holding every URL delimiter that breaks a URL, a space and non-ASCII letters."""
    rng = random.Random(seed)
    chars = list(SPECIAL + NON_ASCII)
    chars += rng.choices(string.ascii_letters + string.digits, k=length - len(chars))
    rng.shuffle(chars)
    return "".join(chars)


PASSWORDS = [generated_password(seed) for seed in (1, 2)]


def stretches(secret: str) -> set[str]:
    """Every run of WINDOW characters of the secret, as it is and percent-encoded."""
    forms = {secret, quote(secret, safe="")}
    return {form[i : i + WINDOW] for form in forms for i in range(len(form) - WINDOW + 1)}


def leaked(secret: str, *outputs: str) -> list[str]:
    text = "\n".join(outputs)
    return sorted(s for s in stretches(secret) if s in text)


@pytest.fixture
def refused_database(postgres_server, postgres_schema):
    """(URL template with ${PGPASSWORD}, port): a schema only pgkit.GUARDED may use, whose real
    password is none of the generated ones."""
    postgres_server.guard(postgres_schema, "the-real-one-Q7x2")
    url = f"postgresql://{pgkit.GUARDED}:${{PGPASSWORD}}@127.0.0.1:{postgres_server.port}/monitor"
    return url + f"?options=-csearch_path%3D{postgres_schema}", postgres_server.port


def configure(tmp_path: Path, database: str) -> Path:
    return write_config(
        tmp_path,
        monitor={"database": database, "web_token": "${MONITOR_WEB_TOKEN}"},
        feeds={"wire": "https://example.com/feed"},
        rules=[{"name": "r", "query": "Israel", "notify": ["mail"]}],
        # Nothing listens on port 9: apprise tries, fails, and says so with what it parsed.
        channels={
            "mail": {
                "urls": ["mailto://desk:${SMTP_PASSWORD}@127.0.0.1:9?from=monitor@example.org&to=desk@example.org"]
            }
        },
    )


COMMANDS = [
    ("check",),
    ("feeds",),
    ("feeds", "--json"),
    ("cluster", "--json"),
    ("alerts",),
    ("alerts", "--json"),
    ("outbox", "--json"),
    ("backtest", "Israel"),
    ("run", "--once"),
    ("run",),
    ("notify-test", "mail"),
    ("export-opml",),
    ("rules", "explain", "Israel"),
]


@pytest.mark.parametrize("password", PASSWORDS, ids=["pw1", "pw2"])
def test_a_generated_password_reaches_no_output_of_any_command(run_cli, tmp_path, refused_database, password):
    database, port = refused_database
    configure(tmp_path, database)
    token = TOKEN
    env = {"PGPASSWORD": password, "SMTP_PASSWORD": password, "MONITOR_WEB_TOKEN": token}
    results = {command: run_cli(*command, env=env, timeout=90) for command in COMMANDS}
    for command, result in results.items():
        assert not leaked(password, result.stdout, result.stderr), (command, result.stdout, result.stderr)
        assert token not in result.stdout + result.stderr, command
        assert "Traceback" not in result.stderr, (command, result.stderr)
    # The password holds `/`, `@`, `#`, `?` and a space unencoded: check says so, showing none of it
    # (and apprise cannot read the mail URL it garbles).
    check = results[("check",)]
    assert check.returncode == 2 and 'channel "mail" url #1: apprise does not recognise' in check.stderr
    assert "[monitor] database: ${PGPASSWORD} holds characters that end or garble a password in a URL" in (check.stderr)
    assert all(f"{c!r} as {quote(c, safe='')}" in check.stderr for c in "/@#? "), check.stderr
    assert "[channels.mail] urls: ${SMTP_PASSWORD} holds characters" in check.stderr
    # Every command that needs the database fails naming it, without the password or a garbled host.
    named = f"postgresql://{pgkit.GUARDED}@127.0.0.1:{port}/monitor"
    for command in COMMANDS[1:10]:
        result = results[command]
        assert result.returncode == 1, (command, result.stderr)
        assert named in result.stderr, (command, result.stderr)


def test_a_password_encoded_as_check_says_reaches_a_server_that_refuses_it(run_cli, tmp_path, refused_database):
    database, _ = refused_database
    configure(tmp_path, database)
    password = PASSWORDS[0]
    encoded = quote(password, safe="")
    env = {"PGPASSWORD": encoded, "SMTP_PASSWORD": encoded, "MONITOR_WEB_TOKEN": TOKEN}
    for command in (("check",), ("feeds", "--json"), ("run", "--once")):
        result = run_cli(*command, env=env)
        assert not leaked(password, result.stdout, result.stderr), (command, result.stderr)
        assert "holds characters that end or garble" not in result.stderr
        if command == ("check",):
            assert result.returncode == 0, result.stderr
        else:
            assert result.returncode == 1 and "password authentication failed" in result.stderr, result.stderr


@pytest.mark.parametrize("password", PASSWORDS, ids=["pw1", "pw2"])
def test_migrate_db_never_shows_the_targets_password(run_cli, tmp_path, postgres_server, password):
    write_config(tmp_path, feeds={"wire": "https://example.com/feed"}, monitor={"database": "m.db"})
    assert run_cli("feeds").returncode == 0  # the SQLite file, made
    target = f"postgresql://{pgkit.GUARDED}:{password}@127.0.0.1:{postgres_server.port}/monitor"
    result = run_cli("migrate-db", "--to", target)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert not leaked(password, result.stdout, result.stderr), result.stderr


@given(
    secret=st.text(alphabet=string.ascii_letters + string.digits + SPECIAL + NON_ASCII, min_size=12, max_size=40),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_every_spelling_of_a_secret_is_masked_in_any_text(secret, before, after):
    redactor = Redactor(Secrets.of(passwords=[secret]))
    for spelling in (secret, quote(secret, safe=""), json.dumps(secret)[1:-1]):
        masked = redactor.redact(before + spelling + after)
        assert spelling not in masked


def test_a_password_is_masked_in_pieces_and_a_value_from_a_variable_whole(tmp_path):
    # A path from ${DATA} is a value to hide, not a password: its pieces ("monitor", "analyst")
    # are ordinary words that every other line may hold.
    configure(tmp_path, "${DATA}/monitor.db")
    env = {"DATA": "/home/analyst/monitor-data", "SMTP_PASSWORD": "ab1/tp@Pw#x9", "MONITOR_WEB_TOKEN": TOKEN}
    redactor = Redactor(load_config(tmp_path / "config.toml", env=CredentialEnv(env)).secrets)
    line = "monitor started for analyst: /home/analyst/monitor-data/monitor.db"
    assert redactor.redact(line) == "monitor started for analyst: ***/monitor.db"
    # apprise cuts the mail password at `/` and `#`, and prints what lies between.
    assert redactor.redact("Dropped invalid To email (tp@Pw)") == "Dropped invalid To email (***)"


def test_the_process_streams_are_redacted_even_a_line_written_in_parts(capsys):
    redactor = Redactor(Secrets.of(passwords=["hunter2-very-secret"]))
    with redacted_output(redactor):
        sys.stdout.write("the password is hunter2-")
        sys.stdout.write("very-secret, said the log\n")
        print("and hunter2", "-very-secret", sep="")
    assert capsys.readouterr().out == "the password is ***, said the log\nand ***\n"
