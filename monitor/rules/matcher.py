"""AST -> evaluator closures over a Document.

An evaluator returns None when its node does not match, else a list of hits (possibly
empty: a matching NOT contributes no occurrence). A hit is (field, kind, a, b): kind 0
means token positions [a, b) in that field, kind 1 means character offsets (regex).
AND stops at the first failing child, which is the common case for a non-matching rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2

from monitor.text import is_arabic, is_hebrew

from .document import Document, FieldText
from .nodes import DEFAULT_FIELDS, And, Near, Node, Not, Or, Regex, Words

Hit = tuple[str, int, int, int]
Evaluator = Callable[[Document], list[Hit] | None]


def compile_regex(pattern: str) -> Any:  # re2._Regexp
    """RE2 (linear time), case-insensitive. ValueError carries re2's reason."""
    opts = re2.Options()
    opts.case_sensitive = False
    opts.log_errors = False
    try:
        return re2.compile(pattern, opts)
    except re2.error as e:
        reason = e.args[0] if e.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(str(reason)) from None


def is_semitic(tok: str) -> bool:
    return is_arabic(tok) or is_hebrew(tok)


def _part_fn(tok: str, prefix: bool) -> Callable[[FieldText, Document], list[int] | None]:
    if prefix:
        return lambda ft, doc: ft.prefix_positions(tok, doc.sorted_tokens())
    if is_semitic(tok):
        return lambda ft, doc: ft.vindex.get(tok)
    return lambda ft, doc: ft.index.get(tok)


def compile_node(node: Node) -> Evaluator:
    if isinstance(node, Words):
        return _words(node)
    if isinstance(node, Regex):
        return _regex(node)
    if isinstance(node, Not):
        child = compile_node(node.child)
        return lambda doc: None if child(doc) is not None else []
    if isinstance(node, And):
        fns = tuple(compile_node(c) for c in node.children)

        def ev_and(doc: Document) -> list[Hit] | None:
            out: list[Hit] = []
            for fn in fns:
                r = fn(doc)
                if r is None:
                    return None
                out.extend(r)
            return out

        return ev_and
    if isinstance(node, Or):
        fns = tuple(compile_node(c) for c in node.children)

        def ev_or(doc: Document) -> list[Hit] | None:
            out: list[Hit] | None = None
            for fn in fns:
                r = fn(doc)
                if r is not None:
                    if out is None:
                        out = []
                    out.extend(r)
            return out

        return ev_or
    if isinstance(node, Near):
        return _near(node)
    raise TypeError(f"not a query node: {node!r}")


def _fields(field: str | None) -> tuple[str, ...]:
    return DEFAULT_FIELDS if field is None else (field,)


def _words(node: Words) -> Evaluator:
    fields = _fields(node.field)
    anchored = node.field == "lang"  # lang:ar matches "ar" and "ar-*", not "xx-ar"
    fns = [_part_fn(t, p) for t, p in node.parts]
    n = len(fns)
    first, rest = fns[0], fns[1:]

    def ev(doc: Document) -> list[Hit] | None:
        hits: list[Hit] | None = None
        for f in fields:
            ft = doc.fields[f]
            pos = first(ft, doc)
            if not pos:
                continue
            if rest:
                others = []
                for fn in rest:
                    p = fn(ft, doc)
                    if not p:
                        break
                    others.append(set(p))
                else:
                    pos = [p for p in pos if all(p + k + 1 in s for k, s in enumerate(others))]
                if len(others) != len(rest):
                    continue
            if anchored:
                pos = [p for p in pos if p == 0]
            if pos:
                if hits is None:
                    hits = []
                hits.extend((f, 0, p, p + n) for p in pos)
        return hits

    return ev


def _regex(node: Regex) -> Evaluator:
    rx = compile_regex(node.pattern)
    fields = _fields(node.field)

    def ev(doc: Document) -> list[Hit] | None:
        hits: list[Hit] | None = None
        for f in fields:
            text, starts, ends = doc.fields[f].nfkc()
            if not text:
                continue
            for m in rx.finditer(text):
                a, b = m.span()
                if b <= a:  # an empty match highlights nothing and proves nothing
                    continue
                if starts is not None and ends is not None:
                    a, b = starts[a], ends[b - 1]
                if hits is None:
                    hits = []
                hits.append((f, 1, a, b))
        return hits

    return ev


def _near(node: Near) -> Evaluator:
    left, right, n = compile_node(node.left), compile_node(node.right), node.n

    def ev(doc: Document) -> list[Hit] | None:
        a = left(doc)
        if not a:
            return None
        b = right(doc)
        if not b:
            return None
        out = []
        used: set[int] = set()
        for ha in a:
            ok = False
            for j, hb in enumerate(b):
                if ha[0] == hb[0] and abs(ha[2] - hb[2]) <= n:
                    ok = True
                    used.add(j)
            if ok:
                out.append(ha)
        if not out:
            return None
        out.extend(b[j] for j in sorted(used))
        return out

    return ev
