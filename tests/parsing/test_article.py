"""Article pages → main text, on real annotated pages (tests/fixtures/articles) and hostile ones.

A page's `with` strings are the article's, its `without` strings boilerplate on the same page;
both are asked as a rule asks them (`body:"…"`), not as substrings. Only a few pages are
extracted here (~20-70 ms each); bench/articles.py measures all 120."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.parsing.article import NOT_HTML_HINT, extract_body, is_html_page, read_article
from monitor.rules import Document, compile_query

ARTICLES = Path(__file__).parents[1] / "fixtures" / "articles"
FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"
NOTES = json.loads((ARTICLES / "annotations.json").read_text(encoding="utf-8"))
# Pages trafilatura gets right (every `with`, no `without`), in six languages; 026 holds stray
# NUL bytes and opens with comments, 063 is 350 kB.
RIGHT = ["005.html", "023.html", "026.html", "040.html", "041.html", "062.html", "063.html"]
BIG = 1_000_000  # no cap


def page(name: str) -> bytes:
    return (ARTICLES / "pages" / name).read_bytes()


def matches(phrase: str, body: str) -> bool:
    return compile_query(f'body:"{phrase}"').match(Document.build({"body": body})) is not None


@pytest.mark.parametrize("name", RIGHT)
def test_the_article_is_in_the_body_and_the_boilerplate_is_not(name):
    note = NOTES[name]
    body = extract_body(page(name), note["url"], BIG)

    assert [s for s in note["with"] if not matches(s, body)] == []
    assert [s for s in note["without"] if matches(s, body)] == []


# Boilerplate that trafilatura alone leaves in the body, one page for each class that
# monitor/parsing/boilerplate.py removes: a label, "Read also: <link>", a run of links, an
# italic credit, a heading after the article's end.
LEFT_BY_TRAFILATURA = [
    ("004.html", "Zum Weiterlesen:"),
    ("098.html", "Auch lesen:"),
    ("000.html", "llenó de empresas de webcam"),
    ("118.html", "Quelle: Landesregierung"),
    ("022.html", "Top-Themen bei FIT FOR FUN"),
]


@pytest.mark.parametrize(("name", "furniture"), LEFT_BY_TRAFILATURA)
def test_furniture_trafilatura_leaves_is_removed_and_none_of_the_article_it_finds(name, furniture):
    from trafilatura import extract

    note = NOTES[name]
    alone = extract(page(name), url=note["url"], include_comments=False, include_tables=True) or ""
    body = extract_body(page(name), note["url"], BIG)

    assert furniture in note["without"] and matches(furniture, alone)
    assert not matches(furniture, body)
    assert [s for s in note["with"] if matches(s, alone) and not matches(s, body)] == []


def test_the_body_is_plain_text_one_paragraph_a_line_with_whitespace_collapsed():
    body = extract_body(page("023.html"), NOTES["023.html"]["url"], BIG)

    lines = body.split("\n")
    assert len(lines) > 10
    assert all(line and line == " ".join(line.split()) for line in lines)
    assert "<" not in body and "&amp;" not in body


def test_the_body_is_capped_at_a_word_boundary():
    full = extract_body(page("040.html"), NOTES["040.html"]["url"], BIG)
    assert len(full) > 600

    for cap in (200, 333, 500):
        capped = extract_body(page("040.html"), NOTES["040.html"]["url"], cap)
        assert 0 < len(capped) <= cap
        assert full.startswith(capped)
        assert full[len(capped)].isspace()  # the next character: the cut is between words
        assert len(capped) > cap - 30  # and no further back than the last word


def test_a_word_longer_than_the_cap_is_cut_inside_it():
    html = b"<html><body><article><p>" + b"x" * 5000 + b"</p></article></body></html>"

    assert extract_body(html, "", 100) == "x" * 100


def test_a_page_without_main_text_has_an_empty_body():
    html = b"<!DOCTYPE html><html><head><title>Nothing</title></head><body><script>show()</script></body></html>"

    assert extract_body(html, "https://news.example/empty", BIG) == ""


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "a PNG image"),
        (b"\x1f\x8b\x08\x00" + bytes(range(256)), "gzip-compressed data"),
        (bytes(range(256)) * 8, "binary data"),
        (b"", "the response was empty"),
        (b"  \r\n ", "the response was empty"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "JSON data"),
        (b"Just some words in a text file, no tags at all.\n" * 20, "plain text without any markup"),
    ],
)
def test_what_is_not_an_html_page_at_all_is_a_parse_error_that_says_what_it_is(document, reason):
    with pytest.raises(ParseError) as err:
        extract_body(document, "https://news.example/a", BIG)

    assert err.value.message == f"not an HTML page: {reason}"
    assert err.value.hint == NOT_HTML_HINT


def test_deep_nesting_does_not_crash_the_extractor():
    text = b"<p>" + b"A sentence of the article that sits very deep in the page. " * 5 + b"</p>"
    html = b"<html><body>" + b"<div>" * 20_000 + text + b"</div>" * 20_000 + b"</body></html>"

    assert isinstance(extract_body(html, "", BIG), str)


def test_a_huge_page_is_read_and_its_body_capped():
    # 5 MB of inline script (which extraction drops) and a long article: seconds only if the
    # extractor read the script as text.
    script = b"<script>var state = '" + b"a" * 5_000_000 + b"';</script>"
    paragraphs = b"".join(
        b"<p>Paragraph %d of a long article, with words enough to be text.</p>\n" % i for i in range(2_000)
    )
    html = (
        b"<!DOCTYPE html><html><head>" + script + b"</head><body><article>" + paragraphs + b"</article></body></html>"
    )

    body = extract_body(html, "", 20_000)

    assert 19_000 < len(body) <= 20_000
    assert body.startswith("Paragraph 0 of a long article") and "aaaa" not in body


def test_read_article_gives_the_headline_and_the_same_body():
    note = NOTES["062.html"]

    article = read_article(page("062.html"), note["url"], BIG)

    assert article.title == "Losing face: 6,000 surgical masks stolen from Kobe hospital | The Japan Times"
    assert article.body == extract_body(page("062.html"), note["url"], BIG)


def test_every_fixture_page_is_a_web_page_and_every_feed_is_not_even_when_served_as_html():
    assert [p.name for p in sorted((ARTICLES / "pages").iterdir()) if not is_html_page(p.read_bytes())] == []
    feeds = [p for p in sorted(FEEDS.iterdir()) if p.suffix in (".xml", ".json")]
    assert len(feeds) > 40
    assert [p.name for p in feeds if is_html_page(p.read_bytes(), "text/html; charset=utf-8")] == []


@pytest.mark.parametrize(
    ("document", "content_type", "is_page"),
    [
        (b"<script>var x = 1;</script><div>Hello</div><body><p>text</p></body>", "", True),  # no <html>, no doctype
        (b"<div><p>A fragment</p></div>", "text/html", True),
        (b"<div><p>A fragment</p></div>", "", False),
        (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "b">]><rss version="2.0"></rss>', "text/html", False),
        (b'<?xml version="1.0"?>\n<!-- a comment --><rdf:RDF xmlns:rdf="x"></rdf:RDF>', "text/html", False),
        (b'\xef\xbb\xbf<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"></feed>', "", False),
        (
            b'<?xml version="1.0"?>\n-<rss version="2.0"><channel></channel></rss>',
            "text/html",
            False,
        ),  # copied from a browser
        (b"Plain words", "text/plain", False),
    ],
)
def test_a_web_page_is_told_from_a_feed_by_what_it_says_before_its_content_type(document, content_type, is_page):
    assert is_html_page(document, content_type) is is_page


def test_trafilatura_is_imported_only_when_an_article_is_read():
    # ~340 ms of import: the daemon's start-up and `monitor match` on feeds must not pay it.
    import subprocess
    import sys

    script = (
        "import sys, monitor.cli, monitor.reports, monitor.runtime, monitor.parsing.pool, monitor.parsing.article\n"
        "assert 'trafilatura' not in sys.modules, 'imported at start-up'\n"
        "from monitor.parsing.article import extract_body\n"
        "extract_body(b'<html><body><p>Some words.</p></body></html>', '', 100)\n"
        "assert 'trafilatura' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
