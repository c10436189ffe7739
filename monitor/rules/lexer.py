"""Query lexer: text -> flat list of tokens with columns.

Done as a separate pass so that bracket balance can be checked before parsing: a
missing ")" is then reported at the "(" that is never closed, as docs/rules.md §5 shows,
rather than as some confusing error further on.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from monitor.errors import RuleError

from .nodes import FIELDS, MAX_QUERY_LEN, QUERY_FIELDS

# kinds
LP, RP, WORD, PHRASE, REGEX, FIELD, MINUS, ALIAS, AND, OR, NOT, NEAR, EOF = (
    "(",
    ")",
    "word",
    "phrase",
    "regex",
    "field",
    "-",
    "alias",
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "end",
)
OPERAND_START = frozenset({LP, WORD, PHRASE, REGEX, FIELD, MINUS, ALIAS, NOT})
BINARY = frozenset({AND, OR, NEAR})


class Tok(NamedTuple):
    kind: str
    value: str  # word/phrase/regex body, field or alias name, NEAR distance
    col: int  # first character in the query
    end: int  # one past the last character


OPEN_QUOTES = {'"': '"', "\u201c": "\u201d"}  # “curly” quotes pasted from documents
CLOSE_QUOTES = {'"', "\u201d"}
_WORD_STOP = set("()") | set(OPEN_QUOTES) | CLOSE_QUOTES
_FIELD_RE = re.compile(r"([A-Za-z]+):")
_NEAR_RE = re.compile(r"near(?:/(.*))?\Z", re.I | re.S)
_ALIAS_RE = re.compile(r"@([\w.-]+)\Z")


def lex(query: str) -> list[Tok]:
    if len(query) > MAX_QUERY_LEN:
        raise RuleError(
            f"query is longer than {MAX_QUERY_LEN:,} characters",
            query,
            MAX_QUERY_LEN,
            f"the limit is {MAX_QUERY_LEN:,} characters; split the rule or use aliases",
        )
    toks: list[Tok] = []
    i, n = 0, len(query)
    after_field = False
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
            continue
        start = i
        if c == "(":
            toks.append(Tok(LP, c, i, i + 1))
            i += 1
        elif c == ")":
            toks.append(Tok(RP, c, i, i + 1))
            i += 1
        elif c in OPEN_QUOTES or c in CLOSE_QUOTES:
            closers = CLOSE_QUOTES if c != '"' else {'"'}
            j = i + 1
            while j < n and query[j] not in closers:
                j += 1
            if j >= n:
                raise RuleError("unbalanced quote", query, i, "this quote is never closed")
            toks.append(Tok(PHRASE, query[i + 1 : j], i, j + 1))
            i = j + 1
        elif c == "/":
            j = i + 1
            while j < n and query[j] != "/":
                j += 2 if query[j] == "\\" else 1
            if j >= n:
                raise RuleError("unbalanced regex", query, i, 'this "/" is never closed')
            if j + 1 < n and not (query[j + 1].isspace() or query[j + 1] in "()"):
                raise RuleError(
                    "unexpected text after a regex",
                    query,
                    j + 1,
                    "a /regex/ takes no flags (it is always case-insensitive); put a space after it",
                )
            toks.append(Tok(REGEX, query[i + 1 : j], i, j + 1))
            i = j + 1
        elif c == "-":
            nxt = query[i + 1] if i + 1 < n else ""
            if not nxt or nxt.isspace() or nxt == ")":
                raise RuleError(
                    'a "-" must touch what it excludes',
                    query,
                    i,
                    'write "-Israel" (no space), or "NOT Israel"',
                )
            toks.append(Tok(MINUS, c, i, i + 1))
            i += 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in _WORD_STOP:
                j += 1
            word = query[i:j]
            m = None if after_field else _FIELD_RE.match(word)
            if m:
                if m.group(1).lower() not in QUERY_FIELDS:
                    raise RuleError(
                        f'unknown field "{m.group(1).lower()}"',
                        query,
                        i,
                        f'fields are {", ".join(FIELDS)} (and text); quote text with a colon: "10:30"',
                    )
                toks.append(Tok(FIELD, m.group(1).lower(), i, i + m.end()))
                i += m.end()
                after_field = True
                continue
            i = j
            up = word.upper()
            if up in ("AND", "OR", "NOT"):
                toks.append(Tok(up, word, start, j))
            elif (nm := _NEAR_RE.match(word)) is not None:
                dist = nm.group(1)
                if dist is None:
                    toks.append(Tok(NEAR, "10", start, j))
                elif dist.isascii() and dist.isdigit() and len(dist) <= 6:
                    toks.append(Tok(NEAR, str(int(dist)), start, j))
                else:
                    raise RuleError(
                        "bad NEAR distance",
                        query,
                        start + 5,
                        "write NEAR/n with a whole number n, e.g. NEAR/5",
                    )
            elif word.startswith("@"):
                am = _ALIAS_RE.match(word)
                if not am:
                    raise RuleError("bad alias name", query, start, "an alias is @ followed by its name, e.g. @iran")
                toks.append(Tok(ALIAS, am.group(1), start, j))
            else:
                toks.append(Tok(WORD, word, start, j))
        after_field = toks[-1].kind == FIELD if toks else False
    toks.append(Tok(EOF, "", n, n))
    _check_parens(query, toks)
    return toks


def _check_parens(query: str, toks: list[Tok]) -> None:
    stack: list[Tok] = []
    for t in toks:
        if t.kind == LP:
            stack.append(t)
        elif t.kind == RP:
            if not stack:
                raise RuleError("unbalanced parenthesis", query, t.col, 'this ")" has no matching "("')
            stack.pop()
    if stack:
        raise RuleError("unbalanced parenthesis", query, stack[0].col, 'this "(" is never closed')
