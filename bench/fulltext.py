"""Article bodies through the whole path: a feed's item → its page fetched → main text extracted
in the parser workers → stored → a `body:` rule alerts; and what that costs.

The 120 annotated pages of tests/fixtures/articles are served on 127.0.0.1 (tests/servers.py,
Content-Type text/html) with one RSS feed on the same server (a local bridge, so its links may
be fetched) whose 120 items say nothing ("Item N"), published now. The configuration has
`fulltext = true`, `backfill = "1d"` (the first poll alerts, so every item is queued for its
page) and a rule for each annotated string, scoped to its own page's item:
`url:"pages 017" AND body:"<string>"` (bench/articles.py's body_rule). A hit is a rule alerting
(a row in the store's `alerts` table); scoped so, a string that is also on another page cannot
count, and cannot be hidden behind that page's alert (one alert per rule and story).

`monitor run --once`'s cycle runs in this process (assemble + run_once, as
tests/polling/test_fulltext.py does) on a temporary SQLite database. `article_pace` is tiny: one
host serves every page, and one request a second to it would make the pace, not the work, the
measure. The page server runs in a process of its own, so that serving is not counted as ours.

Measured, from the body stage's first claim to the last body stored: bodies per second (wall),
and CPU per article: the main process (fetch, store, rules: `time.process_time`) plus the parser
workers (extraction: utime + stime from /proc/<pid>/stat of each worker, read before the pool
closes). Recall and false alarms are compared with the bodies bench/articles.py scores
(extract_body in this process, with the page's published URL): they should agree; and with
trafilatura alone (before monitor/parsing/boilerplate.py), by the language the page declares.

    .venv/bin/python bench/fulltext.py [--runs 3] [--pace 0.001] [--show]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import multiprocessing.connection
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from articles import ARTICLES, KINDS, Tally, body_rule, by_language, language, trafilatura_alone  # noqa: E402
from testkit import write_config  # noqa: E402

from monitor.config import load_config  # noqa: E402
from monitor.parsing.article import extract_body  # noqa: E402
from monitor.rules import Document, compile_query  # noqa: E402
from monitor.runtime.assembly import Assembly, assemble  # noqa: E402
from monitor.runtime.daemon import CycleSummary, run_once  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def load_annotations() -> dict[str, dict[str, Any]]:
    return dict(sorted(json.loads((ARTICLES / "annotations.json").read_text(encoding="utf-8")).items()))


def page_path(name: str) -> str:
    return f"/pages/{name}"


def serve_pages(conn: multiprocessing.connection.Connection) -> None:
    """In a process of its own: every page and a feed of them; sends the feed's URL, serves
    until told to stop."""
    from consolekit import rss
    from servers import FeedServer

    server = FeedServer()
    now = time.time()
    links = [
        server.serve(page_path(name), (ARTICLES / "pages" / name).read_bytes(), content_type="text/html")
        for name in load_annotations()
    ]
    items = ((f"item-{n}", f"Item {n}", f"Item {n}.", link, now - n) for n, link in enumerate(links))
    conn.send(server.serve("/feed.xml", rss(items, title="Pages")))
    conn.recv()
    server.close()


class PageSite:
    """The page server's process: started on entry, stopped on exit."""

    def __enter__(self) -> PageSite:
        ctx = multiprocessing.get_context("spawn")  # not a copy of this process's threads
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve_pages, args=(child,), daemon=True, name="bench-pages")
        self.process.start()
        child.close()
        try:
            if not self._conn.poll(60):
                raise SystemExit("the page server did not start within 60 s")
            self.feed_url: str = self._conn.recv()
        except EOFError:
            raise SystemExit("the page server's process ended before serving (its error is above)") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


@dataclass(frozen=True)
class Asked:
    page: str
    kind: str  # "with" (the article's) or "without" (boilerplate)
    text: str
    body_rule: str


