"""Watch rules against RULES.md: §7 examples, every construct, every §5 refusal."""

import sqlite3

import pytest

from monitor.errors import RuleError
from monitor.rules import (
    FIELDS,
    CompiledQuery,
    Document,
    Match,
    Occurrence,
    RuleSet,
    compile_query,
    explain,
    parse_query,
)
from monitor.store.schema import FTS_OPTIONS


def doc(title="", summary="", **kw):
    return Document.build({"title": title, "summary": summary, **kw})


def matches(query, d, aliases=None):
    return compile_query(query, aliases).match(d) is not None


# ---------------------------------------------------------------- §7 (normative)

LAVROV = "Foreign Minister Sergey Lavrov said"
PUTIN = "President Vladimir Putin blamed the United States"
SECTION_7 = [
    (
        "Russia AND Israel AND dissatisfaction",
        "Israel relayed to Russia 'dissatisfaction' over its Hamas position",
        True,
    ),
    ("Russia AND Israel AND dissatisfaction", "Israel relayed to Russia its displeasure", False),
    ("Russia Israel", "Russia's envoy meets Israeli officials", False),
    ("Russia Israel*", "Russia's envoy meets Israeli officials", True),
    ('"Sergey Lavrov"', LAVROV, True),
    ('"Lavrov Sergey"', LAVROV, False),
    ("Putin NEAR/3 blamed", PUTIN, True),
    ("Putin NEAR/3 States", PUTIN, False),
    ("Iran -Israel", "Iran calls for restraint", True),
    ("Hamas-Israel", "Israel Hamas war enters day 18", False),
    ('"hamas israel"', "Israel Hamas war enters day 18", False),
    ("ישראל", "משלחת רוסית הגיעה לישראל", True),
    ("روسيا", "وروسيا تدعو إلى التهدئة", True),
    ("Россия", "Россия и Израиль", True),
    ("Rossiya", "Россия и Израиль", False),
]


@pytest.mark.parametrize("query, title, expected", SECTION_7)
def test_section_7(query, title, expected):
    assert matches(query, doc(title)) is expected


def test_section_7_field_scope():
    d = doc("Kremlin responds", "Putin said…")
    assert not matches("title:Putin", d)
    assert matches("Putin", d)


def test_section_7_match_report():
    m = compile_query("Russia AND Israel AND dissatisfaction").match(
        doc("Israel relayed to Russia 'dissatisfaction' over its Hamas position")
    )
    assert isinstance(m, Match)
    assert m.terms == ("Russia", "Israel", "dissatisfaction")
    assert m.occurrences == (Occurrence("title", 0, 6), Occurrence("title", 18, 24), Occurrence("title", 26, 41))


# ------------------------------------------------------------------- constructs

