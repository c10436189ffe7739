"""Where a poll's store work runs: on a thread of its own when the store can be used from one.

A poll is network and parsing (the event loop and the parser workers), then store work: the
ingest's statements, the poll recorded, feed health (and, between polls, the full-text index's
catch-up, a chunk at a time). On PostgreSQL each statement is a round trip; run on the event
loop, every fetch and parse of the other feeds would wait for the server's answer, and the
daemon and the server would take turns. On a thread of its own, the loop goes on fetching
while the server works. One thread: the units run in the order they were handed in, and
what they share (the story matcher's term counts, the rule sets) is touched from that thread
only.

That thread is where a cycle waits: every poll's store work passes through it, one round
trip after another. Work that many polls hand in alike (a 304's record) is therefore taken
together: the unit that starts first does what every poll of its kind has handed in by then.

SQLite's one in-process connection belongs to the thread that opened it (and its statements
hold no socket wait to win back), so there the work runs inline, as it always did.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A")

# Store work for many at once: each argument's result, or the exception its caller gets, in order.
Batch = Callable[[list[A]], Sequence[T | BaseException]]


class StoreWork:
    """Runs units of store work: `await store_work(fn, *args)`, or `await store_work.together(fn,
    arg)`. Owned by whoever opened the store (runtime/assembly.py), and closed before it: `close`
    waits for the unit running and for those handed in."""

    def __init__(self, threaded: bool = False) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="monitor-store") if threaded else None
        self._lock = threading.Lock()
        self._waiting: dict[Any, list[tuple[Any, asyncio.Future[Any]]]] = {}  # by batch function

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._thread is None:
            return fn(*args, **kwargs)
        # A poll cancelled meanwhile (a stop) leaves its unit to finish: a transaction is never
        # cut in the middle, and `close` waits for it.
        return await asyncio.get_running_loop().run_in_executor(self._thread, functools.partial(fn, *args, **kwargs))

    async def together(self, batch: Batch[A, T], arg: A) -> T:
        """`batch([arg, ...])[0]`, with every other `arg` handed to the same `batch` before its unit
        started: one unit, and its round trips, for all of them. Inline, a batch of one."""
        if self._thread is None:
            return _result(batch([arg])[0])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            waiting = self._waiting.setdefault(batch, [])
            waiting.append((arg, future))
            first = len(waiting) == 1
        if first:
            try:
                self._thread.submit(self._run_together, loop, batch)
            except RuntimeError:  # closed: no unit will take this batch, so the next caller must not join it
                with self._lock:
                    del self._waiting[batch]
                raise
        return await future  # cancelled (a stop): its record is still written, as a unit's is

    def _run_together(self, loop: asyncio.AbstractEventLoop, batch: Batch[Any, Any]) -> None:
        with self._lock:
            waiting = self._waiting.pop(batch)  # what arrives from now on starts a unit of its own
        try:
            results: Sequence[Any] = batch([arg for arg, _ in waiting])
        except BaseException as exc:  # every caller gets it, as each would have alone
            results = [exc] * len(waiting)
        for (_, future), result in zip(waiting, results, strict=True):
            loop.call_soon_threadsafe(_settle, future, result)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)


def _result(result: T | BaseException) -> T:
    if isinstance(result, BaseException):
        raise result
    return result


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():  # its caller was cancelled meanwhile
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
