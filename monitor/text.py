"""Text normalisation and tokenisation shared by watch rules and dedup (docs/rules.md §2).

One implementation serves both the query side and the item side, so a query word and
the item word it should find always normalise to the same token.

Pipeline for a word: NFKC -> casefold -> NFKC (casefold can denormalise) -> strip Latin
diacritics, Arabic harakat/tatweel, Hebrew niqqud/cantillation -> unify Arabic and
Persian letter variants. Tokens are found on the *original* text so that offsets point
into what the user sees; each raw token is then normalised on its own. Also `span`, a duration
written for people (feed health, the schedule).
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from typing import NamedTuple

__all__ = [
    "APOSTROPHES",
    "INDEXED_TOKEN_CHARS",
    "Token",
    "html_to_text",
    "is_arabic",
    "is_hebrew",
    "normalize",
    "normalize_word",
    "token_texts",
    "tokenize",
]

APOSTROPHES = "'\u2019\u02bc\u2018"
# The longest token the full-text index holds whole: PostgreSQL's keeps a longer one's first
# this many characters (a lexeme holds at most 2,047 bytes; 255 is its regular expressions'
# largest count).
INDEXED_TOKEN_CHARS = 255


class Token(NamedTuple):
    """A normalised token and its [start, end) offsets into the original plain text."""

    text: str
    start: int
    end: int


# --------------------------------------------------------------------------- HTML

_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_SCRIPT_RE = re.compile(r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.S | re.I)
# Block-level tags become line breaks so "<p>a</p><p>b</p>" does not read "ab".
_BLOCK_RE = re.compile(
    r"</?(?:p|br|div|li|ul|ol|dl|dt|dd|h[1-6]|tr|td|th|table|thead|tbody|blockquote|pre|hr|"
    r"section|article|header|footer|aside|nav|figure|figcaption|img|address|main)\b[^>]*>",
    re.I,
)
# Only things that look like tags: "a < b" in prose must survive.
_TAG_RE = re.compile(r"</?[A-Za-z][^>]*>|<![^>]*>|<\?[^>]*>")


def html_to_text(s: str) -> str:
    """Plain text of an HTML fragment: tags and script/style bodies dropped, entities
    decoded, whitespace collapsed (block boundaries kept as single newlines).

    Regex-based because it runs on every item; feeds carry fragments, not documents,
    so a full parser would buy little.
    """
    if not s:
        return ""
    if "<" in s:
        s = _COMMENT_RE.sub(" ", s)
        s = _SCRIPT_RE.sub(" ", s)
        s = _BLOCK_RE.sub("\n", s)
        s = _TAG_RE.sub("", s)
    if "&" in s:
        s = html.unescape(s)
    # A run of whitespace becomes one space, or one line break when it holds one. str.split
    # reads the same whitespace as the regex \s, ~3x faster than regex substitution.
    if "\n" not in s:
        return " ".join(s.split())
    return "\n".join(line for line in (" ".join(part.split()) for part in s.split("\n")) if line)


# ------------------------------------------------------------------ normalisation


def _build_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    # Latin letters with diacritics -> base letter (NFD base is ASCII, rest are marks).
    for cp in list(range(0x00C0, 0x0250)) + list(range(0x1E00, 0x1F00)):
        c = chr(cp)
        d = unicodedata.normalize("NFD", c)
        if len(d) > 1 and d[0].isascii() and d[0].isalpha() and all(unicodedata.combining(x) for x in d[1:]):
            table[cp] = d[0].lower()
    # Latin letters whose stroke is not a combining mark; an analyst types them bare.
    for src, dst in {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "ŧ": "t", "ƀ": "b"}.items():
        table[ord(src)] = dst
    # Arabic harakat, Quranic annotation marks, superscript alef, tatweel.
    for cp in [*range(0x0610, 0x061B), *range(0x064B, 0x0660), 0x0670, *range(0x06D6, 0x06EE), 0x0640]:
        if cp in (0x06DD, 0x06DE, 0x06E9):  # signs, not marks
            continue
        table[cp] = None
    # Arabic / Persian letter variants.
    for src, dst in {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ی": "ي", "ک": "ك"}.items():
        table[ord(src)] = dst
    # Hebrew cantillation and niqqud (maqaf, paseq, sof pasuq, nun hafukha are punctuation).
    for cp in range(0x0591, 0x05C8):
        if cp not in (0x05BE, 0x05C0, 0x05C3, 0x05C6):
            table[cp] = None
    return table


_TABLE = _build_table()
# Combining marks left after a Latin letter (no precomposed form exists, e.g. "q̃").
_LATIN_MARKS_RE = re.compile(
    r"(?<=[A-Za-z\u00C0-\u024F\u1E00-\u1EFF])[\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u20D0-\u20FF\uFE20-\uFE2F]+"
)
_HAS_LATIN_MARK_RE = re.compile(r"[\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u20D0-\u20FF\uFE20-\uFE2F]")


def _normalize_once(s: str) -> str:
    s = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold())
    s = s.translate(_TABLE)
    if _HAS_LATIN_MARK_RE.search(s):
        s = _LATIN_MARKS_RE.sub("", s)
    return s


def normalize(s: str) -> str:
    """Normalised form of any text (not tokenised). Idempotent."""
    if s.isascii():
        return s.lower()
    out = _normalize_once(s)
    # Removing a mark can let NFKC compose a new pair; iterate to the fixed point so
    # normalize(normalize(x)) == normalize(x) always holds.
    for _ in range(4):
        again = _normalize_once(out)
        if again == out:
            break
        out = again
    return out


@functools.lru_cache(maxsize=16384)
def normalize_word(s: str) -> str:
    """Normalised form of one word, apostrophes handled as in docs/rules.md §2.4.

    Cached: news vocabulary is small and repeats across items. Mostly non-ASCII words come
    here (tokenize reads plain ASCII words itself); the bound keeps a long-running daemon's caches
    (this one and _word_pieces, in every process that tokenises) to a few MB each.
    """
    s = _strip_apostrophes(s)
    return normalize(s)


def _strip_apostrophes(raw: str) -> str:
    # Trailing possessive 's is dropped; inner apostrophes join; edge ones are dropped.
    if len(raw) >= 2 and raw[-1] in "sS" and raw[-2] in APOSTROPHES:
        raw = raw[:-2]
    for a in APOSTROPHES:
        if a in raw:
            raw = raw.replace(a, "")
    return raw


# -------------------------------------------------------------------- tokenising


def _mark_ranges() -> list[tuple[int, int]]:
    """All combining marks (Mn, Mc, Me) as code point ranges.

    Python's \\w lacks marks, but Arabic harakat, Hebrew niqqud and Indic vowel signs
    sit inside words and must not split them.
    """
    ranges: list[list[int]] = []
    for cp in range(0x0300, 0x1F000):
        if unicodedata.category(chr(cp))[0] == "M":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    ranges.append([0xE0100, 0xE01EF])  # variation selectors supplement
    return [(a, b) for a, b in ranges]


_MARK_RANGES = _mark_ranges()
# Scanning runs on a same-length copy of the text where every mark reads as a letter
# and U+02BC (a "letter" to Python) reads as an apostrophe; a one-class regex over that
# copy is ~4x faster than an alternation of letters and marks. The detector is split so
# its BMP class compiles to a bitmap; any astral character (emoji...) takes the copy.
_BMP_MARK_CLASS = "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in _MARK_RANGES if b <= 0xFFFF)
_NEEDS_SCAN_COPY_RE = re.compile(f"[{_BMP_MARK_CLASS}\\u02bc]|[\\U00010000-\\U0010ffff]")
_SCAN_TABLE = {cp: "a" for a, b in _MARK_RANGES for cp in range(a, b + 1)}
_SCAN_TABLE[0x02BC] = "'"
# A word: runs of letters/digits, possibly joined by single inner apostrophes.
_SCAN_RE = re.compile(r"[^\W_]+(?:['\u2019\u2018][^\W_]+)*")
_HAS_APOS_RE = re.compile(f"[{APOSTROPHES}]")
_tuple_new = tuple.__new__


@functools.lru_cache(maxsize=16384)
def _word_pieces(raw: str) -> tuple[str, ...]:
    """Normalised token(s) of one raw word; several when NFKC introduces separators
    ("½" -> "1⁄2")."""
    norm = normalize_word(raw)
    if not norm:
        return ()
    pieces = [_strip_apostrophes(p) for p in _SCAN_RE.findall(norm.translate(_SCAN_TABLE))]
    if len(pieces) == 1 and len(pieces[0]) == len(norm):
        return (norm,)
    # Rare: re-find the pieces in the normalised text itself (the scan copy hides marks).
    out = []
    for m in _SCAN_RE.finditer(norm.translate(_SCAN_TABLE)):
        piece = _strip_apostrophes(norm[m.start() : m.end()])
        if piece:
            out.append(piece)
    return tuple(out)


def tokenize(plain: str) -> list[Token]:
    """Tokens of `plain` (already HTML-free), offsets into `plain` itself.

    Each raw word is normalised separately; if normalisation produces separators
    (NFKC of "½" is "1⁄2"), the pieces share the raw word's span.
    """
    out: list[Token] = []
    if not plain:
        return out
    append = out.append
    if plain.isascii():
        # Fast path: lower() keeps length, so offsets hold; only apostrophes need care.
        for m in _SCAN_RE.finditer(plain.lower()):
            w = m.group()
            start, end = m.span()
            if "'" in w:
                if w[-1] == "s" and w[-2] == "'":
                    w = w[:-2]
                    end -= 2
                w = w.replace("'", "")
            append(_tuple_new(Token, (w, start, end)))
        return out
    scan = plain.translate(_SCAN_TABLE) if _NEEDS_SCAN_COPY_RE.search(plain) else plain
    for m in _SCAN_RE.finditer(scan):
        start, end = m.span()
        raw = plain[start:end]
        if raw.isascii() and raw.isalnum():
            append(_tuple_new(Token, (raw.lower(), start, end)))
            continue
        if len(raw) >= 2 and raw[-1] in "sS" and raw[-2] in APOSTROPHES:
            end -= 2  # highlight "Russia", not "Russia's"
        for piece in _word_pieces(raw):
            append(_tuple_new(Token, (piece, start, end)))
    return out


def _ascii_apostrophes(word: str) -> str:
    # A word with an apostrophe has a letter on each side of it (_SCAN_RE).
    return (word[:-2] if word[-1] == "s" and word[-2] == "'" else word).replace("'", "")


def token_texts(plain: str) -> list[str]:
    """`[t.text for t in tokenize(plain)]` without the offsets: what the full-text index
    of every collected item needs, about three times faster than tokenize."""
    if not plain:
        return []
    if plain.isascii():
        words = _SCAN_RE.findall(plain.lower())
        if "'" not in plain:
            return words
        return [_ascii_apostrophes(w) if "'" in w else w for w in words]
    out: list[str] = []
    if _NEEDS_SCAN_COPY_RE.search(plain):
        # The scan copy hides marks: cut each raw word from the original text.
        raws = [plain[m.start() : m.end()] for m in _SCAN_RE.finditer(plain.translate(_SCAN_TABLE))]
    else:
        raws = _SCAN_RE.findall(plain)
    for raw in raws:
        if raw.isascii() and raw.isalnum():
            out.append(raw.lower())
        else:
            out.extend(_word_pieces(raw))
    return out


# ------------------------------------------------------------------------ scripts

_ARABIC_RE = re.compile(r"[\u0620-\u064A\u066E-\u06D3\u06D5\u06EE\u06EF\u06FA-\u06FF\u0750-\u077F\u08A0-\u08C9]")
_HEBREW_RE = re.compile(r"[\u05D0-\u05EA\u05EF-\u05F2]")


def is_arabic(s: str) -> bool:
    """True when `s` contains an Arabic-script letter (docs/rules.md §3 proclitics apply)."""
    return _ARABIC_RE.search(s) is not None


def is_hebrew(s: str) -> bool:
    """True when `s` contains a Hebrew letter (docs/rules.md §3 prefixes apply)."""
    return _HEBREW_RE.search(s) is not None


def span(seconds: float) -> str:
    """`3d 4h`, `5h 10m`, `45m`: a duration for people."""
    seconds = int(max(seconds, 0))
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m = rest // 60
    parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m" if m and not d else ""]
    return " ".join(p for p in parts if p) or f"{seconds}s"
