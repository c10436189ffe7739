"""Poll one feed end to end (fetch → parse → ingest) and drain the outbox.

No SQL and no HTTP details here: those live in store.py and fetch.py, which are
passed in. Ingest is one transaction: items, stories, alerts and deliveries are
committed together or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from .config import Config, FeedConfig
from .errors import FeedGone, FetchError, ParseError
from .fetch import Fetcher
from .logs import redact_url
from .models import ParsedFeed, PollOutcome
from .notify import Notifier
from .outbox import DeliveryReport, Outbox
from .parse import parse_feed
from .rules import Document, RuleSet, compile_query
from .store import Store

log = logging.getLogger("monitor.pipeline")

MAX_BACKOFF = 6 * 3600.0

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
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.notifier = notifier
        self.clock = clock
        self.rng = rng or random.Random()
        self.compiled = {r.name: compile_query(r.query, config.aliases) for r in config.rules}
        self._rulesets: dict[str, RuleSet] = {}
        self.outbox = Outbox(store, notifier, config.channels, config.delivery, clock=clock)
        store.sync_feeds(((f.name, f.url) for f in config.feeds), clock())

    def ruleset_for(self, feed: FeedConfig) -> RuleSet:
        """Only the rules scoped to this feed, indexed once per feed."""
        rs = self._rulesets.get(feed.name)
        if rs is None:
            rs = RuleSet({r.name: self.compiled[r.name] for r in self.config.rules if r.applies_to(feed)})
            self._rulesets[feed.name] = rs
        return rs

    def enabled_feeds(self) -> list[FeedConfig]:
        return [f for f in self.config.feeds if f.enabled]

    def _next_poll(self, now: float, interval: float) -> float:
        j = self.config.settings.jitter
        return now + interval * (1 + self.rng.uniform(-j, j))

    def _backoff(self, now: float, feed: FeedConfig, errors: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return now + retry_after
        delay = min(feed.interval * (2 ** min(errors, 16)), MAX_BACKOFF)
        return now + delay * (1 + self.rng.uniform(0, 0.2))

    async def poll(self, feed: FeedConfig) -> PollOutcome:
        """Fetch, parse and ingest one feed. Never raises for the feed's own faults."""
        state = self.store.feed_state(feed.name)
        if state and state.disabled_reason:
            return PollOutcome(feed.name, "disabled", http_status=state.last_status, error=state.disabled_reason)
        etag = state.etag if state else None
        modified = state.last_modified if state else None
        url = feed.url
        try:
            result = await self.fetcher.fetch(url, etag, modified)
            if result.not_modified:
                now = self.clock()
                self.store.record_poll(feed.name, now=now, status=304, next_poll=self._next_poll(now, feed.interval))
                return PollOutcome(feed.name, "not-modified", http_status=304)
            parsed = await asyncio.to_thread(parse_feed, result.body or b"", result.url, result.content_type)
        except (FetchError, ParseError) as exc:
            return self._failed(feed, exc, state.consecutive_errors if state else 0)
        outcome = self.ingest(feed, parsed, status=result.status, etag=result.etag, last_modified=result.last_modified)
        if result.permanent_redirect:
            msg = f"moved permanently to {redact_url(result.permanent_redirect)}; update its url in the config"
            outcome.warnings.append(msg)
        for warning in outcome.warnings:
            log.warning("feed %s: %s", feed.name, warning)
        return outcome

    def _failed(self, feed: FeedConfig, exc: Exception, errors_before: int) -> PollOutcome:
        now = self.clock()
        status = getattr(exc, "status", None)
        message = str(exc)
        disabled = message if isinstance(exc, FeedGone) else None
        next_poll = self._backoff(now, feed, errors_before, getattr(exc, "retry_after", None))
        self.store.record_poll(
            feed.name, now=now, status=status, error=message, next_poll=next_poll, disabled_reason=disabled
        )
        log.warning("feed %s: %s%s", feed.name, message, " (feed disabled)" if disabled else "")
        return PollOutcome(feed.name, "disabled" if disabled else "error", http_status=status, error=message)

    def ingest(
        self,
        feed: FeedConfig,
        parsed: ParsedFeed,
        *,
        status: int = 200,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> PollOutcome:
        """Store the items, evaluate rules on what is new or changed, enqueue deliveries."""
        now = self.clock()
        outcome = PollOutcome(feed.name, "ok", http_status=status, warnings=list(parsed.warnings))
        rules = self.ruleset_for(feed)
        label = " ".join(x for x in (feed.title or feed.name, parsed.title) if x)
        backfill = self.config.settings.backfill
        with self.store.transaction():
            state = self.store.feed_state(feed.name)
            baseline = state is None or not state.baselined
            outcome.baseline = baseline
            for item in parsed.items:
                doc = Document.build(item.fields(label))
                item_id, story_id, change = self.store.upsert_item(feed.name, item, doc.fts_text(), now)
                if change == "same":
                    continue
                if change == "new":
                    outcome.new_items += 1
                else:
                    outcome.changed_items += 1
                # The first poll records what exists without alerting on old news,
                # except items published inside the backfill window.
                if baseline and not (
                    backfill and item.published and item.published.timestamp() >= now - backfill
                ):
                    continue
                for rule_name, match in rules.match(doc):
                    occurrences = [(o.field, o.start, o.end) for o in match.occurrences]
                    alert_id = self.store.record_alert(rule_name, story_id, item_id, match.terms, occurrences, now)
                    if alert_id is None:
                        continue
                    outcome.alerts += 1
                    for channel in self.config.rule(rule_name).notify:
                        for target in self.notifier.targets(channel):
                            self.store.enqueue(alert_id, channel, target, now, self.outbox.hold_until(channel, now))
            if baseline:
                self.store.mark_baselined(feed.name)
            self.store.record_poll(
                feed.name, now=now, status=status, etag=etag, last_modified=last_modified,
                title=parsed.title or None, next_poll=self._next_poll(now, feed.interval),
            )
        return outcome

    async def deliver_due(self) -> DeliveryReport:
        """Send every due delivery (retries, digests, flood guard and rate limit: see outbox.py)."""
        return await self.outbox.deliver_due()
