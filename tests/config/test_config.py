from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monitor.config import load_config, parse_duration
from monitor.errors import ConfigError

ROOT = Path(__file__).parents[2]

GOOD = """
[monitor]
database = "data/m.db"
interval = "10m"
backfill = "6h"

[aliases]
ru = "Russia OR Moscow"

[[feeds]]
name = "a"
url = "https://example.org/a.xml"
tags = ["me"]

[[feeds]]
name = "b"
url = "https://example.org/b.xml"
interval = "30s"
enabled = false

[[rules]]
name = "r"
query = "@ru AND Israel"
notify = ["console"]
feeds = ["tag:me", "b"]

[channels.console]
urls = ["console://"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("1h", 3600), ("2d", 172800), ("1h30m", 5400), (45, 45), ("0s", 0)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "ten minutes", "5x", "-1s", True, [1], "1h 5"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_good_config_loads_with_relative_paths_resolved(tmp_path):
    config = load_config(write(tmp_path, GOOD), env={})
    assert config.settings.database == tmp_path / "data" / "m.db"
    assert config.settings.interval == 600 and config.settings.backfill == 6 * 3600
    a, b = config.feeds
    assert a.interval == 600 and b.interval == 30 and not b.enabled
    assert config.rules[0].applies_to(a) and config.rules[0].applies_to(b)


def test_every_problem_is_reported_with_file_key_and_fix(tmp_path):
    path = write(
        tmp_path,
        """
[monitor]
intervall = "5m"
backfill = "a day"

[[feeds]]
name = "a"
url = "https://example.org/a.xml"
interval = "soon"

[[feeds]]
name = "a"
url = "ftp://example.org/b.xml"

[[rules]]
name = "r"
query = "Russia AND"
notify = ["slack"]
feeds = ["tag:nope"]

[[rules]]
name = "r"
query = "Israel"
notify = ["console"]

[channels.console]
urls = ["console://"]
""",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    text = "\n".join(err.value.problems)
    expected = [
        "[monitor] key 'intervall': unknown key; did you mean \"interval\"?",
        "[monitor] backfill: 'a day' is not a duration",
        "[[feeds]] #1 \"a\" interval: 'soon' is not a duration",
        'duplicate feed name "a"',
        "is not an http:// or https:// address",
        'rule "r"',
        "   ^",  # the caret under the missing operand
        'unknown channel "slack"; define [channels.slack]',
        'no feed has the tag "nope"',
        'duplicate rule name "r"',
    ]
    for fragment in expected:
        assert fragment in text, fragment
    assert all(p.startswith(str(path)) for p in err.value.problems)


def test_channels_written_as_an_array_of_tables_are_told_to_be_named_tables(tmp_path):
    written_like_feeds = """
[[channels]]
name = "slack"
urls = ["console://"]

[[channels]]
name = "email"
urls = ["console://"]
"""
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, written_like_feeds), env={})
    assert err.value.problems == [
        f"{tmp_path / 'config.toml'}: [[channels]]: write each channel as a table named after it, [channels.NAME], "
        "with its keys and no `name` (here: [channels.slack], [channels.email])"
    ]


def test_channel_with_unset_variable_is_disabled_with_one_warning(tmp_path):
    text = GOOD + '\n[channels.slack]\nurls = ["${SLACK_HOOK}", "${SLACK_HOOK}"]\n'
    config = load_config(write(tmp_path, text), env={})
    assert not config.channels["slack"].enabled
    assert len(config.warnings) == 1 and "${SLACK_HOOK}" in config.warnings[0]
    enabled = load_config(write(tmp_path, text), env={"SLACK_HOOK": "json://127.0.0.1:1/secret-token"})
    assert enabled.channels["slack"].urls[0] == "json://127.0.0.1:1/secret-token"
    assert "json://127.0.0.1:1/secret-token" in enabled.secrets


def test_broken_toml_names_the_file(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "[monitor\n"), env={})
    assert str(tmp_path / "config.toml") in err.value.problems[0] and "not valid TOML" in err.value.problems[0]


def test_a_file_too_large_to_be_a_configuration_is_refused_unparsed(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"# padding\n" * (32 * 2**20 // 10 + 1))
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    assert refused.value.problems == [f"{path}: larger than 32 MiB; is it the configuration?"]


def test_example_config_passes_check_with_variables_unset(run_cli, tmp_path):
    shutil.copy(ROOT / "config.example.toml", tmp_path / "config.toml")
    result = run_cli("check")
    assert result.returncode == 0, result.stderr
    assert "ok:" in result.stdout
    # Slack and email are off until their variables are set, each with one warning.
    assert result.stderr.count('channel "slack" is disabled') == 1
    assert result.stderr.count('channel "email" is disabled') == 1


def test_check_exits_2_listing_every_problem(run_cli, tmp_path):
    write(tmp_path, '[monitor]\ninterval = "often"\n[[rules]]\nname = "x"\nquery = "(Russia"\nnotify = ["nowhere"]\n')
    result = run_cli("check")
    assert result.returncode == 2
    assert "3 problems" in result.stderr
    assert "interval" in result.stderr and "nowhere" in result.stderr and "never closed" in result.stderr
