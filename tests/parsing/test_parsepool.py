from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.parsing.feed import parse_feed
from monitor.parsing.pool import WORKER_NICENESS, ParserPool

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"


def run(coro):
    return asyncio.run(coro)


def parse_in_pool(body: bytes, **pool_options):
    """One parse through a real one-worker pool, closed afterwards."""

    async def go():
        pool = ParserPool(workers=1, **pool_options)
        try:
            return await pool.parse(body)
        finally:
            pool.close()

    return run(go())


def test_worker_parse_equals_in_process_parse():
    body = (FEEDS / "jpost_homepage_2023-02-27.xml").read_bytes()

    assert parse_in_pool(body) == parse_feed(body)


def test_a_first_document_s_items_come_with_their_index_texts_and_a_later_one_s_without():
    from monitor.parsing.facts import search_text

    body = (FEEDS / "jpost_homepage_2023-02-27.xml").read_bytes()

    async def go():
        pool = ParserPool(workers=1)
        try:
            return await pool.parse(body, index=True), await pool.parse(body)
        finally:
            pool.close()

    first, later = run(go())
    assert [f.index_text for f in first.facts] == [search_text(i.title, i.summary) for i in first.items]
    assert all(f.index_text for f in first.facts) and not any(f.index_text for f in later.facts)


def test_workers_run_below_the_event_loop_priority():
    body = (FEEDS / "jpost_homepage_2023-02-27.xml").read_bytes()

    async def go():
        pool = ParserPool(workers=2)
        try:
            await asyncio.gather(pool.parse(body), pool.parse(body))  # one to each: both have begun serving
            return [os.getpriority(os.PRIO_PROCESS, w.process.pid) for w in pool._all]
        finally:
            pool.close()

    assert run(go()) == [min(os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS, 19)] * 2


def test_overrunning_parse_is_killed_and_the_pool_carries_on():
    hostile = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item><title>'
    hostile += b"a" * 5_000_000 + b"</title></item></channel></rss>"
    good = (FEEDS / "wsj_world-news_2021-10-17.xml").read_bytes()

    async def go():
        pool = ParserPool(workers=1, budget=0.02)
        try:
            with pytest.raises(ParseError) as err:
                await pool.parse(hostile)
            assert "longer than 0.02s and was stopped" in err.value.message
            pool.budget = 30
            return await pool.parse(good)
        finally:
            pool.close()

    assert len(run(go()).items) == 6


def test_a_worker_is_replaced_after_recycle_after_parses_and_parsing_carries_on():
    body = (FEEDS / "wsj_world-news_2021-10-17.xml").read_bytes()

    async def go():
        pool = ParserPool(workers=1, recycle_after=2)
        try:
            results = [await pool.parse(body) for _ in range(5)]
            return results, pool.spawned, len(pool._all)
        finally:
            pool.close()

    results, spawned, workers = run(go())
    assert all(r == parse_feed(body) for r in results)
    # Worker A parses the first two, B the next two, C the fifth.
    assert spawned == 3 and workers == 1


def test_a_hostile_document_fails_alone_among_many_and_the_one_queued_behind_it_is_parsed():
    # ~60,000 items: seconds of parsing, far beyond the budget; a good feed takes milliseconds.
    hostile = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        + b"".join(b"<item><title>t %d</title><link>http://x.org/%d</link></item>" % (i, i) for i in range(60_000))
        + b"</channel></rss>"
    )
    good = (FEEDS / "wsj_world-news_2021-10-17.xml").read_bytes()

    async def go():
        pool = ParserPool(workers=2, budget=0.5)
        try:
            # The hostile one goes to worker A, the next to B, the third waits in A's socket
            # behind the hostile one: it must reach another worker, not fail with it.
            results = await asyncio.gather(
                *(pool.parse(hostile if n == 0 else good) for n in range(8)), return_exceptions=True
            )
            for _ in range(600):  # A's replacement starts beside the parses, not before them
                if len(pool._all) == 2:
                    break
                await asyncio.sleep(0.05)
            return results, pool.spawned, len(pool._all)
        finally:
            pool.close()

    results, spawned, workers = run(go())
    assert isinstance(results[0], ParseError) and "longer than 0.5s and was stopped" in results[0].message
    assert results[1:] == [parse_feed(good)] * 7
    assert (spawned, workers) == (3, 2)  # A, B, and A's replacement


def test_parse_errors_cross_the_process_boundary_as_parse_errors():
    async def go():
        pool = ParserPool(workers=1)
        try:
            await pool.parse(b"<!DOCTYPE html><html><body>x</body></html>")
        finally:
            pool.close()

    with pytest.raises(ParseError, match="HTML page"):
        run(go())


