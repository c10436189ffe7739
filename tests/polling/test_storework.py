"""A poll's store work runs on a thread of its own where the store allows it (PostgreSQL), so the
event loop goes on while the database works or waits; inline where it does not (SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import pytest
from testkit import RIFT, write_config

from monitor.config import load_config
from monitor.polling.storework import StoreWork
from monitor.runtime.assembly import assemble
from monitor.runtime.daemon import run_once
from monitor.store import open_store

WAIT = 20.0  # a deadlock detector, not a timing assertion: only a blocked event loop waits this long


def test_inline_work_runs_on_the_loops_thread_and_raises_there():
    async def go():
        work = StoreWork()
        assert await work(threading.get_ident) == threading.get_ident()
        with pytest.raises(ZeroDivisionError):
            await work(lambda: 1 / 0)

    asyncio.run(go())


def test_threaded_work_leaves_the_loop_free_while_it_waits():
    work = StoreWork(threaded=True)
    loop_ran = threading.Event()

    def unit_that_waits_for_the_loop() -> int:
        # Something on the event loop must run before this unit can finish.
        return threading.get_ident() if loop_ran.wait(WAIT) else 0

    async def go():
        unit = asyncio.ensure_future(work(unit_that_waits_for_the_loop))
        await asyncio.sleep(0)
        loop_ran.set()
        return await unit

    try:
        ran_on = asyncio.run(go())
    finally:
        work.close()
    assert ran_on not in (0, threading.get_ident())


def test_closing_waits_for_the_unit_running_and_errors_reach_the_caller():
    work = StoreWork(threaded=True)
    done: list[str] = []

    def slow() -> None:
        time.sleep(0.2)
        done.append("committed")

    async def go():
        with pytest.raises(ZeroDivisionError):
            await work(lambda: 1 / 0)
        task = asyncio.ensure_future(work(slow))
        await asyncio.sleep(0.05)
        task.cancel()  # a stop: the poll is cancelled, its transaction is not cut

    asyncio.run(go())
    work.close()
    assert done == ["committed"]


def test_work_handed_in_together_while_the_thread_is_busy_is_done_in_one_unit():
    work = StoreWork(threaded=True)
    busy = threading.Event()
    batches: list[list[str]] = []

    def record(names: list[str]) -> list[str | Exception]:
        batches.append(names)
        return [ValueError(name) if name == "bad" else name.upper() for name in names]

    async def go():
        unit = asyncio.ensure_future(work(busy.wait, WAIT))  # the thread is busy with another poll's unit
        calls = [asyncio.ensure_future(work.together(record, name)) for name in ("wire", "bad", "post")]
        await asyncio.sleep(0)
        busy.set()
        await unit
        results = await asyncio.gather(*calls, return_exceptions=True)
        later = await work.together(record, "desk")  # handed in after: a unit of its own
        return results, later

    try:
        results, later = asyncio.run(go())
    finally:
        work.close()
    assert batches == [["wire", "bad", "post"], ["desk"]]
    # Each caller gets its own result; one's fault is its own.
    assert results[0] == "WIRE" and results[2] == "POST" and later == "DESK"
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad"


def test_a_unit_done_together_that_fails_fails_each_of_its_callers_and_inline_it_is_a_unit_of_one():
    def failing(names: list[str]) -> list[str]:
        raise ZeroDivisionError(len(names))

    work = StoreWork(threaded=True)

    async def go(work: StoreWork) -> list[object]:
        calls = [asyncio.ensure_future(work.together(failing, name)) for name in ("wire", "post")]
        return await asyncio.gather(*calls, return_exceptions=True)

    try:
        outcomes = asyncio.run(go(work))
    finally:
        work.close()
    assert [type(o) for o in outcomes] == [ZeroDivisionError, ZeroDivisionError]

    inline: list[list[str]] = []

    async def inline_go() -> list[str]:
        work = StoreWork()
        return [await work.together(lambda names: inline.append(names) or names, name) for name in ("a", "b")]

    assert asyncio.run(inline_go()) == ["a", "b"] and inline == [["a"], ["b"]]


def test_work_handed_in_together_once_closed_is_refused_every_time():
    work = StoreWork(threaded=True)
    work.close()

    def record(names: list[str]) -> list[str]:
        return names

    async def go():
        for _ in range(2):  # the first refusal leaves no batch behind for the next to wait on
            with pytest.raises(RuntimeError):
                await asyncio.wait_for(work.together(record, "wire"), WAIT)

    asyncio.run(go())


def _waiting_for_the_lock(store) -> bool:
    rows = store.conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    return rows.fetchone()[0] > 0


def test_on_postgresql_the_loop_runs_while_a_poll_waits_for_the_write_lock(
    tmp_path, postgres_url, feed_server, fixture_bytes
):
    url = feed_server.serve("/toi.xml", fixture_bytes("story/toi_v1.xml"))
    path = write_config(
        tmp_path,
        feeds={"toi": url},
        monitor={"database": postgres_url},
        rules=[{"name": "rift", "query": RIFT, "notify": ["screen"]}],
    )
    other = open_store(postgres_url, node="other:1")  # another node, holding the write lock
    closing_other = contextlib.closing(other)
    seen: dict[str, bool] = {}

    def hold_the_lock(loop: asyncio.AbstractEventLoop) -> None:
        with other.transaction():  # takes the lock
            deadline = time.monotonic() + WAIT
            while not _waiting_for_the_lock(other) and time.monotonic() < deadline:
                time.sleep(0.01)
            seen["poll waited for the lock"] = _waiting_for_the_lock(other)
            answered = threading.Event()
            loop.call_soon_threadsafe(answered.set)
            seen["loop ran meanwhile"] = answered.wait(WAIT)

    async def go():
        async with assemble(load_config(path, env={})) as assembly:
            holder = threading.Thread(target=hold_the_lock, args=(asyncio.get_running_loop(),))
            holder.start()
            try:
                return await run_once(assembly.pipeline)
            finally:
                await asyncio.to_thread(holder.join)

    with closing_other:
        summary = asyncio.run(go())
    assert seen == {"poll waited for the lock": True, "loop ran meanwhile": True}
    assert summary.outcomes[0].baseline and summary.outcomes[0].new_items == 3
