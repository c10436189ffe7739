"""The query AST. Immutable, aliases already expanded, fields already distributed to
the leaves (a leaf's `field` is None for the default field `text` = title + summary + body).

`col` is the 0-based column in the query text the node came from; it is excluded from
equality so two queries that differ only in spacing compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field

FIELDS = ("title", "summary", "body", "author", "tag", "feed", "url", "lang")
# `text` may be written explicitly; it is the default field.
QUERY_FIELDS = frozenset(FIELDS) | {"text"}
DEFAULT_FIELDS = ("title", "summary", "body")
OPERATOR_WORDS = frozenset({"and", "or", "not", "near"})
MAX_QUERY_LEN = 4000
MAX_DEPTH = 50


@dataclass(frozen=True)
class Words:
    """A term (one part) or a phrase (several consecutive parts).

    Each part is (normalised token, is_prefix).
    """

    parts: tuple[tuple[str, bool], ...]
    field: str | None = None
    col: int = dc_field(default=0, compare=False)


@dataclass(frozen=True)
class Regex:
    pattern: str  # as written between the slashes (a `\\/` stays escaped)
    field: str | None = None
    col: int = dc_field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    child: Node
    col: int = dc_field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    col: int = dc_field(default=0, compare=False)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    col: int = dc_field(default=0, compare=False)


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    n: int
    col: int = dc_field(default=0, compare=False)


Node = Words | Regex | Not | And | Or | Near


def is_positive(node: Node) -> bool:
    """True when every way `node` can match involves at least one positive term.

    A rule failing this would alert on nearly every item (docs/rules.md §5).
    """
    if isinstance(node, (Words, Regex, Near)):
        return True
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(is_positive(c) for c in node.children)
    return all(is_positive(c) for c in node.children)


def non_positive_culprit(node: Node) -> Node:
    """The sub-node to blame when `node` is not positive (for the error caret)."""
    if isinstance(node, Not):
        return node
    if isinstance(node, And):
        return non_positive_culprit(node.children[0])
    if isinstance(node, Or):
        for c in node.children:
            if not is_positive(c):
                return non_positive_culprit(c)
    return node


def near_operand_ok(node: Node) -> bool:
    """NEAR takes terms, prefixes, phrases, or OR-groups of those (docs/rules.md §4)."""
    if isinstance(node, Words):
        return True
    if isinstance(node, Or):
        return all(near_operand_ok(c) for c in node.children)
    return False
