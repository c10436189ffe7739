"""Property tests: the parser only ever refuses with RuleError, normalisation is
idempotent, and explain() round-trips to an equivalent query."""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import RuleError
from monitor.rules import Document, compile_query, explain, parse_query
from monitor.text import normalize, normalize_word, tokenize

N = int(os.environ.get("RULES_PROPERTY_EXAMPLES", "300"))
FAST = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])

QUERY_ALPHABET = (
    list('()"/*-@:\\ \t“”')
    + list("aNDORTEr3ş'’ﬁ١ו")
    + ["AND", "OR", "NOT", "NEAR", "NEAR/2", "title:", "body:", "lang:"]
)
query_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(QUERY_ALPHABET), max_size=30).map("".join),
)


@FAST
@given(query_text)
def test_parser_only_raises_rule_error(q):
    aliases = {"a": "x OR y", "b": "@a z", "c": "@c"}
    try:
        ast = parse_query(q, aliases)
    except RuleError as e:
        assert 0 <= e.column <= len(q) or e.query != q  # alias errors point into the alias
        assert e.message
        e.render("rule")
    else:  # whatever parses, explain() writes back as an equal query
        assert parse_query(explain(q, aliases)) == ast


@FAST
@given(st.text(max_size=40))
def test_normalize_idempotent(s):
    n = normalize(s)
    assert normalize(n) == n
    w = normalize_word(s)
    assert normalize_word(w) == w


@FAST
@given(st.text(max_size=60))
def test_tokens_are_stable_and_in_bounds(s):
    last = 0
    for t in tokenize(s):
        assert 0 <= t.start < t.end <= len(s) and t.start >= last
        last = t.start
        assert t.text and [x.text for x in tokenize(t.text)] == [t.text]  # tokens re-tokenise to themselves


# ------------------------------------------------------------ explain round-trip

VOCAB = ["Russia", "Israel", "Israeli", "Hamas", "Sa'ar", "café", "Putin", "روسيا", "وروسيا", "ישראל", "לישראל"]
leaf = st.one_of(
    st.sampled_from(
        [
            "russia",
            "israel",
            "Israel*",
            "isr*",
            "hamas",
            "saar",
            "cafe",
            "putin",
            "روسيا",
            "ישראל",
            '"and"',
            "Israel-Hamas",
            '"russia israel*"',
            "/isr/",
            "title:putin",
            "summary:israel*",
            "@mideast",
        ]
    ),
)
ALIASES = {"mideast": "Israel OR Hamas"}


def _combine(children):
    two = st.tuples(children, children)
    return st.one_of(
        two.map(lambda p: f"({p[0]} AND {p[1]})"),
        two.map(lambda p: f"{p[0]} {p[1]}"),
        two.map(lambda p: f"({p[0]} OR {p[1]})"),
        two.map(lambda p: f"({p[0]} -{p[1]})"),
        two.map(lambda p: f"title:({p[0]} OR {p[1]})"),
        st.tuples(leaf, leaf, st.integers(0, 4)).map(lambda p: f"({p[0]} NEAR/{p[2]} {p[1]})"),
    )


queries = st.recursive(leaf, _combine, max_leaves=6)
texts = st.lists(st.sampled_from([*VOCAB, "x", "y", "and"]), max_size=8).map(" ".join)


@settings(max_examples=max(N * 2 // 3, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries, st.lists(st.tuples(texts, texts), min_size=1, max_size=4))
def test_explain_round_trip(q, items):
    try:
        original = compile_query(q, ALIASES)
    except RuleError:
        return
    text = explain(q, ALIASES)
    again = compile_query(text)
    assert parse_query(text) == original.ast
    assert explain(text) == text
    for title, summary in items:
        d = Document.build({"title": title, "summary": summary})
        assert original.match(d) == again.match(d)


WORDS = st.lists(
    st.sampled_from(
        [
            "Russia's",
            "l'état",
            "Israel",
            "وروسيا",
            "ובישראל",
            "½",
            "q̃",
            "ﬁne",
            "O'Neil's",
            "'s",
            "s",
            "a'b's",
            "Straße",
            "١٢",
            "x",
            "  ",
            "\n",
            ", ",
        ]
    ),
    max_size=12,
)


@FAST
@given(st.one_of(st.text(max_size=60), WORDS.map(" ".join), WORDS.map("".join)))
def test_token_texts_and_fts_text_equal_the_full_tokeniser(s):
    from monitor.rules.document import fts_text
    from monitor.text import token_texts

    assert token_texts(s) == [t.text for t in tokenize(s)]
    assert fts_text({"title": s, "summary": s[::-1]}) == Document.build({"title": s, "summary": s[::-1]}).fts_text()
