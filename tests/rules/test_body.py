"""The body field (docs/rules.md §1 and §8): searched by bare terms and `body:` only, positions
kept inside it, offsets right in a body as long as an item may carry."""

import sqlite3
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.rules import Document, Occurrence, RuleSet, compile_query, explain, parse_query
from monitor.store.schema import FTS_OPTIONS

RULES_MD = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
BODY_MAX = 100_000  # the most of an article's text an item keeps


def item(title="", summary="", body="", **kw):
    return Document.build({"title": title, "summary": summary, "body": body, **kw})


def matches(query, d):
    return compile_query(query).match(d) is not None


# ------------------------------------------------------- §8 examples, read from the page


def _section_8():
    """The rows of the example table of docs/rules.md §8: (query, title, summary, body, match)."""
    section = RULES_MD.read_text(encoding="utf-8").split("\n## 8.", 1)[1]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        query, title, summary, body, verdict = (c.strip() for c in line.strip().strip("|").split("|"))
        assert verdict.split()[0] in ("yes", "no"), line
        rows.append((query.strip("`"), title, summary, body, verdict.split()[0] == "yes"))
    return rows


SECTION_8 = _section_8()


def test_section_8_table_is_read():
    assert len(SECTION_8) >= 14
    assert {expected for *_, expected in SECTION_8} == {True, False}


@pytest.mark.parametrize("query, title, summary, body, expected", SECTION_8)
def test_section_8(query, title, summary, body, expected):
    assert matches(query, item(title, summary, body)) is expected


# ------------------------------------------------------------------ scope


BODY_DOC = item(
    title="Israel summons the envoy",
    summary="The ministry met the ambassador.",
    body="Israel relayed to Russia its dissatisfaction.\nThe foreign minister spoke to reporters.",
)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("dissatisfaction", True),
        ("text:dissatisfaction", True),
        ("body:dissatisfaction", True),
        ("title:dissatisfaction", False),
        ("summary:dissatisfaction", False),
        ("body:ambassador", False),
        ("body:envoy", False),
        ('body:"foreign minister"', True),
        ('body:"minister foreign"', False),
        ('"dissatisfaction the foreign minister"', True),  # one field: positions run on across its lines
        ("body:dissatisf*", True),
        ("body:/dissatisf\\w+/", True),
        ("title:/dissatisf/", False),
        ("body:(Russia NEAR/2 dissatisfaction)", True),
        ("body:(Russia NEAR/1 dissatisfaction)", False),
        ("ambassador NEAR/10 Israel", False),  # summary and body are separate fields
        ("title:Israel AND body:(Russia NEAR/5 dissatisfaction)", True),
        ("Israel -body:football", True),
        ("Israel -football", True),
    ],
)
def test_body_scope(query, expected):
    assert matches(query, BODY_DOC) is expected


def test_body_occurrences_are_reported_in_the_body():
    m = compile_query("Israel AND body:(Russia NEAR/5 dissatisfaction)").match(BODY_DOC)
    assert m is not None
    body = BODY_DOC.text("body")
    assert m.occurrences == (
        Occurrence("title", 0, 6),
        Occurrence("body", 0, 6),
        Occurrence("body", body.index("Russia"), body.index("Russia") + 6),
        Occurrence("body", body.index("dissatisfaction"), body.index("dissatisfaction") + 15),
    )
    assert m.terms == ("Israel", "Russia", "dissatisfaction")


def test_not_decides_on_the_body_known_at_the_time():
    """A headline alone (body not fetched yet) satisfies a NOT the body would fail (§8)."""
    headline = item("Israel summons the envoy")
    whole = item("Israel summons the envoy", body="The envoy left for the football final.")
    assert matches("Israel AND NOT football", headline)
    assert not matches("Israel AND NOT football", whole)
    # The ways out the page gives: keep to the headline, or wait for the body.
    headline_only = "(title:Israel OR summary:Israel) AND NOT (title:football OR summary:football)"
    assert matches(headline_only, headline) and matches(headline_only, whole)
    assert not matches("body:Israel AND NOT football", headline)
    assert matches("body:Israel AND NOT football", item("Israel summons the envoy", body="Israel said so."))


def test_unknown_field_error_lists_body():
    with pytest.raises(RuleError) as e:
        compile_query("bdy:Russia")
    assert "fields are title, summary, body, author" in e.value.render()


