"""AST -> text: the fully parenthesised query (`explain`) and an FTS5 narrowing query.

`to_query` output is itself a valid query that parses back to an equal AST: every
field is written on its leaf, terms in normalised form, operator words quoted.
"""

from __future__ import annotations

import unicodedata

from monitor.text import INDEXED_TOKEN_CHARS

from .nodes import DEFAULT_FIELDS, OPERATOR_WORDS, And, Near, Node, Not, Or, Regex, Words


def _word(tok: str, prefix: bool) -> str:
    return tok + ("*" if prefix else "")


def to_query(node: Node) -> str:
    if isinstance(node, Words):
        f = f"{node.field}:" if node.field else ""
        if len(node.parts) == 1 and node.parts[0][0] not in OPERATOR_WORDS:
            return f + _word(*node.parts[0])
        return f + '"' + " ".join(_word(t, p) for t, p in node.parts) + '"'
    if isinstance(node, Regex):
        return (f"{node.field}:" if node.field else "") + "/" + node.pattern + "/"
    if isinstance(node, Not):
        return f"(NOT {to_query(node.child)})"
    if isinstance(node, And):
        return "(" + " AND ".join(to_query(c) for c in node.children) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(to_query(c) for c in node.children) + ")"
    if isinstance(node, Near):
        return f"({to_query(node.left)} NEAR/{node.n} {to_query(node.right)})"
    raise TypeError(node)


# ---------------------------------------------------------------- FTS5 narrowing

# The fields whose tokens fts_text() holds: the default field, and each of its fields alone.
_FTS_FIELDS = (None, *DEFAULT_FIELDS)


def _fts_safe(tok: str) -> bool:
    """True when FTS5's unicode61 tokenizer surely keeps `tok` as one token: every
    character a letter or digit already in Unicode 3.2 (unicode61 uses 6.1 tables).
    Otherwise the quoted string could tokenise to nothing and match no row. And when every
    index holds it whole (INDEXED_TOKEN_CHARS)."""
    ucd = unicodedata.ucd_3_2_0
    return 0 < len(tok) <= INDEXED_TOKEN_CHARS and all(ucd.category(c)[0] in "LN" for c in tok)


def to_fts(node: Node) -> str | None:
    """An FTS5 expression matching a superset of the items `node` matches, over a
    column holding rules.document.fts_text(); None when nothing sound can be said."""
    if isinstance(node, Words):
        if node.field not in _FTS_FIELDS or not all(_fts_safe(t) for t, _ in node.parts):
            return None
        # A phrase narrows as AND: the index keeps no positions (store/schema.py FTS_OPTIONS),
        # and Arabic/Hebrew variants would break adjacency anyway.
        terms = [f'"{t}"' + ("*" if p else "") for t, p in node.parts]
        return terms[0] if len(terms) == 1 else "(" + " AND ".join(terms) + ")"
    if isinstance(node, (Regex, Not)):
        return None
    if isinstance(node, (And, Near)):
        kids = (node.left, node.right) if isinstance(node, Near) else node.children
        parts = [p for p in (to_fts(c) for c in kids) if p is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"
    if isinstance(node, Or):
        alternatives = [to_fts(c) for c in node.children]
        either = [p for p in alternatives if p is not None]
        if len(either) != len(alternatives):
            return None
        return "(" + " OR ".join(either) + ")"
    raise TypeError(node)
