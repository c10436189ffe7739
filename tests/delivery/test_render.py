"""Messages per destination, and feed text kept as data: checked on what apprise would send."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import ClassVar

import pytest
import requests

from monitor.config import ChannelConfig
from monitor.delivery.channels import Notifier, target_id
from monitor.delivery.render import (
    DIGEST_SNIPPET,
    KINDS,
    SAMPLE,
    SNIPPET,
    AlertView,
    Template,
    check_template,
    render_alert,
    render_digest,
    safe_link,
    snippet_spans,
)

HOSTILE = [
    "<!here>",
    "<!channel>",
    "<!everyone>",
    "<@U123ABC>",
    "<!subteam^S1>",
    "<http://evil.example|click>",
    "&lt;!here&gt;",
    "&lt;!channel&gt;",
    "&lt;@U123ABC&gt;",
    "&lt;http://evil.example|click&gt;",
    "<!here|here>",
    "&#60;!everyone&#62;",
    "[click](http://evil.example)",
    "<https://evil.example>",
]
LINK = "https://www.example.com/story?id=1&utm_source=rss"


def hostile_alert() -> AlertView:
    title = "Israel warns Russia " + " ".join(HOSTILE[:3] + HOSTILE[6:8])
    summary = "Officials in Israel said " + " and ".join(HOSTILE) + " while Russia *denied* it."
    occ = [("title", 0, 6), ("title", 13, 19), ("summary", 13, 19)]
    occ += [("summary", m.start(), m.end()) for m in re.finditer("Russia", summary)]
    return AlertView(
        rule="rift",
        title=title,
        link=LINK,
        feed="wire <!here>",
        summary=summary,
        published=1_700_000_000.0,
        terms=("Israel", "Russia"),
        occurrences=tuple(occ),
    )


class _Response:
    status_code = 200
    content = b"ok"
    text = "ok"
    headers: ClassVar[dict[str, str]] = {}


@pytest.fixture
def slack_posts(monkeypatch):
    """What apprise's Slack plugin hands to requests: the exact JSON that would reach Slack."""
    posts: list[dict] = []

    def fake_request(method, url, data=None, **kwargs):
        posts.append(json.loads(data))
        return _Response()

    # apprise/plugins/slack.py sends with requests.request(...); this is the network boundary.
    monkeypatch.setattr(requests, "request", fake_request)
    return posts


def _texts(payload) -> list[str]:
    """Every string Slack would read from a payload (legacy attachments or Block Kit)."""
    out = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("text", "title", "fallback", "pretext") and isinstance(value, str):
                    out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload)
    return out


@pytest.mark.parametrize(
    "url",
    [
        "slack://T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx",
        "slack://T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx?blocks=yes",
        "https://hooks.slack.com/services/T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx",
    ],
)
@pytest.mark.parametrize("digest", [False, True])
def test_feed_text_can_neither_ping_nor_forge_a_link_in_slack(slack_posts, url, digest):
    channels = {"slack": ChannelConfig(name="slack", urls=(url,))}
    notifier = Notifier(channels)
    target = target_id(url)
    alerts = [hostile_alert()] * (2 if digest else 1)
    notifier.send("slack", target, notifier.compose("slack", target, alerts))
    [payload] = slack_posts
    texts = _texts(payload)
    assert texts, payload
    joined = "\n".join(texts)
    # Slack acts on <…> control sequences only: the one kind left must be our own link.
    controls = re.findall(r"<([^<>]*)>", joined)
    assert controls and all(c.startswith("https://www.example.com/story?id=1&amp;utm_source=rss|") for c in controls)
    for bad in ("<!", "<@", "<http://evil", "<https://evil", "&lt;!here&gt;|"):
        assert bad not in joined
    # Entity-encoded forms arrive double-encoded, i.e. shown literally, never decoded into a mention.
    assert "&amp;lt;!here&amp;gt;" in joined
    # Our own formatting survives: bold matched terms and the linked headline.
    assert "*Israel*" in joined and "|Israel warns Russia" in joined


def test_html_email_escapes_feed_text_and_marks_terms():
    a = AlertView(
        rule="r",
        title="<script>alert(1)</script> Israel",
        link="javascript:alert(1)",
        feed="<b>wire</b>",
        summary="Israel & <img src=x onerror=alert(1)>",
        published=None,
        terms=("Israel",),
        occurrences=(("title", 26, 32), ("summary", 0, 6)),
    )
    m = render_alert(a, "html")
    assert "<script>" not in m.body and "&lt;script&gt;" in m.body
    assert "<img" not in m.body and "&lt;img" in m.body and "<b>wire" not in m.body
    assert "<mark>Israel</mark>" in m.body
    assert "javascript:" not in m.body  # not an http(s) link: no link at all


