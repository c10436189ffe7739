"""End to end through the installed `monitor` command, as a user runs it."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import click
import pytest
from testkit import RIFT, write_config

FIXTURES = Path(__file__).parents[1] / "fixtures"
STORY = "Israel relayed to Russia 'dissatisfaction' over its Hamas position as rift widens"


def rift_config(tmp_path: Path, feed_url: str, hook_url: str) -> None:
    write_config(
        tmp_path,
        monitor={"database": "state/monitor.db", "backfill": "0s"},
        feeds={"times-of-israel": feed_url},
        rules=[{"name": "russia-israel-rift", "query": RIFT, "notify": ["desk", "screen"]}],
        channels={"desk": {"urls": [hook_url]}, "screen": {"urls": ["console://"]}},
    )


def test_the_story_end_to_end(run_cli, tmp_path, feed_server, webhook):
    url = feed_server.serve("/feed/", (FIXTURES / "story/toi_v1.xml").read_bytes())
    rift_config(tmp_path, url, webhook.apprise_url)

    baseline = run_cli("run", "--once")
    assert baseline.returncode == 0, baseline.stderr
    assert "times-of-israel: 3 new, 0 changed, 0 alerts (baseline)" in baseline.stdout
    assert webhook.received == []

    feed_server.serve("/feed/", (FIXTURES / "story/toi_v2.xml").read_bytes())
    second = run_cli("run", "--once")
    assert second.returncode == 0, second.stderr
    assert "times-of-israel: 1 new, 0 changed, 1 alerts" in second.stdout
    assert f"=== [russia-israel-rift] {STORY}" in second.stdout  # console:// channel
    assert [m["title"] for m in webhook.messages()] == [f"[russia-israel-rift] {STORY}"]

    for _ in range(2):
        later = run_cli("run", "--once")
        assert later.returncode == 0 and "times-of-israel: not modified" in later.stdout
    assert len(webhook.received) == 1
    assert feed_server.statuses("/feed/") == [200, 200, 304, 304]

    alerts = run_cli("alerts", "--json")
    assert alerts.returncode == 0, alerts.stderr
    [alert] = json.loads(alerts.stdout)
    assert alert["rule"] == "russia-israel-rift" and alert["title"] == STORY
    assert sorted((d["channel"], d["status"]) for d in alert["deliveries"]) == [("desk", "sent"), ("screen", "sent")]

    feeds = run_cli("feeds", "--json")
    [feed] = json.loads(feeds.stdout)
    assert (feed["name"], feed["items"], feed["last_status"], feed["consecutive_errors"]) == (
        "times-of-israel",
        4,
        304,
        0,
    )
    assert "times-of-israel" in run_cli("feeds").stdout


def test_run_once_reports_a_failing_feed_without_failing(run_cli, tmp_path, feed_server, webhook):
    rift_config(tmp_path, feed_server.url("/nothing-here"), webhook.apprise_url)
    result = run_cli("run", "--once")
    assert result.returncode == 0
    assert "times-of-israel: error: HTTP 404" in result.stdout
    assert "1 feeds polled, 1 failed" in result.stdout


def test_match_exit_codes_and_json(run_cli, tmp_path):
    shutil.copy(FIXTURES / "story/toi_v2.xml", tmp_path / "toi.xml")
    hit = run_cli("match", "Russia AND Israel AND dissatisfaction", "toi.xml", "--json")
    assert hit.returncode == 0, hit.stderr
    [line] = hit.stdout.splitlines()
    data = json.loads(line)
    assert data["title"] == STORY and data["feed"] == "The Times of Israel"
    assert data["link"].startswith("https://www.timesofisrael.com/israel-relayed")
    assert {t.lower() for t in data["terms"]} == {"russia", "israel", "dissatisfaction"}
    assert all(field in ("title", "summary") for field, _, _ in data["occurrences"])

    plain = run_cli("match", "dissatisfaction", "toi.xml")
    assert plain.returncode == 0 and "**dissatisfaction**" in plain.stdout

    miss = run_cli("match", "Russia AND Israel AND displeasure AND Kremlin AND football", "toi.xml")
    assert miss.returncode == 1 and miss.stdout == ""

    bad = run_cli("match", "(Russia AND", "toi.xml")
    assert bad.returncode == 2 and "^" in bad.stderr

    missing_file = run_cli("match", "Russia", "nope.xml")
    assert missing_file.returncode == 1 and "nope.xml: cannot read" in missing_file.stderr


def test_a_config_nested_too_deeply_to_read_is_a_config_error(run_cli, tmp_path):
    (tmp_path / "config.toml").write_text("deep = " + "[" * 5000 + "]" * 5000 + "\n")
    result = run_cli("check")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "config.toml: not valid TOML: arrays or tables nested too deeply" in result.stderr


def test_no_config_is_a_usage_error(run_cli):
    result = run_cli("feeds")
    assert result.returncode == 2 and "config.example.toml" in result.stderr


def test_no_secret_reaches_any_output(run_cli, tmp_path, feed_server):
    """A full cycle at debug level with a failing, credential-carrying channel."""
    secret = "S3cretPassw0rdXYZ"
    url = feed_server.serve("/feed/", (FIXTURES / "story/toi_v2.xml").read_bytes())
    write_config(
        tmp_path,
        monitor={"backfill": "100000d", "log_level": "debug"},
        feeds={"toi": url},
        rules=[{"name": "rift", "query": RIFT, "notify": ["desk"]}],
        channels={"desk": {"urls": ["${HOOK_URL}"]}},
    )
    env = {"HOOK_URL": f"json://analyst:{secret}@127.0.0.1:9/hook?token={secret}"}
    outputs = [run_cli("run", "--once", env=env), run_cli("alerts", "--json", env=env), run_cli("check", env=env)]
    assert "0 deliveries sent, 1 failed" in outputs[0].stdout
    for result in outputs:
        assert secret not in result.stdout + result.stderr


def test_every_command_is_documented_in_docs_commands():
    from monitor.cli import cli

    page = (Path(__file__).parents[2] / "docs" / "commands.md").read_text(encoding="utf-8")
    for name, _ in _commands(cli):
        assert f"\n## `{name}`\n" in page, f"`{name}` is missing from docs/commands.md"


def _commands(group: click.Group, path: str = "monitor"):
    for name, command in group.commands.items():
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{path} {name}")


def _parse(
    command: click.Command, args: list[str], parent: click.Context | None = None, name: str = "monitor"
) -> click.Context:
    """`args` parsed as click would before running `command` (nothing runs): a UsageError when
    an option, an argument or a value is wrong."""
    ctx = click.Context(command, info_name=name, parent=parent)
    rest = click.Command.parse_args(command, ctx, args)
    if isinstance(command, click.Group):
        name, sub, sub_args = command.resolve_command(ctx, rest)
        assert sub is not None, name
        return _parse(sub, sub_args, ctx, name)
    return ctx


def _all_commands():
    from monitor.cli import cli

    return list(_commands(cli))


@pytest.mark.parametrize("name, command", _all_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_shows_a_valid_example_in_its_help(name, command):
    from monitor.cli import cli

    examples = [line.strip() for line in (command.epilog or "").splitlines() if line.strip().startswith("monitor ")]
    assert examples, f"`{name} --help` shows no example"
    for example in examples:
        words = shlex.split(example)
        ctx = _parse(cli, words[1:])
        # A group's example runs one of its commands.
        assert f"{ctx.command_path} ".startswith(f"{name} "), f"{example!r} runs `{ctx.command_path}`, not `{name}`"


def test_an_invalid_invocation_is_caught_by_the_example_check():
    from monitor.cli import cli

    with pytest.raises(click.UsageError):
        _parse(cli, shlex.split("match 'Russia AND Israel' --since 7d"))
