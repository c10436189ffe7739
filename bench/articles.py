"""Article extraction on real pages: how much of the article a `body:` rule finds, how much
boilerplate it wrongly finds, and the CPU an extraction costs.

Over the 120 annotated pages of tests/fixtures/articles (see its README): each page's body as
monitor.parsing.article.extract_body gives it, and each `with` string (the article's) and
`without` string (menus, teasers, footers) as a rule `body:"<string>"`, compiled with
compile_query and evaluated on a Document of that body, as the daemon evaluates a rule: by
tokens, not substrings (a string cut mid-word matches only the whole word). For comparison,
the same strings as substrings of the body, whitespace collapsed.

    .venv/bin/python bench/articles.py [--max-chars 100000] [--runs 1] [--show]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.parsing.article import extract_body  # noqa: E402
from monitor.rules import Document, compile_query  # noqa: E402
from monitor.text import token_texts  # noqa: E402

ARTICLES = ROOT / "tests" / "fixtures" / "articles"


def body_rule(text: str) -> str | None:
    """`body:"<text>"` as a rule; None when `text` has no word to match. A phrase cannot hold a
    `"`, and a `*` inside one is a prefix: both separate tokens anyway, so they become spaces."""
    phrase = " ".join(text.replace('"', " ").replace("*", " ").split())
    return f'body:"{phrase}"' if token_texts(phrase) else None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-chars", type=int, default=100_000, help="extract_body's cap (default 100000)")
    ap.add_argument("--runs", type=int, default=1, help="extractions per page; its CPU is the least of them")
    ap.add_argument("--show", action="store_true", help="list each page that is not perfect, and why")
    args = ap.parse_args(argv)

    annotations = json.loads((ARTICLES / "annotations.json").read_text(encoding="utf-8"))
    extract_body(b"<html><body><p>warm-up: trafilatura's import is not a page's cost</p></body></html>", "", 100)
    cpu_ms: list[float] = []
    found = {"with": 0, "without": 0}
    substring = {"with": 0, "without": 0}
    asked = {"with": 0, "without": 0}
    unusable = 0  # strings without a word: no rule can ask for them
    perfect, longest = 0, 0
    for name, note in sorted(annotations.items()):
        html = (ARTICLES / "pages" / name).read_bytes()
        times = []
        for _ in range(args.runs):
            start = time.process_time()
            body = extract_body(html, note["url"], args.max_chars)
            times.append(time.process_time() - start)
        cpu_ms.append(min(times) * 1000)
        longest = max(longest, len(body))
        doc = Document.build({"body": body})
        flat = " ".join(body.split())
        wrong = []
        for kind in ("with", "without"):
            for text in note[kind]:
                rule = body_rule(text)
                if rule is None:
                    unusable += 1
                    continue
                asked[kind] += 1
                hit = compile_query(rule).match(doc) is not None
                found[kind] += hit
                substring[kind] += " ".join(text.split()) in flat
                if hit != (kind == "with"):
                    wrong.append(f"{'missed' if kind == 'with' else 'boilerplate'}: {text!r}")
        perfect += not wrong
        if args.show and wrong:
            print(f"{name} ({len(body)} chars, {note['url']})")
            for line in wrong:
                print(f"    {line}")

    pages = len(annotations)
    print(f"pages: {pages}; body cap {args.max_chars:,} characters (longest body {longest:,})")
    print(
        f'recall (body:"with" rules matched): {found["with"]}/{asked["with"]} = {found["with"] / asked["with"]:.1%}'
        f"  (as substrings: {substring['with']}/{asked['with']} = {substring['with'] / asked['with']:.1%})"
    )
    print(
        f'boilerplate false alarms (body:"without" matched): {found["without"]}/{asked["without"]}'
        f"  (as substrings: {substring['without']}/{asked['without']})"
    )
    if unusable:
        print(f"strings without a word, not asked: {unusable}")
    print(f"pages perfect (every with, no without): {perfect}/{pages}")
    cpu_ms.sort()
    p95 = cpu_ms[min(len(cpu_ms) - 1, round(0.95 * (len(cpu_ms) - 1)))]
    print(
        f"extraction CPU per page: median {statistics.median(cpu_ms):.1f} ms, p95 {p95:.1f} ms, "
        f"max {cpu_ms[-1]:.1f} ms, total {sum(cpu_ms) / 1000:.2f} s"
    )


if __name__ == "__main__":
    main()
