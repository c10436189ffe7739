"""Ingest one parsed document: store its items, join them to stories, alert on what is new.

Everything happens inside one transaction, in named steps whose order matters:

1. `_is_baseline`: the first poll (or every id changed at once) records without alerting.
2. `_store`: item by item, each alerted on (step 3) before the next is stored. For each:
   identity (known key, else the same link and title under another key), story
   assignment, the update notice (it must read the story's outlets *before* this item
   joins them, and an edited headline *before* it is overwritten), then the write.
3. `_alert`: rules matched on what is new or edited (an edit alerts only when it is what
   made the item match), one alert per (rule, story), fanned out to the rule's channels.
   Then, for a `fulltext` feed, the item is queued for its article page (new, or its link
   changed); `body_arrived` alerts again, later, on what the body makes match.
4. `_spikes`: once the items are in, each spike rule that matched looks at its last hour.
5. `_finish`: the baseline mark and the poll's record (validators, next poll).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Config, FeedConfig, RuleConfig
from ..delivery.fanout import FanOut
from ..delivery.holds import Holds
from ..desk.spikes import Spikes
from ..desk.story_updates import StoryUpdates
from ..models import Item, ItemFacts, ParsedFeed, PollOutcome, feed_label, stored_fields
from ..parsing.facts import facts_of, search_text
from ..rules import CompiledQuery, Document, RuleSet
from ..store import Store
from .schedule import Schedule
from .stories import StoryMatcher

log = logging.getLogger("monitor.polling.ingest")


@dataclass(frozen=True)
class Validators:
    """What the server said about the document, recorded with the poll."""

    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    server_ttl: float | None = None


@dataclass(frozen=True)
class Stored:
    """An item this poll stored or changed."""

    item_id: int
    story_id: int
    previous: Document | None  # the stored version an edit replaced; None for a new item
    body: str = ""  # the article body it keeps (an edit of an item whose link did not change)
    wants_body: bool = False  # new, or its link changed: its article is to be fetched (`fulltext` feeds)


class Ingest:
    def __init__(
        self,
        config: Config,
        store: Store,
        compiled: Mapping[str, CompiledQuery],
        stories: StoryMatcher,
        fanout: FanOut,
        holds: Holds,
        spikes: Spikes,
        updates: StoryUpdates,
        schedule: Schedule,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.store = store
        self.compiled = compiled
        self.stories = stories
        self.fanout = fanout
        self.holds = holds
        self.spikes = spikes
        self.updates = updates
        self.schedule = schedule
        self.clock = clock
        self._rulesets: dict[str, RuleSet] = {}

    def ruleset_for(self, feed: FeedConfig) -> RuleSet:
        """Only the rules scoped to this feed, indexed once per feed."""
        rs = self._rulesets.get(feed.name)
        if rs is None:
            rs = RuleSet({r.name: self.compiled[r.name] for r in self.config.rules if r.applies_to(feed)})
            self._rulesets[feed.name] = rs
        return rs

    def __call__(self, feed: FeedConfig, parsed: ParsedFeed, validators: Validators = Validators()) -> PollOutcome:
        """Store the items, evaluate rules on what is new or changed, enqueue deliveries."""
        now = self.clock()
        outcome = PollOutcome(feed.name, "ok", http_status=validators.status, warnings=list(parsed.warnings))
        label = feed_label(feed.title or feed.name, parsed.title)
        with self.store.transaction():
            facts = facts_of(parsed)
            baseline = self._is_baseline(feed, parsed, facts, outcome)
            spiking: set[str] = set()
            for item, stored in self._store(feed, label, parsed, facts, baseline, now, outcome):
                if self._alerts_on(item, baseline, now):
                    doc = Document.build({**item.fields(label), "body": stored.body})
                    spiking |= self._alert(feed, doc, stored, now, outcome)
                    if feed.fulltext and stored.wants_body and item.link:
                        self.store.want_body(stored.item_id, now)
                        outcome.bodies_wanted += 1
            if outcome.bodies_wanted:
                self._trim_body_queue(outcome)
            self._spikes(spiking, now)
            self._finish(feed, parsed, baseline, validators, now)
        return outcome

    def body_arrived(self, feed: FeedConfig, item: Mapping[str, Any], body: str, now: float) -> PollOutcome:
        """Store an item's article body (`item`: its row as claimed) and alert on the rules it
        makes match: one alert per rule and story still, so a rule the headline already
        alerted on stays quiet. Nothing happens when the item changed its link meanwhile."""
        outcome = PollOutcome(feed.name, "ok")
        with self.store.transaction():
            state = self.store.feed_state(feed.name)
            label = feed_label(feed.title or feed.name, state.title if state else None)
            row = self.store.find_item(feed.name, item["key"])
            if row is None or row["id"] != item["id"] or row["link"] != item["link"]:
                return outcome
            doc = Document.build(stored_fields({**row, "body": body}, label))
            # The document's own index text: the body is tokenised once, for the rules and the index.
            self.store.store_body(row["id"], body, doc.fts_text())
            self.store.count_bodies(feed.name, "fetched")
            stored = Stored(int(row["id"]), int(row["story_id"]), previous=None)
            self._spikes(self._alert(feed, doc, stored, now, outcome), now)
        return outcome

    def _trim_body_queue(self, outcome: PollOutcome) -> None:
        skipped = self.store.trim_body_queue(self.config.settings.article_queue)
        if skipped:
            outcome.warnings.append(
                f"{sum(skipped.values())} article(s) left without their body: more than "
                f"{self.config.settings.article_queue} were waiting for their page ([monitor] article_queue); "
                f"oldest skipped first ({', '.join(f'{feed}: {n}' for feed, n in sorted(skipped.items()))})"
            )

    def _is_baseline(
        self, feed: FeedConfig, parsed: ParsedFeed, facts: tuple[ItemFacts, ...], outcome: PollOutcome
    ) -> bool:
        state = self.store.feed_state(feed.name)
        baseline = state is None or not state.baselined
        if not baseline and self._ids_churned(feed.name, parsed.items, facts):
            outcome.warnings.append(
                "every item id changed at once while their links did not (a CMS migration?); "
                "re-baselined without alerting"
            )
            baseline = True
        outcome.baseline = baseline
        return baseline

    def _ids_churned(self, feed: str, items: tuple[Item, ...], facts: tuple[ItemFacts, ...]) -> bool:
        """No item known by its key, yet most of their links already stored."""
        if len(items) < 5 or self.store.known_keys(feed, (i.key for i in items)):
            return False
        known = self.store.known_links(feed, (f.canonical for f in facts))
        return known * 2 >= len(items)

    def _store(
        self,
        feed: FeedConfig,
        label: str,
        parsed: ParsedFeed,
        all_facts: tuple[ItemFacts, ...],
        baseline: bool,
        now: float,
        outcome: PollOutcome,
    ) -> Iterator[tuple[Item, Stored]]:
        """Write what is new or changed, one item at a time: the caller alerts on each before
        the next is written (a later item of the document may join the same story)."""
        # One query for what this feed already holds: an unchanged item (most of a changed
        # feed) costs a dict lookup, and a feed with nothing stored needs no look-ups at all.
        stored_digests = self.store.item_digests(feed.name, [i.key for i in parsed.items])
        feed_has_items = bool(stored_digests) or self.store.has_items(feed.name)
        inserted: set[tuple[str, str]] = set()  # (canonical link, title) stored by this loop
        notify_updates = self.updates.enabled and not baseline
        for item, facts in zip(parsed.items, all_facts, strict=True):
            if stored_digests.get(item.key) == facts.digest:
                continue
            row = None
            if feed_has_items or (facts.canonical, item.title) in inserted:
                row = self.store.find_item(feed.name, item.key) or self.store.find_item_by_link(
                    feed.name, facts.canonical, item.title
                )
            if row is None:
                stored = self._insert(feed, label, item, facts, notify_updates, now)
                inserted.add((facts.canonical, item.title))
                outcome.new_items += 1
                yield item, stored
                continue
            if row["key"] != item.key:
                # Found under its old key (GUID churn, a link no longer repeated): adopt the new one.
                self.store.rekey_item(row["id"], item.key)
                stored_digests.pop(row["key"], None)
            if row["content_hash"] != facts.digest:
                stored = self._update(feed, label, item, facts, row, notify_updates, now)
                outcome.changed_items += 1
                yield item, stored

    def _insert(
        self, feed: FeedConfig, label: str, item: Item, facts: ItemFacts, notify_updates: bool, now: float
    ) -> Stored:
        story_id = self.stories.assign(feed.name, item, facts, now)
        outlets_before = self.updates.outlets(story_id) if notify_updates else []
        item_id = self.store.insert_item(feed.name, item, facts, story_id, now)
        if outlets_before:
            self.updates.new_source(feed.name, label, story_id, item, outlets_before, now)
        return Stored(item_id, story_id, previous=None, wants_body=True)

    def _update(
        self,
        feed: FeedConfig,
        label: str,
        item: Item,
        facts: ItemFacts,
        row: Mapping[str, Any],
        notify_updates: bool,
        now: float,
    ) -> Stored:
        item_id, story_id = int(row["id"]), int(row["story_id"])
        previous = Document.build(stored_fields(row, label))
        if notify_updates:
            self.updates.edited(feed.name, story_id, row["title"] or "", item, now)
        # The body belongs to the page at the link: a new link wants its page fetched again.
        moved = row["canonical_url"] != facts.canonical
        body = "" if moved else row["body"] or ""
        self.store.update_item(item_id, item, facts, search_text(item.title, item.summary, body), now)
        return Stored(item_id, story_id, previous, body=body, wants_body=moved)

    def _alerts_on(self, item: Item, baseline: bool, now: float) -> bool:
        """The first poll records what exists without alerting on old news, except items
        published inside the backfill window."""
        if not baseline:
            return True
        backfill = self.config.settings.backfill
        return bool(backfill and item.published and item.published.timestamp() >= now - backfill)

    def _alert(self, feed: FeedConfig, doc: Document, stored: Stored, now: float, outcome: PollOutcome) -> set[str]:
        """Record and enqueue the item's new alerts; returns the spike rules among them."""
        spiking: set[str] = set()
        for rule_name, match in self.ruleset_for(feed).match(doc):
            # An edit alerts only when it is what made the item relevant.
            if stored.previous is not None and self.compiled[rule_name].match(stored.previous) is not None:
                continue
            occurrences = [(o.field, o.start, o.end) for o in match.occurrences]
            alert_id = self.store.record_alert(
                rule_name, stored.story_id, stored.item_id, match.terms, occurrences, now
            )
            if alert_id is None:
                continue
            outcome.alerts += 1
            rule = self._rule(rule_name)
            # Inside the rule's cooldown the match is folded into the window's follow-up.
            after = self.holds.cooldown(rule, now)
            self.fanout.alert(alert_id, rule.notify, now, urgent=rule.urgent, after=after)
            if rule.spike:
                spiking.add(rule_name)
        return spiking

    def _spikes(self, rules: set[str], now: float) -> None:
        for rule_name in sorted(rules):
            spike = self.spikes.check(self._rule(rule_name), now)
            if spike:
                log.info("rule %s: %s", rule_name, spike)

    def _finish(self, feed: FeedConfig, parsed: ParsedFeed, baseline: bool, validators: Validators, now: float) -> None:
        if baseline:
            self.store.mark_baselined(feed.name)
        v = validators
        self.store.record_poll(
            feed.name,
            now=now,
            status=v.status,
            etag=v.etag,
            last_modified=v.last_modified,
            title=parsed.title or None,
            body_hash=v.body_hash,
            server_ttl=v.server_ttl,
            next_poll=self.schedule.next_poll(now, self.schedule.interval(feed, v.server_ttl)),
        )

    def _rule(self, name: str) -> RuleConfig:
        rule = self.config.rule(name)
        if rule is None:  # the ruleset is built from config.rules: a name it yields is there
            raise LookupError(f"rule {name!r} is not in the configuration")
        return rule
