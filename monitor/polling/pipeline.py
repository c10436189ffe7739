"""Poll one feed end to end: fetch, parse, ingest (one transaction), then feed health.

No SQL and no HTTP details here: the store, the fetcher and the parser are passed in,
built by the assembler (runtime/assembly.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import NamedTuple

from ..config import Config, FeedConfig
from ..delivery.outbox import DeliveryReport, Outbox
from ..desk.feed_health import FeedHealth
from ..errors import FeedGone, FetchError, ParseError
from ..models import FetchResult, ParsedFeed, PollOutcome
from ..parsing.facts import search_text, with_facts
from ..redaction import redact_url
from ..store import FeedState, Store, SuccessfulPoll
from .bodies import Bodies
from .fetch import FeedFetcher
from .ingest import Ingest, Validators
from .origins import AddressPolicy
from .rates import Rate
from .schedule import Schedule
from .storework import StoreWork

log = logging.getLogger("monitor.polling.pipeline")

# (body, url, content type, whether the items' index texts are wanted: a first document)
Parser = Callable[[bytes, str, str, bool], Awaitable[ParsedFeed]]
# A poll's outcome, and the feed's row and health as the poll left them when that is known
# without reading them again (feed health needs them).
Recorded = tuple[PollOutcome, FeedState | None]


class _Unchanged(NamedTuple):
    """A poll that found its feed as it was (a 304, or the same bytes): its store work is the
    record alone, done together with others' (storework.py)."""

    feed: FeedConfig
    state: FeedState | None
    result: FetchResult


FORGET_NODES_AFTER = 86400.0  # `monitor cluster` lists a node gone silent for this long no more


async def parse_in_thread(body: bytes, url: str, content_type: str, index: bool = False) -> ParsedFeed:
    """The simple parser: off the event loop, in a thread (no time budget)."""
    from ..parsing.feed import parse_feed  # here, not at the top: feedparser + lxml cost ~30 ms of start-up

    return await asyncio.to_thread(lambda: with_facts(parse_feed(body, url, content_type), index))


def _with_health(after: FeedState | None, before: FeedState | None) -> FeedState | None:
    """The row a poll recorded, with the health row read before it: only this feed's polls
    write that row, and a feed is never polled twice at once."""
    return replace(after, health=before.health) if after and before else None


