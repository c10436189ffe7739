"""robots.txt as RFC 9309 reads it: groups, agents, longest match, wildcards, encoding.

The cases are the RFC's examples and those of Google's robots.txt documentation (which
RFC 9309 grew from), then hostile files, then the matcher on arbitrary text.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from fetchkit import NOW, PUBLIC, Clock, Routed
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.polling.fetch import Fetcher, make_transport
from monitor.polling.origins import AddressPolicy
from monitor.polling.robots import RobotsCache
from monitor.polling.robotstxt import MAX_LINE, RobotsRules, Rule, normalise, request_target

FILES = {
    # RFC 9309 5.1
    "rfc-5.1": """\
User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot
""",
    # RFC 9309 5.2
    "rfc-5.2": "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n",
    # RFC 9309 2.2.3: special characters, and how to name them literally
    "rfc-2.2.3": """\
User-agent: *
Disallow: / # comment in line
Allow: /that/path/exactly$
Allow: /this/*/exactly
Allow: /path/file-with-a-%2A.html
Allow: /path/foo-%24
""",
    # RFC 9309 2.2.2: percent-encoding, compared normalised on both sides
    "rfc-2.2.2": """\
User-agent: *
Disallow: /foo/bar/ツ
Disallow: /foo/bar/%62%61%7A
Disallow: /case/%7e%E2%82%ac
Disallow: /a%2Fb
""",
    # Urllib.robotparser took the first match: the longest one decides.
    "first-rule-broad": "User-agent: *\nDisallow: /\nAllow: /news/\n",
    # Google's order of precedence for rules, one file each.
    "google-p": "user-agent: *\nallow: /p\ndisallow: /\n",
    "google-folder": "user-agent: *\nallow: /folder\ndisallow: /folder\n",
    "google-htm": "user-agent: *\nallow: /page\ndisallow: /*.htm\n",
    "google-ph": "user-agent: *\nallow: /page\ndisallow: /*.ph\n",
    "google-root": "user-agent: *\nallow: /$\ndisallow: /\n",
    # Google's order of precedence for user agents: only the group naming the agent serves.
    "google-agents": """\
user-agent: googlebot-news
disallow: /news-only/

user-agent: *
disallow: /all/

user-agent: googlebot
disallow: /web-only/
""",
    # Google: groups naming the same agent are merged.
    "google-merged": """\
user-agent: googlebot-news
disallow: /fish

user-agent: *
disallow: /carrots

user-agent: googlebot-news
disallow: /shrimp
""",
    # Google: a line other than user-agent, allow and disallow does not end a group's agents.
    "google-sitemap": "user-agent: a\nsitemap: https://example.com/sitemap.xml\n\nuser-agent: b\ndisallow: /\n",
    # Google's parser tests: rules outside groups are ignored; groups run to the next user-agent.
    "google-groups": """\
allow: /foo/bar/

user-agent: FooBot
disallow: /
allow: /x/
user-agent: BarBot
disallow: /
allow: /y/


allow: /w/
user-agent: BazBot

user-agent: FooBot
allow: /z/
disallow: /
""",
    # The agent is matched whole: not `it`, not `monitoring`; a version or a comment after it is not part of it.
    "not-a-substring": "User-agent: it\nDisallow: /it/\n\nUser-agent: monitoring\nDisallow: /ing/\n\nUser-agent: *\nDisallow: /all/\n",
    "versioned": "User-agent: *\nDisallow: /\n\nUser-agent: MONITOR/2.0 (news)\nDisallow: /x/\n",
    "named-no-rules": "User-agent: *\nDisallow: /\n\nUser-agent: Monitor\nDisallow:\n",
    "empty-disallow": "User-agent: *\nDisallow:\n",
    "only-others": "User-agent: foobot\nDisallow: /\n",
    "empty": "",
    "directive-case": "USER-AGENT: monitor\nALLOW: /x/\ndIsAlLoW: /\n",
    "whitespace": "  User-agent  :  monitor  \n\tDisallow\t:\t/a  \n",
    "bom": "\ufeffUser-agent: *\nDisallow: /a\n",
    "crlf": "User-agent: *\r\nDisallow: /a\r\nAllow: /a/b\r\n",
    "cr": "User-agent: *\rDisallow: /a\r",
    "unknown-lines": "# about us\nUser-agent: *\nCrawl-delay: 10\nNoindex: /a\nDisallow /b\nDisallow: /c # not /d\nSitemap: http://x/s.xml\n",
    "queries": "User-agent: *\nDisallow: /*?\nDisallow: /*.pdf$\nAllow: /*?page=\n",
    "everything": "User-agent: *\nDisallow: /\n",
    # Google's parser: a line without its colon is its key and value when it is two words exactly.
    "no-colon": "user-agent monitor\ndisallow /private\nDisallow /a /b\nallow\t/private/ok\n",
}

CASES = [
    ("rfc-5.1", "foobot", "/example/page.html", True),
    ("rfc-5.1", "foobot", "/example/allowed.gif", True),
    ("rfc-5.1", "foobot", "/example/other.html", False),
    ("rfc-5.1", "foobot", "/publications/x", False),
    ("rfc-5.1", "barbot", "/example/page.html", False),
    ("rfc-5.1", "bazbot", "/example/page.html", False),
    ("rfc-5.1", "barbot", "/example/other.html", True),
    ("rfc-5.1", "quxbot", "/example/page.html", True),
    ("rfc-5.1", "quxbot", "/a.gif", True),
    ("rfc-5.1", "otherbot", "/a/b.gif", False),
    ("rfc-5.1", "otherbot", "/a/b.gif?size=2", True),
    ("rfc-5.1", "otherbot", "/example/x", False),
    ("rfc-5.1", "otherbot", "/publications/x", True),
    ("rfc-5.1", "otherbot", "/elsewhere", True),
    ("rfc-5.2", "foobot", "/example/page/", True),
    ("rfc-5.2", "foobot", "/example/page/disallowed.gif", False),
    ("rfc-2.2.3", "monitor", "/that/path/exactly", True),
    ("rfc-2.2.3", "monitor", "/that/path/exactly/more", False),
    ("rfc-2.2.3", "monitor", "/that/path/exactlyish", False),
    ("rfc-2.2.3", "monitor", "/this/other/exactly", True),
    ("rfc-2.2.3", "monitor", "/this/a/b/exactly/c", True),
    ("rfc-2.2.3", "monitor", "/this/exactly", False),
    ("rfc-2.2.3", "monitor", "/path/file-with-a-*.html", True),
    ("rfc-2.2.3", "monitor", "/path/file-with-a-%2a.html", True),
    ("rfc-2.2.3", "monitor", "/path/file-with-a-x.html", False),
    ("rfc-2.2.3", "monitor", "/path/foo-$", True),
    ("rfc-2.2.3", "monitor", "/path/foo-", False),
    ("rfc-2.2.3", "monitor", "/elsewhere", False),  # the comment is not part of the pattern
    ("rfc-2.2.2", "monitor", "/foo/bar/ツ", False),
    ("rfc-2.2.2", "monitor", "/foo/bar/%E3%83%84", False),
    ("rfc-2.2.2", "monitor", "/foo/bar/%e3%83%84", False),
    ("rfc-2.2.2", "monitor", "/foo/bar/baz", False),
    ("rfc-2.2.2", "monitor", "/foo/bar/%62az", False),
    ("rfc-2.2.2", "monitor", "/foo/bar/bax", True),
    ("rfc-2.2.2", "monitor", "/case/~€", False),
    ("rfc-2.2.2", "monitor", "/a%2fb", False),
    ("rfc-2.2.2", "monitor", "/a/b", True),  # RFC 3986: an escaped reserved character is not the character
    ("first-rule-broad", "monitor", "/news/a", True),
    ("first-rule-broad", "monitor", "/sport/a", False),
    ("google-p", "monitor", "/page", True),
    ("google-folder", "monitor", "/folder/page", True),
    ("google-htm", "monitor", "/page.htm", False),
    ("google-ph", "monitor", "/page.php5", True),
    ("google-root", "monitor", "/", True),
    ("google-root", "monitor", "/page.htm", False),
    ("google-agents", "googlebot-news", "/news-only/a", False),
    ("google-agents", "googlebot-news", "/all/a", True),
    ("google-agents", "googlebot-news", "/web-only/a", True),
    ("google-agents", "googlebot", "/web-only/a", False),
    ("google-agents", "googlebot", "/news-only/a", True),
    ("google-agents", "storebot-google", "/all/a", False),
    ("google-merged", "googlebot-news", "/fish", False),
    ("google-merged", "googlebot-news", "/shrimp", False),
    ("google-merged", "googlebot-news", "/carrots", True),
    ("google-merged", "otherbot", "/carrots", False),
    ("google-merged", "otherbot", "/fish", True),
    ("google-sitemap", "a", "/x", False),
    ("google-sitemap", "b", "/x", False),
    ("google-sitemap", "c", "/x", True),
    ("google-groups", "FooBot", "/x/b", True),
    ("google-groups", "FooBot", "/z/d", True),
    ("google-groups", "FooBot", "/y/c", False),
    ("google-groups", "BarBot", "/y/c", True),
    ("google-groups", "BarBot", "/w/a", True),
    ("google-groups", "BarBot", "/z/d", False),
    ("google-groups", "BazBot", "/z/d", True),
    ("google-groups", "FooBot", "/foo/bar/", False),
    ("google-groups", "foobot", "/y/c", False),
    ("not-a-substring", "monitor", "/it/a", True),
    ("not-a-substring", "monitor", "/ing/a", True),
    ("not-a-substring", "monitor", "/all/a", False),
    ("versioned", "monitor", "/x/a", False),
    ("versioned", "monitor", "/y", True),
    ("named-no-rules", "monitor", "/x", True),
    ("empty-disallow", "monitor", "/x", True),
    ("only-others", "monitor", "/x", True),
    ("empty", "monitor", "/x", True),
    ("directive-case", "monitor", "/x/y", True),
    ("directive-case", "monitor", "/a/b", False),
    ("whitespace", "monitor", "/a/b", False),
    ("bom", "monitor", "/a", False),
    ("crlf", "monitor", "/a/x", False),
    ("crlf", "monitor", "/a/b", True),
    ("cr", "monitor", "/a", False),
    ("unknown-lines", "monitor", "/a", True),
    ("unknown-lines", "monitor", "/b", False),
    ("unknown-lines", "monitor", "/c", False),
    ("unknown-lines", "monitor", "/d", True),
    ("queries", "monitor", "/list?sort=new", False),
    ("queries", "monitor", "/list", True),
    ("queries", "monitor", "/list?page=2", True),
    ("queries", "monitor", "/paper.pdf", False),
    ("queries", "monitor", "/paper.pdf/summary", True),
    ("everything", "monitor", "/robots.txt", True),
    ("everything", "monitor", "/robots.txt.bak", False),
    ("no-colon", "monitor", "/private/x", False),
    ("no-colon", "monitor", "/private/ok", True),
    ("no-colon", "monitor", "/a", True),
    ("no-colon", "otherbot", "/private/x", True),
]


@pytest.mark.parametrize(("name", "agent", "target", "allowed"), CASES, ids=[f"{n}:{a}:{t}" for n, a, t, _ in CASES])
def test_robots_txt_examples(name, agent, target, allowed):
    assert RobotsRules.parse(FILES[name], agent).allows(target) is allowed


# Google's path matching examples: each pattern, the paths it matches and those it does not.
PATTERNS = {
    "/": (["/", "/fish", "/a/b?c"], []),
    "/*": (["/", "/fish", "/a/b?c"], []),
    "/$": (["/"], ["/fish", "/?a"]),
    "/fish": (
        ["/fish", "/fish.html", "/fish/salmon.html", "/fishheads", "/fishheads/yummy.html", "/fish.php?id=anything"],
        ["/Fish.asp", "/catfish", "/?id=fish", "/desert/fish"],
    ),
    "/fish*": (["/fish", "/fish.html", "/fishheads/yummy.html"], ["/Fish.asp", "/catfish", "/?id=fish"]),
    "/fish/": (["/fish/", "/fish/?id=anything", "/fish/salmon.htm"], ["/fish", "/fish.html", "/animals/fish/"]),
    "/*.php": (
        [
            "/index.php",
            "/filename.php",
            "/folder/filename.php",
            "/folder/filename.php?parameters",
            "/folder/any.php.file.html",
            "/filename.php/",
        ],
        ["/", "/windows.PHP"],
    ),
    "/*.php$": (
        ["/filename.php", "/folder/filename.php"],
        ["/filename.php?parameters", "/filename.php/", "/filename.php5", "/windows.PHP"],
    ),
    "/fish*.php": (["/fish.php", "/fishheads/catfish.php?parameters"], ["/Fish.PHP"]),
    "*.gif$": (["/a.gif", "/b/.gif"], ["/a.gif?x", "/a.gifs"]),
    "/a$b": (["/a$b", "/a%24bc"], ["/a", "/ab"]),
    "/a*$": (["/a", "/ab/c"], ["/b"]),
    "fish": ([], ["/fish"]),  # a pattern not starting with / or * matches no path
}
PATTERN_CASES = [(p, t, True) for p, (yes, _) in PATTERNS.items() for t in yes] + [
    (p, t, False) for p, (_, no) in PATTERNS.items() for t in no
]


@pytest.mark.parametrize(("pattern", "target", "matched"), PATTERN_CASES, ids=[f"{p}:{t}" for p, t, _ in PATTERN_CASES])
def test_patterns_match_as_googles_examples_say(pattern, target, matched):
    assert Rule.compile(False, pattern).matches(normalise(target)) is matched
    assert RobotsRules.parse(f"User-agent: *\nDisallow: {pattern}\n", "monitor").allows(target) is not matched


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://user:secret@news.example:8443/a/b?c=d#top", "/a/b?c=d"),
        ("http://news.example", "/"),
        ("http://news.example?x=1", "/?x=1"),
        ("http://news.example/a?", "/a?"),
        ("http://news.example/a#frag?x", "/a"),
        ("http://news.example/caf%C3%A9;v=1?q=%2F", "/caf%C3%A9;v=1?q=%2F"),
    ],
)
def test_the_target_matched_is_the_path_and_query(url, target):
    assert request_target(url) == target


def test_an_empty_query_still_counts_as_one():
    rules = RobotsRules.parse("User-agent: *\nDisallow: /a?\n", "monitor")
    assert rules.allows(request_target("http://news.example/a?")) is False
    assert rules.allows(request_target("http://news.example/a")) is True


# Hostile files: the work done is counted, not timed.


class Counted(str):
    """A target that counts the searches made in it (each one a C-level scan of the string)."""

    def __new__(cls, text: str):
        counted = super().__new__(cls, text)
        counted.searches = 0
        return counted

    def find(self, *args):
        self.searches += 1
        return super().find(*args)

    def startswith(self, *args):
        self.searches += 1
        return super().startswith(*args)

    def endswith(self, *args):
        self.searches += 1
        return super().endswith(*args)


def test_a_pattern_of_many_wildcards_costs_one_search_per_part():
    # A backtracking translation (`a.*?a.*?...b`) would try every way of placing 8,000 `a`s.
    pattern = "/" + "*a" * 8000 + "*b"
    rule = Rule.compile(False, pattern)
    assert len(rule.parts) == 8002
    target = Counted("/" + "a" * 4000)
    assert rule.matches(target) is False
    assert 0 < target.searches <= 4002  # the head, then each `a` up to the 4,000th, then the one not found
    found = Counted("/" + "a" * 8000 + "b")
    assert rule.matches(found) is True
    assert 0 < found.searches <= len(rule.parts) + 1


def test_runs_of_wildcards_collapse_to_one():
    rule = Rule.compile(False, "/" + "*" * 100_000 + "x")
    assert rule.parts == ("/", "x")
    target = Counted("/" + "y" * 2000)
    assert rule.matches(target) is False and target.searches == 2


def test_an_over_long_line_is_cut_a_disallow_kept_as_its_start_an_allow_dropped():
    long = "/long/" + "x" * (2 * MAX_LINE)
    text = f"User-agent: *\nDisallow: /\nAllow: {long}\nDisallow: {long}/tail\nAllow: /short\n"
    rules = RobotsRules.parse(text, "monitor")
    assert all(rule.specificity <= MAX_LINE for rule in rules.rules)
    assert [rule.allow for rule in rules.rules] == [False, True, False]
    assert rules.allows(long) is False  # its allow is gone: what it said past the cut is unknown
    assert rules.allows("/long/" + "x" * 100) is False  # the disallow, cut, forbids more, never less
    assert rules.allows("/short/a") is True


def test_a_500_kib_file_of_wildcards_is_bounded_by_its_parts():
    lines = [f"Disallow: /{'*ab' * 300}*c{n}\n" for n in range(500 * 1024 // 912)]
    text = "User-agent: *\n" + "".join(lines) + "Allow: /\n"
    assert len(text) > 500 * 1024
    rules = RobotsRules.parse(text, "monitor")
    assert len(rules.rules) == len(lines) + 1
    target = normalise("/" + "ab" * 1000)
    searches = 0
    for rule in rules.rules:
        counted = Counted(target)
        assert rule.matches(counted) is rule.allow  # only `Allow: /` matches: there is no c
        searches += counted.searches
    assert 0 < searches <= sum(len(rule.parts) + 1 for rule in rules.rules)
    assert rules.allows(target) is True


# Arbitrary text: the matcher never raises.

robots_lines = st.tuples(
    st.sampled_from(["User-agent", "user-AGENT", "Allow", "Disallow", "DISALLOW", "Sitemap", "#", "", "allow "]),
    st.sampled_from([":", " : ", "", ":\t"]),
    st.text(alphabet=st.sampled_from("*$%/?#:;ab€ \t2Ff\ufeff"), max_size=12) | st.sampled_from(["*", "monitor"]),
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(robots_lines, max_size=12).map("\n".join) | st.text(),
    st.sampled_from(["monitor", "MONITOR", "", "a"]),
    st.text(alphabet=st.sampled_from("/ab*$%?#€2Ff \n"), max_size=16) | st.text(),
)
def test_any_text_reads_as_rules_and_any_target_gets_an_answer(text, agent, target):
    rules = RobotsRules.parse(text, agent)
    assert rules.allows("/" + target) in (True, False)
    assert rules.allows(target) in (True, False)


def _oracle(pattern: str, target: str) -> bool:
    """The pattern as a regular expression: fine for the small inputs here, not for a site's."""
    anchored = pattern.endswith("$")
    body = pattern.removesuffix("$")
    regex = ".*".join(re.escape(part) for part in body.split("*")) + (r"\Z" if anchored else "")
    return re.match(regex, target, re.DOTALL) is not None


@settings(max_examples=500, deadline=None)
@given(
    st.tuples(
        st.sampled_from("/*"), st.text(alphabet=st.sampled_from("/ab*"), max_size=8), st.sampled_from(["", "$"])
    ).map("".join),
    st.text(alphabet=st.sampled_from("/ab"), max_size=10).map(lambda t: "/" + t),
)
@example("/*ab*ba", "/aba")  # parts may not overlap
@example("*a*ab$", "/ab")  # nor may the anchored last part overlap those before
def test_the_leftmost_search_matches_what_a_regular_expression_would(pattern, target):
    assert Rule.compile(True, pattern).matches(target) is _oracle(pattern, target)


# Through RobotsCache, robots.txt served on 127.0.0.1.

UA = "monitor/0.1 (+https://github.com/monitor-news/monitor)"


async def _public(host: str) -> list[str]:
    return [PUBLIC]


def test_the_cache_asks_the_matcher_with_the_query(feed_server):
    feed_server.serve("/robots.txt", FILES["queries"].encode(), content_type="text/plain")

    async def go():
        fetcher = Fetcher(
            make_transport(),
            user_agent=UA,
            connect_timeout=5.0,
            concurrency=2,
            per_host=1,
            max_bytes=1024 * 1024,
            timeout=30.0,
            resolver=_public,
            network=Routed(feed_server.port),
        )
        robots = RobotsCache(fetcher, user_agent=UA, clock=Clock(NOW))
        try:
            return [
                await robots.allows(f"http://news.example{target}", AddressPolicy.of_url("http://news.example/feed"))
                for target in ("/list?sort=new", "/list", "/list?page=2#top", "/paper.pdf")
            ]
        finally:
            await fetcher.aclose()

    assert asyncio.run(go()) == [False, True, True, False]
    assert [(path, headers["host"]) for path, _, headers in feed_server.log] == [("/robots.txt", "news.example")]
