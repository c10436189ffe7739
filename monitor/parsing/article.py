"""An article page → its main text (trafilatura, then boilerplate.py), and telling a web page
from a feed.

The page comes from an item's link: someone else's document, possibly not HTML at all.
trafilatura takes ~340 ms to import, so it is imported inside the functions that use it:
a process that never reads an article (the daemon's main process, a plain `monitor match`)
never pays it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

from ..errors import ParseError
from .boilerplate import remove_boilerplate
from .jsonfeed import looks_like_json

if TYPE_CHECKING:
    from lxml.html import HtmlElement

NOT_HTML_HINT = "the link does not lead to a web page; check it in a browser (a feed's links should be its articles)"
# An article that could not be extracted at all (too large or hostile, the extractor failed).
ARTICLE_HINT = "the item goes without its article's text; if every page of the feed fails, turn fulltext off for it"
MAX_TITLE = 2_000  # as a feed item's title (parsing/feed.py)
SNIFF_BYTES = 65_536  # how far into a document its kind is looked for


class Article(NamedTuple):
    title: str  # the page's headline ("" when it has none)
    body: str  # its main text: paragraphs joined by "\n", "" when it has none


def extract_body(html: bytes, url: str, max_chars: int) -> str:
    """The main text of an HTML page, plain: one line per paragraph, whitespace collapsed,
    at most `max_chars` characters (cut at a word boundary). "" when the page has no main
    text. Raises ParseError when `html` is not an HTML page at all. `url` (where the page
    was fetched) is only a hint for the extractor; nothing is fetched."""
    tree = _load(html)
    return _main_text(tree, url, max_chars) if tree is not None else ""


def read_article(html: bytes, url: str, max_chars: int) -> Article:
    """extract_body and the page's headline (its metadata: og:title, JSON-LD, <h1>, <title>)."""
    tree = _load(html)
    if tree is None:
        return Article("", "")
    body = _main_text(tree, url, max_chars)  # first: trafilatura extracts from a copy of the tree
    from trafilatura import extract_metadata

    title = extract_metadata(tree, default_url=url or None, extensive=False).title or ""
    return Article(" ".join(title.split())[:MAX_TITLE], body)


def is_html_page(body: bytes, content_type: str = "") -> bool:
    """True for a web page, False for a feed (RSS, Atom, RDF, JSON Feed) or anything else.
    What the document says it is outweighs the Content-Type: servers send feeds as text/html."""
    if looks_like_json(body):
        return False
    head = body[:SNIFF_BYTES]
    doctype, root = _first_element(head)
    if root in _FEED_ROOTS or root.endswith(":rdf"):
        return False
    if "html" in (doctype, root):
        return True
    # Neither opens the document (stray text, a script first): whichever root comes first.
    feed, page = _FEED_ELEMENT.search(head), _HTML_ELEMENT.search(head)
    if feed and (page is None or feed.start() < page.start()):
        return False
    if content_type.partition(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        return True
    return page is not None


def _load(html: bytes) -> HtmlElement | None:
    """The page's tree; None when trafilatura cannot read it as a document (a bare fragment)."""
    reason = _not_html(html[:SNIFF_BYTES])
    if reason:
        raise ParseError(f"not an HTML page: {reason}", hint=NOT_HTML_HINT)
    from trafilatura import load_html

    return load_html(html)


def _main_text(tree: HtmlElement, url: str, max_chars: int) -> str:
    from lxml.etree import strip_tags
    from trafilatura import bare_extraction
    from trafilatura.settings import Document
    from trafilatura.xml import xmltotxt

    # Comments are readers', not the article's; tables often hold its figures. Links and
    # italics are kept in the tree for remove_boilerplate to read, then reduced to their text.
    document = bare_extraction(
        tree,
        url=url or None,
        include_comments=False,
        include_tables=True,
        include_links=True,
        include_formatting=True,
    )
    if not isinstance(document, Document):  # None: no main text
        return ""
    body = document.body
    remove_boilerplate(body)
    strip_tags(body, "ref", "hi")
    text = xmltotxt(body, False)
    paragraphs = (" ".join(line.split()) for line in text.splitlines())
    return _cap("\n".join(p for p in paragraphs if p), max_chars)


def _cap(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars` characters, at the last whitespace before the cut
    (mid-word only when a single word is longer than the cap)."""
    if len(text) <= max_chars:
        return text
    if max_chars <= 0:
        return ""
    cut = text[:max_chars]
    if not text[max_chars].isspace():
        space = max(cut.rfind(" "), cut.rfind("\n"))
        if space > 0:
            cut = cut[:space]
    return cut.rstrip()


# Signatures of what a link may lead to instead of a page, by their first bytes.
_MAGIC = (
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"RIFF", "a RIFF file (a WebP image, audio or video)"),
    (b"PK\x03\x04", "a ZIP archive (or an office document)"),
    (b"\x1f\x8b", "gzip-compressed data"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_TAG = re.compile(rb"<[!?/]?[A-Za-z]")
_HTML_ELEMENT = re.compile(rb"<(?:html|head|body)[\s>]", re.I)
_FEED_ELEMENT = re.compile(rb"<(?:rss|feed|[\w.-]+:rdf)[\s>]", re.I)
_FEED_ROOTS = {"rss", "feed", "rdf"}


def _not_html(head: bytes) -> str:
    """Why a document that begins with `head` is not an HTML page; "" when it may be one."""
    if head.startswith(_UTF16_BOMS):  # rare, but a page: look at it as text
        head = head.decode("utf-16", "replace").encode("utf-8")
    if not head.strip():
        return "the response was empty"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    # A few NULs occur in real pages (a stray byte in a script); binary data is full of them.
    sample = head[:1024]
    if len(_CONTROL.findall(sample)) > len(sample) // 20:
        return "binary data"
    if looks_like_json(head) or head.lstrip()[:1] == b"[":
        return "JSON data"
    if _TAG.search(head) is None:
        return "plain text without any markup"
    return ""


_SKIP = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.S)
_DOCTYPE = re.compile(rb"<!doctype\s+([^\s>\[]+)[^>\[]*(?:\[.*?\]\s*)?>", re.S | re.I)
_ELEMENT = re.compile(rb"<([A-Za-z][\w:.-]*)")


def _first_element(head: bytes) -> tuple[str, str]:
    """(the DOCTYPE's name, the first element's name), lower-cased; "" for what is not there."""
    pos, doctype = 0, ""
    head = head.removeprefix(b"\xef\xbb\xbf")
    while pos < len(head):
        if m := _SKIP.match(head, pos):
            pos = m.end()
        elif m := _DOCTYPE.match(head, pos):
            doctype = m.group(1).decode("latin-1").lower()
            pos = m.end()
        else:
            break
    m = _ELEMENT.match(head, pos)
    return doctype, m.group(1).decode("latin-1").lower() if m else ""