def test_the_worker_ships_what_ingest_derives_from_each_item():
    from monitor.parsing.facts import item_facts

    body = (FEEDS / "guardian_world_2016-06-14.xml").read_bytes()

    parsed = parse_in_pool(body)
    assert len(parsed.facts) == len(parsed.items) > 0
    assert parsed.facts == tuple(item_facts(i) for i in parsed.items)


def test_ingest_stores_and_alerts_the_same_with_or_without_the_workers_facts(tmp_path, feed_server, fixture_bytes):
    import sqlite3

    from fetchkit import NOW, Clock, config_file, poll

    from monitor.parsing.facts import search_text
    from monitor.polling.pipeline import parse_in_thread
    from monitor.store import SQLiteStore

    async def without_facts(body, url, content_type, index=False):
        return parse_feed(body, url, content_type)

    results = []
    for name, parser in (("plain", without_facts), ("facts", parse_in_thread)):
        folder = tmp_path / name
        folder.mkdir()
        url = feed_server.serve(f"/{name}.xml", fixture_bytes("story/toi_v1.xml"))
        path = config_file(folder, {"toi": url}, monitor={"database": str(folder / "m.db")})
        clock = Clock(NOW)
        first, _ = poll(path, "toi", clock=clock, parser=parser)
        feed_server.serve(f"/{name}.xml", fixture_bytes("story/toi_v2.xml"))
        clock.now += 600
        second, _ = poll(path, "toi", clock=clock, parser=parser)
        store = SQLiteStore(folder / "m.db")
        assert sum(store.index_pending(search_text)) == first.new_items + second.new_items  # the index a step behind
        store.close()
        db = sqlite3.connect(folder / "m.db")
        rows = db.execute("SELECT key, fts, canonical_url, content_hash, tags FROM items ORDER BY key").fetchall()
        stories = db.execute("SELECT id, canonical_url, signature FROM stories ORDER BY id").fetchall()
        hits = db.execute("SELECT count(*) FROM items_fts WHERE items_fts MATCH 'the'").fetchone()
        db.close()
        results.append((first.new_items, second.new_items, second.changed_items, second.alerts, rows, stories, hits))
    assert results[0] == results[1]
    assert results[0][3] > 0 and results[0][4]  # the second poll alerted: rules ran on worker-derived items
    assert all(signature for _, _, signature in results[0][5])


def test_the_workers_fast_full_text_index_text_equals_the_documents_on_every_fixture():
    from monitor.rules import Document
    from monitor.rules.document import fts_text

    compared = 0
    for path in sorted(FEEDS.iterdir()):
        try:
            parsed = parse_feed(path.read_bytes())
        except ParseError:
            continue
        for i in parsed.items:
            values = {"title": i.title, "summary": i.summary}
            assert fts_text(values) == Document.build(values).fts_text(), (path.name, i.key)
            compared += 1
    assert compared > 2000


def test_an_answer_that_cannot_be_read_fails_its_document_and_the_pool_carries_on(monkeypatch):
    import monitor.parsing.pool as parsepool

    body = (FEEDS / "wsj_world-news_2021-10-17.xml").read_bytes()
    real_loads, calls = parsepool.pickle.loads, []

    def loads_failing_once(data):
        value = real_loads(data)
        if isinstance(value, tuple) and value[:1] == ("ok",) and not calls:  # the first answer only
            calls.append(value)
            raise ValueError("truncated")
        return value

    monkeypatch.setattr(parsepool.pickle, "loads", loads_failing_once)

    async def go():
        pool = ParserPool(workers=1)
        try:
            with pytest.raises(ParseError, match="answer could not be read: ValueError: truncated"):
                await pool.parse(body)
            return await pool.parse(body)
        finally:
            pool.close()

    assert run(go()) == parse_feed(body)


def test_the_forkserver_preloads_the_parser_by_a_name_that_imports():
    # The forkserver skips a preload it cannot import without a word: a module renamed under
    # it would leave every new worker to import feedparser and lxml itself.
    import importlib

    class RecordingContext:
        def set_forkserver_preload(self, names):
            self.preload = list(names)

    ctx = RecordingContext()
    ParserPool(workers=1, ctx=ctx)
    assert ctx.preload
    for name in ctx.preload:
        assert hasattr(importlib.import_module(name), "parse_feed"), name


ARTICLES = Path(__file__).parents[1] / "fixtures" / "articles" / "pages"
# An article page whose extraction takes seconds (trafilatura is quadratic in sibling tables).
SLOW_PAGE = b"<html><body>" + b"<table><tr><td>x y z</td></tr></table>" * 20_000 + b"</body></html>"


def completion_order(pool, requests):
    """Run (name, coroutine function) requests at once; the names in the order they finished
    (a ParseError counts as finishing)."""
    order = []

    async def one(name, ask):
        try:
            await ask()
        except ParseError:
            pass
        order.append(name)

    return order, asyncio.gather(*(one(name, ask) for name, ask in requests))


