"""`monitor match QUERY PAGE`: a saved article page or an article URL is one item whose body is
the page's main text (parsing/article.py), matched by the installed CLI as a user runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAGE = FIXTURES / "articles" / "pages" / "062.html"  # The Japan Times, annotated in annotations.json
HEADLINE = "Losing face: 6,000 surgical masks stolen from Kobe hospital | The Japan Times"
ARTICLE_PHRASE = 'body:"shortage of face masks"'  # in the article's text
BOILERPLATE_PHRASE = 'body:"Mail the editor"'  # on the page, outside the article


def test_a_body_phrase_matches_a_saved_page_and_boilerplate_on_the_same_page_does_not(run_cli, tmp_path):
    shutil.copy(PAGE, tmp_path / "kobe.html")
    assert b"Mail the editor" in PAGE.read_bytes()

    hit = run_cli("match", ARTICLE_PHRASE, "kobe.html")
    assert hit.returncode == 0, hit.stderr
    lines = hit.stdout.splitlines()
    assert lines[:2] == [HEADLINE, "    kobe.html"]
    assert lines[3] == (
        "    body: …The incident has occurred at a time when Japan is seeing a **shortage of face masks** amid the "
        "continuing spread of the new coronavirus originating in China."
    )
    assert hit.stderr == "1 matching item\n"

    miss = run_cli("match", BOILERPLATE_PHRASE, "kobe.html")
    assert miss.returncode == 1 and miss.stdout == ""


def test_the_json_hit_carries_the_body_snippet_with_its_spans(run_cli, tmp_path):
    shutil.copy(PAGE, tmp_path / "kobe.html")

    result = run_cli("match", "surgical AND body:hospital", "kobe.html", "--json")

    assert result.returncode == 0, result.stderr
    [hit] = [json.loads(line) for line in result.stdout.splitlines()]
    assert hit["title"] == HEADLINE and hit["link"] == "kobe.html"
    assert {field for field, _, _ in hit["occurrences"]} == {"title", "body"}
    snippet = hit["snippet"]
    assert snippet["text"].startswith("KOBE – A total of 6,000 surgical masks have been lost at a hospital in Kobe")
    assert [snippet["text"][s:e] for s, e in snippet["spans"]] == ["surgical", "hospital"]


def test_an_article_url_is_fetched_and_matched_on_its_body(run_cli, feed_server):
    url = feed_server.serve("/news/kobe-masks", PAGE.read_bytes(), content_type="text/html; charset=utf-8")

    hit = run_cli("match", ARTICLE_PHRASE, url, "--json")
    assert hit.returncode == 0, hit.stderr
    [data] = [json.loads(line) for line in hit.stdout.splitlines()]
    assert data["title"] == HEADLINE and data["link"] == url and data["feed"] == url
    assert "**" not in data["snippet"]["text"] and "shortage of face masks" in data["snippet"]["text"]

    miss = run_cli("match", BOILERPLATE_PHRASE, url)
    assert miss.returncode == 1 and miss.stdout == ""


def test_what_a_document_is_decides_over_its_content_type(run_cli, feed_server):
    # A page sent without an HTML type is still a page; a feed sent as text/html still a feed.
    page = feed_server.serve("/page.bin", PAGE.read_bytes(), content_type="application/octet-stream")
    feed = feed_server.serve(
        "/feed", (FIXTURES / "story" / "toi_v2.xml").read_bytes(), content_type="text/html; charset=utf-8"
    )

    result = run_cli("match", "dissatisfaction OR body:(face AND masks)", page, feed, "--json")

    assert result.returncode == 0, result.stderr
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(h["feed"], h["snippet"] is not None) for h in hits] == [(page, True), ("The Times of Israel", False)]


def test_a_page_that_is_not_html_or_has_no_article_says_so(run_cli, feed_server):
    pdf = feed_server.serve("/report", b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n", content_type="text/html")
    empty = feed_server.serve(
        "/empty",
        b"<!DOCTYPE html><html><head><title>Kobe masks: a page without its article</title></head>"
        b"<body><script>load()</script></body></html>",
        content_type="text/html",
    )

    result = run_cli("match", "kobe", pdf, empty)

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"{pdf}: not an HTML page: a PDF document",
        f"{empty}: no main text found on the page: only its headline is matched",
        "1 matching item",
    ]
    assert result.stdout.splitlines()[0] == "**Kobe** masks: a page without its article"


def test_the_snippet_keeps_to_the_hits_paragraph_and_to_whole_words():
    from monitor.reports import SNIPPET_CONTEXT, body_snippet

    before = "An earlier paragraph that the snippet must not reach into."
    words = " ".join(f"word{i}" for i in range(40))
    body = f"{before}\n{words} the foreign minister said {words}\nA later paragraph."
    hit = body.index("foreign minister")
    far = body.rindex("word39")

    snippet = body_snippet(body, [(far, far + 6), (hit, hit + 16)])

    text = snippet["text"]
    assert text.startswith("…word") and text.endswith("…")
    assert before not in text and "later" not in text
    inner = text.strip("…")
    at = body.index(inner)
    assert body[at - 1] == " " and body[at + len(inner)] == " "  # cut between words
    assert len(inner) <= 16 + 2 * SNIPPET_CONTEXT
    assert [text[s:e] for s, e in snippet["spans"]] == ["foreign minister"]  # word39 is beyond the window
    assert body_snippet(body, []) is None
