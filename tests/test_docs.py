"""The documentation cannot drift: the generated pages are what docs/generate.py writes from the
code."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from monitor.config import load_config

ROOT = Path(__file__).parents[1]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _generator()


# -- the generated pages ------------------------------------------------------------------------


def test_the_generated_pages_are_what_the_generator_writes():
    stale = [str(p.relative_to(ROOT)) for p in generate.stale()]
    assert not stale, f"{', '.join(stale)} differ from what docs/generate.py writes: run `make docs`"


def test_a_page_edited_by_hand_is_found_stale(tmp_path):
    generate.write(tmp_path)
    assert generate.stale(tmp_path) == []
    page = tmp_path / "configuration.md"
    page.write_text(page.read_text(encoding="utf-8").replace("`interval`", "`intervals`", 1), encoding="utf-8")
    (tmp_path / "commands.md").unlink()
    assert generate.stale(tmp_path) == [page, tmp_path / "commands.md"]


def test_check_names_the_file_that_differs_and_the_fix(tmp_path, capsys):
    assert generate.main([], tmp_path) == 0
    assert generate.main(["--check"], tmp_path) == 0
    (tmp_path / "commands.md").write_text("edited by hand\n", encoding="utf-8")
    assert generate.main(["--check"], tmp_path) == 1
    out = capsys.readouterr().out
    assert "commands.md differs" in out and "run `make docs`" in out and "configuration.md" not in out


def test_the_library_never_imports_the_generator():
    for path in (ROOT / "monitor").rglob("*.py"):
        assert "generate" not in re.findall(r"^\s*(?:from|import)\s+([\w.]+)", path.read_text(encoding="utf-8"), re.M)


def _keys(table: object, path: str) -> Iterator[str]:
    if isinstance(table, list):
        for t in table:
            yield from _keys(t, path)
    elif isinstance(table, dict):
        for key, value in table.items():
            if path == "aliases":
                continue  # its keys are names the file chooses, not settings
            if path == "channels":
                yield from _keys(value, "channels.NAME")  # so are the channels'
                continue
            yield key
            yield from _keys(value, key)


def test_every_key_of_the_example_config_is_documented():
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    keys = set(_keys(example, ""))
    assert {"monitor", "database", "feeds", "rules", "channels", "urls", "quiet", "dedup", "delivery"} <= keys
    spellings = ("`{}`", "`[{}]`", "`[[{}]]`", "`[{}.NAME]`")
    missing = sorted(k for k in keys if not any(s.format(k) in page for s in spellings))
    assert not missing, f"keys of config.example.toml missing from docs/configuration.md: {missing}"


def test_the_examples_of_the_configuration_page_make_a_valid_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(generate.example_config(), encoding="utf-8")
    env = {"MONITOR_WEB_TOKEN": "a-long-enough-token-of-many-letters-1234", "SLACK_WEBHOOK_URL": "json://localhost/"}
    config = load_config(path, env=env)
    assert sorted(config.channels) == ["console", "slack"] and config.rules[0].feeds


def test_every_command_and_its_examples_are_on_the_commands_page():
    page = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    names = [name for name, _ in generate.walk(generate.cli)]
    assert {"monitor run", "monitor rules explain", "monitor notify-test"} <= set(names)
    for name, command in generate.walk(generate.cli):
        assert f"\n## `{name}`\n" in page, f"`{name}` is missing from docs/commands.md"
        examples = generate.examples_of(command)
        assert examples, f"`{name}` has no example"
        for example in examples:
            assert f"\n{example}\n" in page