def page_rules(notes: Mapping[str, Mapping[str, Any]]) -> dict[str, Asked]:
    """A rule name for each annotated string that has a word to ask for."""
    asked = {}
    for page, note in notes.items():
        for kind in KINDS:
            for n, text in enumerate(note[kind]):
                rule = body_rule(text)
                if rule is not None:
                    asked[f"{page.removesuffix('.html')}-{kind}-{n}"] = Asked(page, kind, text, rule)
    return asked


def scoped_query(asked: Asked) -> str:
    """The page's own item only: its link's path `/pages/017.html` holds the tokens `pages 017`."""
    return f'url:"pages {asked.page.removesuffix(".html")}" AND {asked.body_rule}'


def cpu_of(pid: int) -> float:
    """utime + stime of a process, seconds; 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class BodyStage:
    """What one run measured of the body stage: wall from its first claim to the last body
    stored; CPU of the main process and of each parser worker across the stage."""

    started: float | None = None
    last_stored: float | None = None
    main_cpu: tuple[float, float] = (0.0, 0.0)
    workers_at_start: dict[int, float] = field(default_factory=dict)
    workers_at_end: dict[int, float] = field(default_factory=dict)
    site_cpu: tuple[float, float] = (0.0, 0.0)

    @property
    def wall(self) -> float:
        assert self.started is not None and self.last_stored is not None
        return self.last_stored - self.started

    @property
    def main_seconds(self) -> float:
        return self.main_cpu[1] - self.main_cpu[0]

    @property
    def worker_cpu(self) -> float:
        # A worker started during the stage (a replacement) counts from zero.
        return sum(cpu - self.workers_at_start.get(pid, 0.0) for pid, cpu in self.workers_at_end.items())

    @property
    def workers_lost(self) -> int:
        """Workers that ended during the stage: their CPU is missing from worker_cpu."""
        return len(self.workers_at_start.keys() - self.workers_at_end.keys())


def watch_body_stage(assembly: Assembly, site_pid: int) -> BodyStage:
    """Wrap the pipeline's body stage (its claim and fetch) and its delivery, which run_once calls
    right after the stage, to measure the stage. The pipeline itself is unchanged."""
    pipeline = assembly.pipeline
    bodies = pipeline.bodies
    assert bodies is not None, "no fulltext feed in the configuration"
    stage = BodyStage()
    claim, fetch, deliver_due = bodies.claim, bodies.fetch, pipeline.deliver_due

    def workers() -> dict[int, float]:
        return {w.process.pid: cpu_of(w.process.pid) for w in assembly.parsers._all if w.process.pid}

    def first_claim(now: float, limit: int) -> Sequence[Mapping[str, Any]]:
        if stage.started is None:
            stage.workers_at_start = workers()
            stage.site_cpu = (cpu_of(site_pid), 0.0)
            stage.main_cpu = (time.process_time(), 0.0)
            stage.started = time.perf_counter()
        return claim(now, limit)

    async def stored(item: Mapping[str, Any]) -> Any:
        outcome = await fetch(item)
        stage.last_stored = time.perf_counter()
        return outcome

    async def after_stage() -> Any:
        stage.main_cpu = (stage.main_cpu[0], time.process_time())
        stage.workers_at_end = workers()
        stage.site_cpu = (stage.site_cpu[0], cpu_of(site_pid))
        return await deliver_due()

    bodies.claim = first_claim  # type: ignore[method-assign]
    bodies.fetch = stored  # type: ignore[method-assign]
    pipeline.deliver_due = after_stage  # type: ignore[method-assign]
    return stage


@dataclass
class Run:
    summary: CycleSummary
    stage: BodyStage
    poll_wall: float  # run_once's start to the body stage's first claim: the headline poll
    hits: set[str]  # rules that alerted on their own page's item
    elsewhere: int  # alerts on another item (the scoping failed)
    bodies: dict[str, str]  # page name -> the body stored for its item
    states: dict[str, int]  # body_state -> items
    max_chars: int  # body_max_chars in force

    @property
    def fetched(self) -> int:
        assert self.summary.bodies is not None
        return self.summary.bodies.fetched

    @property
    def articles(self) -> int:
        """Pages the stage handled: with a body or without one (failed, refused)."""
        assert self.summary.bodies is not None
        return self.summary.bodies.fetched + self.summary.bodies.without


def one_run(site: PageSite, asked: Mapping[str, Asked], pace: str) -> Run:
    with tempfile.TemporaryDirectory(prefix="bench-fulltext-") as tmp:
        path = write_config(
            Path(tmp),
            monitor={
                "database": str(Path(tmp) / "m.db"),
                "backfill": "1d",
                "article_pace": pace,
                "body_wait": "10m",
            },
            feeds={"pages": {"url": site.feed_url, "fulltext": True}},
            rules=[{"name": name, "query": scoped_query(a), "notify": ["sink"]} for name, a in asked.items()],
            # Alerts are counted in the store; delivered to a console nobody reads.
            channels={"sink": {"urls": ["console://"], "flood_threshold": 0}},
        )
        config = load_config(path, env={})

        async def go() -> Run:
            async with assemble(config, console=io.StringIO()) as assembly:
                stage = watch_body_stage(assembly, site.process.pid or 0)
                began = time.perf_counter()
                summary = await run_once(assembly.pipeline)
                assert stage.started is not None, "no body was claimed"
                rows = assembly.store.conn.execute(
                    "SELECT a.rule, i.link FROM alerts a JOIN items i ON i.id = a.item_id"
                ).fetchall()
                hits = {rule for rule, link in rows if link.endswith(page_path(asked[rule].page))}
                bodies = {
                    link.rsplit("/", 1)[1]: body or ""
                    for link, body in assembly.store.conn.execute("SELECT link, body FROM items")
                }
                states = dict(
                    assembly.store.conn.execute("SELECT coalesce(body_state, '-'), count(*) FROM items GROUP BY 1")
                )
                return Run(
                    summary=summary,
                    stage=stage,
                    poll_wall=stage.started - began,
                    hits=hits,
                    elsewhere=len(rows) - len(hits),
                    bodies=bodies,
                    states=states,
                    max_chars=config.settings.body_max_chars,
                )

        return asyncio.run(go())


def score(hits: Collection[str], asked: Mapping[str, Asked], languages: Mapping[str, str]) -> Tally:
    """The rules in `hits` matched; the others did not. `languages`: each page's."""
    answers: dict[str, list[tuple[str, bool]]] = {page: [] for page in languages}
    for name, a in asked.items():
        answers[a.page].append((a.kind, name in hits))
    tally = Tally()
    for page, lang in languages.items():
        tally.page(lang, answers[page])
    return tally


