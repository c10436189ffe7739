"""Parsing off the event loop, in worker processes that can be killed.

feedparser is pure Python: a hostile document (a megabyte title, entity tricks) can
keep it busy for minutes. Each parse gets a time budget; a worker that overruns it
is killed and replaced, so that feed fails alone and the daemon keeps its schedule.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
from multiprocessing.context import BaseContext

from .derive import with_facts
from .errors import MonitorError, ParseError
from .models import ParsedFeed


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """Worker loop: (body, url, content_type) in, ("ok", ParsedFeed) or ("error", message) out."""
    # Imported here, in the worker (the forkserver preloads it): the main process never parses
    # when it has a pool, and feedparser + lxml cost ~30 ms of its start-up.
    from .parse import parse_feed

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        try:
            conn.send(("ok", with_facts(parse_feed(*request))))
        except MonitorError as exc:
            conn.send(("error", exc.message))
        except Exception as exc:  # a parser bug must fail the feed, not the worker
            conn.send(("error", f"the parser failed: {type(exc).__name__}: {exc}"[:500]))


class _Worker:
    def __init__(self, ctx: BaseContext) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child,), daemon=True, name="monitor-parser")
        self.process.start()
        child.close()
        self.parses = 0

    def call(self, request: tuple[bytes, str, str], budget: float) -> tuple[str, object] | None:
        """Blocking: the worker's answer, or None when it overran the budget or died."""
        try:
            self.conn.send(request)
            if not self.conn.poll(budget):
                return None
            return self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            return None

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2)
        self.conn.close()


class ParserPool:
    """`await pool.parse(body, url, content_type)` with at most `workers` parses at once."""

    def __init__(
        self, workers: int = 2, budget: float = 20.0, ctx: BaseContext | None = None, recycle_after: int = 1000
    ) -> None:
        self.budget = budget
        self.size = workers
        # A worker is replaced by a fresh one after this many parses: its heap, fragmented by
        # documents of every size, kept growing (~2 MB per 1,000 parses); a new one costs ~50 ms.
        self.recycle_after = recycle_after
        # forkserver: workers start from a clean process, not a copy of a threaded daemon.
        self.ctx = ctx or multiprocessing.get_context("forkserver")
        if hasattr(self.ctx, "set_forkserver_preload"):
            self.ctx.set_forkserver_preload(["monitor.parse"])
        self._idle: asyncio.Queue[_Worker] | None = None
        self._all: list[_Worker] = []

    async def _checkout(self) -> _Worker:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.size):
                self._idle.put_nowait(await asyncio.to_thread(self._spawn))
        return await self._idle.get()

    def _spawn(self) -> _Worker:
        worker = _Worker(self.ctx)
        self._all.append(worker)
        return worker

    async def parse(self, body: bytes, url: str = "", content_type: str = "") -> ParsedFeed:
        worker = await self._checkout()
        answer = await asyncio.to_thread(worker.call, (body, url, content_type), self.budget)
        worker.parses += 1
        if answer is None or worker.parses >= self.recycle_after:
            await asyncio.to_thread(worker.kill if answer is None else worker.stop)
            self._all.remove(worker)
            worker = await asyncio.to_thread(self._spawn)
        assert self._idle is not None
        self._idle.put_nowait(worker)
        if answer is None:
            raise ParseError(
                f"parsing took longer than {self.budget:g}s and was stopped; the document is too large or hostile"
            )
        kind, value = answer
        if kind == "error":
            raise ParseError(str(value))
        assert isinstance(value, ParsedFeed)
        return value

    def close(self) -> None:
        for worker in self._all:
            worker.stop()
        self._all.clear()
        self._idle = None
