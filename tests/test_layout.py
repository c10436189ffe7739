"""The layout is the design: each package imports only the packages below it.

Read from the source (every import, including those inside functions), so a new
upward import fails here rather than in review.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "monitor"

SHARED = {"errors", "models", "logs", "redaction", "text", "identity", "destinations", "databases"}
# What each part of monitor may import besides the shared modules (CONTRIBUTING.md's layout table says why).
MAY_IMPORT: dict[str, set[str]] = {
    "__main__": {"cli"},
    "cli": {"config", "delivery", "opml", "progress", "reports", "rules", "runtime", "store"},
    # The body snippet of `match` is cut as an alert's is (delivery/render.py, a leaf).
    "reports": {"config", "delivery.render", "parsing", "polling", "rules", "store"},
    "opml": {"config"},
    "progress": set(),
    "runtime": {"config", "delivery", "desk", "parsing", "polling", "rules", "store", "web"},
    # The console reads the store and the configuration, and shows rules, destinations and
    # delivery states as delivery/ words them; runtime serves it, nothing imports it back.
    "web": {"config", "delivery", "rules", "store"},
    "polling": {"config", "delivery", "desk", "parsing", "rules", "store"},
    "desk": {"config", "delivery", "store"},
    "delivery": {"config", "store"},
    "parsing": {"rules"},
    "store": set(),
    "rules": set(),
    # A channel's template is checked at load time by rendering the sample alert with
    # delivery/render.py, which itself imports nothing of monitor (asserted below).
    "config": {"rules", "delivery.render"},
    "errors": {"redaction"},  # a ConfigError carries the secrets read so far
    "models": set(),
    # Every log line goes out through the secrets' gate.
    "logs": {"redaction"},
    "redaction": set(),
    "text": set(),
    "identity": {"text"},
    "destinations": set(),
    "databases": set(),
}


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _imports() -> dict[str, set[str]]:
    """monitor module -> the monitor modules it imports (absolute dotted names)."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        module, is_package = _module_name(path)
        here = module.split(".") if is_package else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                targets = [base] if node.module else [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("monitor"):
                targets = [node.module or ""]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("monitor")]
            else:
                continue
            found[module].update(targets)
    return found


def _part(module: str) -> str:
    """The top-level part of monitor a module belongs to: `polling`, `cli`, `errors`..."""
    return module.split(".")[1] if module.count(".") else ""


def _allowed(source: str, target: str) -> bool:
    src, dst = _part(source), _part(target)
    if dst in ("", src) or (dst in SHARED and src not in SHARED):
        return True
    allowed = MAY_IMPORT[src]
    return dst in allowed or any(target == f"monitor.{a}" or target.startswith(f"monitor.{a}.") for a in allowed)


def test_every_part_of_monitor_is_in_the_table():
    parts = {_part(m) for m in _imports()} - {""}
    assert parts <= set(MAY_IMPORT), f"add {sorted(parts - set(MAY_IMPORT))} to MAY_IMPORT"


@pytest.mark.parametrize("source", sorted(_imports()))
def test_imports_flow_one_way(source):
    wrong = sorted(t for t in _imports()[source] if not _allowed(source, t))
    assert not wrong, f"{source} imports {wrong}, which its layer may not"


def test_the_library_never_imports_the_command_line():
    users = sorted(m for m, targets in _imports().items() if "monitor.cli" in targets)
    assert users == ["monitor.__main__"]


def test_render_is_a_leaf_so_config_may_use_it():
    assert not _imports()["monitor.delivery.render"]


def test_an_upward_import_is_caught():
    assert not _allowed("monitor.store.items", "monitor.polling.pipeline")
    assert not _allowed("monitor.delivery.outbox", "monitor.desk.spikes")
    assert not _allowed("monitor.text", "monitor.rules")
    assert _allowed("monitor.desk.spikes", "monitor.delivery.fanout")
