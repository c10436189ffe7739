"""Watch rules: the query language of docs/rules.md - parse, compile, match, explain.

    q = compile_query('Russia AND Israel*', aliases)      # RuleError on a bad query
    doc = Document.build({"title": ..., "summary": ...})   # plain text, tokenised once
    m = q.match(doc)                                        # Match | None
    RuleSet({"name": q, ...}).match(doc)                    # many rules, indexed

Pure functions, no I/O. A RuleError renders as docs/rules.md §5 shows with
`err.render(f'config.toml: rule "{name}"')`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from monitor.errors import RuleError

from .document import Document
from .explain import to_fts, to_query
from .index import RuleSet
from .matcher import compile_node
from .nodes import FIELDS, Node
from .parser import parse_query

__all__ = [
    "FIELDS",
    "CompiledQuery",
    "Document",
    "Match",
    "Occurrence",
    "RuleError",
    "RuleSet",
    "compile_query",
    "explain",
    "parse_query",
]

_FIELD_ORDER = {f: i for i, f in enumerate(FIELDS)}
_tuple_new = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path


class Occurrence(NamedTuple):
    """A matched span: character offsets into the field's plain text."""

    field: str
    start: int
    end: int


@dataclass(frozen=True)
class Match:
    occurrences: tuple[Occurrence, ...]  # positive terms only, sorted by field order then offset
    terms: tuple[str, ...]  # matched surface strings, in query order, deduplicated


class CompiledQuery:
    """A parsed, validated and compiled rule. Reusable and thread-safe (no state)."""

    __slots__ = ("_eval", "ast", "query")

    def __init__(self, query: str, ast: Node) -> None:
        self.query = query
        self.ast = ast
        self._eval = compile_node(ast)

    def __repr__(self) -> str:
        return f"CompiledQuery({self.query!r})"

    def match(self, doc: Document) -> Match | None:
        hits = self._eval(doc)
        if hits is None:
            return None
        fields = doc.fields
        occ: dict[tuple[int, int, int], str] = {}
        terms: dict[str, None] = {}
        for field, kind, a, b in hits:
            ft = fields[field]
            if kind == 0:
                toks = ft.tokens
                start, end = toks[a][1], toks[b - 1][2]
            else:
                start, end = a, b
            key = (_FIELD_ORDER[field], start, end)
            if key not in occ:
                occ[key] = field
                terms[ft.plain[start:end]] = None
        ordered = tuple(_tuple_new(Occurrence, (occ[k], k[1], k[2])) for k in sorted(occ))
        return Match(ordered, tuple(terms))

    def explain(self) -> str:
        return to_query(self.ast)

    def fts_query(self) -> str | None:
        """FTS5 MATCH expression over a column of rules.document.fts_text() (default
        unicode61 tokenizer) selecting a superset of what this query matches."""
        return to_fts(self.ast)


def compile_query(query: str, aliases: Mapping[str, str] | None = None) -> CompiledQuery:
    """Parse, validate and compile `query`; raises RuleError (alias problems included)."""
    return CompiledQuery(query, parse_query(query, aliases))


def explain(query: str, aliases: Mapping[str, str] | None = None) -> str:
    """The query fully parenthesised with aliases expanded; itself a valid query."""
    return to_query(parse_query(query, aliases))