def test_an_article_is_extracted_in_a_worker_as_in_the_process():
    from monitor.parsing.article import extract_body

    html = (ARTICLES / "062.html").read_bytes()
    url = "https://www.japantimes.co.jp/news/2020/02/18/national/crime-legal/6000-surgical-masks-stolen/"

    async def go():
        pool = ParserPool(workers=1)
        try:
            return await pool.extract(html, url, 2_000)
        finally:
            pool.close()

    body = run(go())
    assert body == extract_body(html, url, 2_000)
    assert "shortage of face masks" in body


def test_an_article_error_crosses_the_process_boundary_with_its_hint():
    from monitor.parsing.article import NOT_HTML_HINT

    async def go():
        pool = ParserPool(workers=1)
        try:
            await pool.extract(b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n", "https://news.example/a.pdf", 1_000)
        finally:
            pool.close()

    with pytest.raises(ParseError) as err:
        run(go())
    assert err.value.message == "not an HTML page: a PDF document"
    assert err.value.hint == NOT_HTML_HINT


def test_a_feed_queued_after_articles_is_parsed_before_the_articles_still_waiting():
    article = (ARTICLES / "040.html").read_bytes()
    feed = (FEEDS / "wsj_world-news_2021-10-17.xml").read_bytes()

    async def go():
        pool = ParserPool(workers=1)
        try:
            await pool.start()
            requests = [(f"article {n}", lambda: pool.extract(article, "", 10_000)) for n in range(4)]
            order, done = completion_order(pool, [*requests, ("feed", lambda: pool.parse(feed))])
            await done
            return order
        finally:
            pool.close()

    # The first article was in the worker already; the feed goes next, ahead of the other three.
    assert run(go()) == ["article 0", "feed", "article 1", "article 2", "article 3"]


def test_a_feed_never_waits_in_a_worker_behind_an_article():
    article = (ARTICLES / "040.html").read_bytes()
    feed = (FEEDS / "wsj_world-news_2021-10-17.xml").read_bytes()

    async def go():
        pool = ParserPool(workers=2)
        try:
            # Both workers have read an article (and imported the extractor) before the budget shrinks.
            await asyncio.gather(pool.extract(article, "", 100), pool.extract(article, "", 100))
            pool.budget = 2
            order, done = completion_order(
                pool,
                [
                    ("slow article", lambda: pool.extract(SLOW_PAGE, "", 10_000)),  # worker A, until stopped
                    ("article 1", lambda: pool.extract(article, "", 10_000)),  # worker B
                    ("article 2", lambda: pool.extract(article, "", 10_000)),
                    ("feed", lambda: pool.parse(feed)),  # not behind the slow article: B's, next
                ],
            )
            await done
            return order
        finally:
            pool.close()

    assert run(go()) == ["article 1", "feed", "article 2", "slow article"]


def test_an_article_overrunning_the_budget_fails_alone_and_the_pool_carries_on():
    article = (ARTICLES / "040.html").read_bytes()
    good = (FEEDS / "wsj_world-news_2021-10-17.xml").read_bytes()

    async def go():
        pool = ParserPool(workers=2)
        try:
            await asyncio.gather(pool.extract(article, "", 100), pool.extract(article, "", 100))
            pool.budget = 0.5
            results = await asyncio.gather(
                pool.extract(SLOW_PAGE, "", 10_000),
                *(pool.parse(good) for _ in range(4)),
                pool.extract(article, "", 10_000),
                return_exceptions=True,
            )
            for _ in range(600):  # the slow one's replacement starts beside the others, not before them
                if len(pool._all) == 2:
                    break
                await asyncio.sleep(0.05)
            return results, pool.spawned, len(pool._all)
        finally:
            pool.close()

    from monitor.parsing.article import ARTICLE_HINT, extract_body

    results, spawned, workers = run(go())
    slow = results[0]
    assert isinstance(slow, ParseError)
    assert slow.message == (
        "extracting the article took longer than 0.5s and was stopped; the document is too large or hostile"
    )
    assert slow.hint == ARTICLE_HINT
    assert results[1:5] == [parse_feed(good)] * 4
    assert results[5] == extract_body(article, "", 10_000)
    assert (spawned, workers) == (3, 2)


def test_the_forkserver_preloads_the_extractor_only_for_a_pool_that_will_extract_articles():
    import importlib

    class RecordingContext:
        def set_forkserver_preload(self, names):
            self.preload = list(names)

    feeds_only, with_articles = RecordingContext(), RecordingContext()
    ParserPool(workers=1, ctx=feeds_only)
    ParserPool(workers=1, ctx=with_articles, articles=True)

    assert "trafilatura" not in feeds_only.preload
    assert set(with_articles.preload) == {*feeds_only.preload, "trafilatura"}
    assert hasattr(importlib.import_module("trafilatura"), "extract")
