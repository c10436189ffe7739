"""Article bodies for `fulltext` feeds, beside polling: claim items queued for their page, fetch
each page politely (polling/articles.py), extract its main text in the parser workers, then
store it and alert on what it makes match (Ingest.body_arrived).

The queue is in the store (store/bodies.py), so a restart or another node picks up where this
one stopped; a headline alert never waits for any of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from ..config import Config, FeedConfig
from ..errors import ParseError
from ..models import PollOutcome
from ..redaction import redact_url
from ..store import Store
from .articles import ArticlePage
from .ingest import Ingest
from .origins import AddressPolicy
from .storework import StoreWork

log = logging.getLogger("monitor.polling.bodies")

# A page that keeps failing with a temporary error (5xx, timeouts, 429) is given up after this
# many requests, each after its origin's backoff. Waiting out another page's backoff is no try.
MAX_ATTEMPTS = 3

Extractor = Callable[[bytes, str, int], Awaitable[str]]


class ArticleSource(Protocol):
    """What the stage needs of an article fetcher (articles.ArticleFetcher)."""

    async def fetch(self, link: str, policy: AddressPolicy, honour_robots: bool) -> ArticlePage: ...


class Bodies:
    """The body stage of one configuration, over parts it is handed and does not own."""

    def __init__(
        self,
        config: Config,
        store: Store,
        articles: ArticleSource,
        extract: Extractor,
        ingest: Ingest,
        clock: Callable[[], float],
        store_work: StoreWork | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.articles = articles
        self.extract = extract
        self.ingest = ingest
        self.clock = clock
        self.store_work = store_work or StoreWork()  # where a body's ingest runs (storework.py)
        settings = config.settings
        # Pages fetched at once by this node: the per-host pace keeps each site to one request
        # a `article_pace`, so this only bounds how many sites are read in parallel.
        self.window = max(1, settings.concurrency)
        # A claimed item is this node's for this long: its fetch, its place behind its host's
        # pace (at worst every claimed item on one host), and its extraction.
        self.lease = 2 * settings.timeout + self.window * settings.article_pace + settings.parse_timeout
        self._feeds = {f.name: f for f in config.feeds if f.enabled and f.fulltext}

    @property
    def wanted(self) -> bool:
        """Whether any feed of this configuration wants bodies."""
        return bool(self._feeds)

    def claim(self, now: float, limit: int) -> Sequence[Mapping[str, Any]]:
        """Lease up to `limit` due items of the queue (store.claim_bodies)."""
        return self.store.claim_bodies(now, self.lease, limit)

    async def fetch(self, item: Mapping[str, Any]) -> PollOutcome:
        """Fetch, extract and store one claimed item's body; alert on what it makes match.
        Never raises for the page's own faults: they are counted per feed and logged."""
        feed = self._feeds.get(item["feed"])
        if feed is None:  # the feed left the configuration, or stopped wanting bodies
            self._give_up(item, "skipped", "its feed no longer has fulltext = true")
            return PollOutcome(item["feed"], "skipped")
        page = await self.articles.fetch(item["link"], AddressPolicy.of_feed(feed), feed.robots)
        if page.outcome in ("retry", "deferred"):
            return self._retry(feed, item, page)
        if page.outcome != "fetched":
            self._give_up(item, page.outcome, page.message)
            return PollOutcome(feed.name, page.outcome, error=page.message)
        try:
            body = await self.extract(page.html or b"", page.url, self.config.settings.body_max_chars)
        except ParseError as exc:
            self._give_up(item, "failed", f"its main text could not be extracted: {exc.message}")
            return PollOutcome(feed.name, "failed", error=exc.message)
        if not body.strip():
            self._give_up(item, "failed", "no main text found on the page (a paywall or a page of links?)")
            return PollOutcome(feed.name, "failed", error="no main text")
        outcome = await self.store_work(self.ingest.body_arrived, feed, item, body, self.clock())
        if outcome.alerts:
            log.info("feed %s: %d alerts on the body of %s", feed.name, outcome.alerts, redact_url(item["link"]))
        return outcome

    def _retry(self, feed: FeedConfig, item: Mapping[str, Any], page: ArticlePage) -> PollOutcome:
        attempted = page.outcome == "retry"
        if attempted and int(item["body_attempts"] or 0) + 1 >= MAX_ATTEMPTS:
            self._give_up(item, "failed", f"{page.message} (tried {MAX_ATTEMPTS} times)")
            return PollOutcome(feed.name, "failed", error=page.message)
        with self.store.transaction():
            self.store.retry_body(item["id"], page.not_before or self.clock(), attempted)
        log.debug("feed %s: article %s: %s; tried again later", feed.name, redact_url(item["link"]), page.message)
        return PollOutcome(feed.name, "retry", error=page.message)

    def _give_up(self, item: Mapping[str, Any], outcome: str, message: str) -> None:
        """The item keeps its headline and summary; the outcome is counted for its feed."""
        with self.store.transaction():
            self.store.no_body(item["id"], outcome)
            self.store.count_bodies(item["feed"], outcome)
        # A refused address is someone's link pointing into our network: always worth a warning.
        level = logging.WARNING if outcome == "address" else logging.INFO
        log.log(level, "feed %s: no body for %s: %s", item["feed"], redact_url(item["link"]), message)