T = "Israel relayed to Russia its displeasure over the Hamas position, Lavrov said"
CONSTRUCTS = [
    # terms: whole tokens, case/diacritics/possessive insensitive
    ("israel", "ISRAEL, Israel's army", True),
    ("Israel", "Israeli officials", False),
    ("cafe", "Le Café de Paris", True),
    ("Café", "le cafe", True),
    ("Sa'ar", "Gideon Saar said", True),
    ("Saar", "Gideon Sa’ar said", True),
    ("Russias", "Russia's envoy", False),
    # prefixes
    ("Isr*", "Israelis protest", True),
    ("Israel*", "Israel", True),
    ("Israeli*", "Israel", False),
    ('"sanction* Iran"', "new sanctions on Iran", False),
    ('"sanction* on Iran"', "new sanctions on Iran", True),
    ('"sanction* Iran"', "sanctioning Iran now", True),
    # phrases: consecutive, in order; a multi-token word is a phrase
    ('"foreign minister"', "the Foreign Minister said", True),
    ('"foreign minister"', "foreign affairs minister", False),
    ("Israel-Hamas", "the Israel-Hamas war", True),
    ("Israel-Hamas", "Israel and Hamas", False),
    ("al-Monitor", "reported by Al Monitor", True),
    ("“foreign minister”", "the Foreign Minister said", True),  # curly quotes
    # boolean operators and precedence
    ("Russia OR Iran Israel", "Russia alone", True),
    ("Russia OR Iran Israel", "Iran alone", False),
    ("Russia OR Iran Israel", "Iran and Israel", True),
    ("(Russia OR Iran) Israel", "Russia alone", False),
    ("Russia or Iran", "Iran", True),  # operators are case-insensitive
    ("Russia and Israel", T, True),
    ("Iran NOT Israel", "Iran and Israel", False),
    ("Iran -Israel", "Iran and Israel", False),
    ("Iran -(Israel OR Hamas)", "Iran and Hamas", False),
    ("Iran -(Israel OR Hamas)", "Iran and Russia", True),
    ("Iran NOT NOT Israel", "Iran and Israel", True),
    ('"and" Iran', "Iran and Israel", True),
    ('"and" Iran', "Iran, Israel", False),
    ('"near"', "the near east", True),
    # NEAR
    ("Putin NEAR/3 blamed", "blamed, said Putin", True),  # either order
    ("Putin NEAR Israel", "Putin " + "x " * 9 + "Israel", True),  # bare NEAR = NEAR/10
    ("Putin NEAR Israel", "Putin " + "x " * 10 + "Israel", False),
    ("Putin NEAR/0 Putin*", "Putin", True),
    ('"Vladimir Putin" NEAR/2 blamed', PUTIN, True),  # phrase: position of its first token
    ('"Vladimir Putin" NEAR/1 blamed', PUTIN, False),
    ("(Putin OR Lavrov) NEAR/2 said", "Lavrov has said", True),
    ("Putin* NEAR/1 blame*", PUTIN, True),
]


@pytest.mark.parametrize("query, title, expected", CONSTRUCTS)
def test_constructs(query, title, expected):
    assert matches(query, doc(title)) is expected


def test_default_field_terms_may_sit_in_different_fields():
    d = doc("Russia warns", "Israel responds")
    assert matches("Russia AND Israel", d)
    assert not matches("title:(Russia AND Israel)", d)


def test_positions_never_cross_fields():
    d = doc("Talks with Sergey", "Lavrov said")
    assert not matches('"Sergey Lavrov"', d)
    assert not matches("Sergey NEAR/1 Lavrov", d)
    assert matches("Sergey Lavrov", d)


FIELD_DOC = {
    "title": "Kremlin responds",
    "summary": "Putin said",
    "author": "Jane Doe",
    "tag": "Middle East, Politics",
    "feed": "Al-Monitor",
    "url": "https://www.al-monitor.com/originals/2023/10/israel",
    "lang": "ar-SA",
}
FIELD_CASES = [
    ("author:Doe", True),
    ("author:Putin", False),
    ('tag:"middle east"', True),
    ("feed:al-monitor", True),
    ("url:al-monitor.com", True),
    ("url:israel", True),
    ("lang:ar", True),
    ("lang:sa", False),  # lang:xx matches xx and xx-*, not a subtag
    ("lang:ar-sa", True),
    ("lang:en", False),
    ("summary:Putin", True),
    ("text:Putin", True),
    ("title:(Kremlin Putin)", False),
    ("title:(Kremlin summary:Putin)", True),  # inner field wins
    ("Kremlin -author:Doe", False),
    ("title:/KREM.in/", True),
    ("summary:/krem/", False),
]


@pytest.mark.parametrize("query, expected", FIELD_CASES)
def test_fields(query, expected):
    assert matches(query, Document.build(FIELD_DOC)) is expected


def test_lang_exact():
    assert matches("Putin lang:ar", doc("Putin", lang="ar"))
    assert not matches("Putin lang:ar", doc("Putin", lang="en-US"))


# ------------------------------------------------------------ Arabic and Hebrew

