"""Messages per destination, and feed text kept as data: checked on what apprise would send."""

from __future__ import annotations

import json
import re
from typing import ClassVar

import pytest
import requests

from monitor.config import ChannelConfig
from monitor.delivery.channels import Notifier, target_id
from monitor.delivery.render import SAMPLE, AlertView, Template, check_template, render_alert, render_digest

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