@pytest.mark.parametrize(
    ("kind", "linked"),
    [
        ("html", '<a href="http://[2001:db8::1]:8080/a%20b%22%3E?q=%5B1%5D">'),
        ("slack", "(<http://[2001:db8::1]:8080/a%20b%22%3E?q=%5B1%5D>)"),
        ("text", "\nhttp://[2001:db8::1]:8080/a%20b%22%3E?q=%5B1%5D\n"),
    ],
)
def test_an_ipv6_hosts_brackets_survive_in_a_link_and_the_rest_is_still_escaped(kind, linked):
    a = AlertView(rule="r", title="Israel", link='http://[2001:db8::1]:8080/a b">?q=[1]', feed="f")
    assert linked in render_alert(a, kind).body


def test_an_ipv6_link_reaches_slack_as_its_link(slack_posts):
    url = "https://hooks.slack.com/services/T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx"
    notifier = Notifier({"slack": ChannelConfig(name="slack", urls=(url,))})
    alert = AlertView(rule="r", title="Israel", link="http://[2001:db8::1]/a", feed="f")
    notifier.send("slack", target_id(url), notifier.compose("slack", target_id(url), [alert]))
    [payload] = slack_posts
    assert "<http://[2001:db8::1]/a|Israel>" in "\n".join(_texts(payload))


@pytest.mark.parametrize(
    ("link", "made"),
    [
        ("https://[::ffff:192.0.2.1]/", "https://[::ffff:192.0.2.1]/"),
        ("http://[v1.x]/a", "http://%5Bv1.x%5D/a"),  # a future kind of address, not IPv6
        ("http://user@[2001:db8::1]:8080/a", "http://user@[2001:db8::1]:8080/a"),
        ("http://host/[2001:db8::1]", "http://host/%5B2001:db8::1%5D"),
        ("http://[2001:db8::1/a", ""),  # not a URL: no link
    ],
)
def test_only_the_brackets_of_an_ipv6_host_stay_as_written(link, made):
    assert safe_link(link) == made


def test_subject_has_no_line_breaks_and_snippet_is_about_300_characters():
    words = ("filler " * 200).strip()
    summary = f"{words} the Israel talks {words}"
    start = summary.index("Israel")
    a = AlertView(
        rule="r",
        title="Breaking\r\nBcc: victim@example.com\nIsrael",
        link=LINK,
        feed="f",
        summary=summary,
        terms=("Israel",),
        occurrences=(("summary", start, start + 6),),
    )
    m = render_alert(a, "text")
    assert "\r" not in m.title and "\n" not in m.title
    snippet = m.body.split("\n\n", 1)[1]
    assert 250 <= len(snippet) <= 310 and "Israel" in snippet and snippet.startswith("…") and snippet.endswith("…")
    html = render_alert(a, "html").body
    assert "<mark>Israel</mark>" in html


def test_sample_is_realistic_in_every_dialect():
    slack = render_alert(SAMPLE, "slack").body
    assert "**dissatisfaction**" in slack and "](<https://www.timesofisrael.com/" in slack
    digest = render_digest([SAMPLE, SAMPLE], "desk", "html")
    assert digest.body.count("<li>") == 2 and digest.title.startswith("[desk] 2 alerts")


def test_templates_run_sandboxed_and_escape_feed_text():
    tmpl = Template("{% for a in alerts %}{{ a.title }} / {{ a.title_marked }} <{{ a.link }}>\n{% endfor %}")
    a = hostile_alert()
    html = tmpl.render([a], "desk", "html").body
    assert "<!here>" not in html and "&lt;!here&gt;" in html and "<mark>Israel</mark>" in html
    slack = tmpl.render([a], "desk", "slack").body
    assert "\\<!here\\>" in slack  # backslash-escaped: apprise turns it into &lt;!here&gt;
    # Feed text is data: template syntax inside it is not evaluated.
    b = AlertView(rule="r", title="{{ 7 * 7 }}", link=LINK, feed="f")
    assert "{{ 7 * 7 }}" in tmpl.render([b], "desk", "text").body
    assert check_template("{{ alert.title }}") == []
    assert "SecurityError" in check_template("{{ ''.__class__.__mro__[1].__subclasses__() }}")[0]
    assert "UndefinedError" in check_template("{{ nonsense }}")[0]
    assert "TemplateSyntaxError" in check_template("{% for %}")[0]


# -- snippets from the article's body ---------------------------------------------------

