"""RuleSet: many compiled rules over one document, most skipped without evaluation.

Each rule gets an *anchor*: a set of keys such that the rule can only match a document
that has at least one of them (a key is a token, or a prefix some token must start
with). AND needs any one child's anchor (we take the cheapest); OR needs every child's
anchor (the union); NOT and regexes have none, and rules without an anchor are
evaluated on every document. A candidate must then also contain every token the rule
requires (one C-level subset test) before its tree is walked.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .document import Document
from .matcher import is_semitic
from .nodes import And, Near, Node, Not, Or, Regex, Words

if TYPE_CHECKING:
    from . import CompiledQuery, Match

Key = tuple[int, str]  # (0, token) or (1, prefix)
Anchor = tuple[frozenset[Key], float]  # (keys, estimated cost: lower = rarer)


def _key_cost(tok: str, prefix: bool) -> tuple[Key, float]:
    if prefix:
        # Checked exactly (see RuleSet), so a long prefix is nearly as selective as a word.
        n = len(tok)
        return (1, tok), (2.0 if n >= 6 else 4.0 if n >= 4 else 8.0 if n == 3 else 16.0)
    n = len(tok)
    return (0, tok), (1.0 if n >= 5 else 2.0 if n == 4 else 4.0 if n == 3 else 8.0)


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
        keys: set[Key] = set()
        cost = 0.0
        for c in node.children:
            a = anchor(c)
            if a is None:
                return None
            keys |= a[0]
            cost += a[1]
        return frozenset(keys), cost
    raise TypeError(node)


def required_tokens(node: Node) -> frozenset[str]:
    """Plain (non-Arabic/Hebrew, non-prefix) tokens every match of `node` needs
    somewhere in the document. RuleSet checks them with one C-level subset test
    before evaluating a candidate: most candidates fail it."""
    if isinstance(node, Words):
        return frozenset(t for t, p in node.parts if not p and not is_semitic(t))
    if isinstance(node, And):
        out: set[str] = set()
        for c in node.children:
            out |= required_tokens(c)
        return frozenset(out)
    if isinstance(node, Near):
        return required_tokens(node.left) | required_tokens(node.right)
    if isinstance(node, Or):
        kids = [required_tokens(c) for c in node.children]
        return frozenset.intersection(*kids) if kids else frozenset()
    return frozenset()


class RuleSet:
    """Named compiled queries, indexed by anchor keys. Immutable once built."""

    def __init__(self, rules: Mapping[str, CompiledQuery]) -> None:
        self.rules: dict[str, CompiledQuery] = dict(rules)
        self._names = list(self.rules)
        self._order = {name: i for i, name in enumerate(self._names)}
        tokens: dict[str, list[int]] = {}
        by_prefix: dict[str, list[int]] = {}
        always: list[int] = []
        self._required = [required_tokens(self.rules[n].ast) for n in self._names]
        for i, name in enumerate(self._names):
            a = anchor(self.rules[name].ast)
            if a is None:
                always.append(i)
                continue
            for table, key in a[0]:
                (tokens if table == 0 else by_prefix).setdefault(key, []).append(i)
        self._tokens = tokens
        # Prefix anchors are bucketed by their first 3 (or only 2) characters; within a
        # bucket each prefix is then checked exactly against the document's sorted tokens.
        pre3: dict[str, list[tuple[str, list[int]]]] = {}
        pre2: dict[str, list[int]] = {}
        for prefix, ids in by_prefix.items():
            if len(prefix) >= 3:
                pre3.setdefault(prefix[:3], []).append((prefix, ids))
            else:
                pre2[prefix] = ids
        self._pre3, self._pre2 = pre3, pre2
        self._always = always

    def __len__(self) -> int:
        return len(self.rules)

    def candidates(self, doc: Document) -> list[int]:
        """Indices of rules worth evaluating on `doc`, in rule order."""
        toks = doc.index_tokens()
        found: set[int] = set(self._always)
        # dict_keys & set intersects in C, iterating the smaller side.
        for k in self._tokens.keys() & toks:
            found.update(self._tokens[k])
        if self._pre3:
            hit = self._pre3.keys() & {t[:3] for t in toks}
            if hit:
                stoks = doc.sorted_tokens()
                n = len(stoks)
                for k in hit:
                    for prefix, ids in self._pre3[k]:
                        j = bisect.bisect_left(stoks, prefix)
                        if j < n and stoks[j].startswith(prefix):
                            found.update(ids)
        if self._pre2:
            for k in self._pre2.keys() & {t[:2] for t in toks}:
                found.update(self._pre2[k])
        return sorted(found)

    def match(self, doc: Document) -> list[tuple[str, Match]]:
        out: list[tuple[str, Match]] = []
        toks = doc.index_tokens()
        required = self._required
        for i in self.candidates(doc):
            if not required[i] <= toks:
                continue
            name = self._names[i]
            m = self.rules[name].match(doc)
            if m is not None:
                out.append((name, m))
        return out
