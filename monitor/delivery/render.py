"""Alerts → messages, one dialect per kind of destination, with feed text kept as data.

Three kinds: "slack" (CommonMark that apprise turns into Slack mrkdwn), "html" (email,
apprise adds the plain-text alternative) and "text" (everything else). Feed text is
escaped for the kind before it is combined with the markup we add ourselves, so a
headline can neither ping a Slack channel nor render HTML in a mail client.

Optional user templates run in Jinja2's immutable sandbox; feed text reaches them
only as values (escaped on output for the kind), never as template source.
"""

from __future__ import annotations

import html
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from markupsafe import Markup

# jinja2 is imported where user templates are compiled (~15 ms of start-up otherwise).

KINDS = ("slack", "html", "text")
SNIPPET = 300
DIGEST_SNIPPET = 140
SUBJECT_MAX = 200

# The CommonMark punctuation apprise's Slack converter acts on. A backslash before it
# turns "<" and ">" into &lt; / &gt; (so no <!here>, <@U…> or <url|label> survives)
# and keeps *, `, [ ] from becoming our formatting. "&" is left alone: the converter
# always writes it as &amp;, which also defuses entity-encoded forms (&lt;!here&gt;).
_SLACK_SPECIAL = re.compile(r"([\\`*\[\]<>])")
# Characters never allowed in a header line or a link we build.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
# What a link keeps as written: nothing that could end it in any kind's markup.
_LINK_SAFE = ":/?#@!$&'*+,;=%-._~"
# A host written as an IP literal (RFC 3986), and its port; hex, colons and dots only.
_IP_LITERAL = re.compile(r"\[(?P<address>[0-9A-Fa-f:.]+)\](?P<port>(?::[0-9]*)?)")
# Where a sentence of an article's body ends: ".", "!", "?" or "…" before white space, or a line break.
_SENTENCE_END = re.compile(r"[.!?…](?=\s)|\n")


@dataclass(frozen=True)
class AlertView:
    """One alert as the renderers see it (plain data, no store types)."""

    rule: str
    title: str
    link: str
    feed: str
    summary: str = ""
    body: str = ""  # the article's main text (a `fulltext` feed's item, once fetched); "" otherwise
    published: float | None = None
    terms: tuple[str, ...] = ()
    occurrences: tuple[tuple[str, int, int], ...] = ()
    notice: str = ""  # "health", "spike", "update": our own text, shown whole rather than as a snippet


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    kind: str = "text"  # which dialect the body is written in
    count: int = 1  # alerts folded into it


@dataclass(frozen=True)
class _Span:
    text: str
    marked: bool


# -- escaping ---------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Feed text as inert CommonMark for apprise's Slack converter."""
    return _SLACK_SPECIAL.sub(r"\\\1", _CONTROL.sub(" ", text))


