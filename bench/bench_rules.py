"""Benchmark: 1,000 generated watch rules over 10,000 items from real feed fixtures.

Compares RuleSet (rules indexed by the tokens they require) with the naive way
(every rule's tree walked on every item, same pre-tokenised Documents), checks both
give identical results, and prints items/s for each and the ratio.

    .venv/bin/python bench/bench_rules.py [--rules 1000] [--items 10000] [--seed 7]
"""

from __future__ import annotations

import argparse
import collections
import gc
import html
import itertools
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.errors import RuleError  # noqa: E402
from monitor.rules import Document, RuleSet, compile_query  # noqa: E402
from monitor.text import html_to_text, tokenize  # noqa: E402

FEED_DIRS = [ROOT / "tests" / "fixtures" / "feeds"]
_ITEM_RE = re.compile(r"<(item|entry)\b.*?</\1>", re.S | re.I)
_TITLE_RE = re.compile(r"<title\b[^>]*>(.*?)</title>", re.S | re.I)
_DESC_RE = re.compile(r"<(description|summary|content|content:encoded)\b[^>]*>(.*?)</\1>", re.S | re.I)
_CDATA_RE = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)


def _clean(raw: str) -> str:
    raw = _CDATA_RE.sub(lambda m: m.group(1), raw)
    # XML-escaped HTML: unescape once to get HTML, then strip it.
    return html_to_text(html.unescape(raw))


def load_items() -> list[tuple[str, str]]:
    folder = next((d for d in FEED_DIRS if d.is_dir()), None)
    if folder is None:
        raise SystemExit("no feed fixtures found in " + ", ".join(map(str, FEED_DIRS)))
    items = []
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".xml", ".atom", ".rdf", ".rss"):
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        for m in _ITEM_RE.finditer(text):
            body = m.group()
            t = _TITLE_RE.search(body)
            d = _DESC_RE.search(body)
            title = _clean(t.group(1)) if t else ""
            desc = _clean(d.group(2)) if d else ""
            if title or desc:
                items.append((title, desc))
    return items


def make_rules(items: list[tuple[str, str]], n: int, rng: random.Random) -> dict[str, str]:
    """Rules of 2-6 terms: words, prefixes and phrases drawn from the corpus, joined by
    AND / OR groups / NOT, like an analyst's watch list (names, places, topics)."""
    counts: collections.Counter[str] = collections.Counter()
    bigrams: list[str] = []
    for title, _ in items:
        toks = [t.text for t in tokenize(title)]
        counts.update(toks)
        bigrams.extend(f"{a} {b}" for a, b in itertools.pairwise(toks) if len(a) > 3 and len(b) > 3)
    words = sorted(w for w, c in counts.items() if len(w) >= 4 and c >= 2 and not w.isdigit())

    def term() -> str:
        r = rng.random()
        if r < 0.15:
            return rng.choice(words)[: rng.randint(4, 6)] + "*"
        if r < 0.30 and bigrams:
            return f'"{rng.choice(bigrams)}"'
        return rng.choice(words)

    rules: dict[str, str] = {}
    while len(rules) < n:
        k = rng.randint(2, 6)
        clauses = [term()]
        k -= 1
        while k > 0:
            r = rng.random()
            if r < 0.3 and k >= 2:
                clauses.append(f"({term()} OR {term()})")
                k -= 2
            elif r < 0.5:
                clauses.append("-" + term())
                k -= 1
            elif r < 0.6:
                clauses[-1] = f"{clauses[-1]} OR {term()}" if len(clauses) == 1 else clauses[-1]
                k -= 1
            else:
                clauses.append(term())
                k -= 1
        q = " ".join(clauses)
        try:
            compile_query(q)
        except RuleError:
            continue
        rules[f"rule-{len(rules)}"] = q
    return rules


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)

    base = load_items()
    items = [base[i % len(base)] for i in range(args.items)]
    rules = make_rules(base, args.rules, rng)

    t0 = time.perf_counter()
    compiled = {name: compile_query(q) for name, q in rules.items()}
    rs = RuleSet(compiled)
    t_compile = time.perf_counter() - t0

    clock = time.process_time  # CPU time: other processes on the box do not count
    t0 = clock()
    docs = [Document.build({"title": t, "summary": s}) for t, s in items]
    t_build = clock() - t0
    # A second, separate set of Documents for the naive run, so neither run inherits
    # the other's lazily built lookup tables.
    docs_naive = [Document.build({"title": t, "summary": s}) for t, s in items]

    qs = list(compiled.items())

    def naive_match(d: Document) -> list:
        row = []
        for name, q in qs:
            m = q.match(d)
            if m is not None:
                row.append((name, m))
        return row

    # The bench keeps 20,000 Documents alive (a daemon keeps a handful). Without this,
    # the cyclic GC keeps re-walking them all and bills whichever side allocates.
    gc.collect()
    gc.freeze()
    # Interleave the two in chunks so that any drift in machine load hits both alike.
    indexed: list = []
    naive: list = []
    t_indexed = t_naive = 0.0
    step = 250
    for lo in range(0, len(docs), step):
        t0 = clock()
        indexed.extend(rs.match(d) for d in docs[lo : lo + step])
        t_indexed += clock() - t0
        t0 = clock()
        naive.extend(naive_match(d) for d in docs_naive[lo : lo + step])
        t_naive += clock() - t0

    gc.unfreeze()
    if indexed != naive:
        raise SystemExit("MISMATCH: indexed and naive results differ")
    n_alerts = sum(len(r) for r in indexed)
    n_items = len(docs)
    res = {
        "items": n_items,
        "rules": len(rules),
        "alerts": n_alerts,
        "compile_s": t_compile,
        "build_items_per_s": n_items / t_build,
        "indexed_items_per_s": n_items / t_indexed,
        "naive_items_per_s": n_items / t_naive,
        "ratio": t_naive / t_indexed,
        "indexed_incl_build_items_per_s": n_items / (t_indexed + t_build),
        "naive_incl_build_items_per_s": n_items / (t_naive + t_build),
    }
    print(
        f"{n_items} items ({len(base)} distinct from fixtures), {len(rules)} rules, {n_alerts} alerts "
        f"(identical both ways); compile {t_compile * 1000:.0f} ms"
    )
    print(f"Document.build     : {res['build_items_per_s']:>10,.0f} items/s")
    print(f"indexed (RuleSet)  : {res['indexed_items_per_s']:>10,.0f} items/s")
    print(f"naive (every rule) : {res['naive_items_per_s']:>10,.0f} items/s")
    print(f"ratio              : {res['ratio']:>10.1f}x   (target >= 20x)")
    print(
        f"with Document.build: indexed {res['indexed_incl_build_items_per_s']:,.0f} items/s, "
        f"naive {res['naive_incl_build_items_per_s']:,.0f} items/s"
    )
    return res


if __name__ == "__main__":
    main()
