from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.parse import parse_feed
from monitor.parsepool import ParserPool

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def run(coro):
    return asyncio.run(coro)


def test_worker_parse_equals_in_process_parse():
    body = (FEEDS / "jpost_homepage_2023-02-27.xml").read_bytes()

    async def go():
        pool = ParserPool(workers=1)
        try:
            return await pool.parse(body)
        finally:
            pool.close()

    assert run(go()) == parse_feed(body)


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


def test_parse_errors_cross_the_process_boundary_as_parse_errors():
    async def go():
        pool = ParserPool(workers=1)
        try:
            await pool.parse(b"<!DOCTYPE html><html><body>x</body></html>")
        finally:
            pool.close()

    with pytest.raises(ParseError, match="HTML page"):
        run(go())