def header_text(text: str, limit: int = SUBJECT_MAX) -> str:
    """One clean line for a subject or title: no CR/LF or other controls, bounded."""
    line = " ".join(_CONTROL.sub(" ", text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def safe_link(url: str) -> str:
    """An http(s) URL with every character that could end a link percent-encoded; else "".
    The brackets around an IPv6 host stay: encoded, they would name no host at all."""
    url = _CONTROL.sub("", url.strip())
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https"):
        return ""
    userinfo, at, host = parts.netloc.rpartition("@")
    literal = _IP_LITERAL.fullmatch(host)
    if literal is None or not _is_ipv6(literal["address"]):
        return quote(url, safe=_LINK_SAFE)
    before, _, after = url.partition(f"//{parts.netloc}")
    return (
        f"{quote(before, safe=_LINK_SAFE)}//{quote(userinfo + at, safe=_LINK_SAFE)}"
        f"[{literal['address']}]{literal['port']}{quote(after, safe=_LINK_SAFE)}"
    )


def _is_ipv6(address: str) -> bool:
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def _h(text: str) -> str:
    return html.escape(text, quote=False)


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else ""


# -- snippet and highlighting -------------------------------------------------------


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _hits(text: str, occurrences: Sequence[tuple[str, int, int]], fld: str) -> list[tuple[int, int]]:
    """The matched spans of `fld` that lie inside `text`, merged, in order."""
    return _merge((s, e) for f, s, e in occurrences if f == fld and 0 <= s < e <= len(text))


def _cut(text: str, hits: list[tuple[int, int]], limit: int | None, lo: int, hi: int) -> tuple[int, int]:
    """The part of text[lo:hi] to show: all of it, or about `limit` characters around the first hit."""
    begin, end = lo, hi
    if limit and hi - lo > limit:
        centre = hits[0][0] if hits else lo
        begin = max(lo, centre - limit // 3)
        end = min(hi, begin + limit)
        # Cut at word boundaries so the snippet does not start or end mid-word.
        if begin > lo:
            space = text.find(" ", begin, hits[0][0] if hits else end)
            begin = space + 1 if space != -1 else begin
        if end < hi:
            space = text.rfind(" ", begin, end)
            end = space if space > begin else end
    return begin, end


def _split(text: str, hits: list[tuple[int, int]], begin: int, end: int, lo: int, hi: int) -> list[_Span]:
    """text[begin:end] as plain and matched runs, with "…" where it cuts text[lo:hi]."""
    out: list[_Span] = [_Span("…", False)] if begin > lo else []
    pos = begin
    for hit_start, hit_end in hits:
        s, e = max(hit_start, begin), min(hit_end, end)
        if s >= e:
            continue
        out.append(_Span(text[pos:s], False))
        out.append(_Span(text[s:e], True))
        pos = e
    out.append(_Span(text[pos:end], False))
    if end < hi:
        out.append(_Span("…", False))
    return [x for x in out if x.text]


def spans(text: str, occurrences: Sequence[tuple[str, int, int]], fld: str, limit: int | None = None) -> list[_Span]:
    """`text` (cut to about `limit` characters around the first match) split into plain and matched runs."""
    hits = _hits(text, occurrences, fld)
    begin, end = _cut(text, hits, limit, 0, len(text))
    return _split(text, hits, begin, end, 0, len(text))


def _sentence(text: str, start: int, end: int, reach: int | None) -> tuple[int, int]:
    """Bounds of the sentence of `text` holding [start, end), white space trimmed. Looked for
    only `reach` characters either side of it: a longer sentence is cut to `reach` around the
    hit anyway, and a 100,000-character body is not scanned for one snippet."""
    lo = 0 if reach is None else max(0, start - reach)
    hi = len(text) if reach is None else min(len(text), end + reach + 1)
    first = 0  # also when the sentence starts before `lo`: the cut then marks it with "…"
    for m in _SENTENCE_END.finditer(text, lo, start):
        first = m.end()
    after = _SENTENCE_END.search(text, end, hi)
    last = len(text) if after is None else after.start() if after.group() == "\n" else after.end()
    while first < start and text[first].isspace():
        first += 1
    while last > end and text[last - 1].isspace():
        last -= 1
    return first, last


def snippet_spans(
    summary: str, body: str, occurrences: Sequence[tuple[str, int, int]], limit: int | None
) -> list[_Span]:
    """What an alert shows of its item's text, as plain and matched runs. The summary (cut to
    about `limit` characters around its first match) when a match is in it or none is in the
    body; else the sentence of the body holding the body's first match, cut likewise."""
    if body and not any(f == "summary" for f, _, _ in occurrences):
        hits = _hits(body, occurrences, "body")
        if hits:
            lo, hi = _sentence(body, hits[0][0], hits[0][1], limit)
            begin, end = _cut(body, hits, limit, lo, hi)
            return _split(body, hits, begin, end, lo, hi)
    return spans(summary, occurrences, "summary", limit) if summary else []


def marked(parts: list[_Span], kind: str) -> str:
    """Spans in the kind's dialect: matched terms bold in Slack, <mark> in HTML, plain in text."""
    if kind == "slack":
        return "".join(f"**{slack_escape(p.text)}**" if p.marked else slack_escape(p.text) for p in parts)
    if kind == "html":
        return "".join(f"<mark>{_h(p.text)}</mark>" if p.marked else _h(p.text) for p in parts)
    return "".join(p.text for p in parts)


# -- built-in messages --------------------------------------------------------------


def _link(label: str, url: str, kind: str) -> str:
    """`label` is already in the kind's dialect."""
    link = safe_link(url)
    if not link:
        return label
    if kind == "slack":
        return f"[{label}](<{link}>)"
    if kind == "html":
        return f'<a href="{html.escape(link)}">{label}</a>'
    return f"{label}\n{link}"


def _meta(a: AlertView, kind: str) -> str:
    line = " · ".join(x for x in (a.feed, when(a.published)) if x)
    esc = {"slack": slack_escape, "html": _h}.get(kind, str)
    terms = ", ".join(a.terms)
    parts = [esc(line)] if line else []
    if terms:
        parts.append("matched: " + ("**" + esc(terms) + "**" if kind == "slack" else esc(terms)))
    return " · ".join(parts) if kind != "text" else "\n".join(parts)


def _headline(a: AlertView, kind: str) -> str:
    """The linked headline. Slack shows no formatting inside a link label, so it stays plain there."""
    text = a.title or "(no title)"
    label = slack_escape(text) if kind == "slack" else marked(spans(text, a.occurrences, "title"), kind)
    return _link(label, a.link, kind)


def render_alert(a: AlertView, kind: str) -> Message:
    snippet = marked(snippet_spans(a.summary, a.body, a.occurrences, None if a.notice else SNIPPET), kind)
    if a.notice and kind == "html":
        snippet = snippet.replace("\n", "<br>\n")
    title = header_text(f"[{a.rule}] {a.title or '(no title)'}")
    if kind == "slack":
        body = "\n".join(x for x in (f"**{_headline(a, kind)}**", _meta(a, kind), snippet) if x)
    elif kind == "html":
        body = (
            f"<p><strong>{_headline(a, kind)}</strong></p>\n"
            f"<p><small>rule {_h(a.rule)} · {_meta(a, kind)}</small></p>\n" + (f"<p>{snippet}</p>\n" if snippet else "")
        )
    else:
        body = "\n".join(x for x in (_headline(a, kind), _meta(a, kind), "", snippet) if x is not None)
        body = body.rstrip("\n")
    return Message(title=title, body=body, kind=kind)


def render_digest(alerts: Sequence[AlertView], channel: str, kind: str, reason: str = "digest") -> Message:
    """Several alerts as one message: each headline linked, outlet and time, a short snippet."""
    if len(alerts) == 1:
        return render_alert(alerts[0], kind)
    rules = sorted({a.rule for a in alerts})
    title = header_text(f"[{channel}] {len(alerts)} alerts ({reason}): {', '.join(rules)}")
    entries = []
    for a in alerts:
        headline = _headline(a, kind)
        snippet = marked(snippet_spans(a.summary, a.body, a.occurrences, DIGEST_SNIPPET), kind)
        meta = _meta(a, kind)
        if kind == "slack":
            entries.append(
                f"• **{headline}** ({slack_escape(a.rule)})\n   {meta}" + (f"\n   {snippet}" if snippet else "")
            )
        elif kind == "html":
            entries.append(
                f"<li><strong>{headline}</strong> ({_h(a.rule)})<br>"
                f"<small>{meta}</small>" + (f"<br>{snippet}" if snippet else "") + "</li>"
            )
        else:
            entry = f"- [{a.rule}] {headline}\n{meta}" + (f"\n{snippet}" if snippet else "")
            entries.append(entry.replace("\n", "\n  "))
    body = "<ul>\n" + "\n".join(entries) + "\n</ul>\n" if kind == "html" else "\n".join(entries)
    return Message(title=title, body=body, kind=kind, count=len(alerts))


# -- user templates -------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A user template, compiled once per kind: the body of every message of its channel."""

    source: str
    name: str = "template"
    _compiled: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _env(self, kind: str) -> Any:  # jinja2.sandbox.ImmutableSandboxedEnvironment
        from jinja2 import StrictUndefined
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def finalize(value: object) -> object:
            # Slack has no autoescape: escape every value printed, except our own markup.
            if kind == "slack" and not isinstance(value, Markup):
                return slack_escape(str(value))
            return value

        return ImmutableSandboxedEnvironment(
            autoescape=(kind == "html"),
            undefined=StrictUndefined,
            finalize=finalize,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, alerts: Sequence[AlertView], channel: str, kind: str) -> Message:
        tmpl = self._compiled.get(kind)
        if tmpl is None:
            tmpl = self._compiled[kind] = self._env(kind).from_string(self.source)
        values = [_template_values(a, kind) for a in alerts]
        body = tmpl.render(alerts=values, alert=values[0], channel=channel, count=len(values), kind=kind)
        default = render_digest(alerts, channel, kind) if len(alerts) > 1 else render_alert(alerts[0], kind)
        return Message(title=default.title, body=body, kind=kind, count=len(alerts))


def _template_values(a: AlertView, kind: str) -> dict[str, object]:
    return {
        "rule": a.rule,
        "title": a.title,
        "link": safe_link(a.link),
        "feed": a.feed,
        "summary": a.summary,
        "published": when(a.published),
        "terms": list(a.terms),
        "snippet": "".join(p.text for p in snippet_spans(a.summary, a.body, a.occurrences, SNIPPET)),
        # Pre-rendered, already escaped for the kind: safe to print as is.
        "title_marked": Markup(marked(spans(a.title, a.occurrences, "title"), kind)),
        "snippet_marked": Markup(marked(snippet_spans(a.summary, a.body, a.occurrences, SNIPPET), kind)),
    }


def _sample(terms_fields: tuple[str, ...], **kw: Any) -> AlertView:
    """The sample alert of `notify-test` and `check`, with its occurrences found by search."""
    occ = []
    for fld in terms_fields:
        for term in kw["terms"]:
            for m in re.finditer(rf"\b{re.escape(term)}\b", kw[fld]):
                occ.append((fld, m.start(), m.end()))
    return AlertView(occurrences=tuple(occ), **kw)


SAMPLE = _sample(
    rule="russia-israel-rift",
    title="Israel relayed to Russia 'dissatisfaction' over its Hamas position as rift widens",
    link="https://www.timesofisrael.com/israel-relayed-to-russia-dissatisfaction-over-its-hamas-position/",
    feed="times-of-israel",
    summary=(
        "Jerusalem conveyed its dissatisfaction to Moscow after a Hamas delegation was hosted in the "
        "Russian capital, officials said, as a rift between Israel and Russia over the war in Gaza "
        "widened. The Foreign Ministry summoned the Russian ambassador for a reprimand."
    ),
    published=1_700_000_000.0,
    terms=("Russia", "Israel", "dissatisfaction"),
    terms_fields=("title", "summary"),
)


def check_template(source: str) -> list[str]:
    """Problems with a template: syntax, unknown names, unsafe access (tried on a sample, each kind)."""
    from jinja2 import TemplateError

    problems: list[str] = []
    tmpl = Template(source)
    for kind in KINDS:
        try:
            tmpl.render([SAMPLE], "check", kind)
            tmpl.render([SAMPLE, SAMPLE], "check", kind)
        except TemplateError as exc:  # SecurityError and UndefinedError are TemplateErrors
            line = getattr(exc, "lineno", None)  # a syntax error knows its line
            where = f" (line {line})" if line else ""
            problems.append(f"{type(exc).__name__}{where}: {exc.message or exc}")
            break
        except Exception as exc:  # a template can raise anything a filter raises
            problems.append(f"{type(exc).__name__}: {exc}")
            break
    return problems