def tally_lines(tally: Tally, pages: int) -> list[str]:
    return [
        f"recall: {tally.share('with')}",
        f"boilerplate false alarms: {tally.share('without')}",
        f"pages perfect (every with, no without): {tally.perfect}/{pages}",
    ]


def extraction_only(
    notes: Mapping[str, Mapping[str, Any]], max_chars: int, extract: Callable[[bytes, str, int], str] = extract_body
) -> tuple[dict[str, str], float]:
    """Each page's body as bench/articles.py scores it (`extract` in this process, with the
    page's published URL), and the CPU seconds of extracting them all once."""
    extract(b"<html><body><p>warm-up: trafilatura's import is not a page's cost</p></body></html>", "", 100)
    started = time.process_time()
    bodies = {
        page: extract((ARTICLES / "pages" / page).read_bytes(), note["url"], max_chars) for page, note in notes.items()
    }
    return bodies, time.process_time() - started


def body_hits(asked: Mapping[str, Asked], bodies: Mapping[str, str]) -> set[str]:
    """The rules whose `body:` part alone matches their page's body, as bench/articles.py asks."""
    docs = {page: Document.build({"body": body}) for page, body in bodies.items()}
    return {name for name, a in asked.items() if compile_query(a.body_rule).match(docs[a.page]) is not None}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="whole cycles, each on a new database (default 3)")
    ap.add_argument("--pace", default="0.001s", help="article_pace (default 0.001s; the daemon's default is 1s)")
    ap.add_argument("--show", action="store_true", help="list the strings whose outcome is not the expected one")
    args = ap.parse_args(argv)

    notes = load_annotations()
    asked = page_rules(notes)
    runs: list[Run] = []
    with PageSite() as site:
        for n in range(args.runs):
            run = one_run(site, asked, args.pace)
            runs.append(run)
            stage, b = run.stage, run.summary.bodies
            assert b is not None
            print(
                f"run {n + 1}: poll {run.poll_wall:.2f} s; {b.fetched} bodies ({b.without} without, {b.left} left) "
                f"in {stage.wall:.2f} s = {b.fetched / stage.wall:.1f}/s; CPU {stage.main_seconds + stage.worker_cpu:.2f} s "
                f"(main {stage.main_seconds:.2f}, workers {stage.worker_cpu:.2f}"
                f"{f', {stage.workers_lost} worker(s) lost' if stage.workers_lost else ''}; "
                f"page server {stage.site_cpu[1] - stage.site_cpu[0]:.2f}, not counted); "
                f"{len(run.hits)} alerts, {run.elsewhere} on another page; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )

    pages = list(notes)
    languages = {page: language((ARTICLES / "pages" / page).read_bytes()) for page in pages}
    first = runs[0]
    print(f"\npages: {len(pages)}; items by body state: {first.states}; rules: {len(asked)}")
    if any(r.hits != first.hits for r in runs[1:]):
        print("the runs' alerts differ: " + ", ".join(str(len(r.hits)) for r in runs))
    whole = score(first.hits, asked, languages)
    print("the whole path (rules alerting on their own page's item):")
    for line in tally_lines(whole, len(pages)):
        print(f"  {line}")

    reference, reference_cpu = extraction_only(notes, first.max_chars)
    alone_hits = body_hits(asked, reference)
    same = sum(reference[p] == first.bodies.get(p) for p in pages)
    print("extraction alone (bench/articles.py's bodies and body: rules):")
    for line in tally_lines(score(alone_hits, asked, languages), len(pages)):
        print(f"  {line}")
    print(f"  the stored body is the same text on {same}/{len(pages)} pages")
    print(f"  extracting the pages once in this process: {reference_cpu / len(pages) * 1000:.1f} ms CPU per page")
    for name in sorted(first.hits ^ alone_hits):
        a = asked[name]
        print(f"  the two disagree: {a.page} {a.kind} {a.text!r} (alerted: {name in first.hits})")
    before, _ = extraction_only(notes, first.max_chars, trafilatura_alone)
    before_tally = score(body_hits(asked, before), asked, languages)
    print("trafilatura alone, before monitor/parsing/boilerplate.py (extraction only):")
    for line in tally_lines(before_tally, len(pages)):
        print(f"  {line}")
    print("by the language the page declares (before: trafilatura alone; after: the whole path):")
    print("\n".join(by_language({"before": before_tally, "after": whole})))
    if args.show:
        for name, a in asked.items():
            if (name in first.hits) != (a.kind == "with"):
                print(f"  {a.page}: {'missed' if a.kind == 'with' else 'boilerplate'}: {a.text!r}")

    rates = [r.fetched / r.stage.wall for r in runs]
    main_ms = [r.stage.main_seconds / r.articles * 1000 for r in runs]
    worker_ms = [r.stage.worker_cpu / r.articles * 1000 for r in runs]
    cpu_ms = [m + w for m, w in zip(main_ms, worker_ms, strict=True)]
    print(
        f"median of {len(runs)} runs: {statistics.median(rates):.1f} bodies/s; CPU per article "
        f"{statistics.median(cpu_ms):.1f} ms (main process {statistics.median(main_ms):.1f}, "
        f"parser workers {statistics.median(worker_ms):.1f}; goal: at most 100 ms)"
    )


if __name__ == "__main__":
    main()
