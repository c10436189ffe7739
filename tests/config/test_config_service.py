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
from monitor.redaction import Redactor

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


def test_a_token_written_in_the_file_is_a_secret_too_and_a_short_one_is_refused_unquoted(tmp_path):
    config = load_config(write(tmp_path, f'http = "0.0.0.0:9464"\nweb_token = "{TOKEN}"'), env={})
    assert TOKEN in config.secrets
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, 'web_token = "hunter2-hunter2"'), env={})
    [problem] = info.value.problems
    assert "[monitor] web_token: is too short" in problem and "16 characters" in problem
    assert "hunter2" not in problem


def test_check_refuses_a_console_beyond_loopback_without_a_token(run_cli, tmp_path):
    write(tmp_path, 'http = "0.0.0.0:9464"')
    result = run_cli("check")
    assert result.returncode == 2, result.stderr
    assert "[monitor] web_token: is required" in result.stderr
    write(tmp_path, 'http = "0.0.0.0:9464"\nweb_token = "${MONITOR_WEB_TOKEN}"')
    result = run_cli("check", env={"MONITOR_WEB_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_run_refuses_an_http_override_beyond_loopback_without_a_token(run_cli, tmp_path):
    write(tmp_path)
    result = run_cli("run", "--http", "0.0.0.0:9464")
    assert result.returncode == 2
    assert "--http listens on 0.0.0.0:9464" in result.stderr and "web_token" in result.stderr


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
    setup_logging("info", Redactor([secret]), stream=stream, fmt="json")
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
