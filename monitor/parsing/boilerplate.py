"""What trafilatura keeps of a page that is still not the article, by class.

trafilatura finds the article's block and drops most of the page around it, but lines of
furniture inside or right after that block reach the body: a "Further reading:" label, a
"Read also: <link>" teaser, a run of links to other articles, a photo credit, a trust badge or
"Top stories" heading after the last paragraph. Each rule below removes one such class, read
from the structure trafilatura gives (its XML: `p`, `head`, `item`, `ref` for a link, `hi
rend="#i"` for italics), never from a site's own markup or words, so that it holds on sites
nobody here has seen. Each was measured on the annotated pages of tests/fixtures/articles
(bench/articles.py) and kept only where it removed far more boilerplate than article.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.etree import _Element

LINE_TAGS = frozenset({"p", "head", "item", "row", "quote", "code"})  # what the text puts on a line of its own
PROSE = 100  # characters: a line at least this long, and not mostly links, is the article's prose
SHORT = 200  # characters: longer lines are never taken for a teaser
CREDIT = 80  # characters: longer italic lines are never taken for a credit or a note
# A label: at most four words before a colon that ends the line or is followed by a space
# ("Weitere Informationen:", "Lire aussi :", "Photo:"), after at most two opening marks.
_LABEL = re.compile(r"^\W{0,2}(\w[\w'’-]*(?: \w[\w'’-]*){0,3}) ?:(?:\s|$)")
# How a sentence ends, closing quotes and brackets included, in the scripts of the fixture pages.
_SENTENCE_END = re.compile(r"[.!?…。！？»“”\"')）」』]$")
_FIGURE = re.compile(r"\d")


def remove_boilerplate(body: _Element) -> None:
    """Remove, in place, the lines of trafilatura's `body` that are furniture, not the article."""
    lines = [el for el in body.iter(*LINE_TAGS) if not any(a.tag in LINE_TAGS for a in el.iterancestors())]
    last_prose = max((i for i, el in enumerate(lines) if _is_prose(el)), default=len(lines))
    for i, line in enumerate(lines):
        if _is_furniture(line, after_the_end=i > last_prose):
            _remove(line)


def _is_furniture(line: _Element, *, after_the_end: bool) -> bool:
    text = _text(line)
    if not text:
        return False
    links = [_text(ref) for ref in line.iter("ref")]
    linked = sum(map(len, links)) / len(text)
    label = _LABEL.match(text)
    listed = line.tag == "item"  # a list of links can be the article itself (a link roundup)
    if label and len(text) <= label.end() + 1:
        return True  # a label alone introduces links, credits or contacts, and says nothing itself
    if (
        label
        and not listed
        and len(text) < SHORT
        and sum(map(len, links)) >= 0.8 * (len(text) - label.end())
        and not any(label.group(1) in link for link in links)
    ):
        return True  # "Read also: <a link>": a teaser of another article
    if not listed and len(links) >= 2 and linked >= 0.9:
        return True  # a run of links to other articles
    if len(text) <= CREDIT and _share(line, _italic) >= 0.9:
        return True  # a short line all in italics: a credit ("Photo: …"), a caption or a note
    if after_the_end and not listed:
        # Past the last paragraph of prose: a heading, a link, or a line that is not a sentence
        # and holds no figures ("Top stories", a trust badge) starts what follows the article.
        return (
            line.tag == "head"
            or linked >= 0.5
            or not (_SENTENCE_END.search(text) or text.endswith(":") or _FIGURE.search(text))
        )
    return False


def _is_prose(line: _Element) -> bool:
    text = _text(line)
    return len(text) >= PROSE and sum(len(_text(ref)) for ref in line.iter("ref")) < 0.5 * len(text)


def _italic(element: _Element) -> bool:
    return element.tag == "hi" and (element.get("rend") or "").startswith("#i")


def _share(line: _Element, inline: Callable[[_Element], bool]) -> float:
    """The share of `line`'s characters inside the inline elements `inline` accepts."""
    total = len(_text(line))
    inside = sum(len(_text(el)) for el in line.iter() if inline(el))
    return inside / total if total else 0.0


def _remove(line: _Element) -> None:
    """Remove `line`, keeping the text that follows it (its tail) in place."""
    parent = line.getparent()
    if parent is None:
        return
    if line.tail and line.tail.strip():
        previous = line.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + line.tail
        else:
            parent.text = (parent.text or "") + line.tail
    parent.remove(line)


def _text(element: _Element) -> str:
    return " ".join("".join(element.itertext()).split())
