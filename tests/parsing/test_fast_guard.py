"""A feedparser without the internals the fast path reads: parsing still works, through
feedparser, with the same items. Each case runs in a fresh interpreter in which one of those
internals is taken away (after feedparser itself has imported) before monitor.parsing loads."""

from __future__ import annotations

import ast
import base64
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.parsing import fast
from monitor.parsing.feed import parse_feed

FAST = Path(fast.__file__).parent
FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"
# One of each kind the fast path reads: RSS 2.0, Atom 1.0, RSS 1.0.
SAMPLES = [
    FEEDS / "bbc_news-frontpage_2023-11-24.xml",
    FEEDS / "heise-online_de_2026-04-25.atom",
    FEEDS / "orf-at_news_de_2017-01-23.rdf",
]


def _feedparser_imports() -> list[tuple[str, str]]:
    """Every (module, name) the fast path imports from feedparser, read from its source."""
    found = set()
    for path in FAST.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "feedparser":
                found.update((node.module, alias.name) for alias in node.names)
    return sorted(found)


# Run in the child. It takes away one internal as a feedparser release could: a module that
# is gone, a name that is gone, or a class without an attribute the fast path reads. It
# replaces the module in sys.modules, so feedparser's own code keeps the real one.
CHILD = r"""
import base64, json, logging, pickle, sys, types, importlib
module, name, attribute, paths = json.loads(sys.argv[1])

records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.DEBUG)

import feedparser  # the real one, whole

real = importlib.import_module(module)
if name is None:
    sys.modules[module] = None
else:
    stand_in = types.ModuleType(module)
    stand_in.__dict__.update(vars(real))
    if attribute is None:
        del stand_in.__dict__[name]
    else:
        original = getattr(real, name)
        stand_in.__dict__[name] = type(name, (), {k: v for k, v in vars(original).items() if k != attribute})
    sys.modules[module] = stand_in

from monitor.parsing import fast
from monitor.parsing.feed import parse_feed

bodies = [open(p, "rb").read() for p in paths]
print(json.dumps({
    "available": fast.AVAILABLE,
    "reason": fast.UNAVAILABLE_REASON,
    "fast_answers": [fast.fast_parse(b) is not None for b in bodies],
    "parsed": base64.b64encode(pickle.dumps([parse_feed(b) for b in bodies])).decode(),
    "logged": [r.getMessage() for r in records if r.name.startswith("monitor")],
}))
"""


def _without(module: str, name: str | None, attribute: str | None = None) -> dict:
    argument = json.dumps([module, name, attribute, [str(p) for p in SAMPLES]])
    result = subprocess.run([sys.executable, "-c", CHILD, argument], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_fast_path_reads_these_internals():
    # If this list grows, the cases below grow with it; if it is empty they prove nothing.
    assert len(_feedparser_imports()) >= 6


CASES = [
    *[pytest.param(module, name, None, id=f"{module}.{name}") for module, name in _feedparser_imports()],
    pytest.param("feedparser.mixin", None, None, id="feedparser.mixin-gone"),
    pytest.param("feedparser.mixin", "_FeedParserMixin", "namespaces", id="_FeedParserMixin.namespaces-gone"),
]


@pytest.mark.parametrize(("module", "name", "attribute"), CASES)
def test_without_an_internal_feedparser_parses_everything_alike(module, name, attribute):
    assert fast.AVAILABLE and fast.UNAVAILABLE_REASON == ""
    assert all(fast.fast_parse(p.read_bytes()) is not None for p in SAMPLES)  # normally the fast path's

    child = _without(module, name, attribute)

    assert child["available"] is False
    assert child["reason"].startswith("feedparser ") and "same items" in child["reason"]
    assert (attribute or name or module.rpartition(".")[2]) in child["reason"]
    assert child["fast_answers"] == [False] * len(SAMPLES)
    assert pickle.loads(base64.b64decode(child["parsed"])) == [parse_feed(p.read_bytes()) for p in SAMPLES]
    # Said once, at import; not once per document.
    assert child["logged"] == [f"fast path off: {child['reason']}"]
