"""Where a poll's store work runs: on a thread of its own when the store can be used from one.

A poll is network and parsing (the event loop and the parser workers), then store work: the
ingest's statements, the poll recorded, feed health (and, between polls, the full-text index's
catch-up, a chunk at a time). On PostgreSQL each statement is a round trip; run on the event
loop, every fetch and parse of the other feeds would wait for the server's answer, and the
daemon and the server would take turns. On a thread of its own, the loop goes on fetching
while the server works. One thread: the units run in the order they were handed in, and
what they share (the story matcher's term counts, the rule sets) is touched from that thread
only.

SQLite's one in-process connection belongs to the thread that opened it (and its statements
hold no socket wait to win back), so there the work runs inline, as it always did.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class StoreWork:
    """Runs units of store work: `await store_work(fn, *args)`. Owned by whoever opened the
    store (runtime/assembly.py), and closed before it: `close` waits for the unit running."""

    def __init__(self, threaded: bool = False) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="monitor-store") if threaded else None

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._thread is None:
            return fn(*args, **kwargs)
        # A poll cancelled meanwhile (a stop) leaves its unit to finish: a transaction is never
        # cut in the middle, and `close` waits for it.
        return await asyncio.get_running_loop().run_in_executor(self._thread, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
