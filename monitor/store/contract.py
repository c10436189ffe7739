"""What the rest of monitor needs of a store, grouped by purpose.

The pipeline, the outbox and the desk depend on these protocols, not on a database: SQLite
(sqlite.py) and PostgreSQL (postgres.py) both satisfy `Store`. Rows come back
as the frozen records of records.py or as plain dicts keyed by column name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..models import Item, ItemFacts
from .records import Delivery, FeedState, SuccessfulPoll


class Database(Protocol):
    """The connection itself."""

    # Whether another thread may use the store while the opener's does: PostgreSQL's pool
    # yes, SQLite's one connection no (polling/storework.py runs polls' store work by it).
    threadsafe: bool

    def transaction(self) -> AbstractContextManager[Any]:
        """Everything inside commits together or not at all; nested calls join the outer one."""
        ...

    def ping(self) -> None:
        """Raise unless the database answers a query on a real table."""
        ...

    def close(self) -> None: ...


class FeedLedger(Protocol):
    """Each feed's polling state: validators, errors, schedule, redirects, baseline."""

    def sync_feeds(self, feeds: Iterable[tuple[str, str]], now: float, off: Iterable[str] = ()) -> list[str]:
        """Put a configuration in force: every configured (name, url) known, new feeds due now,
        and the configured feeds not `off` the ones claimed. Returns the feeds no longer polled."""
        ...

    def feed_state(self, name: str) -> FeedState | None:
        """The feed's row with its feed health row (`health`), in one read."""
        ...

    def feed_states_of(self, names: Iterable[str]) -> dict[str, FeedState]:
        """feed_state of each of these feeds that is known, by name, in one read."""
        ...

    def feed_states(self, count_items: bool = True) -> list[FeedState]:
        """Every known feed; `items` counted only with `count_items` (a read of every item's key)."""
        ...

    def any_never_read(self) -> bool:
        """Has any polled feed never had a document read (nothing stored of one)?"""
        ...

    def record_poll(
        self,
        name: str,
        *,
        now: float,
        next_poll: float,
        status: int | None,
        error: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        title: str | None = None,
        disabled_reason: str | None = None,
        body_hash: str | None = None,
        server_ttl: float | None = None,
        baselined: bool = False,
        interval: float | None = None,
        reason: str | None = None,
        per_day: float | None = None,
        rate: tuple[float, float, float] | None = None,
    ) -> FeedState | None:
        """Record one poll's outcome. `error` None means success (errors reset); `baselined`: it stored the
        feed's baseline; `interval`, `reason`, `per_day`: what the schedule chose, why, and the items a
        day it went by; `rate`: the publishing rate
        learned now (else the stored one is kept). Returns the row as recorded (no `health`), None
        for a feed not known."""
        ...

    def record_polls(self, polls: Sequence[SuccessfulPoll]) -> dict[str, FeedState]:
        """Record polls that read their feeds (errors reset), in one statement however many. Each
        known feed's row as recorded (no `health`), by name."""
        ...

    def record_redirect(self, name: str, target: str | None, count: int, adopt: bool) -> None:
        """Track a permanent move; `adopt` makes the feed poll `target` from now on."""
        ...

    def mark_baselined(self, name: str) -> None: ...

    def feed_rates(self) -> dict[str, tuple[tuple[float, float, float] | None, float | None]]:
        """Each polled feed's learned rate (as FeedState.rate) and server hint, by name."""
        ...

    def feed_intervals(self) -> dict[str, tuple[float, str]]:
        """The interval each feed's last poll chose, and why, by name."""
        ...

    def feed_errors(self) -> dict[str, int]:
        """Consecutive errors of every known feed, by name."""
        ...


