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
