from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storykit import FEEDS, desk

from monitor.identity import TitleSignature, canonical_url, title_signature

segment = st.text(st.sampled_from("abcXYZ019-_.~%"), min_size=0, max_size=8)
param = st.tuples(
    st.sampled_from(["id", "p", "utm_source", "utm_medium", "fbclid", "gclid", "ocid", "page", "at_x", "ns_y", "q"]),
    st.text(st.sampled_from("ab12 &=/"), max_size=5),
)


@st.composite
def urls(draw):
    scheme = draw(st.sampled_from(["http", "https", "HTTPS"]))
    host = draw(st.sampled_from(["www.Example.com", "example.com", "news.example.org", "EXAMPLE.COM:443", "x.il:8080"]))
    path = "/".join(draw(st.lists(segment, max_size=4)))
    query = "&".join(f"{k}={v}" for k, v in draw(st.lists(param, max_size=4)))
    fragment = draw(st.sampled_from(["", "#top", "#"]))
    return f"{scheme}://{host}/{path}" + (f"?{query}" if query else "") + fragment


@given(urls())
def test_canonicalisation_is_idempotent(url):
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert "utm_" not in once and "fbclid" not in once and "#" not in once


@given(st.text())
def test_a_headline_signature_survives_its_stored_form(title):
    signature = title_signature(title)
    assert TitleSignature.decode(signature.encode()) == signature


ITEMS = (FEEDS / "aljazeera_all_2026-08-13T0426.xml").read_bytes()
HEAD, _, rest = ITEMS.partition(b"<item>")
BLOCKS = [b"<item>" + block for block in rest.split(b"<item>")]
TAIL = BLOCKS[-1][BLOCKS[-1].index(b"</item>") + len(b"</item>") :]
BLOCKS[-1] = BLOCKS[-1][: BLOCKS[-1].index(b"</item>") + len(b"</item>")]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.permutations(range(len(BLOCKS))), st.integers(min_value=1, max_value=3))
def test_reordering_or_repolling_a_feed_never_alerts(new_database, order, repeats):
    with tempfile.TemporaryDirectory() as tmp, desk(Path(tmp), ["f"], monitor={"database": new_database()}) as d:
        d.ingest("f", ITEMS)
        d.ingest("f", ITEMS.replace(b"<language>en</language>", b"<language>en</language>"))
        reordered = HEAD + b"".join(BLOCKS[i] for i in order) + TAIL
        for _ in range(repeats):
            outcome = d.ingest("f", reordered)
            assert (outcome.new_items, outcome.alerts) == (0, 0)
        assert d.sql("SELECT count(*) FROM alerts")[0][0] == 0