BODY = (
    "Officials met on Monday. Israel relayed to Russia its dissatisfaction over the visit, and Russia said"
    " nothing! Talks continue.\nRussia hosted the delegation again."
)


def occurrences_of(text: str, fld: str, *words: str) -> tuple[tuple[str, int, int], ...]:
    return tuple((fld, m.start(), m.end()) for w in words for m in re.finditer(rf"\b{re.escape(w)}\b", text))


def body_alert(body: str = BODY, **changes) -> AlertView:
    """An alert whose rule matched in the body only (say `body:(Russia NEAR/5 dissatisfaction)`)."""
    alert = AlertView(
        rule="rift",
        title="Israel summons the envoy",
        link=LINK,
        feed="wire",
        summary="The ministry met the ambassador.",
        body=body,
        published=1_700_000_000.0,
        terms=("Russia", "dissatisfaction"),
        occurrences=occurrences_of(body, "body", "Russia", "dissatisfaction"),
    )
    return dataclasses.replace(alert, **changes)


def test_a_match_in_the_body_shows_its_sentence_in_every_dialect():
    a = body_alert()
    assert render_alert(a, "slack").body == (
        "**[Israel summons the envoy](<https://www.example.com/story?id=1&utm_source=rss>)**\n"
        "wire · 2023-11-14 22:13 UTC · matched: **Russia, dissatisfaction**\n"
        "Israel relayed to **Russia** its **dissatisfaction** over the visit, and **Russia** said nothing!"
    )
    assert render_alert(a, "html").body == (
        '<p><strong><a href="https://www.example.com/story?id=1&amp;utm_source=rss">'
        "Israel summons the envoy</a></strong></p>\n"
        "<p><small>rule rift · wire · 2023-11-14 22:13 UTC · matched: Russia, dissatisfaction</small></p>\n"
        "<p>Israel relayed to <mark>Russia</mark> its <mark>dissatisfaction</mark> over the visit,"
        " and <mark>Russia</mark> said nothing!</p>\n"
    )
    assert render_alert(a, "text").body == (
        "Israel summons the envoy\n"
        "https://www.example.com/story?id=1&utm_source=rss\n"
        "wire · 2023-11-14 22:13 UTC\n"
        "matched: Russia, dissatisfaction\n"
        "\n"
        "Israel relayed to Russia its dissatisfaction over the visit, and Russia said nothing!"
    )


def test_digests_and_templates_take_the_body_sentence_too():
    a = body_alert()
    digest = render_digest([a, a], "desk", "slack").body
    entry = (
        "• **[Israel summons the envoy](<https://www.example.com/story?id=1&utm_source=rss>)** (rift)\n"
        "   wire · 2023-11-14 22:13 UTC · matched: **Russia, dissatisfaction**\n"
        "   Israel relayed to **Russia** its **dissatisfaction** over the visit, and **Russia** said nothing!"
    )
    assert digest == entry + "\n" + entry
    tmpl = Template("{{ alert.snippet }}\n{{ alert.snippet_marked }}")
    assert tmpl.render([a], "desk", "html").body == (
        "Israel relayed to Russia its dissatisfaction over the visit, and Russia said nothing!\n"
        "Israel relayed to <mark>Russia</mark> its <mark>dissatisfaction</mark> over the visit,"
        " and <mark>Russia</mark> said nothing!"
    )


def test_sentences_end_at_a_line_break_and_the_first_body_match_chooses():
    body = "Nothing here\nRussia expressed dissatisfaction\nwith the vote. Later, Russia left."
    a = body_alert(body, occurrences=occurrences_of(body, "body", "Russia"))
    assert render_alert(a, "text").body.endswith("\n\nRussia expressed dissatisfaction")
    # A phrase across a sentence end keeps both sentences.
    start = body.index("vote")
    a = body_alert(body, occurrences=(("body", start, start + len("vote. Later")),))
    assert render_alert(a, "html").body.endswith("<p>with the <mark>vote. Later</mark>, Russia left.</p>\n")


def test_a_match_in_the_summary_shows_the_summary_even_with_body_matches():
    summary = "Moscow hosted a Hamas delegation; Russia denied any rift."
    occ = occurrences_of(summary, "summary", "Russia") + occurrences_of(BODY, "body", "Russia", "dissatisfaction")
    a = body_alert(summary=summary, occurrences=occ)
    assert render_alert(a, "text").body.endswith("\n\n" + summary)
    assert render_alert(a, "html").body.endswith("; <mark>Russia</mark> denied any rift.</p>\n")
    # The title matching too changes nothing: the body's sentence is shown when the summary has no match.
    title_too = body_alert(occurrences=(("title", 0, 6), *occurrences_of(BODY, "body", "dissatisfaction")))
    assert "its <mark>dissatisfaction</mark> over" in render_alert(title_too, "html").body
    # Body offsets but no body to show (not stored, or gone): the summary as before.
    no_body = body_alert(body="")
    assert render_alert(no_body, "text").body.endswith("\n\nThe ministry met the ambassador.")


