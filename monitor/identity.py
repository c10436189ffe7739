"""Identity: item keys inside a feed and canonical URLs across feeds. Pure functions."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .text import normalize, tokenize

# Query parameters that only track the reader, never identify the article.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "ocid",
        "cmpid",
        "mc_cid",
        "mc_eid",
        "traffic_source",
        "ito",
        "ref",
        "ref_src",
        "smid",
        "smtyp",
        "cid",
        "partner",
        "igshid",
        "yclid",
        "_ga",
        "rss",
        "mod",
    }
)
TRACKING_PREFIXES = ("utm_", "at_", "ns_")

_DEFAULT_PORTS = {"http": "80", "https": "443"}

# A link longer than this is no link: refused where it is read, before anything (a canonical
# form, a robots.txt match, a fetch) spends work on it. Real article URLs stay far below it.
MAX_LINK_CHARS = 4096


# Cached: a parser worker asks for each item's canonical link up to three times (the feed's
# link counts, the item's key, its facts for ingest).
@functools.lru_cache(maxsize=4096)
def canonical_url(url: str) -> str:
    """The URL with what does not identify the article removed.

    Scheme and host lower-cased, `www.` and default ports dropped, fragment and
    tracking parameters removed, a trailing slash dropped; other query parameters
    are kept (some sites identify articles by them) in their original order.
    """
    url = url.strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return url
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    # Both default ports go: the scheme is unified to https below.
    netloc = host if port is None or str(port) in _DEFAULT_PORTS.values() else f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    path = parts.path.rstrip("/")
    # http and https are one article; normalise to https so mixed feeds agree.
    return urlunsplit(("https", netloc, path, urlencode(query), ""))


def content_digest(title: str, summary: str, link: str) -> str:
    """What an item says: a change of it is an edit."""
    return hashlib.sha256("\x00".join((title, summary, link)).encode()).hexdigest()


def is_home_page(url: str) -> bool:
    """A link to the site root (possibly with only a query) identifies no article."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.path.strip("/") == "" and not parts.query


def item_key(guid: str, link: str, title: str, date: str, guid_counts: dict[str, int] | None = None) -> str:
    """Identity of an item inside its feed.

    The GUID unless it is evidently not unique (shared by several items of the
    document, or the site's home page), else the canonical link (unless that too is
    shared or the home page), else a hash of title and date.
    """
    guid = guid.strip()
    counts = guid_counts or {}
    if guid and counts.get(guid, 1) <= 1 and not is_home_page(guid):
        return "guid:" + guid
    link_c = canonical_url(link)
    if link_c and counts.get("link:" + link_c, 1) <= 1 and not is_home_page(link):
        return "link:" + link_c
    # Normalised, so a change of case or typography alone is the same item.
    digest = hashlib.sha256(f"{normalize(title.strip())}\x00{date.strip()}".encode()).hexdigest()[:24]
    return "hash:" + digest


# -- near-identical headlines across feeds --------------------------------------------

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "as",
        "by",
        "with",
        "from",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "has",
        "have",
        "had",
        "after",
        "over",
        "into",
        "onto",
        "its",
        "it",
        "his",
        "her",
        "their",
        "they",
        "that",
        "this",
        "these",
        "those",
        "who",
        "what",
        "how",
        "why",
        "when",
        "says",
        "said",
        "say",
        "will",
        "would",
        "can",
        "could",
        "may",
        "than",
        "then",
        "there",
        "here",
        "about",
        "amid",
        "against",
    ]
)
NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "dozen": "12",
    "hundred": "100",
}
_SUFFIXES = ("ing", "ed", "es", "s", "e")


def _stem(token: str) -> str:
    """Crude English suffix stripping: `besiege`/`besieging`, `kills`/`kill` meet."""
    for suffix in _SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)]
    return token


@dataclass(frozen=True)
class TitleSignature:
    """What a headline is about: content words, numbers, and proper nouns."""

    words: frozenset[str]  # stemmed content tokens (numbers included)
    numbers: frozenset[str]
    names: frozenset[str]  # capitalised words not at the start: places, people

    # Stored with each story (stories.signature), so a candidate's headline is never
    # tokenised again. Tokens are word characters only: neither " " nor "|" occurs in one.
    def encode(self) -> str:
        return "|".join(" ".join(sorted(part)) for part in (self.words, self.numbers, self.names))

    @classmethod
    def decode(cls, encoded: str) -> TitleSignature:
        words, numbers, names = encoded.split("|")
        return cls(frozenset(words.split()), frozenset(numbers.split()), frozenset(names.split()))


def title_signature(title: str) -> TitleSignature:
    words, numbers, names = set(), set(), set()
    capitalised = content = 0
    for position, token in enumerate(tokenize(title)):
        text = NUMBER_WORDS.get(token.text, token.text)
        if text.isdigit():
            numbers.add(text)
            words.add(text)
            continue
        if text in STOPWORDS or len(text) < 2:
            continue
        stem = _stem(text)
        words.add(stem)
        if position > 0:
            content += 1
            if title[token.start : token.start + 1].isupper():
                capitalised += 1
                names.add(stem)
    # In a Title Case Headline every word looks like a name, so none can be trusted as one.
    if content and capitalised / content > 0.6:
        names.clear()
    return TitleSignature(frozenset(words), frozenset(numbers), frozenset(names))


# Content words two headlines must share, at the least, to be one story.
MIN_SHARED_WORDS = 4


def same_story(a: TitleSignature, b: TitleSignature, threshold: float) -> bool:
    """Near-identical headlines, without conflicting numbers or names.

    Overlap of content words relative to the shorter headline must reach `threshold`
    (0 disables matching). Two headlines that each carry a number the other lacks
    ("kills 5" / "kills 12") or each name a place the other does not ("in Gaza" /
    "in Rafah") are different stories however similar the rest: a missed merge costs
    a second alert, a wrong merge costs a lost one.
    """
    if threshold <= 0:
        return False
    shared = a.words & b.words
    if len(shared) < MIN_SHARED_WORDS or len(shared) / min(len(a.words), len(b.words)) < threshold:
        return False
    if (a.numbers - b.numbers) and (b.numbers - a.numbers):
        return False
    return not ((a.names - b.words) and (b.names - a.words))
