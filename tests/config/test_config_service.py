"""Service-facing configuration: [monitor] http, $STATE_DIRECTORY, systemd credentials,
JSON logs with redaction."""

from __future__ import annotations

import io
import json
import logging

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.logs import setup_logging
from monitor.redaction import Redactor, Secrets

BASE = """
[monitor]
{monitor}

[[feeds]]
name = "a"
url = "https://example.org/a.xml"

[[rules]]
name = "r"
query = "Israel"
notify = ["slack"]

[channels.slack]
urls = ["${{SLACK_WEBHOOK_URL}}"]
"""


def write(tmp_path, monitor: str = ""):
    path = tmp_path / "config.toml"
    path.write_text(BASE.format(monitor=monitor), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"127.0.0.1:9464"', ("127.0.0.1", 9464)),
        ('"[::1]:9000"', ("::1", 9000)),
        # A port alone stays on this machine; every interface is written out.
        ('":9464"', ("127.0.0.1", 9464)),
        ('"9464"', ("127.0.0.1", 9464)),
        ("9464", ("127.0.0.1", 9464)),
    ],
)
def test_http_listen_address(tmp_path, value, expected):
    assert load_config(write(tmp_path, f"http = {value}"), env={}).settings.http == expected


def test_http_off_by_default_and_bad_values_name_the_key(tmp_path):
    assert load_config(write(tmp_path), env={}).settings.http is None
    for bad, words in (("localhost", "HOST:PORT"), ("localhost:99999", "not a port"), ("::1:9464", "brackets")):
        with pytest.raises(ConfigError) as info:
            load_config(write(tmp_path, f'http = "{bad}"'), env={})
        [problem] = info.value.problems
        assert "[monitor] http" in problem and words in problem


TOKEN = "k3Vq-8sXbT1p_Zr0aW9cLm"


@pytest.mark.parametrize("address", ["127.0.0.1:9464", "127.8.0.1:9464", "[::1]:9464", "localhost:9464", "9464"])
def test_the_console_on_loopback_needs_no_token(tmp_path, address):
    config = load_config(write(tmp_path, f'http = "{address}"'), env={})
    assert config.settings.web_token == ""


@pytest.mark.parametrize("address", ["0.0.0.0:9464", "[::]:9464", "192.0.2.7:9464", "desk.example.org:9464"])
def test_the_console_beyond_loopback_is_refused_without_a_token_naming_the_key(tmp_path, address):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f'http = "{address}"'), env={})
    [problem] = info.value.problems
    assert "[monitor] web_token: is required" in problem and address.split(":")[0].strip("[]") in problem
    assert 'web_token = "${MONITOR_WEB_TOKEN}"' in problem and "secrets.token_urlsafe" in problem


def test_the_token_comes_from_the_environment_and_is_a_secret(tmp_path):
    path = write(tmp_path, 'http = "0.0.0.0:9464"\nweb_token = "${MONITOR_WEB_TOKEN}"')
    config = load_config(path, env={"MONITOR_WEB_TOKEN": TOKEN})
    assert config.settings.web_token == TOKEN and TOKEN in config.secrets
    assert TOKEN not in repr(config.settings)  # settings printed in a log or a traceback do not carry it
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    [problem] = info.value.problems
    assert "[monitor] web_token: uses ${MONITOR_WEB_TOKEN}, which is not set" in problem


def test_a_token_written_in_the_file_is_a_secret_too(tmp_path):
    config = load_config(write(tmp_path, f'http = "0.0.0.0:9464"\nweb_token = "{TOKEN}"'), env={})
    assert TOKEN in config.secrets


# What `openssl rand -base64 24` and `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`
# printed, twice each: the advice the refusal gives must pass.
MADE_AS_ADVISED = (
    "6S9YJcqT9jcAeg9rcqBS6JZBCwRamBWF",
    "7tsj4n/7RLr9sgk+cH9fQ9Qjb4sj272Z",
    "5dKs8Q3bmldMIsOrQdFQcLvcVlklpPIWvX74sPINSlI",
    "nOFiHkamCDEBvlPNSI6KeM9k5b8-nKE5SHsC_zvj194",
)


@pytest.mark.parametrize("token", [*MADE_AS_ADVISED, TOKEN])
def test_a_random_token_is_accepted(tmp_path, token):
    assert load_config(write(tmp_path, f'web_token = "{token}"'), env={}).settings.web_token == token