@pytest.mark.parametrize(
    "query, expected",
    [
        ('body:"foreign minister"', 'body:"foreign minister"'),
        ("text:x OR body:(a b)", "(x OR (body:a AND body:b))"),
        (
            "title:Israel AND body:(Russia NEAR/5 dissatisfaction)",
            "(title:israel AND (body:russia NEAR/5 body:dissatisfaction))",
        ),
    ],
)
def test_explain_writes_body_on_its_leaves(query, expected):
    assert explain(query) == expected
    assert parse_query(explain(query)) == parse_query(query)


# -------------------------------------------------------------- narrowing, RuleSet

FTS_DOCS = [
    item("Talks in Moscow", body="The foreign minister said talks would resume."),
    item("Foreign minister arrives"),
    item("Israel summons the envoy", body="Israel relayed to Russia its dissatisfaction."),
    item("Weather", "Rain", "Sunny later."),
]


@pytest.mark.parametrize(
    "query, wanted",
    [
        ('body:"foreign minister"', {0}),
        ("dissatisfaction", {2}),
        ("body:dissatisfaction Israel", {2}),
        ("body:sunny OR title:moscow", {0, 3}),
    ],
)
def test_body_terms_narrow_the_full_text_index(query, wanted):
    q = compile_query(query)
    con = sqlite3.connect(":memory:")
    con.execute(f"CREATE VIRTUAL TABLE items USING fts5(fts, {FTS_OPTIONS})")
    con.executemany("INSERT INTO items(rowid, fts) VALUES (?, ?)", [(i, d.fts_text()) for i, d in enumerate(FTS_DOCS)])
    fts = q.fts_query()
    assert fts is not None  # body terms narrow like title and summary terms
    selected = {r[0] for r in con.execute("SELECT rowid FROM items WHERE items MATCH ?", (fts,))}
    assert {i for i, d in enumerate(FTS_DOCS) if q.match(d)} == wanted
    assert wanted <= selected


def test_ruleset_finds_rules_whose_terms_are_only_in_the_body():
    rules = {
        "minister": compile_query('body:"foreign minister"'),
        "rift": compile_query("Russia NEAR/3 dissatisfaction"),
        "title": compile_query("title:dissatisfaction"),
    }
    rs = RuleSet(rules)
    for d in FTS_DOCS:
        assert rs.match(d) == [(n, q.match(d)) for n, q in rules.items() if q.match(d) is not None]
    assert [n for n, _ in rs.match(FTS_DOCS[2])] == ["rift"]


# ----------------------------------------------------------- a body of full length

SENTENCE = "Israel relayed to Russia its dissatisfaction."


def _long_body(at: int) -> str:
    """BODY_MAX characters of mixed-script text with SENTENCE at offset `at`. The filler holds
    none of the English words searched for, and an "ﬁ" ligature that NFKC widens (so a regex
    sees shifted text and its offsets must be mapped back)."""
    filler = "Le café ﬁnance naïve Straße وروسيا تدعو לישראל 🙂 report, "
    text = (filler * (BODY_MAX // len(filler) + 1))[:BODY_MAX]
    return text[:at] + SENTENCE + text[at + len(SENTENCE) :]


@pytest.mark.parametrize("at", [BODY_MAX // 2, BODY_MAX - len(SENTENCE)])
def test_a_full_length_body_is_matched_with_offsets_into_it(at):
    body = _long_body(at)
    assert len(body) == BODY_MAX and body.index(SENTENCE) == at
    d = item("Envoy summoned", body=body)
    russia, dissatisfaction = (at + 18, at + 24), (at + 29, at + 44)
    expected = {
        "Russia NEAR/3 dissatisfaction": [russia, dissatisfaction],
        '"its dissatisfaction"': [(at + 25, at + 44)],
        "body:dissatisf*": [dissatisfaction],
        "/dissatisf\\w+/": [dissatisfaction],
        "title:Envoy body:Russia": [russia],
    }
    for query, spans in expected.items():
        m = compile_query(query).match(d)
        assert m is not None, query
        assert [(o.start, o.end) for o in m.occurrences if o.field == "body"] == spans, query
    # Arabic hits before and after the sentence, each the whole prefixed word, in order.
    m = compile_query("body:روسيا").match(d)
    assert m is not None
    assert all(body[o.start : o.end] == "وروسيا" for o in m.occurrences)
    assert [o.start for o in m.occurrences] == sorted(o.start for o in m.occurrences)
    assert m.occurrences[-1].end <= BODY_MAX
    assert not matches("title:dissatisfaction", d)