class Pipeline:
    """One poll cycle's work for one configuration, over parts it is handed and does not own."""

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: FeedFetcher,
        parser: Parser,
        schedule: Schedule,
        ingest: Ingest,
        health: FeedHealth,
        outbox: Outbox,
        clock: Callable[[], float],
        start_parser: Callable[[], object] | None = None,
        bodies: Bodies | None = None,
        store_work: StoreWork | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.parser = parser
        self.schedule = schedule
        self.ingest = ingest
        self.health = health
        self.outbox = outbox
        self.clock = clock
        self.start_parser = start_parser  # starts the parser's workers ahead of its first parse
        self.bodies = bodies if bodies is not None and bodies.wanted else None  # article bodies, if any feed wants them
        self.store_work = store_work or StoreWork()  # where a poll's store work runs (storework.py)
        # Feeds between the start of their fetch and the end of their parse. Fetching outruns
        # parsing, and every body fetched ahead waits in memory; twice the fetch concurrency
        # keeps every fetch slot busy and the parser fed. The daemon claims no more than this.
        self.window = 2 * max(1, config.settings.concurrency)
        self._in_flight = asyncio.Semaphore(self.window)
        # A claimed feed is this node's until its poll is recorded, or until this long has
        # passed (the node died, or lost the database mid-ingest): then any node takes it.
        self.lease = 2 * config.settings.timeout
        self._enabled = {f.name: f for f in config.feeds if f.enabled}

    def enabled_feeds(self) -> list[FeedConfig]:
        return list(self._enabled.values())

    def claim(self, now: float, limit: int) -> list[tuple[FeedConfig, FeedState | None]]:
        """Lease up to `limit` enabled feeds that are due and that no live node holds, most
        overdue first (store.claim_feeds); recording each one's poll frees it. Each with its
        row as leased, all read in one statement, for its poll to start from."""
        claimed = self.store.claim_feeds(now, self.lease, limit)
        unknown = [name for name in claimed if name not in self._enabled]
        if unknown:  # another node put a newer configuration in force: its feeds are its to poll
            log.info("feeds not in this configuration left to the other nodes: %s", ", ".join(unknown))
            self.store.release_feeds(unknown)
        ours = [name for name in claimed if name in self._enabled]
        states = self.store.feed_states_of(ours) if ours else {}
        return [(self._enabled[name], states.get(name)) for name in ours]

    def expect_parsing(self) -> None:
        """Before a round of polls: a feed never read is sure to need a parse, so start the
        parser's workers now, alongside the first fetches, rather than after the first body.
        A round that only hears 304s starts none."""
        if self.start_parser and self.store.any_never_read():
            self.start_parser()

    async def poll(self, feed: FeedConfig, state: FeedState | None = None) -> PollOutcome:
        """Fetch, parse and ingest one feed. Never raises for the feed's own faults. `state`:
        the feed's row as its claim read it (else read here)."""
        async with self._in_flight:
            if state is None:
                # A read outside any transaction: it never waits for the write lock, so it need
                # not queue behind other polls' store work.
                state = self.store.feed_state(feed.name)
            found = await self._fetch(feed, state)
            if isinstance(found, _Unchanged):  # the commonest poll of all: recorded with the others
                return await self.store_work.together(self._settle_unchanged, found)
            return await self.store_work(self._settle, feed, found)

    def _settle(self, feed: FeedConfig, record: Callable[[], Recorded]) -> PollOutcome:
        """The poll's store work (storework.py runs it): its record, then feed health."""
        return self._observe(feed, *record())

    def _settle_unchanged(self, found: list[_Unchanged]) -> list[PollOutcome | Exception]:
        """Unchanged feeds' store work, together: their records in one statement, then each
        one's redirect and feed health. A fault of one feed's is its poll's alone."""
        now = self.clock()
        polls = []
        for feed, state, result in found:
            learned = Rate.stored(state.rate) if state else None
            plan = self.schedule.plan(feed, result.max_age or (state.server_ttl if state else None), learned, now)
            polls.append(
                SuccessfulPoll(
                    feed.name,
                    now,
                    self.schedule.next_poll(now, plan.interval),
                    result.status,
                    etag=result.etag,
                    last_modified=result.last_modified,
                    interval=plan.interval,
                    reason=plan.reason,
                    per_day=plan.per_day,
                )
            )
        recorded = self.store.record_polls(polls)
        outcomes: list[PollOutcome | Exception] = []
        for feed, state, result in found:
            outcome = PollOutcome(feed.name, "not-modified", http_status=result.status)
            try:
                # An unchanged answer from the new address counts towards adopting it.
                adopted = self._track_redirect(feed, state, result.permanent_redirect, outcome)
                after = None if adopted else _with_health(recorded.get(feed.name), state)
                outcomes.append(self._observe(feed, outcome, after))
            except Exception as exc:  # raised to this feed's poll alone
                outcomes.append(exc)
        return outcomes

    def _observe(self, feed: FeedConfig, outcome: PollOutcome, after: FeedState | None) -> PollOutcome:
        """Feed health, after the poll's record: `after`, the feed's row as recorded, if known."""
        for warning in outcome.warnings:
            log.warning("feed %s: %s", feed.name, warning)
        change = self.health.observe(feed, self.clock(), outcome.new_items, after)
        if change:
            log.info("feed health: %s", change)
        return outcome

    async def _fetch(self, feed: FeedConfig, state: FeedState | None) -> Callable[[], Recorded] | _Unchanged:
        """The network and the parser: what the poll found, as the store work that records it
        (an unchanged feed's is done with others: _settle_unchanged)."""
        if state and state.disabled_reason:
            outcome = PollOutcome(feed.name, "disabled", http_status=state.last_status, error=state.disabled_reason)
            return lambda: (outcome, state)
        try:
            result = await self.fetcher.fetch(
                state.poll_url if state else feed.url,
                state.etag if state else None,
                state.last_modified if state else None,
                policy=AddressPolicy.of_feed(feed),  # the configured url's, whatever move was adopted
            )
        except FetchError as exc:
            return partial(self._failed, feed, exc, state)
        body_hash = hashlib.sha256(result.body).hexdigest() if result.body is not None else None
        if result.not_modified or (state and body_hash == state.body_hash):
            # Unchanged: a 304, or a server without validators sending the same bytes.
            return _Unchanged(feed, state, result)
        try:
            # A first document's items are all new: the workers make their index texts too.
            first = not (state and state.baselined)
            parsed = await self.parser(result.body or b"", result.url, result.content_type, first)
        except ParseError as exc:
            return partial(self._failed, feed, exc, state)
        hints = [h for h in (result.max_age, parsed.ttl_seconds) if h]
        validators = Validators(
            status=result.status,
            etag=result.etag,
            last_modified=result.last_modified,
            body_hash=body_hash,
            server_ttl=max(hints) if hints else None,
        )
        return partial(self._ingest, feed, state, result.permanent_redirect, parsed, validators)

    def _ingest(
        self,
        feed: FeedConfig,
        state: FeedState | None,
        moved_to: str | None,
        parsed: ParsedFeed,
        validators: Validators,
    ) -> Recorded:
        outcome, after = self.ingest.recording(feed, parsed, validators, known=state)  # the poll recorded
        adopted = self._track_redirect(feed, state, moved_to, outcome)
        return outcome, None if adopted else _with_health(after, state)

    def _track_redirect(
        self, feed: FeedConfig, state: FeedState | None, target: str | None, outcome: PollOutcome
    ) -> bool:
        """Adopt a permanent move only once it has answered consistently and parsed as a feed.
        Returns whether it was adopted now."""
        if not target:
            if state and state.redirect_target:
                self.store.record_redirect(feed.name, None, 0, adopt=False)
            return False
        needed = self.config.settings.adopt_redirect_after
        count = (state.redirect_count if state and state.redirect_target == target else 0) + 1
        adopt = count >= needed
        self.store.record_redirect(feed.name, target, count, adopt)
        if adopt:
            outcome.warnings.append(
                f"moved permanently to {redact_url(target)}; polling the new address from now on. "
                f'Update the feed\'s url in the config to: url = "{redact_url(target)}"'
            )
        else:
            log.info("feed %s: permanent redirect to %s seen %d/%d times", feed.name, redact_url(target), count, needed)
        return adopt

    def _failed(self, feed: FeedConfig, exc: Exception, state: FeedState | None) -> Recorded:
        now = self.clock()
        status = getattr(exc, "status", None)
        message = str(exc)
        disabled = message if isinstance(exc, FeedGone) else None
        learned = Rate.stored(state.rate) if state else None
        plan = self.schedule.plan(feed, state.server_ttl if state else None, learned, now)
        errors_before = state.consecutive_errors if state else 0
        next_poll, backoff = self.schedule.after_error(
            now, plan.interval, errors_before, getattr(exc, "retry_after", None)
        )
        after = self.store.record_poll(
            feed.name,
            now=now,
            status=status,
            error=message,
            next_poll=next_poll,
            disabled_reason=disabled,
            interval=backoff.interval,
            reason=backoff.reason,
        )
        log.warning("feed %s: %s%s", feed.name, message, " (feed disabled)" if disabled else "")
        outcome = PollOutcome(feed.name, "disabled" if disabled else "error", http_status=status, error=message)
        return outcome, _with_health(after, state)

    async def rebalance(self) -> None:
        """Share the polling budget among the adaptive feeds by their learned rates
        (schedule.py): one read of the feeds table, the sharing off the event loop."""
        if not self.schedule.adaptive:
            return
        stored = self.store.feed_rates()
        now = self.clock()

        def share() -> None:
            shares = []
            for feed in self._enabled.values():
                if feed.pinned:
                    continue
                rate, server_ttl = stored.get(feed.name, (None, None))
                shares.append(self.schedule.share(feed, server_ttl, Rate.stored(rate), now))
            self.schedule.rebalance(shares)

        await asyncio.to_thread(share)

    def prune(self) -> int:
        """Retention: drop old items' text, keep their identity, and forget the nodes not heard
        from for a day (or the retention, if shorter). Returns items pruned."""
        now, retention = self.clock(), self.config.settings.retention
        with self.store.transaction():
            pruned = self.store.prune(now - retention)
            self.store.forget_nodes(now - min(FORGET_NODES_AFTER, retention))
        self.store.reclaim_space()
        if pruned:
            log.info(
                "retention: pruned the text of %d items older than %gd", pruned, self.config.settings.retention / 86400
            )
        return pruned

    async def index_pending(self) -> int:
        """Bring the full-text index (backtests read it) up to the stored items, yielding to
        polls and deliveries between its transactions. Returns how many items it indexed."""
        indexed = 0
        chunks = self.store.index_pending(search_text)
        # Each chunk is store work: on PostgreSQL its round trips and the texts' making leave the loop.
        while (count := await self.store_work(next, chunks, None)) is not None:
            indexed += count
            await asyncio.sleep(0)
        return indexed

    async def deliver_due(self) -> DeliveryReport:
        """Send every due delivery (retries, digests, flood guard and rate limit: see delivery/outbox.py)."""
        return await self.outbox.deliver_due()
