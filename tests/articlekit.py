"""Article pages for the body tests: a news page with its boilerplate around the article, and
a feed whose items say nothing of what their articles hold."""

from __future__ import annotations

import html
import time

from consolekit import rss

# What the article says, and what the page around it says (menus, teasers, footer): a rule on
# the body must find the first and never the second.
ARTICLE = [
    "Officials in Jerusalem said on Tuesday that the government had conveyed its dissatisfaction to Moscow "
    "after a Hamas delegation was received in the Russian capital.",
    "The foreign minister summoned the Russian ambassador for a conversation that diplomats described as "
    "unusually frank, according to two people familiar with the meeting.",
    "Russia has maintained contacts with all sides in the conflict and has said it seeks to play a mediating "
    "role in the region.",
]
BOILERPLATE = "Sign up for the football newsletter"
SAYS_NOTHING = ("Talks in the capital", "Officials met on Tuesday.")


def article_page(title: str = SAYS_NOTHING[0], paragraphs: list[str] = ARTICLE) -> bytes:
    text = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head><body>'
        '<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>'
        '<li><a href="/sport">Sport</a></li></ul></nav>'
        f"<main><article><h1>{html.escape(title)}</h1>{text}</article></main>"
        f'<aside><h3>Related</h3><ul><li><a href="/x">{BOILERPLATE}</a></li></ul></aside>'
        f"<footer><p>{BOILERPLATE}</p><p>Copyright 2026 The Example Times</p></footer></body></html>"
    ).encode()


def quiet_feed(links: list[str], title: str = "Wire") -> bytes:
    """RSS whose items (one per link, published now) say nothing a rule of the tests looks for."""
    now = time.time()
    return rss(
        ((f"g{n}", f"{SAYS_NOTHING[0]} {n}", SAYS_NOTHING[1], link, now - n) for n, link in enumerate(links)),
        title=title,
    )
