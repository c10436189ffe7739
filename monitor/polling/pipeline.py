"""Poll one feed end to end (fetch → parse → ingest) and drain the outbox.

No SQL and no HTTP details here: those live in store.py and fetch.py, which are
passed in. Ingest is one transaction: items, stories, alerts and deliveries are
committed together or not at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from ..config import Config, FeedConfig
from ..delivery.channels import Notifier
from ..delivery.holds import Holds
from ..delivery.outbox import DeliveryReport, Outbox
from ..desk.feed_health import FeedHealth
from ..desk.spikes import Spikes
from ..desk.story_updates import StoryUpdates
from ..errors import FeedGone, FetchError, ParseError
from ..logs import redact_url
from ..models import Item, ItemFacts, ParsedFeed, PollOutcome, feed_label, stored_fields
from ..parsing.facts import facts_of, search_text, with_facts
from ..rules import Document, RuleSet, compile_query
from ..store import Store
from .addresses import is_private_address
from .fetch import Fetcher
from .schedule import Schedule
from .stories import StoryMatcher

log = logging.getLogger("monitor.polling.pipeline")

Parser = Callable[[bytes, str, str], Awaitable[ParsedFeed]]


async def parse_in_thread(body: bytes, url: str, content_type: str) -> ParsedFeed:
    """The simple parser: off the event loop, in a thread (no time budget)."""
    from ..parsing.feed import parse_feed  # here, not at the top: feedparser + lxml cost ~30 ms of start-up

    return await asyncio.to_thread(lambda: with_facts(parse_feed(body, url, content_type)))


class Pipeline:
    """Everything one poll cycle needs, built from a Config and passed-in parts."""

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        notifier: Notifier,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        parser: Parser | None = None,
        start_parser: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.notifier = notifier
        self.clock = clock
        self.schedule = Schedule.from_settings(config.settings, rng)
        self.stories = StoryMatcher(store, config.dedup.title_similarity, config.dedup.window)
        self.parser = parser or parse_in_thread
        self.start_parser = start_parser  # starts the parser's workers ahead of its first parse
        # Feeds between the start of their fetch and the end of their parse. Fetching outruns
        # parsing (loopback: 1,000 feeds fetched in ~3 s, parsed in ~20 s), and every body
        # fetched ahead waited in memory: ~100 MB of the main process at 1,000 feeds cold. Twice
        # the fetch concurrency keeps every fetch slot busy and the parser fed.
        self._in_flight = asyncio.Semaphore(2 * max(1, config.settings.concurrency))
        self.compiled = {r.name: compile_query(r.query, config.aliases) for r in config.rules}
        self._rulesets: dict[str, RuleSet] = {}
        self.outbox = Outbox(store, notifier, config.channels, config.delivery, clock=clock)
        # The desk (issue 9): cooldowns and quiet hours, feed health, spikes, story updates by email.
        self.holds = Holds(store, config.channels, self.outbox.hold_until)
        self.health = FeedHealth(store, config.settings, notifier.targets, self.holds)
        self.spikes = Spikes(store, notifier.targets, self.holds)
        self.updates = StoryUpdates(config, store, notifier, self.holds)
        store.sync_feeds(((f.name, f.url) for f in config.feeds), clock())
        self._warn_fast_remote_polling()

    def ruleset_for(self, feed: FeedConfig) -> RuleSet:
        """Only the rules scoped to this feed, indexed once per feed."""
        rs = self._rulesets.get(feed.name)
        if rs is None:
            rs = RuleSet({r.name: self.compiled[r.name] for r in self.config.rules if r.applies_to(feed)})
            self._rulesets[feed.name] = rs
        return rs

    def enabled_feeds(self) -> list[FeedConfig]:
        return [f for f in self.config.feeds if f.enabled]

    def expect_parsing(self) -> None:
        """Before a round of polls: a feed never read is sure to need a parse, so start the
        parser's workers now, alongside the first fetches, rather than after the first body
        (a cold cycle waited ~0.15 s for them). A round that only hears 304s starts none."""
        if self.start_parser and self.store.any_never_read(f.name for f in self.enabled_feeds()):
            self.start_parser()

    def _warn_fast_remote_polling(self) -> None:
        """Once per start: polling someone else's server more than once a minute is rude."""
        for feed in self.enabled_feeds():
            host = urlsplit(feed.url).hostname or ""
            if feed.interval < 60 and host != "localhost" and not is_private_address(host):
                log.warning(
                    "feed %s: polled every %gs; a remote site should not be polled more than once a minute",
                    feed.name,
                    feed.interval,
                )

    async def poll(self, feed: FeedConfig) -> PollOutcome:
        """Fetch, parse and ingest one feed. Never raises for the feed's own faults."""
        async with self._in_flight:
            outcome = await self._poll(feed)
        for warning in outcome.warnings:
            log.warning("feed %s: %s", feed.name, warning)
        change = self.health.observe(feed, self.clock(), outcome.new_items)
        if change:
            log.info("feed health: %s", change)
        return outcome

    async def _poll(self, feed: FeedConfig) -> PollOutcome:
        state = self.store.feed_state(feed.name)
        if state and state.disabled_reason:
            return PollOutcome(feed.name, "disabled", http_status=state.last_status, error=state.disabled_reason)
        errors_before = state.consecutive_errors if state else 0
        try:
            result = await self.fetcher.fetch(
                state.poll_url if state else feed.url,
                state.etag if state else None,
                state.last_modified if state else None,
            )
        except FetchError as exc:
            return self._failed(feed, exc, errors_before, state.server_ttl if state else None)
        body_hash = hashlib.sha256(result.body).hexdigest() if result.body is not None else None
        if result.not_modified or (state and body_hash == state.body_hash):
            # Unchanged: a 304, or a server without validators sending the same bytes.
            now = self.clock()
            interval = self.schedule.interval(feed, result.max_age or (state.server_ttl if state else None))
            self.store.record_poll(
                feed.name,
                now=now,
                status=result.status,
                etag=result.etag,
                last_modified=result.last_modified,
                next_poll=self.schedule.next_poll(now, interval),
            )
            outcome = PollOutcome(feed.name, "not-modified", http_status=result.status)
            # An unchanged answer from the new address counts towards adopting it.
            self._track_redirect(feed, state, result.permanent_redirect, outcome)
            return outcome
        try:
            parsed = await self.parser(result.body or b"", result.url, result.content_type)
        except ParseError as exc:
            return self._failed(feed, exc, errors_before, state.server_ttl if state else None)
        hints = [h for h in (result.max_age, parsed.ttl_seconds) if h]
        outcome = self.ingest(
            feed,
            parsed,
            status=result.status,
            etag=result.etag,
            last_modified=result.last_modified,
            body_hash=body_hash,
            server_ttl=max(hints) if hints else None,
        )
        self._track_redirect(feed, state, result.permanent_redirect, outcome)
        return outcome

    def _track_redirect(self, feed: FeedConfig, state, target: str | None, outcome: PollOutcome) -> None:
        """Adopt a permanent move only once it has answered consistently and parsed as a feed."""
        if not target:
            if state and state.redirect_target:
                self.store.record_redirect(feed.name, None, 0, adopt=False)
            return
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

    def _failed(self, feed: FeedConfig, exc: Exception, errors_before: int, server_ttl: float | None) -> PollOutcome:
        now = self.clock()
        status = getattr(exc, "status", None)
        message = str(exc)
        disabled = message if isinstance(exc, FeedGone) else None
        interval = self.schedule.interval(feed, server_ttl)
        next_poll = self.schedule.after_error(now, interval, errors_before, getattr(exc, "retry_after", None))
        self.store.record_poll(
            feed.name, now=now, status=status, error=message, next_poll=next_poll, disabled_reason=disabled
        )
        log.warning("feed %s: %s%s", feed.name, message, " (feed disabled)" if disabled else "")
        return PollOutcome(feed.name, "disabled" if disabled else "error", http_status=status, error=message)

    def ingest(  # noqa: PLR0912, PLR0915
        self,
        feed: FeedConfig,
        parsed: ParsedFeed,
        *,
        status: int = 200,
        etag: str | None = None,
        last_modified: str | None = None,
        body_hash: str | None = None,
        server_ttl: float | None = None,
    ) -> PollOutcome:
        """Store the items, evaluate rules on what is new or changed, enqueue deliveries."""
        now = self.clock()
        outcome = PollOutcome(feed.name, "ok", http_status=status, warnings=list(parsed.warnings))
        rules = self.ruleset_for(feed)
        label = feed_label(feed.title or feed.name, parsed.title)
        backfill = self.config.settings.backfill
        spiking: set[str] = set()  # spike rules that matched: checked once the items are in
        with self.store.transaction():
            state = self.store.feed_state(feed.name)
            baseline = state is None or not state.baselined
            all_facts = facts_of(parsed)
            if not baseline and self._ids_churned(feed.name, parsed.items, all_facts):
                outcome.warnings.append(
                    "every item id changed at once while their links did not (a CMS migration?); "
                    "re-baselined without alerting"
                )
                baseline = True
            outcome.baseline = baseline
            # One query for what this feed already holds: an unchanged item (most of a
            # changed feed) costs a dict lookup, and a feed with nothing stored
            # yet needs no per-item lookups at all.
            stored_digests = self.store.item_digests(feed.name, [i.key for i in parsed.items])
            feed_has_items = bool(stored_digests) or self.store.has_items(feed.name)
            inserted: set[tuple[str, str]] = set()  # (canonical link, title) stored by this loop
            for item, facts in zip(parsed.items, all_facts, strict=True):
                if stored_digests.get(item.key) == facts.digest:
                    continue
                stored = None
                if feed_has_items or (facts.canonical, item.title) in inserted:
                    stored = self.store.find_item(feed.name, item.key) or self.store.find_item_by_link(
                        feed.name, facts.canonical, item.title
                    )
                previous: Document | None = None
                if stored is not None and stored["key"] != item.key:
                    # Found under its old key (GUID churn, a link no longer repeated): adopt the new one.
                    self.store.rekey_item(stored["id"], item.key)
                    stored_digests.pop(stored["key"], None)
                if stored is None:
                    story_id = self.stories.assign(feed.name, item, facts, now)
                    before = self.updates.outlets(story_id) if self.updates.enabled and not baseline else []
                    item_id = self.store.insert_item(feed.name, item, facts, story_id, now)
                    inserted.add((facts.canonical, item.title))
                    outcome.new_items += 1
                    if before:
                        self.updates.new_source(feed.name, label, story_id, item, before, now)
                elif stored["content_hash"] == facts.digest:
                    continue
                else:
                    item_id, story_id = stored["id"], stored["story_id"]
                    previous = Document.build(stored_fields(stored, label))
                    if self.updates.enabled and not baseline:
                        # Before the update: the reply's subject is the headline the alert went out with.
                        self.updates.edited(feed.name, story_id, stored["title"] or "", item, now)
                    self.store.update_item(item_id, item, facts, search_text(item.title, item.summary), now)
                    outcome.changed_items += 1
                # The first poll records what exists without alerting on old news,
                # except items published inside the backfill window.
                if baseline and not (backfill and item.published and item.published.timestamp() >= now - backfill):
                    continue
                doc = Document.build(item.fields(label))
                for rule_name, match in rules.match(doc):
                    # An edit alerts only when it is what made the item relevant.
                    if previous is not None and self.compiled[rule_name].match(previous) is not None:
                        continue
                    occurrences = [(o.field, o.start, o.end) for o in match.occurrences]
                    alert_id = self.store.record_alert(rule_name, story_id, item_id, match.terms, occurrences, now)
                    if alert_id is None:
                        continue
                    outcome.alerts += 1
                    rule = self.config.rule(rule_name)
                    after = self.holds.cooldown(rule, now)  # inside the rule's cooldown: fold into its follow-up
                    for channel in rule.notify:
                        due, hold = self.holds.plan(channel, now, rule.urgent, after)
                        for target in self.notifier.targets(channel):
                            self.store.enqueue(alert_id, channel, target, now, due, hold)
                    if rule.spike:
                        spiking.add(rule_name)
            for rule_name in sorted(spiking):
                spike = self.spikes.check(self.config.rule(rule_name), now)
                if spike:
                    log.info("rule %s: %s", rule_name, spike)
            if baseline:
                self.store.mark_baselined(feed.name)
            self.store.record_poll(
                feed.name,
                now=now,
                status=status,
                etag=etag,
                last_modified=last_modified,
                title=parsed.title or None,
                body_hash=body_hash,
                server_ttl=server_ttl,
                next_poll=self.schedule.next_poll(now, self.schedule.interval(feed, server_ttl)),
            )
        return outcome

    def _ids_churned(self, feed: str, items: tuple[Item, ...], facts: tuple[ItemFacts, ...]) -> bool:
        """No item known by its key, yet most of their links already stored."""
        if len(items) < 5 or self.store.known_keys(feed, (i.key for i in items)):
            return False
        known = self.store.known_links(feed, (f.canonical for f in facts))
        return known * 2 >= len(items)

    def prune(self) -> int:
        """Retention: drop old items' text, keep their identity. Returns items pruned."""
        with self.store.transaction():
            pruned = self.store.prune(self.clock() - self.config.settings.retention)
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
        for count in self.store.index_pending(search_text):
            indexed += count
            await asyncio.sleep(0)
        return indexed

    async def deliver_due(self) -> DeliveryReport:
        """Send every due delivery (retries, digests, flood guard and rate limit: see outbox.py)."""
        return await self.outbox.deliver_due()