SEMITIC = [
    ("روسيا", "وروسيا", True),
    ("روسيا", "لروسيا", True),
    ("روسيا", "فروسيا", True),
    ("روسيا", "بروسيا", True),
    ("روسيا", "كروسيا", True),
    ("قدس", "القدس", True),
    ("قدس", "والقدس", True),
    ("قدس", "بالقدس", True),
    ("قدس", "كالقدس", True),
    ("قدس", "فالقدس", True),
    ("قدس", "للقدس", True),
    ("روسيا", "روسيات", False),  # no suffixes
    ("روسيا", "مروسيا", False),  # م is not a proclitic
    ("روسيا", "وبروسيا", False),  # وب is not in the list
    ("روسيا", "روس", False),  # no stripping of the term
    ("روس*", "وروسيا", True),
    ("أمريكا", "وامريكا", True),  # letter variants unified first
    ("ישראל", "ישראל", True),
    ("ישראל", "בישראל", True),
    ("ישראל", "ובישראל", True),
    ("ישראל", "מישראל", True),
    ("ישראל", "שבישראל", True),
    ("ישראל", "וכשבישראל", False),  # four prefix letters
    ("ישראל", "אישראל", False),  # א is not a prefix letter
    ("ישראל", "ישראלי", False),
    ("ישרא*", "ובישראלים", True),
    ('"רוסיה ישראל"', "ברוסיה ובישראל", True),
    ("יִשְׂרָאֵל", "לישראל", True),  # niqqud in the query
]


@pytest.mark.parametrize("query, title, expected", SEMITIC)
def test_arabic_hebrew_prefixes(query, title, expected):
    assert matches(query, doc(title)) is expected


def test_semitic_occurrence_covers_whole_word():
    m = compile_query("روسيا").match(doc("تدعو وروسيا"))
    assert m.occurrences == (Occurrence("title", 5, 11),)
    assert m.terms == ("وروسيا",)


# ----------------------------------------------------------------------- regex


def test_regex_case_insensitive_and_offsets():
    m = compile_query(r"/isr[a-z]+/").match(doc("In Israel and ISRAELI news"))
    assert m.occurrences == (Occurrence("title", 3, 9), Occurrence("title", 14, 21))


def test_regex_sees_nfkc_but_reports_original_offsets():
    s = "ﬁnance Ｉｒａｎ"
    m = compile_query("/iran/").match(doc(s))
    (o,) = m.occurrences
    assert s[o.start : o.end] == "Ｉｒａｎ"
    assert matches("/finance/", doc(s))


def test_regex_before_diacritic_removal():
    assert not matches("/cafe/", doc("Café"))
    assert matches("/café/", doc("CAFÉ"))


def test_regex_empty_matches_do_not_count():
    assert not matches("/x*/", doc("abc"))


def test_regex_with_escaped_slash():
    assert matches(r"/24\/7/", doc("open 24/7"))


# -------------------------------------------------------------------- aliases

ALIASES = {
    "iran": "Iran OR Tehran OR إيران",
    "mideast": "@iran OR Israel",
    "nosport": "-sports",
    "leaders": "Putin OR Lavrov",
}


def test_alias_expanded_as_group():
    assert matches("@iran Russia", doc("Tehran and Russia"), ALIASES)
    assert not matches("@iran Russia", doc("Tehran"), ALIASES)
    assert matches("@mideast", doc("Israel"), ALIASES)
    assert matches("Iran @nosport", doc("Iran"), ALIASES)
    assert not matches("Iran @nosport", doc("Iran sports"), ALIASES)
    assert matches("@leaders NEAR/2 blamed", doc(PUTIN), ALIASES)
    assert explain("@mideast", ALIASES) == "(iran OR tehran OR ايران OR israel)"


def test_alias_scoped_by_field():
    d = doc("Kremlin", "Tehran")
    assert not matches("title:@iran", d, ALIASES)
    assert matches("summary:@iran", d, ALIASES)


