"""RuleSet: many compiled rules over one document, most skipped without evaluation.

Each rule gets an *anchor*: a set of keys such that the rule can only match a document
whose Document.index_keys() contains at least one of them. AND needs any one child's
anchor (we take the cheapest); OR needs every child's anchor (the union); NOT and
regexes have none. Rules without an anchor are evaluated on every document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .document import Document
from .nodes import And, Near, Node, Not, Or, Regex, Words

if TYPE_CHECKING:
    from . import CompiledQuery, Match

Anchor = tuple[frozenset[str], float]  # (keys, estimated cost: lower = rarer)


def _key_cost(tok: str, prefix: bool) -> tuple[str, float]:
    if prefix:
        return ("\x01" + tok[:3], 8.0) if len(tok) >= 3 else ("\x00" + tok[:2], 16.0)
    n = len(tok)
    return tok, (1.0 if n >= 5 else 2.0 if n == 4 else 4.0 if n == 3 else 8.0)


def anchor(node: Node) -> Anchor | None:
    if isinstance(node, Words):
        # A phrase needs all its parts; any one part will do. Take the rarest-looking.
        key, cost = min((_key_cost(t, p) for t, p in node.parts), key=lambda kc: kc[1])
        if node.field in ("lang", "url", "feed"):
            cost *= 20  # present on nearly every item of a feed
        return frozenset((key,)), cost
    if isinstance(node, (Regex, Not)):
        return None
    if isinstance(node, (And, Near)):
        kids = (node.left, node.right) if isinstance(node, Near) else node.children
        best = None
        for c in kids:
            a = anchor(c)
            if a is not None and (best is None or a[1] < best[1]):
                best = a
        return best
    if isinstance(node, Or):
        keys: set[str] = set()
        cost = 0.0
        for c in node.children:
            a = anchor(c)
            if a is None:
                return None
            keys |= a[0]
            cost += a[1]
        return frozenset(keys), cost
    raise TypeError(node)


class RuleSet:
    """Named compiled queries, indexed by anchor keys. Immutable once built."""

    def __init__(self, rules: Mapping[str, "CompiledQuery"]) -> None:
        self.rules: dict[str, CompiledQuery] = dict(rules)
        self._names = list(self.rules)
        self._order = {name: i for i, name in enumerate(self._names)}
        index: dict[str, list[int]] = {}
        always: list[int] = []
        for i, name in enumerate(self._names):
            a = anchor(self.rules[name].ast)
            if a is None:
                always.append(i)
            else:
                for k in a[0]:
                    index.setdefault(k, []).append(i)
        self._index = index
        self._always = always

    def __len__(self) -> int:
        return len(self.rules)

    def candidates(self, doc: Document) -> list[int]:
        """Indices of rules worth evaluating on `doc`, in rule order."""
        idx = self._index
        found: set[int] = set(self._always)
        keys = doc.index_keys()
        if len(keys) < len(idx):
            for k in keys:
                hit = idx.get(k)
                if hit is not None:
                    found.update(hit)
        else:
            for k, hit in idx.items():
                if k in keys:
                    found.update(hit)
        return sorted(found)

    def match(self, doc: Document) -> list[tuple[str, "Match"]]:
        out: list[tuple[str, Match]] = []
        for i in self.candidates(doc):
            name = self._names[i]
            m = self.rules[name].match(doc)
            if m is not None:
                out.append((name, m))
        return out