def test_tokens_made_as_advised_always_pass_the_estimate():
    """The estimate is conservative, not wrong: 2,000 tokens from the advised generators' alphabets
    (seeded, so the same every run) all pass."""
    import base64
    import random
    import string

    from monitor.config.console_token import weak_token_problem

    rng = random.Random(25)
    urlsafe = string.ascii_letters + string.digits + "-_"
    for _ in range(1000):
        assert not weak_token_problem(base64.b64encode(rng.randbytes(24)).decode())
        assert not weak_token_problem("".join(rng.choice(urlsafe) for _ in range(43)))


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("passwordpassword", "repeat"),  # a word twice
        ("Tr0ub4dor&3Tr0ub4dor&3", "repeat"),
        ("hunter2-hunter2", "15 characters, 16 at least"),
        ("qzvmtrkplwxnbhgdsyfjcuoe", "lower-case letters only"),  # one kind of character
        ("8406517392846150", "digits only"),
        ("Password1234567!", "bits by a conservative estimate"),  # a word and a run
        ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "bits by a conservative estimate"),
    ],
)
def test_a_token_easy_to_guess_is_refused_without_quoting_it(tmp_path, token, why):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f'web_token = "{token}"'), env={})
    [problem] = info.value.problems
    assert "[monitor] web_token: is too easy to guess" in problem and why in problem
    assert "openssl rand -base64 24" in problem and "secrets.token_urlsafe(32)" in problem
    assert token not in problem and token[:5] not in problem


def test_check_refuses_a_weak_token(run_cli, tmp_path):
    write(tmp_path, 'web_token = "passwordpassword"')
    result = run_cli("check")
    assert result.returncode == 2, result.stderr
    assert "[monitor] web_token: is too easy to guess" in result.stderr and "openssl rand" in result.stderr
    assert "password" not in result.stdout + result.stderr


def test_check_refuses_a_console_beyond_loopback_without_a_token(run_cli, tmp_path):
    write(tmp_path, 'http = "0.0.0.0:9464"')
    result = run_cli("check")
    assert result.returncode == 2, result.stderr
    assert "[monitor] web_token: is required" in result.stderr
    write(tmp_path, 'http = "0.0.0.0:9464"\nweb_token = "${MONITOR_WEB_TOKEN}"')
    result = run_cli("check", env={"MONITOR_WEB_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "env", "address"),
    [(("--http", "0.0.0.0:9464"), {}, "0.0.0.0:9464"), ((), {"MONITOR_HTTP": "[::]:9464"}, "[::]:9464")],
)
def test_run_refuses_to_serve_the_console_beyond_loopback_without_a_token(run_cli, tmp_path, args, env, address):
    """The file alone is fine (no `http`); the address the daemon would serve on is not."""
    write(tmp_path)
    result = run_cli("run", *args, env=env)
    assert result.returncode == 2, result.stderr
    assert f"[monitor] web_token: is required: the console listens on {address}" in result.stderr
    assert "secrets.token_urlsafe" in result.stderr


def test_relative_database_goes_to_the_state_directory(tmp_path):
    state = tmp_path / "state"
    assert (
        load_config(write(tmp_path), env={"STATE_DIRECTORY": f"{state}:/other"}).settings.database
        == state / "monitor.db"
    )
    assert load_config(write(tmp_path), env={}).settings.database == tmp_path / "monitor.db"
    absolute = load_config(write(tmp_path, f'database = "{tmp_path}/x.db"'), env={"STATE_DIRECTORY": str(state)})
    assert absolute.settings.database == tmp_path / "x.db"


def test_secrets_from_systemd_credentials(tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "SLACK_WEBHOOK_URL").write_text("https://hooks.slack.com/services/T0/B0/credential\n")
    config = load_config(write(tmp_path), env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.channels["slack"].urls == ("https://hooks.slack.com/services/T0/B0/credential",)
    assert "https://hooks.slack.com/services/T0/B0/credential" in config.secrets
    # The environment wins over a credential of the same name.
    env = {"CREDENTIALS_DIRECTORY": str(creds), "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/env"}
    assert load_config(write(tmp_path), env=env).channels["slack"].urls[0].endswith("/env")
    # Neither: the channel is disabled with a hint that names both ways.
    quiet = load_config(write(tmp_path), env={"CREDENTIALS_DIRECTORY": str(tmp_path / "none")})
    assert not quiet.channels["slack"].enabled
    assert "LoadCredential=" in quiet.warnings[0]


def test_json_log_lines_are_redacted_including_tracebacks():
    stream = io.StringIO()
    secret = "hunter2-very-secret"
    setup_logging("info", Redactor(Secrets.of(passwords=[secret])), stream=stream, fmt="json")
    log = logging.getLogger("monitor.test")
    log.info("sending to %s", f"https://user:{secret}@example.org/x")
    try:
        raise RuntimeError(f"boom {secret}")
    except RuntimeError:
        log.exception("failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["level"] for r in lines] == ["info", "error"]
    assert lines[0]["logger"] == "monitor.test" and "***" in lines[0]["msg"]
    assert "RuntimeError" in lines[1]["exc"]
    assert secret not in stream.getvalue()
    setup_logging("info")  # leave a plain handler behind for other tests