class ItemStore(Protocol):
    """Items by feed: what is stored, how it changed, retention and the full-text index."""

    def item_digests(self, feed: str, keys: Iterable[str]) -> tuple[dict[str, str], bool]:
        """The content digest of each of these keys the feed has stored, and whether it has
        stored any item at all."""
        ...

    def find_item(self, feed: str, key: str) -> dict[str, Any] | None:
        """The stored version of an item (its searchable fields and digest), or None."""
        ...

    def find_items(self, feed: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """find_item for many keys at once, by key (those stored)."""
        ...

    def find_item_by_link(self, feed: str, url: str, title: str) -> dict[str, Any] | None:
        """The same item stored under another key: a link that was repeated inside an earlier document (so keyed by
        title and date then) and is unique now."""
        ...

    def find_items_by_link(self, feed: str, links: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """find_item_by_link for many (canonical link, title) at once, by (link, title) (those stored)."""
        ...

    def known_links(self, feed: str, canonical_urls: Iterable[str]) -> int:
        """How many of these canonical URLs the feed already has items for."""
        ...

    def rekey_item(self, item_id: int, key: str) -> None: ...

    def insert_item(self, feed: str, item: Item, facts: ItemFacts, story_id: int, now: float) -> int:
        """A new item; its full-text index text (`fts`) is left NULL for index_pending."""
        ...

    def insert_items(
        self, feed: str, items: Sequence[tuple[Item, ItemFacts, int, str | None]], now: float
    ) -> list[int]:
        """New items of one feed, each (item, facts, story id, full-text index text): their ids, in
        order, from one round trip."""
        ...

    def update_item(self, item_id: int, item: Item, facts: ItemFacts, search_text: str, now: float) -> None:
        """An edit. `search_text` (parsing.facts.search_text): an item already in the full-text index is re-indexed at
        once, by trigger."""
        ...

    def prune(self, before: float) -> int:
        """Drop the text of items first seen before `before`, keeping their identity (feed, key, content digest,
        story, title): a feed that re-publishes old items never re-alerts, and the database stays bounded."""
        ...

    def reclaim_space(self) -> None:
        """Give pruned pages back to the file system (auto_vacuum is incremental)."""
        ...

    def index_pending(self, search_text: Callable[[str, str, str], str], chunk: int = 1000) -> Iterator[int]:
        """Add the items stored since the last call to the full-text index, `chunk` items per transaction, their
        text made by `search_text(title, summary, body)` (parsing.facts.search_text) unless they have one (an edit, or
        pruned: ''). Yields how many each transaction indexed: a caller may pause between them."""
        ...

    def stored_items(
        self, since: float | None, fts_query: str | None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The items that arrived (were first stored) since `since`, the newest arrival first, narrowed by an FTS5
        expression when one is given: the one window of `monitor backtest` and the console's playground. Arrival,
        not a publication date, which the feed may leave out or get wrong: it is when ingest matched each item
        against the rules. Its index gives the first rows at once however many candidates there are."""
        ...


class StoryStore(Protocol):
    """Stories: the canonical link or headline an item joins, and what a story already has."""

    def story_by_url(self, url: str) -> int | None: ...

    def stories_by_urls(self, urls: Iterable[str]) -> dict[str, int]:
        """The story of each of these canonical URLs that has one."""
        ...

    def new_story(
        self,
        url: str,
        title: str,
        published: float | None,
        terms: Iterable[str],
        now: float,
        signature: str | None = None,
    ) -> int: ...

    def new_stories(
        self, stories: Sequence[tuple[str, str, float | None, Iterable[str], str | None]], now: float
    ) -> list[int]:
        """New stories, each (canonical url, headline, published, headline terms, signature): their ids, in order."""
        ...

    def story_candidates(
        self,
        terms: Iterable[str],
        exclude_feed: str,
        around: float,
        window: float,
        min_shared: int = 4,
        probe: Iterable[str] | None = None,
    ) -> list[tuple[int, str, str | None]]:
        """(id, headline, headline signature) of the stories sharing at least `min_shared` headline terms, dated
        within `window` of `around`, that have no item from `exclude_feed` (a feed's own items never merge). Only
        the postings of the `probe` terms are read: any len(terms) - min_shared + 1 of them find every such story."""
        ...

    def story_candidates_many(
        self,
        asks: Sequence[tuple[Iterable[str], Iterable[str] | None, float]],
        exclude_feed: str,
        window: float,
        min_shared: int = 4,
    ) -> list[list[tuple[int, str, str | None]]]:
        """story_candidates for many headlines of one feed, each (terms, probe, around), in one round trip."""
        ...

    def story_feeds(self, story_id: int) -> list[str]: ...

    def story_alerts(self, story_id: int) -> list[dict[str, Any]]:
        """The alerts already recorded on a story, with the headline each went out with."""
        ...


class AlertLedger(Protocol):
    """Alerts: one per (rule, story), and the counts the desk and the commands read."""

    def record_alert(
        self,
        rule: str,
        story_id: int,
        item_id: int,
        terms: Iterable[str],
        occurrences: Iterable[tuple[str, int, int]],
        now: float,
    ) -> int | None:
        """Record a (rule, story) alert once; None when the rule already alerted on the story."""
        ...

    def recent_alerts(self, limit: int = 50) -> list[dict[str, Any]]: ...

    def alerts_since(self, since: float) -> int: ...

    def rule_alert_count(self, rule: str, since: float, until: float) -> int:
        """Alerts (stories matched) of a rule created in [since, until)."""
        ...

    def top_stories(self, rule: str, since: float, limit: int = 5) -> list[dict[str, Any]]:
        """The rule's stories since `since`, most widely carried first."""
        ...


class DeliveryQueue(Protocol):
    """The outbox: deliveries and notices waiting, sent, failing or dead."""

    def enqueue(
        self, alert_id: int, channel: str, target: str, now: float, due: float | None = None, hold: str | None = None
    ) -> None:
        """One delivery per (alert, channel, destination); `due` holds it (a digest's send time), `hold` says why
        it is held to be folded ("cooldown", "quiet")."""
        ...

    def add_notice(
        self,
        kind: str,
        rule: str,
        feed: str,
        title: str,
        body: str,
        now: float,
        link: str = "",
        alert_id: int | None = None,
    ) -> int:
        """A message that is not one story alert (feed health, a spike, a story update)."""
        ...

    def enqueue_notice(
        self, notice_id: int, channel: str, target: str, now: float, due: float | None = None, hold: str | None = None
    ) -> None: ...

    def due_deliveries(self, now: float, limit: int = 200) -> list[Delivery]: ...

    def claim(self, ids: list[int], now: float, lease: float) -> list[Delivery]:
        """Make pending or dead deliveries pending again with a fresh age-out clock, and hold them for `lease`
        seconds so that a running daemon leaves them to the caller who sends them now."""
        ...

    def mark_sent_together(self, ids: list[int], now: float, message_id: str | None = None) -> None:
        """Deliveries that went out in one message (one alert, or a digest), with the email
        Message-ID it went out under; committed durably (it must survive a power cut)."""
        ...

    def mark_failed_together(
        self, ids: list[int], error: str, next_attempt: float, now: float, dead_after: float, attempted: bool = True
    ) -> list[int]:
        """Record a failure (or, `attempted` False, a wait behind one); those failing for `dead_after` become dead
        letters (their ids returned)."""
        ...

    def fold(self, ids: list[int], release: float) -> None:
        """Hold deliveries for the flood guard's digest at `release`."""
        ...

    def fold_release(self, channel: str, target: str) -> float | None:
        """When the destination's pending flood digest goes out, if one is being collected."""
        ...

    def messages_since(self, channel: str, target: str, since: float) -> int:
        """Messages (a digest counts once) sent to one destination since `since`."""
        ...

    def thread_message_id(self, alert_id: int, channel: str, target: str) -> str | None:
        """The Message-ID the alert went out under to this destination (None if not sent yet)."""
        ...

    def outbox(self, limit: int = 500, after: int = 0) -> list[dict[str, Any]]:
        """Pending and dead deliveries, oldest first (above the id `after`: a page), with what they carry."""
        ...

    def delivery_status(self, ids: list[int]) -> dict[int, str]: ...

    def dead_ids(self) -> list[int]: ...

    def outbox_counts(self) -> dict[str, int]:
        """Deliveries not yet sent, by status ('pending', and 'dead' once deliveries age out)."""
        ...


class DeskState(Protocol):
    """What the desk remembers between polls: feed health, rule windows, a feed's cadence."""

    def feed_health(self, name: str) -> dict[str, Any] | None: ...

    def feed_healths(self) -> dict[str, dict[str, Any]]: ...

    def set_feed_health(self, name: str, state: str, since: float, detail: str, checked: float) -> None: ...

    def item_times(self, feed: str, limit: int = 30) -> list[float]:
        """When the feed's latest items appeared, newest first: their publication time, unless that is later than
        when we first saw them (a future date is the feed's mistake)."""
        ...

    def rule_state(self, rule: str) -> dict[str, Any]: ...

    def set_rule_state(self, rule: str, **values: float | None) -> None: ...

    def first_seen_any(self) -> float | None:
        """When monitoring began: the first item ever stored."""
        ...


class Cluster(Protocol):
    """Several daemons on one database: leases on feeds and on once-per-cluster jobs, and the
    nodes' heartbeats (cluster.py). On SQLite the one daemon holds every lease."""

    node: str  # this process, as leases and listings name it

    def claim_feeds(self, now: float, lease: float, limit: int) -> list[str]:
        """Lease up to `limit` polled feeds that are due and that no live node holds, most overdue
        first; recording a poll frees the lease."""
        ...

    def release_feeds(self, names: Iterable[str]) -> None:
        """Give back leases taken on feeds this node will not poll."""
        ...

    def hold_lease(self, job: str, now: float, lease: float) -> bool:
        """Take or renew the lease of a once-per-cluster job; False while another live node holds it."""
        ...

    def beat(self, now: float, started: float) -> None: ...

    def leave(self, now: float) -> None:
        """A clean stop: free this node's leases at once."""
        ...

    def forget_nodes(self, before: float) -> int: ...

    def cluster_nodes(self, now: float) -> list[dict[str, Any]]:
        """Every node heard from, newest heartbeat first, with the leases it holds at `now`."""
        ...


class Listings(Protocol):
    """What the web console reads (listings.py): pages of alerts, a story whole, counts per rule."""

    def alert_page(
        self,
        limit: int = 50,
        before: int | None = None,
        rule: str | None = None,
        channel: str | None = None,
        story: int | None = None,
    ) -> list[dict[str, Any]]:
        """Alerts newest first, below the id `before` when given; optionally one rule's, one channel's or one
        story's; each with its item, its story's outlets (`outlets`) and its deliveries (`deliveries`)."""
        ...

    def story_outlets(self, story_ids: set[int]) -> dict[int, list[str]]: ...

    def story_record(self, story_id: int) -> dict[str, Any] | None: ...

    def story_items(self, story_id: int) -> list[dict[str, Any]]: ...

    def story_notices(self, story_id: int) -> list[dict[str, Any]]:
        """The updates recorded about a story's alerts (a new outlet, an edited headline), each once."""
        ...

    def rule_alert_counts(self, since: float) -> dict[str, int]: ...


class BodyQueue(Protocol):
    """Article bodies and the queue of items waiting for their page (bodies.py)."""

    def want_body(self, item_id: int, now: float) -> None: ...

    def trim_body_queue(self, limit: int) -> dict[str, int]:
        """Skip the oldest queued items past `limit`; how many per feed."""
        ...

    def claim_bodies(self, now: float, lease: float, limit: int) -> list[dict[str, Any]]:
        """Due queued items (id, feed, key, link, body_attempts), oldest first, leased to this node."""
        ...

    def store_body(self, item_id: int, body: str, search_text: str, link: str | None = None) -> bool:
        """Store an article's main text (with `link`: only while the item still has it); whether it was."""
        ...

    def no_body(self, item_id: int, outcome: str) -> None: ...

    def retry_body(self, item_id: int, due: float, attempted: bool = True) -> None: ...

    def count_bodies(self, feed: str, outcome: str, count: int = 1) -> None: ...

    def body_counts(self) -> dict[str, dict[str, int]]:
        """Per feed, how many bodies each outcome had (bodies.BODY_OUTCOMES)."""
        ...

    def bodies_pending(self, feeds: Iterable[str] | None = None, since: float | None = None) -> int: ...


class Store(
    Database,
    FeedLedger,
    ItemStore,
    StoryStore,
    AlertLedger,
    BodyQueue,
    DeliveryQueue,
    DeskState,
    Cluster,
    Listings,
    Protocol,
):
    """Everything at once: what the assembler opens and hands to the pipeline."""