ALIAS_ERRORS = [
    ("@nope", {}, 'unknown alias "@nope"', 0),
    ("Iran @a", {"a": "@b", "b": "x @a"}, 'cyclic alias "@a"', 2),
    ("Iran @a", {"a": "(x"}, 'alias "@a": unbalanced parenthesis', 0),
    ("Iran @a", {"a": "x AND"}, 'alias "@a": missing operand', 2),
    ("@nosport", ALIASES, "rule can match without any positive term", 0),
    ("@nosport NEAR x", ALIASES, "NEAR over an unsupported operand", 0),
    ("Iran @e", {"e": "  "}, 'alias "@e": empty query', 0),
]


@pytest.mark.parametrize("query, aliases, message, column", ALIAS_ERRORS)
def test_alias_errors(query, aliases, message, column):
    with pytest.raises(RuleError) as ei:
        compile_query(query, aliases)
    assert ei.value.message.startswith(message)
    assert ei.value.column == column


def test_cyclic_alias_message_names_the_chain():
    with pytest.raises(RuleError) as ei:
        compile_query("@a", {"a": "@b", "b": "@a"})
    assert "@a → @b → @a" in ei.value.message


def test_exponential_alias_is_refused():
    aliases = {f"a{i}": f"@a{i + 1} @a{i + 1}" for i in range(40)}
    aliases["a40"] = "x"
    with pytest.raises(RuleError):
        compile_query("@a0", aliases)


# -------------------------------------------------------------- §5 refusals

REFUSALS = [
    ("", "empty query", 0),
    ("   ", "empty query", 0),
    ("(Russia AND Israel", "unbalanced parenthesis", 0),
    ("Russia AND Israel)", "unbalanced parenthesis", 17),
    ("(a OR (b)", "unbalanced parenthesis", 0),
    ('"foreign minister', "unbalanced quote", 0),
    ('Iran "foreign minister', "unbalanced quote", 5),
    ("Russia AND", "missing operand", 7),
    ("OR Israel", "missing operand", 0),
    ("Russia OR", "missing operand", 7),
    ("Russia AND OR Israel", "missing operand", 7),
    ("Russia NOT", "missing operand", 7),
    ("(Russia AND)", "missing operand", 8),
    ("(OR a)", "missing operand", 1),
    ("a NEAR", "missing operand", 2),
    ("title:", "missing operand", 0),
    ("()", "empty group", 0),
    ("a ( ) b", "empty group", 2),
    ("foo:bar", 'unknown field "foo"', 0),
    ("Iran http://x.com", 'unknown field "http"', 5),
    ("Isr*el", "misplaced *", 3),
    ("*rael", "misplaced *", 0),
    ('"sanc*tion Iran"', "misplaced *", 5),
    ("a*", "* after fewer than two letters", 1),
    ("Israel-*", "* after fewer than two letters", 7),
    ('"x* Iran"', "* after fewer than two letters", 2),
    ("/(a/", "invalid regex", 0),
    ("Iran /a(?=b)/", "invalid regex", 5),
    ("//", "empty regex", 0),
    ("/abc", "unbalanced regex", 0),
    ("/abc/i", "unexpected text after a regex", 5),
    ("(a AND b) NEAR c", "NEAR over an unsupported operand", 1),
    ("a NEAR -b", "NEAR over an unsupported operand", 7),
    ("a NEAR /re/", "NEAR over an unsupported operand", 7),
    ("a NEAR b NEAR c", "NEAR over an unsupported operand", 9),
    ("a NEAR/x b", "bad NEAR distance", 7),
    ("NOT sports", "rule can match without any positive term", 0),
    ("-a -b", "rule can match without any positive term", 0),
    ("a OR NOT b", "rule can match without any positive term", 5),
    ("(a -b) OR -c", "rule can match without any positive term", 10),
    ("NOT NOT NOT x", "rule can match without any positive term", 0),
    ("Iran - Israel", 'a "-" must touch what it excludes', 5),
    ("!!!", "nothing to search for", 0),
    ('Iran "..."', "nothing to search for", 5),
    ('""', "empty phrase", 0),
    ("@", "bad alias name", 0),
    ("a" * 4001, "query is longer than 4,000 characters", 4000),
    ("(" * 51 + "a" + ")" * 51, "nested deeper than 50 groups", 50),
]


