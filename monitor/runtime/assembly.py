"""The assembler: the one place the running system is built from a Config.

`assemble` opens what lives as long as the process (the store, the parser workers, the
HTTP transport and, for the daemon, the liveness endpoint) and closes them in reverse
order. `build_pipeline` wires what depends on the configuration (compiled rules,
channels, the desk) over those parts; a reload builds a new pipeline through it and
keeps the parts, so polls already running finish on the pipeline they started with.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, TextIO

import httpcore
import httpx

from ..config import Config
from ..config.console_token import KEY as WEB_TOKEN_KEY
from ..config.console_token import missing_token_problem
from ..delivery.channels import Notifier
from ..delivery.fanout import FanOut
from ..delivery.holds import Holds
from ..delivery.outbox import Outbox
from ..desk.feed_health import FeedHealth
from ..desk.spikes import Spikes
from ..desk.story_updates import StoryUpdates
from ..errors import ConfigError
from ..parsing.pool import ParserPool
from ..polling.addresses import Resolver, system_resolver
from ..polling.articles import ArticleFetcher
from ..polling.bodies import ArticleSource, Bodies, Extractor
from ..polling.fetch import FeedFetcher, fetcher_for
from ..polling.ingest import Ingest
from ..polling.pipeline import Parser, Pipeline, parse_in_thread
from ..polling.robots import RobotsCache
from ..polling.schedule import Schedule, fastest, too_fast_for_a_remote_site
from ..polling.storework import StoreWork
from ..polling.stories import StoryMatcher
from ..redaction import Redactor
from ..rules import compile_query
from ..store import Store, default_node, open_store

if TYPE_CHECKING:  # prometheus_client costs ~50 ms of start-up that `run --once` does not need
    from .endpoint import Liveness

log = logging.getLogger("monitor.runtime.assembly")


def build_pipeline(
    config: Config,
    store: Store,
    fetcher: FeedFetcher,
    *,
    parser: Parser = parse_in_thread,
    start_parser: Callable[[], object] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    console: TextIO | None = None,
    articles: ArticleSource | None = None,
    extract: Extractor | None = None,
    store_work: StoreWork | None = None,
) -> Pipeline:
    """A pipeline for `config` over parts the caller owns. Opens nothing, writes nothing.
    With `articles` and `extract`, `fulltext` feeds get their items' bodies. `store_work`:
    where polls run their store work (default: inline, on the event loop)."""
    notifier = Notifier(config.channels, console)
    outbox = Outbox(store, notifier, config.channels, config.delivery, clock=clock, sleep=sleep)
    holds = Holds(store, config.channels, outbox.hold_until)
    fanout = FanOut(store, notifier.targets, notifier.kind, holds)
    schedule = Schedule(config.settings, rng or random.Random())
    compiled = {r.name: compile_query(r.query, config.aliases) for r in config.rules}
    ingest = Ingest(
        config,
        store,
        compiled,
        StoryMatcher(store, config.dedup.title_similarity, config.dedup.window),
        fanout,
        holds,
        Spikes(store, fanout),
        StoryUpdates(config, store, fanout),
        schedule,
        clock,
    )
    health = FeedHealth(store, config.settings, fanout)
    bodies = Bodies(config, store, articles, extract, ingest, clock, store_work) if articles and extract else None
    return Pipeline(
        config, store, fetcher, parser, schedule, ingest, health, outbox, clock, start_parser, bodies, store_work
    )


class Assembly:
    """The parts `assemble` opened (owned there, not here), and the pipeline of the
    configuration in force. Putting a configuration in force syncs its feeds into the store;
    a reload that would leave the console at `web_address` open to anyone is refused (at start,
    `assemble` refuses it before anything is opened)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: FeedFetcher,
        parsers: ParserPool,
        articles: ArticleSource,
        clock: Callable[[], float],
        rng: random.Random,
        console: TextIO | None,
        web_address: tuple[str, int] | None = None,
        store_work: StoreWork | None = None,
    ) -> None:
        self.web_address = web_address  # where the HTTP endpoint serves the console, bound at start
        self.store = store
        self.store_work = store_work
        self.fetcher = fetcher
        self.parsers = parsers
        self.articles = articles
        self.clock = clock
        self.rng = rng
        self.console = console
        self.pipeline = self._put_in_force(config, previous=None)

    @property
    def config(self) -> Config:
        """The configuration in force."""
        return self.pipeline.config

    def rebuild(self, config: Config) -> Pipeline:
        """Put `config` in force (a reload): a new pipeline over the same parts."""
        refuse_an_open_console(config, self.web_address)
        self.pipeline = self._put_in_force(config, previous=self.config)
        return self.pipeline

    def _put_in_force(self, config: Config, previous: Config | None) -> Pipeline:
        pipeline = build_pipeline(
            config,
            self.store,
            self.fetcher,
            parser=self.parsers.parse,
            start_parser=self.parsers.start,
            clock=self.clock,
            rng=self.rng,
            console=self.console,
            articles=self.articles,
            extract=self.parsers.extract,
            store_work=self.store_work,
        )
        _warn_new_fast_polling(previous, config)
        stopped = self.store.sync_feeds(
            ((f.name, f.url) for f in config.feeds), self.clock(), off=(f.name for f in config.feeds if not f.enabled)
        )
        # A reload's own removals are in its "reloaded:" line. These were polled by another
        # node, or before this start: on several nodes the configuration put in force last
        # decides, and this one may be older than the others'.
        unseen = [name for name in stopped if name not in {f.name for f in (previous.feeds if previous else ())}]
        if unseen:
            log.warning(
                "%d feed(s) polled until now are no longer polled: not in %s, or turned off there: %s",
                len(unseen),
                config.path,
                ", ".join(unseen[:20]) + (", …" if len(unseen) > 20 else ""),
            )
        return pipeline


