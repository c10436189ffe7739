"""The delivery options of the config: defaults, values, and every mistake named with its key."""

from __future__ import annotations

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError

BASE = """
[[feeds]]
name = "a"
url = "https://example.org/a.xml"

[[rules]]
name = "r"
query = "Israel"
notify = ["desk", "slack"]

[channels.slack]
urls = ["slack://T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx"]
"""


def load(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return load_config(path, env={})


def test_defaults_and_values(tmp_path):
    config = load(
        tmp_path,
        """
[channels.desk]
urls = ["json://127.0.0.1:9/hook"]
digest = "0 7 * * 1-5"
timezone = "Asia/Jerusalem"
rate_limit = "20/m"
flood_threshold = 5
flood_window = "2m"

[delivery]
retry_first = "10s"
retry_max = "5m"
dead_after = "2d"
""",
    )
    desk, slack = config.channels["desk"], config.channels["slack"]
    assert (desk.digest, desk.timezone, desk.min_gap, desk.flood_threshold, desk.flood_window) == (
        "0 7 * * 1-5",
        "Asia/Jerusalem",
        3.0,
        5,
        120.0,
    )
    # Slack webhooks take about one message a second: that is the default there.
    assert (slack.digest, slack.min_gap, slack.flood_threshold) == ("", 1.0, 20)
    d = config.delivery
    assert (d.retry_first, d.retry_max, d.dead_after, d.check_every) == (10.0, 300.0, 172800.0, 2.0)
    # The Slack token is a secret to redact wherever it shows up, not only as the whole URL.
    assert "abcdefghijklmnopqrstuvwx" in config.secrets


def test_every_mistake_is_reported_with_its_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        load(
            tmp_path,
            """
[channels.desk]
urls = ["console://"]
digest = "every morning"
timezone = "Mars/Olympus"
rate_limit = "fast"
flood_threshold = -1
flood_window = "0s"
template = "missing.j2"
colour = "red"

[delivery]
retry_first = "soon"
retry_max = "1s"
dead_afterr = "1h"
""",
        )
    text = "\n".join(err.value.problems)
    for key in (
        "digest",
        "timezone",
        "rate_limit",
        "flood_threshold",
        "flood_window",
        "template",
        "'colour'",
        "[delivery] retry_first",
        "'dead_afterr'",
    ):
        assert key in text, key
    assert 'did you mean "dead_after"' in text


@pytest.mark.parametrize(
    ("written", "gap"), [("0", 0.0), (" 0 ", 0.0), (0, 0.0), ("1/s", 1.0), ("20/m", 3.0), ("100/h", 36.0)]
)
def test_rate_limit_is_a_rate_or_zero_for_none_quoted_or_not(tmp_path, written, gap):
    config = load(tmp_path, f'[channels.desk]\nurls = ["json://127.0.0.1:9/hook"]\nrate_limit = {written!r}\n')
    assert config.channels["desk"].min_gap == gap


@pytest.mark.parametrize(
    ("written", "words"),
    [
        ("0/s", "'0/s' would let no message through; for no limit write 0"),
        ("0/m", "'0/m' would let no message through; for no limit write 0"),
        ("fast", "'fast' is not a rate"),
        ("00x", "'00x' is not a rate"),
        ("-1/s", "'-1/s' is not a rate"),
        ("", "'' is not a rate"),
    ],
)
def test_rate_limit_refuses_what_is_not_a_rate(tmp_path, written, words):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f'[channels.desk]\nurls = ["json://127.0.0.1:9/hook"]\nrate_limit = "{written}"\n')
    [problem] = err.value.problems
    assert f"[channels.desk] rate_limit: {words}" in problem