@pytest.mark.parametrize("query, message, column", REFUSALS)
def test_refusals(query, message, column):
    with pytest.raises(RuleError) as ei:
        compile_query(query)
    e = ei.value
    assert e.message == message
    assert e.column == column
    assert e.query == query
    assert e.detail


def test_depth_50_is_allowed():
    assert matches("(" * 50 + "a" + ")" * 50, doc("a"))


def test_4000_chars_is_allowed():
    q = " OR ".join(["abcdefg"] * 363) + " x"
    assert len(q) <= 4000
    compile_query(q)


def test_long_not_chain_does_not_recurse():
    assert matches("x " + "NOT " * 900 + "y", doc("x y"))
    assert not matches("x " + "-" * 3001 + "y", doc("x y"))


def test_render_is_caret_style():
    with pytest.raises(RuleError) as ei:
        compile_query("(Russia AND Israel")
    assert ei.value.render('config.toml: rule "russia-israel"') == (
        'config.toml: rule "russia-israel": unbalanced parenthesis\n  (Russia AND Israel\n  ^ this "(" is never closed'
    )


# ------------------------------------------------------------ match report §6


def test_not_reports_only_positive_occurrences():
    m = compile_query("Iran -Israel OR Hamas").match(doc("Iran and Hamas"))
    assert m.terms == ("Iran", "Hamas")
    assert [o.field for o in m.occurrences] == ["title", "title"]


def test_occurrences_sorted_and_deduplicated_across_fields():
    d = doc("Putin and Russia", "Russia: Putin said Putin")
    m = compile_query("Russia OR Putin OR Russia").match(d)
    assert m.occurrences == (
        Occurrence("title", 0, 5),
        Occurrence("title", 10, 16),
        Occurrence("summary", 0, 6),
        Occurrence("summary", 8, 13),
        Occurrence("summary", 19, 24),
    )
    assert m.terms == ("Russia", "Putin")


def test_phrase_occurrence_spans_the_phrase():
    m = compile_query('"Sergey Lavrov"').match(doc(LAVROV))
    (o,) = m.occurrences
    assert LAVROV[o.start : o.end] == "Sergey Lavrov"


def test_possessive_occurrence():
    m = compile_query("Russia").match(doc("Russia's envoy"))
    assert m.terms == ("Russia",)


# ------------------------------------------------------------------- explain

EXPLAIN = [
    ("Russia OR Iran Israel", "(russia OR (iran AND israel))"),
    ("Russia", "russia"),
    ("Iran -Israel", "(iran AND (NOT israel))"),
    ("Hamas-Israel", '"hamas israel"'),
    ('"and" OR x', '("and" OR x)'),
    ("title:(Putin OR Lavrov*)", "(title:putin OR title:lavrov*)"),
    ("Putin NEAR blamed", "(putin NEAR/10 blamed)"),
    ("a b OR c d OR e", "((a AND b) OR (c AND d) OR e)"),
    ("summary:/a\\/b/", "summary:/a\\/b/"),
    ("Russia's Sa'ar", "(russia AND saar)"),
]


@pytest.mark.parametrize("query, expected", EXPLAIN)
def test_explain(query, expected):
    assert explain(query) == expected
    assert parse_query(explain(query)) == parse_query(query)


# ---------------------------------------------------------------------- FTS5

FTS_ITEMS = [
    ("Israel relayed to Russia 'dissatisfaction'", "over its Hamas position"),
    ("Russia's envoy meets Israeli officials", ""),
    ("Foreign Minister Sergey Lavrov said", "Talks continue"),
    ("وروسيا تدعو إلى التهدئة", "بالقدس"),
    ("משלחת רוסית הגיעה לישראל", ""),
    ("Le Café", "naïve Straße"),
]
FTS_QUERIES = [
    "Russia Israel*",
    '"Sergey Lavrov"',
    "Lavrov OR Hamas",
    "روسيا",
    "قدس",
    "ישראל",
    "רוס*",
    "cafe strasse",
    "Iran -Israel",
    "Russia /x/",
    "Israel NEAR/2 Russia",
    'title:"foreign minister"',
    "author:Putin OR Russia",
]


