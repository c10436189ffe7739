"""A news item prepared for matching: each field tokenised once, reused by every rule."""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Mapping

from monitor.text import Token, is_arabic, is_hebrew, token_texts, tokenize

from .nodes import DEFAULT_FIELDS, FIELDS

# docs/rules.md §3: proclitics an Arabic term may carry; longest first so "وال" wins over "و".
ARABIC_PROCLITICS = tuple(
    sorted(["و", "ف", "ب", "ل", "ك", "ال", "وال", "بال", "كال", "فال", "لل"], key=len, reverse=True)
)
HEBREW_PREFIX_LETTERS = frozenset("והבלמשכ")


def variants(tok: str) -> list[str]:
    """What `tok` could be with one allowed Arabic proclitic / 1-3 Hebrew prefix letters
    removed. A term T matches token t iff t == T or T in variants(t) (docs/rules.md §3)."""
    out: list[str] = []
    if is_arabic(tok):
        for p in ARABIC_PROCLITICS:
            if len(tok) > len(p) and tok.startswith(p):
                out.append(tok[len(p) :])
    elif is_hebrew(tok):
        for k in (1, 2, 3):
            if len(tok) > k and tok[k - 1] in HEBREW_PREFIX_LETTERS:
                out.append(tok[k:])
            else:
                break
    return out


def _fts_words(words: list[str], plain: str, out: list[str]) -> None:
    """Append `words` (the tokens of `plain`) to `out`, each Arabic/Hebrew token followed
    by its prefix-stripped variants."""
    if plain.isascii():
        out.extend(words)
        return
    # Variants exist only for Arabic and Hebrew tokens: one look at all of them (not at
    # `plain`: NFKC turns Arabic presentation forms into letters) spares two per token.
    joined = " ".join(words)
    if not (is_arabic(joined) or is_hebrew(joined)):
        out.extend(words)
        return
    for w in words:
        out.append(w)
        out.extend(variants(w))


def fts_text(values: Mapping[str, str | None]) -> str:
    """`Document.build(values).fts_text()` without building any matching table: the
    parser workers compute it for every item they read."""
    out: list[str] = []
    for f in DEFAULT_FIELDS:
        plain = values.get(f) or ""
        _fts_words(token_texts(plain), plain, out)
    return " ".join(out)


class FieldText:
    """One field's plain text, tokens and lookup tables (the tables beyond `index`
    are built on first use: most rules never need them)."""

    __slots__ = ("_nfkc", "_vindex", "index", "plain", "tokens")

    def __init__(self, plain: str) -> None:
        self.plain = plain
        self.tokens: list[Token] = tokenize(plain) if plain else []
        index: dict[str, list[int]] = {}
        for i, t in enumerate(self.tokens):
            lst = index.get(t.text)
            if lst is None:
                index[t.text] = [i]
            else:
                lst.append(i)
        self.index = index
        # ASCII text has no Arabic/Hebrew variants: share the table, skip the scan.
        self._vindex: dict[str, list[int]] | None = index if plain.isascii() else None
        self._nfkc: tuple[str, list[int] | None, list[int] | None] | None = None

    @property
    def vindex(self) -> dict[str, list[int]]:
        """Like `index`, but Arabic/Hebrew tokens are also filed under their variants."""
        if self._vindex is None:
            if not (is_arabic(self.plain) or is_hebrew(self.plain)):
                self._vindex = self.index
            else:
                vi: dict[str, list[int]] = {k: list(v) for k, v in self.index.items()}
                for tok, pos in self.index.items():
                    for v in variants(tok):
                        vi.setdefault(v, []).extend(pos)
                for positions in vi.values():
                    positions.sort()
                self._vindex = vi
        return self._vindex

    def prefix_positions(self, prefix: str, sorted_tokens: list[str]) -> list[int]:
        """Positions of tokens (or Arabic/Hebrew variants) starting with `prefix`.

        `sorted_tokens` is the whole document's Document.sorted_tokens(): one sort per
        document serves every prefix term in every field (a token from another field
        simply has no entry here)."""
        table = self.vindex
        i = bisect.bisect_left(sorted_tokens, prefix)
        n = len(sorted_tokens)
        out: list[int] = []
        found = 0
        while i < n and sorted_tokens[i].startswith(prefix):
            pos = table.get(sorted_tokens[i])
            if pos:
                out.extend(pos)
                found += 1
            i += 1
        if found > 1:
            out.sort()
        return out

    def nfkc(self) -> tuple[str, list[int] | None, list[int] | None]:
        """(NFKC text, start map, end map) for regex search; maps are None when NFKC
        leaves the text unchanged (the common case) so offsets are already right."""
        if self._nfkc is None:
            s = self.plain
            if s.isascii() or unicodedata.is_normalized("NFKC", s):
                self._nfkc = (s, None, None)
            else:
                out: list[str] = []
                starts: list[int] = []
                ends: list[int] = []
                i, n = 0, len(s)
                while i < n:  # a segment = a base char and the marks that follow it
                    j = i + 1
                    while j < n and unicodedata.combining(s[j]):
                        j += 1
                    seg = unicodedata.normalize("NFKC", s[i:j])
                    out.append(seg)
                    starts.extend([i] * len(seg))
                    ends.extend([j] * len(seg))
                    i = j
                self._nfkc = ("".join(out), starts, ends)
        return self._nfkc


class Document:
    """An item's fields, tokenised once. Build with `Document.build(values)`."""

    __slots__ = ("_fts", "_keys", "_sorted", "fields")

    def __init__(self, fields: dict[str, FieldText]) -> None:
        self.fields = fields
        self._keys: set[str] | None = None
        self._sorted: list[str] | None = None
        self._fts: str | None = None

    @classmethod
    def build(cls, values: Mapping[str, str | None]) -> Document:
        """`values` maps field names (FIELDS) to plain text; missing keys are empty.
        An unknown key raises ValueError: a misspelt field would silently never match."""
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown document field(s): {', '.join(sorted(unknown))}; fields are {', '.join(FIELDS)}")
        return cls({f: FieldText(values.get(f) or "") for f in FIELDS})

    def text(self, field: str) -> str:
        return self.fields[field].plain

    def index_tokens(self) -> set[str]:
        """Every token of every field, Arabic/Hebrew tokens also under their variants:
        what RuleSet looks up rule anchors in. (Treat as read-only.)"""
        if self._keys is None:
            keys: set[str] = set()
            for ft in self.fields.values():
                if ft.tokens:
                    keys.update(ft.vindex)
            self._keys = keys
        return self._keys

    def sorted_tokens(self) -> list[str]:
        """index_tokens() sorted, for exact prefix checks by bisection."""
        if self._sorted is None:
            self._sorted = sorted(self.index_tokens())
        return self._sorted

    def fts_text(self) -> str:
        """Text for an SQLite FTS5 column (default unicode61 tokenizer) that
        CompiledQuery.fts_query() searches: normalised tokens of the default field's
        fields (title, summary, body), each Arabic/Hebrew token followed by its
        prefix-stripped variants."""
        if self._fts is None:
            words: list[str] = []
            for f in DEFAULT_FIELDS:
                field = self.fields[f]
                _fts_words([t.text for t in field.tokens], field.plain, words)
            self._fts = " ".join(words)
        return self._fts
