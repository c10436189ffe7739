"""Ingest one parsed document: store its items, join them to stories, alert on what is new.

In two parts, so that the write lock (one writer at a time on SQLite, the cluster's advisory
lock on PostgreSQL) is held only for the statements that decide and write:

1. Unlocked, reading only this feed's own rows (only the node holding its lease writes them):
   `_is_baseline` (the first poll, or every id changed at once, records without alerting);
   `_changes`: what each item is (unchanged, new, an edit or a new key for a stored item),
   its document and the rules it matches (an edit alerts only when it is what made the item
   match). Nothing is written.
2. In one transaction, a few statements per step whatever the number of items:
   `_write`: the new items' stories (assigned together: stories.py), the update notices
   (they must read a story's outlets *before* this item joins them, and an edited headline
   *before* it is overwritten), the items. Then `_alert`, item by item in the document's
   order: one alert per (rule, story), fanned out to the rule's channels; a `fulltext`
   feed's item queued for its article page (new, or its link changed); `body_arrived`
   alerts again, later, on what the body makes match. An item whose identity depends on an
   earlier one of the same document (a repeated link) is stored after them, one by one
   (`_store_one`), as it must see them. Then `_spikes` (each spike rule that matched looks
   at its last hour) and `_finish` (the baseline mark and the poll's record).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import astuple, dataclass, field
from typing import Any

from ..config import Config, FeedConfig, RuleConfig
from ..delivery.fanout import FanOut
from ..delivery.holds import Holds
from ..desk.spikes import Spikes
from ..desk.story_updates import StoryUpdates
from ..models import Item, ItemFacts, ParsedFeed, PollOutcome, feed_label, stored_fields
from ..parsing.facts import facts_of, search_text
from ..rules import CompiledQuery, Document, Match, RuleSet
from ..store import FeedState, Store
from .rates import Rate, learn
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


@dataclass
class Change:
    """An item of the document that is new or differs from its stored version, as read before
    the lock: what is to be written, and the rules it makes match (when it alerts at all)."""

    item: Item
    facts: ItemFacts
    row: Mapping[str, Any] | None  # the stored version (found by key, or by link and title); None: new
    alerts: bool  # outside a baseline, or inside its backfill window
    matches: list[tuple[str, Match]] = field(default_factory=list)  # the rules it alerts on
    previous: Document | None = None  # the stored version, as the rules read it
    body: str = ""  # the body an edit keeps
    index_text: str = ""  # its full-text index text (parsing.facts.search_text), written with it
    moved: bool = False  # an edit whose link changed: its body is dropped, its page wanted again

    @property
    def edited(self) -> bool:
        """Not only a new key for a stored item: what it says changed."""
        return self.row is None or self.row["content_hash"] != self.facts.digest


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

    def __call__(
        self,
        feed: FeedConfig,
        parsed: ParsedFeed,
        validators: Validators = Validators(),
        known: FeedState | None = None,
    ) -> PollOutcome:
        """Store the items, evaluate rules on what is new or changed, enqueue deliveries.
        `known`: the feed's row as this poll read it before fetching (else read here)."""
        return self.recording(feed, parsed, validators, known)[0]

    def recording(
        self,
        feed: FeedConfig,
        parsed: ParsedFeed,
        validators: Validators = Validators(),
        known: FeedState | None = None,
    ) -> tuple[PollOutcome, FeedState | None]:
        """The ingest (`__call__`), and the feed's row as its poll's record left it (no
        `health`; None for a feed not known)."""
        now = self.clock()
        outcome = PollOutcome(feed.name, "ok", http_status=validators.status, warnings=list(parsed.warnings))
        label = feed_label(feed.title or feed.name, parsed.title)
        facts = facts_of(parsed)
        # One query for what this feed already holds: an unchanged item (most of a changed
        # feed) costs a dict lookup, and a feed with nothing stored needs no look-ups at all.
        stored_digests, holds_items = self.store.item_digests(feed.name, [i.key for i in parsed.items])
        state = known or self.store.feed_state(feed.name)
        baseline = self._is_baseline(feed, state, parsed, facts, stored_digests, outcome)
        changes, later = self._changes(feed, label, parsed, facts, stored_digests, holds_items, baseline, now)
        rate = self._rate(Rate.stored(state.rate) if state and not baseline else None, parsed, changes, later, now)
        with self.store.transaction():
            notify_updates = self.updates.enabled and not baseline
            spiking: set[str] = set()
            for change, stored in self._write(feed, label, changes, notify_updates, now, outcome):
                spiking |= self._settle(feed, change, stored, now, outcome)
            for item, item_facts in later:
                for change, stored in self._store_one(
                    feed, label, item, item_facts, baseline, notify_updates, now, outcome
                ):
                    spiking |= self._settle(feed, change, stored, now, outcome)
            if outcome.bodies_wanted:
                self._trim_body_queue(outcome)
            self._spikes(spiking, now)
            after = self._finish(feed, parsed, baseline, validators, rate, now)
        return outcome, after

    def body_arrived(self, feed: FeedConfig, item: Mapping[str, Any], body: str, now: float) -> PollOutcome:
        """Store an item's article body (`item`: its row as claimed) and alert on the rules it
        makes match: one alert per rule and story still, so a rule the headline already
        alerted on stays quiet. Nothing happens when the item changed its link meanwhile."""
        outcome = PollOutcome(feed.name, "ok")
        state = self.store.feed_state(feed.name)
        label = feed_label(feed.title or feed.name, state.title if state else None)
        row = self.store.find_item(feed.name, item["key"])
        if row is None or row["id"] != item["id"] or row["link"] != item["link"]:
            return outcome
        doc = Document.build(stored_fields({**row, "body": body}, label))
        matches = self._matches(feed, doc, previous=None)
        index_text = doc.fts_text()  # the body tokenised once, for the rules and the index
        with self.store.transaction():
            if not self.store.store_body(row["id"], body, index_text, link=row["link"]):
                return outcome  # its link changed since it was read
            self.store.count_bodies(feed.name, "fetched")
            stored = Stored(int(row["id"]), int(row["story_id"]), previous=None)
            self._spikes(self._alert(feed, matches, stored, now, outcome), now)
        return outcome

    def _rate(
        self,
        learned: Rate | None,
        parsed: ParsedFeed,
        changes: list[Change],
        later: list[tuple[Item, ItemFacts]],
        now: float,
    ) -> Rate:
        """The feed's publishing rate (rates.py) after this document: a first one (or a
        baseline again) tells its past rate by its items' dates; after that, its new items
        count, at their dates or now."""
        if learned is None:
            return learn(
                None, (i.published.timestamp() for i in parsed.items if i.published), now, self.schedule.memory
            )
        new = [c.item for c in changes if c.row is None] + [item for item, _ in later]
        times = (i.published.timestamp() if i.published else now for i in new)
        return learn(learned, times, now, self.schedule.memory)

    def _trim_body_queue(self, outcome: PollOutcome) -> None:
        skipped = self.store.trim_body_queue(self.config.settings.article_queue)
        if skipped:
            outcome.warnings.append(
                f"{sum(skipped.values())} article(s) left without their body: more than "
                f"{self.config.settings.article_queue} were waiting for their page ([monitor] article_queue); "
                f"oldest skipped first ({', '.join(f'{feed}: {n}' for feed, n in sorted(skipped.items()))})"
            )

    def _is_baseline(
        self,
        feed: FeedConfig,
        state: FeedState | None,
        parsed: ParsedFeed,
        facts: tuple[ItemFacts, ...],
        stored_digests: Mapping[str, str],
        outcome: PollOutcome,
    ) -> bool:
        baseline = state is None or not state.baselined
        if not baseline and not stored_digests and self._ids_churned(feed.name, parsed.items, facts):
            outcome.warnings.append(
                "every item id changed at once while their links did not (a CMS migration?); "
                "re-baselined without alerting"
            )
            baseline = True
        outcome.baseline = baseline
        return baseline

    def _ids_churned(self, feed: str, items: tuple[Item, ...], facts: tuple[ItemFacts, ...]) -> bool:
        """No item known by its key (the caller knows), yet most of their links already stored."""
        if len(items) < 5:
            return False
        known = self.store.known_links(feed, (f.canonical for f in facts))
        return known * 2 >= len(items)

    def _changes(
        self,
        feed: FeedConfig,
        label: str,
        parsed: ParsedFeed,
        all_facts: tuple[ItemFacts, ...],
        stored_digests: Mapping[str, str],
        holds_items: bool,
        baseline: bool,
        now: float,
    ) -> tuple[list[Change], list[tuple[Item, ItemFacts]]]:
        """What is new or changed, read without the lock; and, in order, the items from the first
        whose identity depends on an earlier item of this document (a link or a stored item
        two of them share): those are stored one by one after the others (`_store_one`)."""
        pending = [
            (i, f) for i, f in zip(parsed.items, all_facts, strict=True) if stored_digests.get(i.key) != f.digest
        ]
        if not pending:
            return [], []
        by_key: dict[str, dict[str, Any]] = {}
        by_link: dict[tuple[str, str], dict[str, Any]] = {}
        if holds_items:
            by_key = self.store.find_items(feed.name, [i.key for i, _ in pending])
            by_link = self.store.find_items_by_link(
                feed.name, [(f.canonical, i.title) for i, f in pending if i.key not in by_key]
            )
        changes: list[Change] = []
        rows_taken: set[int] = set()
        links_new: set[str] = set()
        for n, (item, facts) in enumerate(pending):
            row = by_key.get(item.key) or by_link.get((facts.canonical, item.title))
            if row is None:
                depends = bool(facts.canonical) and facts.canonical in links_new
                links_new.add(facts.canonical)
            else:
                depends = row["id"] in rows_taken
                rows_taken.add(row["id"])
            if depends:
                return changes, pending[n:]
            changes.append(self._change(feed, label, item, facts, row, baseline, now))
        return changes, []

    def _change(
        self,
        feed: FeedConfig,
        label: str,
        item: Item,
        facts: ItemFacts,
        row: Mapping[str, Any] | None,
        baseline: bool,
        now: float,
    ) -> Change:
        change = Change(item, facts, row, alerts=self._alerts_on(item, baseline, now))
        if row is not None:
            # The body belongs to the page at the link: a new link wants its page fetched again.
            change.moved = row["canonical_url"] != facts.canonical
            change.body = "" if change.moved else row["body"] or ""
            change.previous = Document.build(stored_fields(row, label))
        if change.alerts and change.edited:
            doc = Document.build({**item.fields(label), "body": change.body})
            change.matches = self._matches(feed, doc, change.previous)
            change.index_text = doc.fts_text()  # the rules' tokens, not made twice
        elif row is None and facts.index_text:  # a first document's, made by the parser
            change.index_text = facts.index_text
        else:
            change.index_text = search_text(item.title, item.summary, change.body)
        return change

    def _write(
        self,
        feed: FeedConfig,
        label: str,
        changes: list[Change],
        notify_updates: bool,
        now: float,
        outcome: PollOutcome,
    ) -> list[tuple[Change, Stored]]:
        """Store the changes (inside the transaction): the new items' stories and notices, the
        new items in one statement, then the edits. What was stored or edited, in document order."""
        new = [c for c in changes if c.row is None]
        stories = self.stories.assign_many(feed.name, [(c.item, c.facts) for c in new], now)
        outlets = self._outlets(feed.name, stories) if notify_updates else {}
        ids = self.store.insert_items(
            feed.name, [(c.item, c.facts, story, c.index_text) for c, story in zip(new, stories, strict=True)], now
        )
        for change, story in zip(new, stories, strict=True):
            if outlets.get(story):  # its first item from this feed: a later one finds the feed among them
                self.updates.new_source(feed.name, label, story, change.item, outlets.pop(story), now)
        outcome.new_items += len(new)
        inserted = iter(
            Stored(item_id, story, None, wants_body=True) for item_id, story in zip(ids, stories, strict=True)
        )
        written: list[tuple[Change, Stored]] = []
        for change in changes:
            stored = next(inserted) if change.row is None else self._edit(feed, change, notify_updates, now, outcome)
            if stored is not None:
                written.append((change, stored))
        return written

    def _outlets(self, feed: str, stories: list[int]) -> dict[int, list[str]]:
        """The outlets of each story the new items join, read before they join it (StoryUpdates)."""
        return {story: self.updates.outlets(story) for story in dict.fromkeys(stories)}

    def _edit(
        self, feed: FeedConfig, change: Change, notify_updates: bool, now: float, outcome: PollOutcome
    ) -> Stored | None:
        """A stored item under a new key, or edited: None when only its key changed."""
        row, item = change.row, change.item
        assert row is not None
        item_id, story_id = int(row["id"]), int(row["story_id"])
        if row["key"] != item.key:
            # Found under its old key (GUID churn, a link no longer repeated): adopt the new one.
            self.store.rekey_item(item_id, item.key)
        if not change.edited:
            return None
        if notify_updates:
            self.updates.edited(feed.name, story_id, row["title"] or "", item, now)
        self.store.update_item(item_id, item, change.facts, change.index_text, now)
        outcome.changed_items += 1
        return Stored(item_id, story_id, change.previous, body=change.body, wants_body=change.moved)

    def _store_one(
        self,
        feed: FeedConfig,
        label: str,
        item: Item,
        facts: ItemFacts,
        baseline: bool,
        notify_updates: bool,
        now: float,
        outcome: PollOutcome,
    ) -> list[tuple[Change, Stored]]:
        """One item whose identity depends on an earlier one of the document, read and written
        inside the transaction, after them."""
        row = self.store.find_item(feed.name, item.key) or self.store.find_item_by_link(
            feed.name, facts.canonical, item.title
        )
        if row is not None and row["key"] == item.key and row["content_hash"] == facts.digest:
            return []  # the same as an earlier item of this document made it
        return self._write(
            feed, label, [self._change(feed, label, item, facts, row, baseline, now)], notify_updates, now, outcome
        )

    def _settle(self, feed: FeedConfig, change: Change, stored: Stored, now: float, outcome: PollOutcome) -> set[str]:
        """After an item is stored: its alerts and, for a `fulltext` feed, its article page
        wanted. Returns the spike rules among the alerts."""
        if not change.alerts:
            return set()
        spiking = self._alert(feed, change.matches, stored, now, outcome)
        if feed.fulltext and stored.wants_body and change.item.link:
            self.store.want_body(stored.item_id, now)
            outcome.bodies_wanted += 1
        return spiking

    def _alerts_on(self, item: Item, baseline: bool, now: float) -> bool:
        """The first poll records what exists without alerting on old news, except items
        published inside the backfill window."""
        if not baseline:
            return True
        backfill = self.config.settings.backfill
        return bool(backfill and item.published and item.published.timestamp() >= now - backfill)

    def _matches(self, feed: FeedConfig, doc: Document, previous: Document | None) -> list[tuple[str, Match]]:
        """The rules `doc` matches; for an edit, those its previous version did not (an edit
        alerts only when it is what made the item relevant). No database: run before the lock."""
        return [
            (rule_name, match)
            for rule_name, match in self.ruleset_for(feed).match(doc)
            if previous is None or self.compiled[rule_name].match(previous) is None
        ]

    def _alert(
        self, feed: FeedConfig, matches: list[tuple[str, Match]], stored: Stored, now: float, outcome: PollOutcome
    ) -> set[str]:
        """Record and enqueue the item's new alerts; returns the spike rules among them."""
        spiking: set[str] = set()
        for rule_name, match in matches:
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

    def _finish(
        self, feed: FeedConfig, parsed: ParsedFeed, baseline: bool, validators: Validators, rate: Rate, now: float
    ) -> FeedState | None:
        v = validators
        plan = self.schedule.plan(feed, v.server_ttl, rate, now)
        return self.store.record_poll(
            feed.name,
            now=now,
            status=v.status,
            etag=v.etag,
            last_modified=v.last_modified,
            title=parsed.title or None,
            body_hash=v.body_hash,
            server_ttl=v.server_ttl,
            baselined=baseline,
            next_poll=self.schedule.next_poll(now, plan.interval),
            interval=plan.interval,
            reason=plan.reason,
            per_day=plan.per_day,
            rate=astuple(rate),
        )

    def _rule(self, name: str) -> RuleConfig:
        rule = self.config.rule(name)
        if rule is None:  # the ruleset is built from config.rules: a name it yields is there
            raise LookupError(f"rule {name!r} is not in the configuration")
        return rule