@pytest.mark.parametrize("query", FTS_QUERIES)
def test_fts_query_selects_a_superset(query):
    q = compile_query(query)
    fts = q.fts_query()
    docs = [doc(t, s) for t, s in FTS_ITEMS]
    if fts is None:
        return
    con = sqlite3.connect(":memory:")
    con.execute(f"CREATE VIRTUAL TABLE items USING fts5(body, {FTS_OPTIONS})")
    con.executemany("INSERT INTO items(rowid, body) VALUES (?, ?)", [(i, d.fts_text()) for i, d in enumerate(docs)])
    selected = {r[0] for r in con.execute("SELECT rowid FROM items WHERE items MATCH ?", (fts,))}
    wanted = {i for i, d in enumerate(docs) if q.match(d)}
    assert wanted <= selected


def test_fts_query_shapes():
    assert compile_query("Russia Israel*").fts_query() == '("russia" AND "israel"*)'
    assert compile_query('"Sergey Lavrov"').fts_query() == '("sergey" AND "lavrov")'
    assert compile_query("Iran -Israel").fts_query() == '"iran"'
    assert compile_query("NOT a b").fts_query() == '"b"'
    assert compile_query("/x/").fts_query() is None
    assert compile_query("author:Putin").fts_query() is None
    assert compile_query("author:Putin OR Russia").fts_query() is None
    assert compile_query("author:Putin Russia").fts_query() == '"russia"'


def test_fts_narrows():
    q = compile_query("Lavrov OR Hamas")
    con = sqlite3.connect(":memory:")
    con.execute(f"CREATE VIRTUAL TABLE items USING fts5(body, {FTS_OPTIONS})")
    con.executemany(
        "INSERT INTO items(rowid, body) VALUES (?, ?)",
        [(i, doc(t, s).fts_text()) for i, (t, s) in enumerate(FTS_ITEMS)],
    )
    assert {r[0] for r in con.execute("SELECT rowid FROM items WHERE items MATCH ?", (q.fts_query(),))} == {0, 2}


# ------------------------------------------------------------------- RuleSet

RULES = {
    "ru-il": "Russia AND Israel*",
    "lavrov": '"Sergey Lavrov"',
    "iran-not-il": "Iran -Israel",
    "re": "/dissatisf/",
    "either": "Hamas OR Hezbollah",
    "arabic": "روسيا",
    "hebrew": "ישראל",
    "prefix2": "Is* NEAR/3 relayed",
    "lang": "lang:ar Putin",
    "semprefix": "روس*",
}
RS_DOCS = [doc(t, s) for t, s in FTS_ITEMS] + [
    doc("Iran calls for restraint"),
    doc("Iran and Israel"),
    doc("Putin", lang="ar"),
    doc("nothing here"),
    doc("Hezbollah statement"),
]


def test_ruleset_equals_evaluating_every_rule():
    compiled = {n: compile_query(q) for n, q in RULES.items()}
    rs = RuleSet(compiled)
    assert len(rs) == len(RULES)
    for d in RS_DOCS:
        naive = [(n, q.match(d)) for n, q in compiled.items() if q.match(d) is not None]
        assert rs.match(d) == naive


def test_ruleset_skips_rules():
    rs = RuleSet({n: compile_query(q) for n, q in RULES.items() if n != "re"})
    assert rs.candidates(doc("nothing here")) == []


def test_public_api_shape():
    assert FIELDS == ("title", "summary", "body", "author", "tag", "feed", "url", "lang")
    assert isinstance(compile_query("x"), CompiledQuery)
    with pytest.raises(ValueError):
        Document.build({"titel": "typo"})
    d = Document.build({"title": None})
    assert d.fts_text() == ""
