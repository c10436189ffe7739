"""feedparser's own test corpus (BSD-2, see fixtures/feedparser-corpus/LICENSE) through our parse path."""

from __future__ import annotations

from pathlib import Path

from monitor.errors import ParseError
from monitor.parsing.feed import parse_feed

CORPUS = Path(__file__).parents[1] / "fixtures" / "feedparser-corpus"


def test_no_exception_escapes_the_parse_path_on_the_whole_corpus():
    files = sorted(p for p in (CORPUS / "tests").rglob("*") if p.is_file())
    assert len(files) >= 2100
    parsed = refused = 0
    escaped = []
    for path in files:
        try:
            result = parse_feed(path.read_bytes(), path.name)
        except ParseError:
            refused += 1
            continue
        except Exception as exc:
            escaped.append(f"{path.relative_to(CORPUS)}: {type(exc).__name__}: {exc}")
            continue
        parsed += 1
        for item in result.items:
            assert "\x00" not in item.title + item.summary
    assert escaped == []
    assert parsed > 0.9 * len(files)