def test_hostile_body_text_is_escaped():
    hostile = " and ".join(HOSTILE[i] for i in (0, 1, 3, 5, 6, 12))
    body = f"First. Russia told Israel {hostile}, <script>alert(1)</script> <b>bold</b> & co. Next sentence."
    a = body_alert(body, occurrences=occurrences_of(body, "body", "Russia"))
    slack = render_alert(a, "slack").body.split("\n")[2]
    assert slack == (
        "**Russia** told Israel \\<!here\\> and \\<!channel\\> and \\<@U123ABC\\> and"
        " \\<http://evil.example|click\\> and &lt;!here&gt; and \\[click\\](http://evil.example),"
        " \\<script\\>alert(1)\\</script\\> \\<b\\>bold\\</b\\> & co."
    )
    html = render_alert(a, "html").body
    assert html.endswith(
        "<p><mark>Russia</mark> told Israel &lt;!here&gt; and &lt;!channel&gt; and &lt;@U123ABC&gt; and"
        " &lt;http://evil.example|click&gt; and &amp;lt;!here&amp;gt; and [click](http://evil.example),"
        " &lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; &amp; co.</p>\n"
    )


@pytest.mark.parametrize("digest", [False, True])
def test_hostile_body_text_can_neither_ping_nor_forge_a_link_in_slack(slack_posts, digest):
    url = "slack://T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx"
    body = "Russia said " + " and ".join(HOSTILE) + "."
    notifier = Notifier({"slack": ChannelConfig(name="slack", urls=(url,))})
    alerts = [body_alert(body, occurrences=occurrences_of(body, "body", "Russia"))] * (2 if digest else 1)
    notifier.send("slack", target_id(url), notifier.compose("slack", target_id(url), alerts))
    joined = "\n".join(_texts(slack_posts[0]))
    assert "*Russia*" in joined  # the body's sentence is there, its match bold
    controls = re.findall(r"<([^<>]*)>", joined)
    assert controls and all(c.startswith("https://www.example.com/story?id=1&amp;utm_source=rss|") for c in controls)
    assert "&amp;lt;!here&amp;gt;" in joined


BODY_MAX = 100_000  # the most of an article's text an item keeps


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_length_body_gives_a_bounded_snippet(kind):
    words = "the delegation met officials in the capital for talks on the war "
    at = BODY_MAX // 2
    filler = (words * (BODY_MAX // len(words) + 1))[:BODY_MAX]
    body = filler[:at] + "Russia" + filler[at + 6 :]  # one sentence of 100,000 characters
    assert len(body) == BODY_MAX
    a = body_alert(body, occurrences=(("body", at, at + 6),))
    text = "".join(p.text for p in snippet_spans(a.summary, a.body, a.occurrences, SNIPPET))
    assert text.startswith("…") and text.endswith("…") and len(text) <= SNIPPET + 2
    assert text[1:-1] in body and text[1:-1] == text[1:-1].strip() and "Russia" in text
    assert body[body.index(text[1:-1]) - 1] == " "  # cut at word boundaries
    assert body[body.index(text[1:-1]) + len(text) - 2] == " "
    single = render_alert(a, kind).body
    assert len(single) < 600 and {"slack": "**Russia**", "html": "<mark>Russia</mark>"}.get(kind, "Russia") in single
    short = "".join(p.text for p in snippet_spans(a.summary, a.body, a.occurrences, DIGEST_SNIPPET))
    assert len(short) <= DIGEST_SNIPPET + 2 and "Russia" in short
    assert len(render_digest([a, a], "desk", kind).body) < 2 * 600
    # A sentence near the end of a full-length body: that sentence whole, nothing cut.
    tail = ". The envoy voiced dissatisfaction. Talks went on."
    long = body[: BODY_MAX - len(tail)].replace("Russia", "nobody") + tail
    start = long.index("dissatisfaction")
    b = body_alert(long, occurrences=(("body", start, start + 15),))
    parts = snippet_spans(b.summary, b.body, b.occurrences, SNIPPET)
    assert [(p.text, p.marked) for p in parts] == [
        ("The envoy voiced ", False),
        ("dissatisfaction", True),
        (".", False),
    ]
