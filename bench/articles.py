"""Article extraction on real pages: how much of the article a `body:` rule finds, how much
boilerplate it wrongly finds, and the CPU an extraction costs.

Over the 120 annotated pages of tests/fixtures/articles (see its README): each page's body as
monitor.parsing.article.extract_body gives it, and each `with` string (the article's) and
`without` string (menus, teasers, footers) as a rule `body:"<string>"`, compiled with
compile_query and evaluated on a Document of that body, as the daemon evaluates a rule: by
tokens, not substrings (a string cut mid-word matches only the whole word). Side by side, the
same for trafilatura alone (its text output with monitor's options, before
monitor/parsing/boilerplate.py), and both by the language the page declares (`<html lang>`).

    .venv/bin/python bench/articles.py [--max-chars 100000] [--runs 1] [--show]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.parsing.article import extract_body  # noqa: E402
from monitor.rules import Document, compile_query  # noqa: E402
from monitor.text import token_texts  # noqa: E402

ARTICLES = ROOT / "tests" / "fixtures" / "articles"
KINDS = ("with", "without")
_LANG = re.compile(rb"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.I)


def body_rule(text: str) -> str | None:
    """`body:"<text>"` as a rule; None when `text` has no word to match. A phrase cannot hold a
    `"`, and a `*` inside one is a prefix: both separate tokens anyway, so they become spaces."""
    phrase = " ".join(text.replace('"', " ").replace("*", " ").split())
    return f'body:"{phrase}"' if token_texts(phrase) else None


def language(html: bytes) -> str:
    """The language a page declares on its <html> element, "?" when it declares none."""
    m = _LANG.search(html[:65_536])
    return m.group(1).decode("ascii").lower() if m else "?"


def trafilatura_alone(html: bytes, url: str, max_chars: int) -> str:
    """The body as trafilatura's text output gives it with monitor's options: what
    extract_body gave before monitor/parsing/boilerplate.py."""
    from trafilatura import extract

    text = extract(html, url=url or None, include_comments=False, include_tables=True) or ""
    return "\n".join(p for p in (" ".join(line.split()) for line in text.splitlines()) if p)[:max_chars]


@dataclass
class Tally:
    """Strings found and asked, by kind and by language; and pages without a wrong answer."""

    found: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    asked: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    pages: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # by language
    perfect: int = 0

    def page(self, lang: str, answers: list[tuple[str, bool]]) -> None:
        """One page: (kind, whether its rule matched) for each string asked."""
        self.pages[lang] += 1
        self.perfect += all(hit == (kind == "with") for kind, hit in answers)
        for kind, hit in answers:
            self.found[kind, lang] += hit
            self.asked[kind, lang] += 1

    def share(self, kind: str, lang: str | None = None) -> str:
        found = sum(n for (k, lg), n in self.found.items() if k == kind and lang in (None, lg))
        asked = sum(n for (k, lg), n in self.asked.items() if k == kind and lang in (None, lg))
        return f"{found}/{asked} = {found / asked:.1%}" if asked else "-"

    def languages(self) -> list[str]:
        """Languages by pages, most first."""
        return sorted(self.pages, key=lambda lang: (-self.pages[lang], lang))


def by_language(tallies: dict[str, Tally]) -> list[str]:
    """A table of recall and false alarms by language, one column pair per tally."""
    names = list(tallies)
    first = tallies[names[0]]
    head = f"  {'language':<9}{'pages':>6}" + "".join(
        f"  {n + ' recall':>24}  {n + ' false alarms':>26}" for n in names
    )
    rows = [head]
    for lang in first.languages():
        row = f"  {lang:<9}{first.pages[lang]:>6}"
        for name in names:
            row += f"  {tallies[name].share('with', lang):>24}  {tallies[name].share('without', lang):>26}"
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-chars", type=int, default=100_000, help="extract_body's cap (default 100000)")
    ap.add_argument("--runs", type=int, default=1, help="extractions per page; its CPU is the least of them")
    ap.add_argument("--show", action="store_true", help="list each page that is not perfect, and why")
    args = ap.parse_args(argv)

    annotations = json.loads((ARTICLES / "annotations.json").read_text(encoding="utf-8"))
    extractors: dict[str, Callable[[bytes, str, int], str]] = {
        "trafilatura alone": trafilatura_alone,
        "monitor": extract_body,
    }
    warm_up = b"<html><body><p>warm-up: trafilatura's import is not a page's cost</p></body></html>"
    for extract in extractors.values():
        extract(warm_up, "", 100)
    cpu_ms: dict[str, list[float]] = {name: [] for name in extractors}
    tallies = {name: Tally() for name in extractors}
    substring = dict.fromkeys(KINDS, 0)
    unusable = 0  # strings without a word: no rule can ask for them
    longest = 0
    for name, note in sorted(annotations.items()):
        html = (ARTICLES / "pages" / name).read_bytes()
        lang = language(html)
        wrong = []
        for label, extract in extractors.items():
            times = []
            for _ in range(args.runs):
                start = time.process_time()
                body = extract(html, note["url"], args.max_chars)
                times.append(time.process_time() - start)
            cpu_ms[label].append(min(times) * 1000)
            doc = Document.build({"body": body})
            answers = []
            for kind in KINDS:
                for text in note[kind]:
                    rule = body_rule(text)
                    if rule is None:
                        unusable += label == "monitor"
                        continue
                    hit = compile_query(rule).match(doc) is not None
                    answers.append((kind, hit))
                    if label == "monitor":
                        substring[kind] += " ".join(text.split()) in " ".join(body.split())
                        if hit != (kind == "with"):
                            wrong.append(f"{'missed' if kind == 'with' else 'boilerplate'}: {text!r}")
            tallies[label].page(lang, answers)
            if label == "monitor":
                longest = max(longest, len(body))
        if args.show and wrong:
            print(f"{name} ({lang}, {note['url']})")
            for line in wrong:
                print(f"    {line}")

    pages = len(annotations)
    mine = tallies["monitor"]
    print(f"pages: {pages}; body cap {args.max_chars:,} characters (longest body {longest:,})")
    for label, tally in tallies.items():
        print(f"{label}:")
        print(f'  recall (body:"with" rules matched): {tally.share("with")}')
        print(f'  boilerplate false alarms (body:"without" matched): {tally.share("without")}')
        print(f"  pages perfect (every with, no without): {tally.perfect}/{pages}")
    print(f"monitor's strings as substrings: with {substring['with']}, without {substring['without']}")
    if unusable:
        print(f"strings without a word, not asked: {unusable}")
    print("by the language the page declares:")
    print("\n".join(by_language({"before": tallies["trafilatura alone"], "after": mine})))
    for label, times in cpu_ms.items():
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(
            f"extraction CPU per page, {label}: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
            f"max {times[-1]:.1f} ms, total {sum(times) / 1000:.2f} s"
        )


if __name__ == "__main__":
    main()
