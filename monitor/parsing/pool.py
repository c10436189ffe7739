"""Parsing off the event loop, in worker processes that can be killed.

feedparser is pure Python: a hostile document (a megabyte title, entity tricks) can
keep it busy for minutes. Each parse gets a time budget; a worker that overruns it
is killed and replaced, so that feed fails alone and the daemon keeps its schedule.

Each worker holds up to two documents: the one it parses and the next, already waiting in
its socket, so it never idles while the event loop ingests the last answer (in a cold cycle
the workers waited so about half of their time). The loop reads and writes the workers'
sockets itself, as asyncio streams: no thread hands documents over.

The same workers extract the main text of article pages (`fulltext` feeds). A feed is what
the schedule waits on, an article only adds to an alert, so feeds go first: articles wait
in a queue of their own, and one goes only to a worker holding nothing, so that no feed is
ever sent behind an article.
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing
import multiprocessing.connection
import os
import pickle
import socket
import struct
from multiprocessing.context import BaseContext
from typing import Any

from ..errors import MonitorError, ParseError
from ..models import ParsedFeed
from .article import ARTICLE_HINT
from .facts import with_facts

WORKER_NICENESS = 5  # added to the parent's


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """Worker loop: a request in (FEED or INDEXED_FEED, body, url, content_type) or (ARTICLE, html, url,
    max_chars), ("ok", ParsedFeed or the article's text) or ("error", message, hint) out."""
    # Imported here, in the worker (the forkserver preloads it): the main process never parses
    # when it has a pool, and feedparser + lxml cost ~30 ms of its start-up.
    from .article import extract_body
    from .feed import parse_feed

    try:
        # Below the event loop, which fetches and stores what they parse: when the two cores
        # are short, the loop (the one process every feed passes through) goes first.
        os.nice(WORKER_NICENESS)
    except OSError:  # refused (a sandbox's SystemCallErrorNumber=): parse at the loop's priority
        pass
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        kind, document, url, detail = request
        try:
            if kind == ARTICLE:
                conn.send(("ok", extract_body(document, url, detail)))
            else:
                conn.send(("ok", with_facts(parse_feed(document, url, detail), index=kind == INDEXED_FEED)))
        except MonitorError as exc:
            conn.send(("error", exc.message, exc.hint))
        except Exception as exc:  # a parser bug must fail the document, not the worker
            what = "extractor" if kind == ARTICLE else "parser"
            conn.send(("error", f"the {what} failed: {type(exc).__name__}: {exc}"[:500], ""))


# What a request asks of a worker: a feed's items, those and their index texts, an article.
FEED, INDEXED_FEED, ARTICLE = "feed", "indexed feed", "article"
# (kind, document, url, and for a feed its Content-Type, for an article its max_chars)
Request = tuple[str, bytes, str, str | int]
DEPTH = 2  # documents a worker holds: the one it parses and the next
ARTICLE_PRELOAD = "trafilatura"  # ~340 ms to import, once in the forkserver instead of in each worker


def _hint(job: _Job) -> str | None:
    """What to do about a failed job (None: ParseError's own, about feeds)."""
    return ARTICLE_HINT if job.kind == ARTICLE else None


class _Job:
    __slots__ = ("answer", "request")

    def __init__(self, request: Request, answer: asyncio.Future[Any]) -> None:
        self.request = request
        self.answer = answer

    @property
    def kind(self) -> str:
        return self.request[0]


class _Worker:
    """A parser process and the loop's end of its socket, which speaks the framing of
    multiprocessing.Connection (the worker's end is one)."""

    def __init__(self, ctx: BaseContext) -> None:
        conn, child = ctx.Pipe()
        # every concrete context has Process (typeshed declares it on each, not on BaseContext)
        self.process = ctx.Process(target=_serve, args=(child,), daemon=True, name="monitor-parser")  # type: ignore[attr-defined]
        self.process.start()
        child.close()
        self.sock = socket.socket(fileno=os.dup(conn.fileno()))
        conn.close()
        self.sent: collections.deque[_Job] = collections.deque()  # in the order it answers them
        self.parses = 0
        self.deadline: asyncio.TimerHandle | None = None  # the budget of the document it parses
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None  # reads its answers

    def send(self, job: _Job) -> None:
        payload = pickle.dumps(job.request, protocol=pickle.HIGHEST_PROTOCOL)
        size = len(payload)
        assert self.writer is not None
        self.writer.write(struct.pack("!i", size) if size <= 0x7FFFFFFF else struct.pack("!iQ", -1, size))
        self.writer.write(payload)
        self.sent.append(job)

    async def answer(self) -> object:
        assert self.reader is not None
        (size,) = struct.unpack("!i", await self.reader.readexactly(4))
        if size == -1:
            (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return pickle.loads(await self.reader.readexactly(size))

    def disconnect(self) -> None:
        """Close the loop's end; the worker reads EOF and exits (unless it is busy: kill it)."""
        if self.deadline is not None:
            self.deadline.cancel()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            if self.writer is not None:
                self.writer.transport.abort()
        except RuntimeError:  # the loop is gone already
            self.sock.close()


class ParserPool:
    """`await pool.parse(body, url, content_type)` and `await pool.extract(html, url, max_chars)`
    with at most `workers` at once.

    `articles`: articles will be extracted (some feed is `fulltext`): the forkserver then
    imports trafilatura once, and each worker forked from it has it at no cost. Without, a
    worker imports it at its first article (~0.25 s of CPU, again in every recycled worker),
    and a pool that never sees an article does not carry it (~10 MB over the workers)."""

    def __init__(
        self,
        workers: int = 2,
        budget: float = 20.0,
        ctx: BaseContext | None = None,
        recycle_after: int = 1000,
        articles: bool = False,
    ) -> None:
        self.budget = budget
        self.size = workers
        # A worker is replaced by a fresh one after this many parses: its heap, fragmented by
        # documents of every size, keeps growing, and a new worker is cheap (a fork).
        self.recycle_after = recycle_after
        # forkserver: workers start from a clean process, not a copy of a threaded daemon.
        self.ctx = ctx or multiprocessing.get_context("forkserver")
        if hasattr(self.ctx, "set_forkserver_preload"):
            self.ctx.set_forkserver_preload(["monitor.parsing.feed", *([ARTICLE_PRELOAD] if articles else [])])
        self.spawned = 0  # worker processes started so far (recycled and killed ones are replaced)
        self._all: list[_Worker] = []
        self._queue: collections.deque[_Job] = collections.deque()  # feeds not sent to a worker yet
        self._articles: collections.deque[_Job] = collections.deque()  # articles not sent yet
        self._starting: asyncio.Task[None] | None = None
        self._replacing: set[asyncio.Task[None]] = set()

    def start(self) -> asyncio.Task[None]:
        """Start the workers (in the background, on the running loop) if they are not yet:
        the first parse does, or a caller that knows parses are coming, earlier."""
        if self._starting is None:
            self._starting = asyncio.create_task(self._add_workers(self.size))
        return self._starting

    async def parse(self, body: bytes, url: str = "", content_type: str = "", index: bool = False) -> ParsedFeed:
        """`index`: the items' index texts too (facts.item_facts)."""
        value = await self._ask(self._queue, (INDEXED_FEED if index else FEED, body, url, content_type))
        assert isinstance(value, ParsedFeed)
        return value

    async def extract(self, html: bytes, url: str, max_chars: int) -> str:
        """parsing.article.extract_body in a worker, under the same budget. Raises ParseError
        (not a page, or extraction overran the budget and was stopped)."""
        value = await self._ask(self._articles, (ARTICLE, html, url, max_chars))
        assert isinstance(value, str)
        return value

    async def _ask(self, queue: collections.deque[_Job], request: Request) -> object:
        await asyncio.shield(self.start())
        job = _Job(request, asyncio.get_running_loop().create_future())
        queue.append(job)
        self._dispatch()
        answer = await job.answer
        if answer[0] == "error":
            raise ParseError(str(answer[1]), hint=answer[2] or _hint(job))
        return answer[1]

    async def _add_workers(self, count: int) -> None:
        for _ in range(count):
            worker = await asyncio.to_thread(_Worker, self.ctx)  # ~50 ms: a fork of the forkserver
            worker.reader, worker.writer = await asyncio.open_unix_connection(sock=worker.sock)
            worker.task = asyncio.create_task(self._read_answers(worker))
            self._all.append(worker)
            self.spawned += 1
            self._dispatch()

    def _dispatch(self) -> None:
        """Queued feeds go to idle workers first, then one more behind each busy one (not
        behind an article); then articles, one to each worker that holds nothing. Never more
        to a worker than it parses before it is recycled."""
        for depth in range(1, DEPTH + 1):
            for worker in self._all:
                if worker.sent and worker.sent[0].kind == ARTICLE:
                    continue
                while self._queue and len(worker.sent) < min(depth, self.recycle_after - worker.parses):
                    self._send(worker, self._queue.popleft())
        for worker in self._all:
            while self._articles and not worker.sent and worker.parses < self.recycle_after:
                self._send(worker, self._articles.popleft())

    def _send(self, worker: _Worker, job: _Job) -> None:
        if job.answer.done():  # its caller was cancelled
            return
        worker.send(job)
        if len(worker.sent) == 1:
            self._start_budget(worker)

    def _start_budget(self, worker: _Worker) -> None:
        worker.deadline = asyncio.get_running_loop().call_later(self.budget, self._overran, worker)

    async def _read_answers(self, worker: _Worker) -> None:
        try:
            while True:
                answer = await worker.answer()
                job = worker.sent.popleft()
                worker.parses += 1
                assert worker.deadline is not None
                worker.deadline.cancel()
                if worker.sent:  # the next document, already in its socket, is parsed from now
                    self._start_budget(worker)
                if not job.answer.done():
                    job.answer.set_result(answer)
                if worker.parses >= self.recycle_after:
                    self._replace(worker)
                self._dispatch()
        except (asyncio.IncompleteReadError, ConnectionError):
            self._replace(worker, f"the parser process died (exit code {worker.process.exitcode})")
        except Exception as exc:  # an answer that cannot be read: fail its document, not the pool
            self._replace(worker, f"the parser's answer could not be read: {type(exc).__name__}: {exc}"[:500])

    def _overran(self, worker: _Worker) -> None:
        what = "extracting the article" if worker.sent and worker.sent[0].kind == ARTICLE else "parsing"
        self._replace(
            worker, f"{what} took longer than {self.budget:g}s and was stopped; the document is too large or hostile"
        )

    def _replace(self, worker: _Worker, failure: str | None = None) -> None:
        """Retire a worker (recycled, or killed with `failure` for the document it parses; the
        one queued behind it goes to another worker) and start a fresh one."""
        if worker not in self._all:
            return
        self._all.remove(worker)
        worker.disconnect()
        if failure is not None:
            worker.process.kill()
            if worker.sent:
                job = worker.sent.popleft()
                if not job.answer.done():
                    job.answer.set_exception(ParseError(failure, hint=_hint(job)))
            for job in reversed(worker.sent):  # back to the front of their queues
                (self._articles if job.kind == ARTICLE else self._queue).appendleft(job)
            worker.sent.clear()
        task = asyncio.create_task(self._reap_and_replace(worker))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)
        self._dispatch()

    async def _reap_and_replace(self, worker: _Worker) -> None:
        await asyncio.to_thread(worker.process.join, 2)
        if worker.process.is_alive():
            worker.process.kill()
            await asyncio.to_thread(worker.process.join, 2)
        await self._add_workers(1)

    def close(self) -> None:
        for task in (*self._replacing, *([self._starting] if self._starting else [])):
            task.cancel()
        for job in (*self._queue, *self._articles):
            job.answer.cancel()
        for worker in self._all:
            worker.disconnect()
        for worker in self._all:
            worker.process.join(2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(2)
        self._all.clear()
        self._queue.clear()
        self._articles.clear()
        self._starting = None
