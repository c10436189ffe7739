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
from dataclasses import dataclass
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
    lines = [_Line.of(el) for el in body.iter(*LINE_TAGS) if not any(a.tag in LINE_TAGS for a in el.iterancestors())]
    last_prose = max((i for i, line in enumerate(lines) if line.is_prose()), default=len(lines))
    for i, line in enumerate(lines):
        if line.is_furniture(after_the_end=i > last_prose):
            _remove(line.element)


@dataclass(frozen=True)
class _Line:
    """A line of trafilatura's text, read once: its words, and the text of each of its links."""

    element: _Element
    text: str
    links: tuple[str, ...]

    @classmethod
    def of(cls, element: _Element) -> _Line:
        return cls(element, _text(element), tuple(_text(ref) for ref in element.iter("ref")))

    @property
    def linked(self) -> float:
        """The share of the line's characters inside links."""
        return sum(map(len, self.links)) / len(self.text) if self.text else 0.0

    def is_prose(self) -> bool:
        return len(self.text) >= PROSE and self.linked < 0.5

    def is_furniture(self, *, after_the_end: bool) -> bool:
        text, links = self.text, self.links
        if not text:
            return False
        label = _LABEL.match(text)
        listed = self.element.tag == "item"  # a list of links can be the article itself (a link roundup)
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
        if not listed and len(links) >= 2 and self.linked >= 0.9:
            return True  # a run of links to other articles
        if len(text) <= CREDIT and self.italic() >= 0.9:
            return True  # a short line all in italics: a credit ("Photo: …"), a caption or a note
        if after_the_end and not listed:
            # Past the last paragraph of prose: a heading, a link, or a line that is not a sentence
            # and holds no figures ("Top stories", a trust badge) starts what follows the article.
            return (
                self.element.tag == "head"
                or self.linked >= 0.5
                or not (_SENTENCE_END.search(text) or text.endswith(":") or _FIGURE.search(text))
            )
        return False

    def italic(self) -> float:
        """The share of the line's characters in italics."""
        inside = sum(len(_text(el)) for el in self.element.iter("hi") if (el.get("rend") or "").startswith("#i"))
        return inside / len(self.text) if self.text else 0.0


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
