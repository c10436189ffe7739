"""Each setting is declared once, on its model field; these hold the loader to the declarations:
defaults, accepted keys, bounds and their words."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import tomlkit
from testkit import other_value

from monitor.config import (
    ChannelConfig,
    Config,
    DedupSettings,
    DeliverySettings,
    FeedConfig,
    RuleConfig,
    Settings,
    load_config,
)
from monitor.config.declare import (
    MISSING,
    Choice,
    Declared,
    Duration,
    Flag,
    Number,
    Text,
    TextList,
    Whole,
    declared,
    keys,
)
from monitor.errors import ConfigError

ROOT = Path(__file__).parents[2]


def base() -> dict[str, Any]:
    """The smallest config with one feed, one rule and one channel."""
    return {
        "feeds": [{"name": "a", "url": "https://example.org/a.xml"}],
        "rules": [{"name": "r", "query": "Israel", "notify": ["console"]}],
        "channels": {"console": {"urls": ["console://"]}},
    }


class Table(NamedTuple):
    cls: type[Any]
    where: str  # how its problems name it
    of_data: Callable[[dict[str, Any]], dict[str, Any]]  # the table in a base() config
    of_config: Callable[[Config], Any]  # what it loads into


TABLES = [
    Table(Settings, "[monitor]", lambda d: d.setdefault("monitor", {}), lambda c: c.settings),
    Table(DedupSettings, "[dedup]", lambda d: d.setdefault("dedup", {}), lambda c: c.dedup),
    Table(DeliverySettings, "[delivery]", lambda d: d.setdefault("delivery", {}), lambda c: c.delivery),
    Table(FeedConfig, '[[feeds]] #1 "a"', lambda d: d["feeds"][0], lambda c: c.feeds[0]),
    Table(RuleConfig, 'rule "r"', lambda d: d["rules"][0], lambda c: c.rules[0]),
    Table(ChannelConfig, "[channels.console]", lambda d: d["channels"]["console"], lambda c: c.channels["console"]),
]
SETTINGS = [(t, d) for t in TABLES for d in declared(t.cls)]


def ids(case: tuple[Table, Declared]) -> str:
    return f"{case[0].cls.__name__}.{case[1].key}"


def load(tmp_path: Path, data: dict[str, Any]) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(tomlkit.dumps(data), encoding="utf-8")
    return load_config(path, env={})


def problems(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, data)
    return err.value.problems


def test_every_declared_default_is_what_an_empty_config_loads(tmp_path):
    config = load(tmp_path, base())
    checked = 0
    for table, d in SETTINGS:
        if d.default is MISSING:
            continue
        expected = tmp_path / d.default if d.name == "database" else d.default
        assert getattr(table.of_config(config), d.name) == expected, ids((table, d))
        checked += 1
    assert checked >= 40
    # The one default that is another setting's value.
    assert config.feeds[0].interval == config.settings.interval
    empty = load(tmp_path, {})
    assert (empty.settings, empty.dedup, empty.delivery) == (config.settings, config.dedup, config.delivery)


# A value that is valid and not the default, for the settings whose kind cannot make one up.
SAMPLES: dict[tuple[type[Any], str], Any] = {
    (Settings, "database"): "elsewhere.db",
    (Settings, "http"): "127.0.0.1:9464",
    (Settings, "web_token"): "long-enough-to-be-a-token",
    (Settings, "health_channel"): "console",
    (FeedConfig, "name"): "a",
    (FeedConfig, "url"): "https://example.org/a.xml",
    (RuleConfig, "name"): "r",
    (RuleConfig, "notify"): ["console"],
    (RuleConfig, "feeds"): ["a"],
    (ChannelConfig, "urls"): ["console://"],
    (ChannelConfig, "digest"): "15m",
    (ChannelConfig, "timezone"): "Europe/London",
    (ChannelConfig, "rate_limit"): "20/m",
    (ChannelConfig, "template"): "alert.j2",
    (ChannelConfig, "quiet"): "22:00-07:00",
}


def sample(cls: type[Any], d: Declared) -> Any:
    if (cls, d.key) in SAMPLES:
        return SAMPLES[cls, d.key]
    value = other_value(d.kind, d.default)
    if value is None:
        raise AssertionError(f"no sample for {cls.__name__}.{d.key}: add one to SAMPLES")
    return value.upper() if isinstance(d.kind, Choice) else value  # a choice is read in any case


def test_every_declared_key_is_accepted_and_read(tmp_path):
    (tmp_path / "alert.j2").write_text("{{ alert.title }}\n", encoding="utf-8")
    data = base()
    for table, d in SETTINGS:
        table.of_data(data)[d.key] = sample(table.cls, d)
    config = load(tmp_path, data)
    for table, d in SETTINGS:
        if d.default is not MISSING:
            assert getattr(table.of_config(config), d.name) != d.default, ids((table, d))


@pytest.mark.parametrize(
    ("cls", "key"),
    [(Config, d.key) for d in declared(Config)] + [(t.cls, d.key) for t, d in SETTINGS],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_a_misspelt_key_gets_did_you_mean(tmp_path, cls, key):
    data = base()
    typo = key + key[-1]
    where = data if cls is Config else next(t for t in TABLES if t.cls is cls).of_data(data)
    where[typo] = {} if cls is Config else 1
    assert any(f'key {typo!r}: unknown key; did you mean "{key}"?' in p for p in problems(tmp_path, data))


def bounds(kind: Any) -> list[tuple[Any, Any]]:
    """(refused, accepted) pairs: just outside each bound of the kind, and on it or just inside."""
    if isinstance(kind, Duration):
        return [(-1, 0)] if kind.above is None else [(kind.above, kind.above + 1)]
    if isinstance(kind, Whole):
        return [(kind.at_least - 1, kind.at_least)]
    if isinstance(kind, Number):
        pairs = []
        if kind.at_least is not None:
            pairs.append((kind.at_least - 0.01, kind.at_least))
        if kind.above is not None:
            pairs.append((kind.above, kind.above + 0.01))
        if kind.at_most is not None:
            pairs.append((kind.at_most + 0.01, kind.at_most))
        return pairs
    return []


BOUNDED = [(t, d, refused, accepted) for t, d in SETTINGS for refused, accepted in bounds(d.kind)]
# Settings checked against another, which must move with them.
ALONG = {(DeliverySettings, "retry_max"): "retry_first", (Settings, "max_interval"): "min_interval"}


@pytest.mark.parametrize(
    ("table", "d", "refused", "accepted"), BOUNDED, ids=[f"{ids((t, d))}={r}" for t, d, r, _ in BOUNDED]
)
def test_each_bound_refuses_a_value_just_outside_it_naming_the_key(tmp_path, table, d, refused, accepted):
    data = base()
    table.of_data(data)[d.key] = refused
    [problem] = problems(tmp_path, data)
    assert f"{table.where} {d.key}: " in problem
    words = d.setting.problem
    if words and not (isinstance(d.kind, Duration) and refused < 0):  # a negative duration fails parsing first
        assert problem.endswith(f": {words}")
    data = base()
    table.of_data(data)[d.key] = accepted
    if (table.cls, d.key) in ALONG:
        table.of_data(data)[ALONG[table.cls, d.key]] = accepted
    load(tmp_path, data)


def test_bounded_settings_are_all_covered():
    covered = {(t.cls, d.key) for t, d, _, _ in BOUNDED}
    numeric = {(t.cls, d.key) for t, d in SETTINGS if isinstance(d.kind, (Duration, Whole, Number))}
    assert covered == numeric and len(covered) >= 25


@pytest.mark.parametrize(
    ("table", "key", "value", "words"),
    [
        ("monitor", "jitter", 0.6, "must be a fraction of the interval between 0 and 0.5, e.g. 0.1"),
        ("monitor", "concurrency", 0, "must be a whole number of at least 1"),
        ("monitor", "max_bytes", 1000, "must be a whole number of at least 1024"),
        ("monitor", "retention", "0s", "must be longer than 0s"),
        ("monitor", "failing_after", 0, "must be a whole number of consecutive errors, at least 1"),
        ("monitor", "silent_factor", 0.5, "must be a number of at least 1, e.g. 4 (times the median gap)"),
        ("monitor", "log_level", "loud", "'loud' is not one of debug, info, warning, error"),
        ("monitor", "schedule", "smart", "'smart' is not one of adaptive, fixed"),
        (
            "monitor",
            "min_interval",
            "2h",
            "7200s is longer than max_interval (3600s); lower min_interval or raise max_interval",
        ),
        ("monitor", "user_agent", " ", "must be a non-empty string"),
        ("dedup", "title_similarity", 2, "must be a number from 0 (off) to 1, e.g. 0.6"),
        ("channel", "flood_threshold", -1, "must be a whole number of messages (0 turns the flood guard off)"),
        ("channel", "flood_window", "0s", 'must be longer than 0s, e.g. "10m"'),
        ("channel", "timezone", "Mars/Olympus", "'Mars/Olympus' is not a time zone name such as \"UTC\""),
        ("rule", "spike_factor", 1, "must be a number above 1, e.g. 3 (times the usual hourly matches)"),
        ("rule", "spike_min", 0, "must be a whole number of matches in an hour, at least 1"),
        ("rule", "urgent", "yes", "must be true or false (unquoted)"),
        ("feed", "tags", 5, 'must be a list of strings, e.g. ["a", "b"]'),
    ],
)
def test_the_words_of_each_problem(tmp_path, table, key, value, words):
    data = base()
    {
        "monitor": lambda: data.setdefault("monitor", {}),
        "dedup": lambda: data.setdefault("dedup", {}),
        "channel": lambda: data["channels"]["console"],
        "rule": lambda: data["rules"][0],
        "feed": lambda: data["feeds"][0],
    }[table]()[key] = value
    [problem] = problems(tmp_path, data)
    assert f" {key}: {words}" in problem


def test_a_feed_that_sets_its_own_interval_is_pinned(tmp_path):
    data = base()
    data["feeds"][0]["interval"] = "5m"  # the same as the default: still its own choice
    data["monitor"] = {"interval": "5m"}
    data["feeds"].append({"name": "b", "url": "https://example.org/b.xml"})
    a, b = load(tmp_path, data).feeds
    assert (a.pinned, b.pinned, a.interval, b.interval) == (True, False, 300, 300)


def test_timeout_zero_means_the_default(tmp_path):
    data = base()
    data["monitor"] = {"timeout": "0s"}
    assert load(tmp_path, data).settings.timeout == load(tmp_path, base()).settings.timeout > 0


def test_required_keys_say_so(tmp_path):
    data = base()
    del data["feeds"][0]["url"], data["rules"][0]["notify"]
    text = "\n".join(problems(tmp_path, data))
    assert '[[feeds]] #1 "a" url: is required; add it as a quoted string' in text
    assert 'rule "r" notify: is required: the channels to alert, e.g. notify = ["console"]' in text


def test_every_key_of_the_example_config_is_declared():
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    assert set(example) <= keys(Config)
    assert set(example["monitor"]) <= keys(Settings)
    assert set(example["dedup"]) <= keys(DedupSettings)
    assert set(example["delivery"]) <= keys(DeliverySettings)
    for feed in example["feeds"]:
        assert set(feed) <= keys(FeedConfig), feed
    for rule in example["rules"]:
        assert set(rule) <= keys(RuleConfig), rule
    for name, channel in example["channels"].items():
        assert set(channel) <= keys(ChannelConfig), name


EVERY_DECLARATION = [
    (cls, d)
    for cls in (Config, Settings, DedupSettings, DeliverySettings, FeedConfig, RuleConfig, ChannelConfig)
    for d in declared(cls)
]


@pytest.mark.parametrize("cls, d", EVERY_DECLARATION, ids=[f"{c.__name__}.{d.key}" for c, d in EVERY_DECLARATION])
def test_every_setting_says_what_it_does_and_what_it_takes(cls, d):
    assert d.setting.doc.strip(), f"{cls.__name__}.{d.key} has no doc"
    assert d.setting.doc.strip()[-1] in ".…", f"{cls.__name__}.{d.key}: its doc is a sentence"
    assert d.kind.describe().strip()


@pytest.mark.parametrize(
    "kind, words",
    [
        (Duration(above=0), 'duration (e.g. "30s", "10m", "1h") longer than 0s'),
        (Duration(), 'duration (e.g. "30s", "10m", "1h")'),
        (Whole(at_least=1), "whole number, at least 1"),
        (Number(at_least=0, at_most=0.5), "number from 0 to 0.5"),
        (Number(above=1), "number above 1"),
        (Flag(), "true or false"),
        (Text(), "string, not empty"),
        (Choice(("adaptive", "fixed")), 'one of "adaptive", "fixed" (any case)'),
    ],
)
def test_each_kind_describes_its_type_and_bounds(kind, words):
    assert kind.describe() == words


@pytest.mark.parametrize(
    "kind, value, written",
    [
        (Duration(), 300.0, '"5m"'),
        (Duration(), 6 * 3600.0, '"6h"'),
        (Duration(), 30 * 86400.0, '"30d"'),
        (Duration(), 90.0, '"90s"'),
        (Duration(), 0.0, '"0s"'),
        (Flag(), False, "false"),
        (Number(), 0.1, "0.1"),
        (Whole(at_least=1), 10485760, "10485760"),
        (Text(), 'say "hi"', '"say \\"hi\\""'),
        (TextList(), (), "[]"),
    ],
)
def test_a_default_is_written_as_toml_reads_it_back(kind, value, written):
    assert kind.literal(value) == written
    assert kind.read(tomllib.loads(f"v = {written}")["v"], None) == value


def test_the_settings_declared_to_read_environment_variables_are_the_ones_the_loader_reads(tmp_path):
    declared_env = {f"{cls.__name__}.{d.key}" for cls, d in EVERY_DECLARATION if d.setting.environment}
    assert declared_env == {"Settings.database", "Settings.web_token", "FeedConfig.url", "ChannelConfig.urls"}
    data = base()
    data["monitor"] = {"database": "${V}.db", "web_token": "${TOKEN}", "user_agent": "${V}", "node": "${V}"}
    data["feeds"][0].update(url="https://${V}/a.xml", title="${V}")
    data["channels"]["console"]["urls"] = ["console://", "json://${V}/hook"]
    path = tmp_path / "config.toml"
    path.write_text(tomlkit.dumps(data), encoding="utf-8")
    token = "a-long-enough-token-of-many-letters-1234"
    config = load_config(path, env={"V": "example.org", "TOKEN": token})
    assert config.settings.database == tmp_path / "example.org.db"
    assert config.settings.web_token == token
    assert config.feeds[0].url == "https://example.org/a.xml"
    assert config.channels["console"].urls == ("console://", "json://example.org/hook")
    # Everywhere else, ${VAR} is text like any other.
    assert (config.settings.user_agent, config.settings.node, config.feeds[0].title) == ("${V}",) * 3