def refuse_an_open_console(config: Config, web_address: tuple[str, int] | None) -> None:
    """ConfigError when `config` would leave the console served at `web_address` open to anyone.
    The file's `http` was checked by the loader; the address bound may be another (--http,
    $MONITOR_HTTP), and it is the one that counts."""
    problem = missing_token_problem(web_address, config.settings.web_token)
    if problem:
        raise ConfigError([f"{config.path}: {WEB_TOKEN_KEY}: {problem}"])


@asynccontextmanager
async def assemble(
    config: Config,
    *,
    liveness: Liveness | None = None,
    node: str = "",
    listen: tuple[str, int] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver = system_resolver,
    network: httpcore.AsyncNetworkBackend | None = None,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    console: TextIO | None = None,
    redactor: Redactor | None = None,
) -> AsyncIterator[Assembly]:
    """Open the system for `config`; everything opened is closed on the way out, last first.
    `liveness` (the daemon's) times fetches and, on `listen` (default: `[monitor] http`), serves
    /healthz. `node` names this process in the cluster (default: `[monitor] node`, else the host).
    `resolver` and `network`: how every fetch, feeds' and pages', finds and reaches an address.
    `redactor`: what the endpoint's answers pass through (by default, one of the config's secrets)."""
    settings = config.settings
    listen = listen or settings.http
    web_address = listen if liveness is not None else None
    refuse_an_open_console(config, web_address)  # before anything is opened (or created)
    async with AsyncExitStack() as opened:
        store = open_store(settings.database, poller=True, node=default_node(node or settings.node))
        opened.callback(store.close)
        # Polls' store work on a thread of its own where the store allows it (PostgreSQL),
        # closed before the store: it waits for the unit running.
        store_work = StoreWork(threaded=store.threadsafe)
        opened.callback(store_work.close)
        parsers = ParserPool(
            settings.parse_workers, settings.parse_timeout, articles=any(f.fulltext for f in config.feeds)
        )
        opened.callback(parsers.close)
        raw_fetcher = fetcher_for(settings, transport, resolver, network)
        opened.push_async_callback(raw_fetcher.aclose)
        fetcher: FeedFetcher = raw_fetcher
        if liveness is not None:
            from .endpoint import TimedFetcher

            fetcher = TimedFetcher(raw_fetcher, liveness.metrics)
        # Article pages go through a Fetcher of their own (its own slots and connections), so
        # that no page fetch ever holds up a feed's poll.
        page_fetcher = fetcher_for(settings, resolver=resolver, network=network)
        opened.push_async_callback(page_fetcher.aclose)
        articles = ArticleFetcher(
            page_fetcher,
            RobotsCache(page_fetcher, user_agent=settings.user_agent, clock=clock),
            pace=settings.article_pace,
            clock=clock,
            sleep=asyncio.sleep,
        )
        assembly = Assembly(
            config, store, fetcher, parsers, articles, clock, rng or random.Random(), console, web_address, store_work
        )
        if liveness is not None:
            liveness.metrics.node.info({"node": store.node})
        if liveness is not None and web_address is not None:
            from ..web import Console
            from .endpoint import HealthServer, StoreCollector, StoreReader

            reader = StoreReader(settings.database)
            opened.callback(reader.close)
            liveness.metrics.add_collector(
                StoreCollector(reader, lambda: [f.name for f in assembly.pipeline.enabled_feeds()])
            )
            pages = StoreReader(settings.database)  # the console's own: a slow page never holds up /healthz
            opened.callback(pages.close)
            desk_console = Console(lambda: assembly.config, pages)
            server = HealthServer(
                web_address,
                liveness.heartbeat,
                liveness.metrics,
                reader,
                desk_console,
                redactor or Redactor(config.secrets),
            )
            server.start()
            opened.callback(server.close)
        yield assembly


def _warn_new_fast_polling(before: Config | None, after: Config) -> None:
    """Warn once about each feed that may be polled too often for someone else's server: at
    start, and at a reload only for a feed that became so (not again on every SIGHUP)."""

    def too_fast(config: Config) -> dict[tuple[str, str], float]:
        return {
            (f.name, f.url): fastest(f, config.settings)
            for f in config.feeds
            if too_fast_for_a_remote_site(f, config.settings)
        }

    already = too_fast(before) if before else {}
    for (name, url), every in too_fast(after).items():
        if already.get((name, url)) != every:
            log.warning(
                "feed %s: may be polled every %gs; a remote site should not be polled more than once a minute",
                name,
                every,
            )
