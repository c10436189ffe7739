"""Recursive-descent parser: tokens -> AST (nodes.py), aliases expanded in place.

Grammar (docs/rules.md §4, loosest first):
    or    := and ("OR" and)*
    and   := near (["AND"] near)*
    near  := unary ("NEAR[/n]" unary)?
    unary := ("NOT" | "-")* primary
    primary := field? (WORD | PHRASE | REGEX | ALIAS | "(" or ")")

Every refusal is a RuleError with the column where the problem starts.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from monitor.errors import RuleError
from monitor.text import tokenize

from . import lexer as L
from .nodes import (
    MAX_DEPTH,
    And,
    Near,
    Node,
    Not,
    Or,
    Regex,
    Words,
    is_positive,
    near_operand_ok,
    non_positive_culprit,
)

MAX_NODES = 20000  # alias expansion can grow a query exponentially; stop early
_CHUNK_RE = re.compile(r"\S+")


def parse_query(query: str, aliases: Mapping[str, str] | None = None) -> Node:
    """Parse and validate a whole rule: syntax, aliases, NEAR operands, positivity."""
    if not query.strip():
        raise RuleError("empty query", query, 0, "write at least one term to watch for")
    node = _Parser(query, aliases or {}, (), 0, [0]).parse()
    if not is_positive(node):
        bad = non_positive_culprit(node)
        raise RuleError(
            "rule can match without any positive term",
            query,
            bad.col,
            "this NOT has nothing to narrow; it would alert on almost every item "
            "(add a term the item must contain, e.g. Iran -sports)",
        )
    return node


def scope(node: Node, field: str) -> Node:
    """Apply `field:` to a subtree; an inner explicit field wins."""
    if isinstance(node, (Words, Regex)):
        return node if node.field is not None else dataclasses.replace(node, field=field)
    if isinstance(node, Not):
        return dataclasses.replace(node, child=scope(node.child, field))
    if isinstance(node, Near):
        return dataclasses.replace(node, left=scope(node.left, field), right=scope(node.right, field))
    return dataclasses.replace(node, children=tuple(scope(c, field) for c in node.children))


def words_from_text(text: str, query: str, col: int) -> tuple[tuple[str, bool], ...]:
    """Parts of a word or phrase body. `col` is where `text` starts in `query`.

    A `*` may only end a word, after at least two letters.
    """
    parts: list[tuple[str, bool]] = []
    for m in _CHUNK_RE.finditer(text):
        chunk, c0 = m.group(), col + m.start()
        star = chunk.find("*")
        prefix = False
        if star != -1:
            if star != len(chunk) - 1:
                raise RuleError(
                    "misplaced *",
                    query,
                    c0 + star,
                    "* is only allowed at the end of a word (Israel*), not in the middle",
                )
            chunk = chunk[:-1]
            prefix = True
        toks = tokenize(chunk)
        if prefix and (not toks or toks[-1].end != len(chunk) or len(toks[-1].text) < 2):
            raise RuleError(
                "* after fewer than two letters",
                query,
                c0 + star,
                "a prefix needs at least two letters before the * (e.g. Isr*)",
            )
        for k, t in enumerate(toks):
            parts.append((t.text, prefix and k == len(toks) - 1))
    return tuple(parts)


class _Parser:
    def __init__(
        self, query: str, aliases: Mapping[str, str], stack: tuple[str, ...], depth: int, counter: list[int]
    ) -> None:
        self.q = query
        self.aliases = aliases
        self.stack = stack  # aliases being expanded (cycle detection)
        self.depth = depth  # groups open, including enclosing alias expansions
        self.counter = counter  # nodes built so far, shared across alias expansions
        self.toks = L.lex(query)
        self.i = 0

    # -- helpers
    def err(self, msg: str, col: int, detail: str = "") -> RuleError:
        return RuleError(msg, self.q, col, detail)

    @property
    def tok(self) -> L.Tok:
        return self.toks[self.i]

    def next(self) -> L.Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def count(self, node: Node) -> Node:
        self.counter[0] += 1
        if self.counter[0] > MAX_NODES:
            raise self.err(
                "query too large after alias expansion",
                node.col,
                f"more than {MAX_NODES:,} terms; simplify the aliases",
            )
        return node

    def text_of(self, t: L.Tok) -> str:
        return self.q[t.col : t.end]

    # -- grammar
    def parse(self) -> Node:
        if self.tok.kind == L.EOF:
            raise self.err("empty query", 0, "write at least one term to watch for")
        node = self.parse_or()
        t = self.tok
        if t.kind != L.EOF:  # only a stray ")" can stop parse_or early
            raise self.err("unbalanced parenthesis", t.col, 'this ")" has no matching "("')
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.tok.kind == L.OR:
            self.next()
            items.append(self.parse_and())
        if len(items) == 1:
            return items[0]
        flat: list[Node] = []
        for it in items:
            flat.extend(it.children if isinstance(it, Or) else (it,))
        return self.count(Or(tuple(flat), items[0].col))

    def parse_and(self) -> Node:
        items = [self.parse_near()]
        while True:
            k = self.tok.kind
            if k == L.AND:
                self.next()
            elif k not in L.OPERAND_START:
                break
            items.append(self.parse_near())
        if len(items) == 1:
            return items[0]
        flat: list[Node] = []
        for it in items:
            flat.extend(it.children if isinstance(it, And) else (it,))
        return self.count(And(tuple(flat), items[0].col))

    def parse_near(self) -> Node:
        left = self.parse_unary()
        while self.tok.kind == L.NEAR:
            op = self.next()
            right = self.parse_unary()
            if isinstance(left, Near):
                raise self.err(
                    "NEAR over an unsupported operand",
                    op.col,
                    "NEAR cannot be chained; write (a NEAR b) AND (b NEAR c)",
                )
            for side in (left, right):
                if not near_operand_ok(side):
                    raise self.err(
                        "NEAR over an unsupported operand",
                        side.col,
                        "NEAR takes terms, prefixes, phrases, or (x OR y) groups of them - "
                        "not NOT, AND, regexes or another NEAR",
                    )
            left = self.count(Near(left, right, int(op.value), left.col))
        return left

    def parse_unary(self) -> Node:
        first = self.tok
        negs = 0
        while self.tok.kind in (L.NOT, L.MINUS):
            self.next()
            negs += 1
        node = self.parse_primary()
        # NOT NOT x is x; folding keeps long NOT chains from nesting deep.
        return self.count(Not(node, first.col)) if negs % 2 else node

    def parse_primary(self) -> Node:
        t = self.tok
        if t.kind == L.FIELD:
            self.next()
            nt = self.tok
            if nt.kind not in (L.WORD, L.PHRASE, L.REGEX, L.ALIAS, L.LP):
                raise self.err(
                    "missing operand", t.col, f'"{self.text_of(t)}" needs a term, phrase or group right after it'
                )
            node = self.parse_primary()
            field = None if t.value == "text" else t.value
            return scope(node, field) if field else node
        if t.kind == L.LP:
            self.next()
            if self.depth + 1 > MAX_DEPTH:
                raise self.err(
                    f"nested deeper than {MAX_DEPTH} groups", t.col, "flatten the query or split it into several rules"
                )
            self.depth += 1
            if self.tok.kind == L.RP:
                raise self.err("empty group", t.col, "this group has nothing inside it")
            node = self.parse_or()
            self.depth -= 1
            self.next()  # the ")" (balance was checked by the lexer)
            return node
        if t.kind == L.WORD:
            self.next()
            parts = words_from_text(t.value, self.q, t.col)
            if not parts:
                raise self.err("nothing to search for", t.col, f'"{t.value}" has no letters or digits')
            return self.count(Words(parts, None, t.col))
        if t.kind == L.PHRASE:
            self.next()
            parts = words_from_text(t.value, self.q, t.col + 1)
            if not parts:
                raise self.err(
                    "empty phrase" if not t.value.strip() else "nothing to search for",
                    t.col,
                    "this phrase has no letters or digits",
                )
            return self.count(Words(parts, None, t.col))
        if t.kind == L.REGEX:
            self.next()
            return self.count(self.regex(t))
        if t.kind == L.ALIAS:
            self.next()
            return self.alias(t)
        # Not an operand: say what is missing, pointing at the operator that wanted one.
        prev = self.toks[self.i - 1] if self.i else None
        if t.kind == L.EOF:
            if prev is None:
                raise self.err("empty query", 0, "write at least one term to watch for")
            raise self.err("missing operand", prev.col, f'"{self.text_of(prev)}" needs a term after it')
        if t.kind == L.RP and prev is not None:
            raise self.err("missing operand", prev.col, f'"{self.text_of(prev)}" needs a term after it')
        # a binary operator where an operand should be
        if prev is not None and prev.kind in (L.NOT, L.MINUS, L.AND, L.OR, L.NEAR):
            raise self.err(
                "missing operand", prev.col, f'"{self.text_of(prev)}" needs a term after it, found "{self.text_of(t)}"'
            )
        raise self.err("missing operand", t.col, f'"{self.text_of(t)}" needs a term before it')

    def regex(self, t: L.Tok) -> Regex:
        from .matcher import compile_regex  # local: matcher imports nodes only

        if not t.value:
            raise self.err("empty regex", t.col, "// would match every item")
        try:
            compile_regex(t.value)
        except ValueError as e:
            raise self.err("invalid regex", t.col, str(e)) from None
        return Regex(t.value, None, t.col)

    def alias(self, t: L.Tok) -> Node:
        name = t.value
        if name not in self.aliases:
            raise self.err(f'unknown alias "@{name}"', t.col, "define it in the [aliases] table of the config")
        if name in self.stack:
            chain = " → ".join(f"@{a}" for a in (*self.stack[self.stack.index(name) :], name))
            raise self.err(f'cyclic alias "@{name}" ({chain})', t.col, "an alias cannot use itself")
        if self.depth + 1 > MAX_DEPTH:
            raise self.err(f"nested deeper than {MAX_DEPTH} groups", t.col, "aliases count as groups; flatten them")
        text = self.aliases[name]
        if not isinstance(text, str) or not text.strip():
            raise RuleError(
                f'alias "@{name}": empty query', text if isinstance(text, str) else "", 0, "give the alias a query"
            )
        try:
            sub = _Parser(text, self.aliases, (*self.stack, name), self.depth + 1, self.counter)
            node = sub.parse()
        except RuleError as e:
            if e.message.startswith(("alias ", "cyclic alias", "query too large")):
                raise
            raise RuleError(f'alias "@{name}": {e.message}', e.query, e.column, e.detail) from None
        # Columns inside point into the alias text; errors found later (NEAR operands,
        # positivity) are reported in the rule, so point them all at "@name".
        return recol(node, t.col)


def recol(node: Node, col: int) -> Node:
    if isinstance(node, (Words, Regex)):
        return dataclasses.replace(node, col=col)
    if isinstance(node, Not):
        return Not(recol(node.child, col), col)
    if isinstance(node, Near):
        return Near(recol(node.left, col), recol(node.right, col), node.n, col)
    return type(node)(tuple(recol(c, col) for c in node.children), col)
