"""The documentation cannot drift: the generated pages are what docs/generate.py writes from the
code, and every relative link and anchor of the Markdown files leads somewhere."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote

import pytest

from monitor.config import load_config

ROOT = Path(__file__).parents[1]
SKIPPED = ("tests/fixtures/",)  # besides hidden directories (.venv, .git, caches)


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


def test_the_readmes_first_configuration_is_a_valid_file(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert first is not None, "README.md has no TOML example"
    path = tmp_path / "config.toml"
    path.write_text(first.group(1), encoding="utf-8")
    config = load_config(path, env={})
    assert len(config.feeds) == len(config.rules) == len(config.channels) == 1


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


# -- links ----------------------------------------------------------------------------------------


def markdown_files() -> list[Path]:
    """README.md and every other Markdown file of the repository but the test fixtures'."""
    return sorted(
        p
        for p in ROOT.rglob("*.md")
        if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
        and not p.relative_to(ROOT).as_posix().startswith(SKIPPED)
    )


_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`+[^`]*`+")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def _prose(text: str) -> Iterator[str]:
    """The lines of `text` outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text (links and emphasis reduced to their words),
    lowercase, with every character but letters, digits, spaces, `-` and `_` dropped and each
    space made a `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    return "".join(c for c in text.lower() if c.isalnum() or c in " -_").replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file: its headings' slugs, the second of two alike taking `-1`,
    the third `-2`..., and the names of explicit <a> anchors."""
    seen: Counter[str] = Counter()
    out = set()
    for line in _prose(path.read_text(encoding="utf-8")):
        out.update(_HTML_ANCHOR.findall(line))
        m = _HEADING.match(line)
        if m:
            base = slug(m.group(2))
            out.add(f"{base}-{seen[base]}" if seen[base] else base)
            seen[base] += 1
    return out


def links(path: Path) -> Iterator[tuple[int, str]]:
    """Each link target of a Markdown file outside code, with its line number."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        prose = _INLINE_CODE.sub("", line)
        for m in _LINK.finditer(prose):
            yield number, m.group(1)
        m = _REFERENCE.match(prose)
        if m:
            yield number, m.group(1)


def broken_links(path: Path) -> Iterator[str]:
    for number, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # http(s), mailto: not fetched
        file_part, _, anchor = target.partition("#")
        file_part = unquote(file_part.split("?", 1)[0])
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        linked = (path.parent / file_part).resolve() if file_part else path
        if file_part.startswith("/"):
            linked = (ROOT / file_part.lstrip("/")).resolve()
        if not linked.exists():
            yield f"{where}: no such file"
        elif anchor and linked.suffix == ".md" and unquote(anchor) not in anchors(linked):
            yield f"{where}: no heading with this anchor in {linked.relative_to(ROOT)}"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_a_heading(path):
    broken = list(broken_links(path))
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_readme_is_the_way_in_short_and_pointing_into_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200, "README.md is the way in: move details into docs/ (CONTRIBUTING.md)"
    for page in ("docs/guide.md", "docs/configuration.md", "docs/commands.md", "docs/operations.md", "CONTRIBUTING.md"):
        assert f"({page}" in readme, f"README.md does not link to {page}"
    assert {"LICENSE", "CHANGELOG.md", "CONTRIBUTING.md"} <= {p.name for p in ROOT.iterdir()}


def test_the_markdown_files_checked_include_the_readme_and_the_docs():
    checked = {p.relative_to(ROOT).as_posix() for p in markdown_files()}
    assert {"README.md", "docs/rules.md", "docs/design.md", "docs/configuration.md", "docs/commands.md"} <= checked
    assert not any(c.startswith("tests/fixtures/") for c in checked)


@pytest.mark.parametrize(
    "heading, anchor",
    [
        ("The schedule, first to know", "the-schedule-first-to-know"),
        ("`[channels.NAME]`", "channelsname"),
        ("The console's door", "the-consoles-door"),
        ("The console (2026-12-02)", "the-console-2026-12-02"),
        ("snake_case and a [link](x.md)", "snake_case-and-a-link"),
        ("§8 Body: full text", "8-body-full-text"),
    ],
)
def test_slugs_follow_githubs_rules(heading, anchor):
    assert slug(heading) == anchor


def test_a_broken_link_and_a_missing_anchor_are_found(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Setup\n\n## Setup\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n[a](other.md#setup-1) [b](other.md#setup-2) [c](missing.md) [d](#title) [e](#nope)\n"
        "```\n[f](inside-code.md)\n```\n`[g](in-inline-code.md)` [h](https://example.org/x.md#y)\n",
        encoding="utf-8",
    )
    assert [b.split(": ", 1)[1] for b in broken_links(page)] == [
        "other.md#setup-2: no heading with this anchor in other.md",
        "missing.md: no such file",
        "#nope: no heading with this anchor in page.md",
    ]
