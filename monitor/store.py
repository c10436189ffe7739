"""The only module that writes SQL: schema, state of feeds, items, stories, alerts, outbox."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from .dedup import canonical_url
from .errors import MonitorError
from .models import Item

SCHEMA_VERSION = 3  # 2: outbox columns (dead letters, age-out, flood folding, batches); 3: desk (issue 9)


@dataclass(frozen=True)
class FeedState:
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    next_poll: float
    last_poll: float | None
    last_success: float | None
    last_status: int | None
    consecutive_errors: int
    last_error: str | None
    disabled_reason: str | None
    baselined: bool
    adopted_url: str | None = None
    items: int = 0
    redirect_target: str | None = None  # a permanent move seen but not yet adopted
    redirect_count: int = 0
    body_hash: str | None = None
    server_ttl: float | None = None  # the server's own idea of an interval (ttl, max-age)

    @property
    def poll_url(self) -> str:
        return self.adopted_url or self.url


@dataclass(frozen=True)
class Delivery:
    id: int
    alert_id: int | None  # None for a notice (feed health, spike, story update)
    channel: str
    target: str
    attempts: int
    rule: str
    title: str
    link: str
    feed: str
    summary: str
    published: float | None
    terms: tuple[str, ...]
    occurrences: tuple[tuple[str, int, int], ...]
    created: float = 0.0
    fold: bool = False  # held by the flood guard, to go out in one digest
    hold: str | None = None  # "cooldown" or "quiet": held to go out folded with its kind (desk.py)
    notice: str | None = None  # a notice's kind ("health", "spike", "update"); None for a story alert
    notice_alert: int | None = None  # an "update" notice: the alert whose email thread it continues


def _row_dict(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    for row in cursor.fetchall():
        yield dict(zip(names, row))


class Store:
    """A SQLite file in WAL mode, so the CLI can read while the daemon writes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as exc:
            raise MonitorError(
                f"cannot open the database {self.path}: {exc}",
                hint="check [monitor] database in the config and that its folder is writable",
            ) from None
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._migrate()

    def close(self) -> None:
        self.conn.close()

    # -- schema ---------------------------------------------------------------

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return
        if version == 0:
            # Only effective before the first table exists: lets pruning give space back.
            self.conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db = self.db
        with self.transaction():
            db["feeds"].create(
                {
                    "name": str, "url": str, "adopted_url": str, "etag": str, "last_modified": str,
                    "next_poll": float, "last_poll": float, "last_success": float, "last_status": int,
                    "consecutive_errors": int, "last_error": str, "disabled_reason": str,
                    "baselined": int, "title": str, "redirect_target": str, "redirect_count": int,
                    "body_hash": str, "server_ttl": float,
                },
                pk="name", if_not_exists=True, defaults={"consecutive_errors": 0, "baselined": 0},
            )
            db["stories"].create(
                {"id": int, "canonical_url": str, "title": str, "published": float, "first_seen": float},
                pk="id", if_not_exists=True,
            )
            # Headline terms of each story, so near-identical headlines are found by index.
            db["story_terms"].create(
                {"story_id": int, "term": str}, if_not_exists=True, foreign_keys=[("story_id", "stories", "id")]
            )
            db["items"].create(
                {
                    "id": int, "feed": str, "key": str, "story_id": int, "title": str, "summary": str,
                    "author": str, "tags": str, "link": str, "canonical_url": str, "lang": str,
                    "published": float, "first_seen": float, "updated": float, "content_hash": str, "fts": str,
                },
                pk="id", if_not_exists=True, foreign_keys=[("story_id", "stories", "id")],
            )
            db["alerts"].create(
                {
                    "id": int, "rule": str, "story_id": int, "item_id": int, "created": float,
                    "terms": str, "occurrences": str,
                },
                pk="id", if_not_exists=True,
                foreign_keys=[("story_id", "stories", "id"), ("item_id", "items", "id")],
            )
            db["deliveries"].create(
                {
                    "id": int, "alert_id": int, "channel": str, "target": str, "status": str,
                    "attempts": int, "next_attempt": float, "last_error": str, "created": float, "sent_at": float,
                },
                pk="id", if_not_exists=True, defaults={"attempts": 0, "status": "pending"},
                foreign_keys=[("alert_id", "alerts", "id")],
            )
            for sql in (
                "CREATE UNIQUE INDEX IF NOT EXISTS stories_url ON stories(canonical_url)",
                "CREATE UNIQUE INDEX IF NOT EXISTS items_feed_key ON items(feed, key)",
                "CREATE INDEX IF NOT EXISTS items_canonical ON items(canonical_url)",
                "CREATE INDEX IF NOT EXISTS items_published ON items(published)",
                "CREATE INDEX IF NOT EXISTS items_story ON items(story_id)",
                "CREATE INDEX IF NOT EXISTS items_first_seen ON items(first_seen)",
                "CREATE INDEX IF NOT EXISTS story_terms_term ON story_terms(term)",
                "CREATE INDEX IF NOT EXISTS story_terms_story ON story_terms(story_id)",
                "CREATE UNIQUE INDEX IF NOT EXISTS alerts_rule_story ON alerts(rule, story_id)",
                "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_once ON deliveries(alert_id, channel, target)",
                "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_attempt)",
            ):
                self.conn.execute(sql)
            if not db["items_fts"].exists():
                db["items"].enable_fts(["fts"], fts_version="FTS5", create_triggers=True)
            self._migrate_outbox()
            self._migrate_desk()
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _migrate_outbox(self) -> None:
        """v2: dead letters, age-out, flood folding and message batches on deliveries.

        Guarded by the columns themselves rather than the version number, so it is
        safe whatever other migrations run around it.
        """
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(deliveries)")}
        for column, decl in (
            ("dead_at", "REAL"),  # set when the delivery aged out (status 'dead')
            ("first_failed", "REAL"),  # start of the age-out clock
            ("fold", "INTEGER NOT NULL DEFAULT 0"),  # 1: held by the flood guard for one digest
            ("batch", "INTEGER"),  # deliveries sent in one message share the id of its first
        ):
            if column not in have:
                self.conn.execute(f"ALTER TABLE deliveries ADD COLUMN {column} {decl}")
        self.conn.execute("CREATE INDEX IF NOT EXISTS deliveries_sent ON deliveries(channel, target, sent_at)")

    def _migrate_desk(self) -> None:
        """v3 (issue 9): notices (feed health, spikes, story updates) delivered through the
        outbox like alerts, holds (cooldown, quiet hours), email Message-IDs, and the small
        state of feed health and of rules (cooldown window, spike). Guarded by the columns."""
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(deliveries)")}
        for column, decl in (
            ("notice_id", "INTEGER REFERENCES notices(id)"),  # set instead of alert_id for a notice
            ("hold", "TEXT"),  # "cooldown" / "quiet": released folded into one message of that kind
            ("message_id", "TEXT"),  # the email Message-ID it went out under (threads replies)
        ):
            if column not in have:
                self.conn.execute(f"ALTER TABLE deliveries ADD COLUMN {column} {decl}")
        self.db["notices"].create(
            {"id": int, "kind": str, "rule": str, "feed": str, "title": str, "link": str, "body": str,
             "alert_id": int, "created": float},
            pk="id", if_not_exists=True,
        )
        self.db["feed_health"].create(
            {"name": str, "state": str, "since": float, "detail": str, "checked": float},
            pk="name", if_not_exists=True,
        )
        self.db["rule_state"].create(
            {"rule": str, "cooldown_until": float, "spike_since": float}, pk="rule", if_not_exists=True,
        )
        for sql in (
            "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_notice ON deliveries(notice_id, channel, target)",
            "CREATE INDEX IF NOT EXISTS alerts_story ON alerts(story_id)",
            "CREATE INDEX IF NOT EXISTS alerts_rule_created ON alerts(rule, created)",
        ):
            self.conn.execute(sql)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception: nothing half-done."""
        if self.conn.in_transaction:
            yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return list(_row_dict(self.conn.execute(sql, params)))

    # -- feeds ------------------------------------------------------------------

    def sync_feeds(self, feeds: Iterable[tuple[str, str]], now: float) -> None:
        """Make the feeds table know every configured (name, url); new feeds are due now."""
        with self.transaction():
            for name, url in feeds:
                row = self.conn.execute("SELECT url FROM feeds WHERE name = ?", (name,)).fetchone()
                if row is None:
                    self.conn.execute(
                        "INSERT INTO feeds (name, url, next_poll, consecutive_errors, baselined) VALUES (?, ?, ?, 0, 0)",
                        (name, url, now),
                    )
                elif row[0] != url:
                    # A new URL is a new document: forget validators and any adopted move.
                    self.conn.execute(
                        "UPDATE feeds SET url = ?, etag = NULL, last_modified = NULL, adopted_url = NULL,"
                        " redirect_target = NULL, redirect_count = 0, body_hash = NULL,"
                        " disabled_reason = NULL, next_poll = ? WHERE name = ?",
                        (url, now, name),
                    )

    def feed_state(self, name: str) -> FeedState | None:
        rows = self._query("SELECT * FROM feeds WHERE name = ?", (name,))
        return self._feed(rows[0]) if rows else None

    def feed_states(self) -> list[FeedState]:
        counts = dict(self.conn.execute("SELECT feed, count(*) FROM items GROUP BY feed").fetchall())
        return [self._feed(r, counts.get(r["name"], 0)) for r in self._query("SELECT * FROM feeds ORDER BY name")]

    @staticmethod
    def _feed(r: dict[str, Any], items: int = 0) -> FeedState:
        return FeedState(
            name=r["name"], url=r["url"], etag=r["etag"], last_modified=r["last_modified"],
            next_poll=r["next_poll"] or 0.0, last_poll=r["last_poll"], last_success=r["last_success"],
            last_status=r["last_status"], consecutive_errors=r["consecutive_errors"] or 0,
            last_error=r["last_error"], disabled_reason=r["disabled_reason"], baselined=bool(r["baselined"]),
            adopted_url=r["adopted_url"], items=items, redirect_target=r["redirect_target"],
            redirect_count=r["redirect_count"] or 0, body_hash=r["body_hash"], server_ttl=r["server_ttl"],
        )

    def due_feeds(self, names: Iterable[str], now: float) -> list[str]:
        wanted = set(names)
        rows = self.conn.execute(
            "SELECT name FROM feeds WHERE next_poll <= ? AND disabled_reason IS NULL ORDER BY next_poll", (now,)
        ).fetchall()
        return [r[0] for r in rows if r[0] in wanted]

    def next_due(self, names: Iterable[str]) -> float | None:
        wanted = list(names)
        if not wanted:
            return None
        marks = ",".join("?" * len(wanted))
        row = self.conn.execute(
            f"SELECT min(next_poll) FROM feeds WHERE disabled_reason IS NULL AND name IN ({marks})", wanted
        ).fetchone()
        return row[0]

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
    ) -> None:
        """Record one poll's outcome. `error` None means success (errors reset)."""
        if error is None:
            self.conn.execute(
                "UPDATE feeds SET last_poll = ?, last_success = ?, last_status = ?, consecutive_errors = 0,"
                " last_error = NULL, next_poll = ?, etag = coalesce(?, etag), last_modified = coalesce(?, last_modified),"
                " title = coalesce(?, title), body_hash = coalesce(?, body_hash), server_ttl = coalesce(?, server_ttl)"
                " WHERE name = ?",
                (now, now, status, next_poll, etag, last_modified, title, body_hash, server_ttl, name),
            )
        else:
            self.conn.execute(
                "UPDATE feeds SET last_poll = ?, last_status = ?, consecutive_errors = consecutive_errors + 1,"
                " last_error = ?, next_poll = ?, disabled_reason = coalesce(?, disabled_reason) WHERE name = ?",
                (now, status, error, next_poll, disabled_reason, name),
            )

    def record_redirect(self, name: str, target: str | None, count: int, adopt: bool) -> None:
        """Track a permanent move; `adopt` makes the feed poll `target` from now on."""
        if adopt:
            self.conn.execute(
                "UPDATE feeds SET adopted_url = ?, redirect_target = NULL, redirect_count = 0 WHERE name = ?",
                (target, name),
            )
        else:
            self.conn.execute(
                "UPDATE feeds SET redirect_target = ?, redirect_count = ? WHERE name = ?", (target, count, name)
            )

    def known_links(self, feed: str, canonical_urls: Iterable[str]) -> int:
        """How many of these canonical URLs the feed already has items for."""
        urls = [u for u in set(canonical_urls) if u]
        if not urls:
            return 0
        marks = ",".join("?" * len(urls))
        row = self.conn.execute(
            f"SELECT count(DISTINCT canonical_url) FROM items WHERE feed = ? AND canonical_url IN ({marks})",
            (feed, *urls),
        ).fetchone()
        return int(row[0])

    def known_keys(self, feed: str, keys: Iterable[str]) -> int:
        keys = list(set(keys))
        if not keys:
            return 0
        marks = ",".join("?" * len(keys))
        row = self.conn.execute(f"SELECT count(*) FROM items WHERE feed = ? AND key IN ({marks})", (feed, *keys))
        return int(row.fetchone()[0])

    def mark_baselined(self, name: str) -> None:
        self.conn.execute("UPDATE feeds SET baselined = 1 WHERE name = ?", (name,))

    # -- items and stories (call inside transaction()) ---------------------------

    def item_digests(self, feed: str, keys: Iterable[str]) -> dict[str, str]:
        """The content digest of each of these keys the feed has stored."""
        keys = list(set(keys))
        out: dict[str, str] = {}
        for lo in range(0, len(keys), 500):
            chunk = keys[lo:lo + 500]
            marks = ",".join("?" * len(chunk))
            out.update(self.conn.execute(
                f"SELECT key, content_hash FROM items WHERE feed = ? AND key IN ({marks})", (feed, *chunk)
            ).fetchall())
        return out

    def has_items(self, feed: str) -> bool:
        return self.conn.execute("SELECT 1 FROM items WHERE feed = ? LIMIT 1", (feed,)).fetchone() is not None

    def find_item(self, feed: str, key: str) -> dict[str, Any] | None:
        """The stored version of an item (its searchable fields and digest), or None."""
        rows = self._query(
            "SELECT id, key, story_id, content_hash, title, summary, author, tags, link, lang FROM items"
            " WHERE feed = ? AND key = ?",
            (feed, key),
        )
        if not rows:
            return None
        row = rows[0]
        row["tags"] = tuple(json.loads(row["tags"] or "[]"))
        return row

    def find_item_by_link(self, feed: str, url: str, title: str) -> dict[str, Any] | None:
        """The same item stored under another key: a link that was repeated inside an
        earlier document (so keyed by title and date then) and is unique now."""
        if not url:
            return None
        row = self.conn.execute(
            "SELECT key FROM items WHERE feed = ? AND canonical_url = ? AND title = ? LIMIT 1", (feed, url, title)
        ).fetchone()
        return self.find_item(feed, row[0]) if row else None

    def rekey_item(self, item_id: int, key: str) -> None:
        self.conn.execute("UPDATE items SET key = ? WHERE id = ?", (key, item_id))

    def _item_values(self, item: Item, digest: str, fts_text: str) -> tuple[Any, ...]:
        return (
            item.title, item.summary, item.author, json.dumps(list(item.tags), ensure_ascii=False),
            item.link, canonical_url(item.link), item.lang,
            item.published.timestamp() if item.published else None, digest, fts_text,
        )

    def update_item(self, item_id: int, item: Item, digest: str, fts_text: str, now: float) -> None:
        self.conn.execute(
            "UPDATE items SET title = ?, summary = ?, author = ?, tags = ?, link = ?, canonical_url = ?,"
            " lang = ?, published = coalesce(?, published), content_hash = ?, fts = ?, updated = ? WHERE id = ?",
            (*self._item_values(item, digest, fts_text), now, item_id),
        )

    def insert_item(self, feed: str, item: Item, story_id: int, digest: str, fts_text: str, now: float) -> int:
        cur = self.conn.execute(
            "INSERT INTO items (title, summary, author, tags, link, canonical_url, lang, published, content_hash,"
            " fts, feed, key, story_id, first_seen, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*self._item_values(item, digest, fts_text), feed, item.key, story_id, now, now),
        )
        return int(cur.lastrowid)

    def story_by_url(self, url: str) -> int | None:
        # Through items, so every URL of a story leads to it, not only its first.
        row = self.conn.execute("SELECT story_id FROM items WHERE canonical_url = ? LIMIT 1", (url,)).fetchone()
        return int(row[0]) if row else None

    def new_story(self, url: str, title: str, published: float | None, terms: Iterable[str], now: float) -> int:
        cur = self.conn.execute(
            "INSERT INTO stories (canonical_url, title, published, first_seen) VALUES (?, ?, ?, ?)",
            (url or None, title, published, now),
        )
        story_id = int(cur.lastrowid)
        self.conn.executemany(
            "INSERT INTO story_terms (story_id, term) VALUES (?, ?)", ((story_id, t) for t in set(terms))
        )
        return story_id

    def story_candidates(
        self, terms: Iterable[str], exclude_feed: str, around: float, window: float, min_shared: int = 4
    ) -> list[tuple[int, str]]:
        """Stories sharing at least `min_shared` headline terms, dated within `window` of
        `around`, that have no item from `exclude_feed` (a feed's own items never merge)."""
        terms = list(set(terms))
        if len(terms) < min_shared:
            return []
        marks = ",".join("?" * len(terms))
        return [
            (int(r[0]), r[1])
            for r in self.conn.execute(
                f"SELECT s.id, s.title FROM story_terms t JOIN stories s ON s.id = t.story_id"
                f" WHERE t.term IN ({marks}) AND coalesce(s.published, s.first_seen) BETWEEN ? AND ?"
                f" AND NOT EXISTS (SELECT 1 FROM items i WHERE i.story_id = s.id AND i.feed = ?)"
                f" GROUP BY s.id HAVING count(*) >= ? ORDER BY count(*) DESC, s.id LIMIT 20",
                (*terms, around - window, around + window, exclude_feed, min_shared),
            )
        ]

    def prune(self, before: float) -> int:
        """Drop the text of items first seen before `before`, keeping their identity
        (feed, key, content digest, story, title): a feed that re-publishes old items
        never re-alerts, and the database stays bounded."""
        cur = self.conn.execute(
            "UPDATE items SET summary = '', author = '', tags = '[]', fts = ''"
            " WHERE first_seen < ? AND (summary != '' OR fts != '')",
            (before,),
        )
        self.conn.execute(
            "DELETE FROM story_terms WHERE story_id IN (SELECT id FROM stories WHERE first_seen < ?)", (before,)
        )
        return cur.rowcount

    def reclaim_space(self) -> None:
        """Give pruned pages back to the file system (auto_vacuum is incremental)."""
        self.conn.execute("PRAGMA incremental_vacuum")

    def record_alert(
        self, rule: str, story_id: int, item_id: int, terms: Iterable[str],
        occurrences: Iterable[tuple[str, int, int]], now: float,
    ) -> int | None:
        """Record a (rule, story) alert once; None when the rule already alerted on the story."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO alerts (rule, story_id, item_id, created, terms, occurrences) VALUES (?,?,?,?,?,?)",
            (rule, story_id, item_id, now, json.dumps(list(terms), ensure_ascii=False),
             json.dumps([list(o) for o in occurrences])),
        )
        return int(cur.lastrowid) if cur.rowcount else None

    def enqueue(self, alert_id: int, channel: str, target: str, now: float, due: float | None = None,
                hold: str | None = None) -> None:
        """One delivery per (alert, channel, destination); `due` holds it (a digest's send time),
        `hold` says why it is held to be folded ("cooldown", "quiet")."""
        self.conn.execute(
            "INSERT OR IGNORE INTO deliveries (alert_id, channel, target, status, attempts, next_attempt, created,"
            " hold) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)",
            (alert_id, channel, target, now if due is None else due, now, hold),
        )

    # -- outbox ---------------------------------------------------------------------

    # LEFT JOINs: a delivery carries either a story alert or a notice (issue 9).
    _DELIVERY_SQL = (
        "SELECT d.id, d.alert_id, d.channel, d.target, d.attempts, d.status, d.last_error, d.next_attempt,"
        " d.created, d.fold, d.hold, coalesce(a.rule, n.rule) AS rule, a.terms, a.occurrences,"
        " coalesce(i.title, n.title) AS title, coalesce(i.link, n.link) AS link, coalesce(i.feed, n.feed) AS feed,"
        " coalesce(i.summary, n.body) AS summary, i.published, n.kind AS notice, n.alert_id AS notice_alert"
        " FROM deliveries d LEFT JOIN alerts a ON a.id = d.alert_id LEFT JOIN items i ON i.id = a.item_id"
        " LEFT JOIN notices n ON n.id = d.notice_id"
    )

    def due_deliveries(self, now: float, limit: int = 200) -> list[Delivery]:
        rows = self._query(
            self._DELIVERY_SQL + " WHERE d.status = 'pending' AND d.next_attempt <= ? ORDER BY d.id LIMIT ?",
            (now, limit),
        )
        return [self._delivery(r) for r in rows]

    @staticmethod
    def _delivery(r: dict[str, Any]) -> Delivery:
        return Delivery(
            id=r["id"], alert_id=r["alert_id"], channel=r["channel"], target=r["target"], attempts=r["attempts"],
            rule=r["rule"], title=r["title"] or "", link=r["link"] or "", feed=r["feed"], summary=r["summary"] or "",
            published=r["published"], terms=tuple(json.loads(r["terms"] or "[]")),
            occurrences=tuple(tuple(o) for o in json.loads(r["occurrences"] or "[]")),
            created=r["created"] or 0.0, fold=bool(r["fold"]), hold=r.get("hold"), notice=r.get("notice"),
            notice_alert=r.get("notice_alert"),
        )

    def mark_sent(self, delivery_id: int, now: float) -> None:
        self.conn.execute(
            "UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL"
            " WHERE id = ?",
            (now, delivery_id),
        )

    def mark_failed(self, delivery_id: int, error: str, next_attempt: float) -> None:
        self.conn.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_attempt = ? WHERE id = ?",
            (error, next_attempt, delivery_id),
        )

    def mark_sent_together(self, ids: list[int], now: float) -> None:
        """Deliveries that went out in one message (one alert, or a digest)."""
        marks = ",".join("?" * len(ids))
        self.conn.execute(
            "UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL,"
            f" fold = 0, batch = ? WHERE id IN ({marks})",
            (now, min(ids), *ids),
        )

    def mark_failed_together(self, ids: list[int], error: str, next_attempt: float, now: float,
                             dead_after: float, attempted: bool = True) -> list[int]:
        """Record a failure (or, `attempted` False, a wait behind one); those failing for
        `dead_after` become dead letters (their ids returned)."""
        marks = ",".join("?" * len(ids))
        with self.transaction():
            self.conn.execute(
                "UPDATE deliveries SET attempts = attempts + ?, last_error = ?, next_attempt = ?,"
                f" first_failed = coalesce(first_failed, ?) WHERE id IN ({marks})",
                (int(attempted), error, next_attempt, now, *ids),
            )
            dead = [r[0] for r in self.conn.execute(
                f"SELECT id FROM deliveries WHERE id IN ({marks}) AND first_failed <= ?", (*ids, now - dead_after)
            )]
            if dead:
                self.conn.execute(
                    f"UPDATE deliveries SET status = 'dead', dead_at = ? WHERE id IN ({','.join('?' * len(dead))})",
                    (now, *dead),
                )
        return dead

    def fold(self, ids: list[int], release: float) -> None:
        """Hold deliveries for the flood guard's digest at `release`."""
        marks = ",".join("?" * len(ids))
        self.conn.execute(f"UPDATE deliveries SET fold = 1, next_attempt = ? WHERE id IN ({marks})", (release, *ids))

    def fold_release(self, channel: str, target: str) -> float | None:
        """When the destination's pending flood digest goes out, if one is being collected."""
        return self.conn.execute(
            "SELECT max(next_attempt) FROM deliveries WHERE status = 'pending' AND fold = 1 AND channel = ?"
            " AND target = ?",
            (channel, target),
        ).fetchone()[0]

    def messages_since(self, channel: str, target: str, since: float) -> int:
        """Messages (a digest counts once) sent to one destination since `since`."""
        return self.conn.execute(
            "SELECT count(DISTINCT coalesce(batch, id)) FROM deliveries WHERE channel = ? AND target = ?"
            " AND status = 'sent' AND sent_at >= ?",
            (channel, target, since),
        ).fetchone()[0]

    def outbox(self, limit: int = 500) -> list[dict[str, Any]]:
        """Pending and dead deliveries, oldest first, with what they carry."""
        return self._query(
            "SELECT d.id, d.status, d.channel, d.target, d.attempts, d.last_error, d.created, d.next_attempt,"
            " d.first_failed, d.dead_at, d.fold, d.hold, coalesce(a.rule, n.rule) AS rule,"
            " coalesce(i.title, n.title) AS title, coalesce(i.link, n.link) AS link, coalesce(i.feed, n.feed) AS feed"
            " FROM deliveries d LEFT JOIN alerts a ON a.id = d.alert_id LEFT JOIN items i ON i.id = a.item_id"
            " LEFT JOIN notices n ON n.id = d.notice_id"
            " WHERE d.status IN ('pending', 'dead') ORDER BY d.id LIMIT ?",
            (limit,),
        )

    def delivery_status(self, ids: list[int]) -> dict[int, str]:
        marks = ",".join("?" * len(ids))
        return dict(self.conn.execute(f"SELECT id, status FROM deliveries WHERE id IN ({marks})", ids).fetchall())

    def dead_ids(self) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT id FROM deliveries WHERE status = 'dead' ORDER BY id")]

    def claim(self, ids: list[int], now: float, lease: float) -> list[Delivery]:
        """Make pending or dead deliveries pending again with a fresh age-out clock, and hold them
        for `lease` seconds so that a running daemon leaves them to the caller who sends them now."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self.transaction():
            self.conn.execute(
                "UPDATE deliveries SET status = 'pending', dead_at = NULL, first_failed = NULL, attempts = 0,"
                f" fold = 0, next_attempt = ? WHERE status IN ('pending', 'dead') AND id IN ({marks})",
                (now + lease, *ids),
            )
            rows = self._query(self._DELIVERY_SQL + f" WHERE d.status = 'pending' AND d.id IN ({marks})", ids)
        return [self._delivery(r) for r in rows]

    def pending_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM deliveries WHERE status = 'pending'").fetchone()[0]

    # -- listings -----------------------------------------------------------------

    def recent_alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        alerts = self._query(
            "SELECT a.id, a.rule, a.created, a.terms, a.story_id, i.title, i.link, i.feed, i.published"
            " FROM alerts a JOIN items i ON i.id = a.item_id ORDER BY a.id DESC LIMIT ?",
            (limit,),
        )
        for alert in alerts:
            alert["terms"] = json.loads(alert["terms"] or "[]")
            # Outlets that carried the story, the alerted one first: later sources join
            # the story without a second alert.
            alert["sources"] = [
                r[0] for r in self.conn.execute(
                    "SELECT feed FROM items WHERE story_id = ? GROUP BY feed ORDER BY min(id)", (alert["story_id"],)
                )
            ]
            alert["deliveries"] = self._query(
                "SELECT channel, status, attempts, last_error, sent_at FROM deliveries WHERE alert_id = ? ORDER BY id",
                (alert["id"],),
            )
        return alerts

    def stored_items(self, since: float | None, fts_query: str | None, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Items newest first, narrowed by an FTS5 expression when one is given."""
        where, params = [], []
        if since is not None:
            where.append("coalesce(i.published, i.first_seen) >= ?")
            params.append(since)
        sql = "SELECT i.* FROM items i"
        if fts_query:
            sql += " JOIN items_fts f ON f.rowid = i.id"
            where.append("items_fts MATCH ?")
            params.append(fts_query)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY coalesce(i.published, i.first_seen) DESC, i.id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        for row in cur:
            item = dict(zip(names, row))
            item["tags"] = json.loads(item["tags"] or "[]")
            yield item

    # -- service health (issue 7): cheap queries for the watchdog, STATUS= and /metrics --

    def ping(self) -> None:
        """Raise sqlite3.Error unless the database answers a query on a real table."""
        self.conn.execute("SELECT count(*) FROM feeds WHERE next_poll <= 0").fetchone()

    def alerts_since(self, since: float) -> int:
        return self.conn.execute("SELECT count(*) FROM alerts WHERE created >= ?", (since,)).fetchone()[0]

    def feed_errors(self) -> dict[str, int]:
        """Consecutive errors of every known feed, by name."""
        return dict(self.conn.execute("SELECT name, coalesce(consecutive_errors, 0) FROM feeds").fetchall())

    def outbox_counts(self) -> dict[str, int]:
        """Deliveries not yet sent, by status ('pending', and 'dead' once deliveries age out)."""
        return dict(
            self.conn.execute("SELECT status, count(*) FROM deliveries WHERE status != 'sent' GROUP BY status").fetchall()
        )

    # -- the desk (issue 9): notices, holds, email threads, feed health, rule state --------

    def add_notice(self, kind: str, rule: str, feed: str, title: str, body: str, now: float,
                   link: str = "", alert_id: int | None = None) -> int:
        """A message that is not one story alert (feed health, a spike, a story update)."""
        cur = self.conn.execute(
            "INSERT INTO notices (kind, rule, feed, title, link, body, alert_id, created) VALUES (?,?,?,?,?,?,?,?)",
            (kind, rule, feed, title, link, body, alert_id, now),
        )
        return int(cur.lastrowid)

    def enqueue_notice(self, notice_id: int, channel: str, target: str, now: float, due: float | None = None,
                       hold: str | None = None) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO deliveries (notice_id, channel, target, status, attempts, next_attempt, created,"
            " hold) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)",
            (notice_id, channel, target, now if due is None else due, now, hold),
        )

    def set_message_id(self, ids: list[int], message_id: str) -> None:
        marks = ",".join("?" * len(ids))
        self.conn.execute(f"UPDATE deliveries SET message_id = ? WHERE id IN ({marks})", (message_id, *ids))

    def thread_message_id(self, alert_id: int, channel: str, target: str) -> str | None:
        """The Message-ID the alert went out under to this destination (None if not sent yet)."""
        row = self.conn.execute(
            "SELECT message_id FROM deliveries WHERE alert_id = ? AND channel = ? AND target = ? AND status = 'sent'",
            (alert_id, channel, target),
        ).fetchone()
        return row[0] if row else None

    def story_alerts(self, story_id: int) -> list[dict[str, Any]]:
        """The alerts already recorded on a story, with the headline each went out with."""
        return self._query(
            "SELECT a.id, a.rule, i.title FROM alerts a JOIN items i ON i.id = a.item_id WHERE a.story_id = ?",
            (story_id,),
        )

    def story_feeds(self, story_id: int) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT feed FROM items WHERE story_id = ? GROUP BY feed ORDER BY min(id)", (story_id,))]

    def feed_health(self, name: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM feed_health WHERE name = ?", (name,))
        return rows[0] if rows else None

    def feed_healths(self) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in self._query("SELECT * FROM feed_health")}

    def set_feed_health(self, name: str, state: str, since: float, detail: str, checked: float) -> None:
        self.conn.execute(
            "INSERT INTO feed_health (name, state, since, detail, checked) VALUES (?,?,?,?,?)"
            " ON CONFLICT(name) DO UPDATE SET state = excluded.state, since = excluded.since,"
            " detail = excluded.detail, checked = excluded.checked",
            (name, state, since, detail, checked),
        )

    def item_times(self, feed: str, limit: int = 30) -> list[float]:
        """When the feed's latest items appeared, newest first: their publication time, unless
        that is later than when we first saw them (a future date is the feed's mistake)."""
        return [r[0] for r in self.conn.execute(
            "SELECT min(coalesce(published, first_seen), first_seen) AS t FROM items WHERE feed = ?"
            " ORDER BY t DESC LIMIT ?", (feed, limit))]

    def rule_state(self, rule: str) -> dict[str, Any]:
        rows = self._query("SELECT * FROM rule_state WHERE rule = ?", (rule,))
        return rows[0] if rows else {"rule": rule, "cooldown_until": None, "spike_since": None}

    def set_rule_state(self, rule: str, **values: float | None) -> None:
        state = {**self.rule_state(rule), **values}
        self.conn.execute(
            "INSERT OR REPLACE INTO rule_state (rule, cooldown_until, spike_since) VALUES (?, ?, ?)",
            (rule, state["cooldown_until"], state["spike_since"]),
        )

    def rule_alert_count(self, rule: str, since: float, until: float) -> int:
        """Alerts (stories matched) of a rule created in [since, until)."""
        return self.conn.execute(
            "SELECT count(*) FROM alerts WHERE rule = ? AND created >= ? AND created < ?", (rule, since, until)
        ).fetchone()[0]

    def first_alert_time(self, rule: str) -> float | None:
        return self.conn.execute("SELECT min(created) FROM alerts WHERE rule = ?", (rule,)).fetchone()[0]

    def top_stories(self, rule: str, since: float, limit: int = 5) -> list[dict[str, Any]]:
        """The rule's stories since `since`, most widely carried first."""
        return self._query(
            "SELECT i.title, i.link, (SELECT count(DISTINCT feed) FROM items WHERE story_id = a.story_id) AS sources"
            " FROM alerts a JOIN items i ON i.id = a.item_id WHERE a.rule = ? AND a.created >= ?"
            " ORDER BY sources DESC, a.id DESC LIMIT ?",
            (rule, since, limit),
        )

    def first_seen_any(self) -> float | None:
        """When monitoring began: the first item ever stored."""
        return self.conn.execute("SELECT min(first_seen) FROM items").fetchone()[0]
