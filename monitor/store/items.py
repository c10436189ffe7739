"""Items, stories and alerts (writes happen inside a transaction), retention and listings."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from ..models import Item, ItemFacts
from .base import Connection


class ItemQueries(Connection):
    """Items, stories, alerts. Part of every store (sqlite.py, postgres.py)."""

    def item_digests(self, feed: str, keys: Iterable[str]) -> dict[str, str]:
        """The content digest of each of these keys the feed has stored."""
        return dict(
            self.conn.execute(
                f"SELECT key, content_hash FROM items WHERE feed = ? AND key {self.in_list}",
                (feed, self.as_list(set(keys))),
            ).fetchall()
        )

    def has_items(self, feed: str) -> bool:
        return self.conn.execute("SELECT 1 FROM items WHERE feed = ? LIMIT 1", (feed,)).fetchone() is not None

    def find_item(self, feed: str, key: str) -> dict[str, Any] | None:
        """The stored version of an item (its searchable fields and digest), or None."""
        rows = self._query(
            "SELECT id, key, story_id, content_hash, title, summary, body, author, tags, link, canonical_url, lang"
            " FROM items"
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
            "SELECT key FROM items WHERE feed = ? AND canonical_url = ? AND title = ? ORDER BY id LIMIT 1",
            (feed, url, title),
        ).fetchone()
        return self.find_item(feed, row[0]) if row else None

    def rekey_item(self, item_id: int, key: str) -> None:
        self.conn.execute("UPDATE items SET key = ? WHERE id = ?", (key, item_id))

    def _item_values(self, item: Item, facts: ItemFacts) -> tuple[Any, ...]:
        return (
            item.title,
            item.summary,
            item.author,
            facts.tags,
            item.link,
            facts.canonical,
            item.lang,
            item.published.timestamp() if item.published else None,
            facts.digest,
        )

    def update_item(self, item_id: int, item: Item, facts: ItemFacts, search_text: str, now: float) -> None:
        """An edit. `search_text` (parsing.facts.search_text): an item already in the full-text index
        is re-indexed at once, by trigger."""
        self.conn.execute(
            "UPDATE items SET title = ?, summary = ?, author = ?, tags = ?, link = ?, canonical_url = ?,"
            " lang = ?, published = coalesce(?, published), content_hash = ?, fts = ?, updated = ? WHERE id = ?",
            (*self._item_values(item, facts), search_text, now, item_id),
        )

    def insert_item(self, feed: str, item: Item, facts: ItemFacts, story_id: int, now: float) -> int:
        """A new item; its full-text index text (`fts`) is left NULL for index_pending."""
        cur = self.conn.execute(
            "INSERT INTO items (title, summary, author, tags, link, canonical_url, lang, published, content_hash,"
            " feed, key, story_id, first_seen, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
            (*self._item_values(item, facts), feed, item.key, story_id, now, now),
        )
        return int(cur.fetchone()[0])

    def story_by_url(self, url: str) -> int | None:
        # Through items, so every URL of a story leads to it, not only its first. The first item
        # stored under the URL decides (an edit may have brought another story's item to it):
        # without the ORDER BY, PostgreSQL answers in the order rows last changed.
        row = self.conn.execute(
            "SELECT story_id FROM items WHERE canonical_url = ? ORDER BY id LIMIT 1", (url,)
        ).fetchone()
        return int(row[0]) if row else None

    def new_story(
        self,
        url: str,
        title: str,
        published: float | None,
        terms: Iterable[str],
        now: float,
        signature: str | None = None,
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO stories (canonical_url, title, published, first_seen, signature) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id",
            (url or None, title, published, now, signature),
        )
        story_id = int(cur.fetchone()[0])
        self.conn.executemany(
            "INSERT INTO story_terms (story_id, term, at) VALUES (?, ?, ?)",
            ((story_id, t, now if published is None else published) for t in set(terms)),
        )
        return story_id

    def story_candidates(
        self, terms: Iterable[str], exclude_feed: str, around: float, window: float, min_shared: int = 4
    ) -> list[tuple[int, str, str | None]]:
        """(id, headline, headline signature) of the stories sharing at least `min_shared`
        headline terms, dated within `window` of `around`, that have no item from
        `exclude_feed` (a feed's own items never merge)."""
        terms = list(set(terms))
        if len(terms) < min_shared:
            return []
        return [
            (int(r[0]), r[1], r[2])
            for r in self.conn.execute(
                # Count shared terms inside the window first (story_terms_term_at alone), then
                # check the feed of the few stories that share enough, per story, not per term.
                f"SELECT s.id, s.title, s.signature FROM (SELECT story_id, count(*) AS shared FROM story_terms"
                f" WHERE term {self.in_list} AND at BETWEEN ? AND ? GROUP BY story_id HAVING count(*) >= ?) c"
                f" JOIN stories s ON s.id = c.story_id"
                f" WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.story_id = s.id AND i.feed = ?)"
                f" ORDER BY c.shared DESC, s.id LIMIT 20",
                (self.as_list(terms), around - window, around + window, min_shared, exclude_feed),
            )
        ]

    def prune(self, before: float) -> int:
        """Drop the text of items first seen before `before`, keeping their identity
        (feed, key, content digest, story, title): a feed that re-publishes old items
        never re-alerts, and the database stays bounded."""
        cur = self.conn.execute(
            "UPDATE items SET summary = '', body = NULL, author = '', tags = '[]', fts = ''"
            " WHERE first_seen < ? AND (summary != '' OR body IS NOT NULL OR fts IS NULL OR fts != '')",
            (before,),
        )
        self.conn.execute(
            "DELETE FROM story_terms WHERE story_id IN (SELECT id FROM stories WHERE first_seen < ?)", (before,)
        )
        return cur.rowcount

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
        cur = self.conn.execute(
            "INSERT INTO alerts (rule, story_id, item_id, created, terms, occurrences) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT DO NOTHING RETURNING id",
            (
                rule,
                story_id,
                item_id,
                now,
                json.dumps(list(terms), ensure_ascii=False),
                json.dumps([list(o) for o in occurrences]),
            ),
        )
        row = cur.fetchone()
        return int(row[0]) if row else None

    def enqueue(
        self, alert_id: int, channel: str, target: str, now: float, due: float | None = None, hold: str | None = None
    ) -> None:
        """One delivery per (alert, channel, destination); `due` holds it (a digest's send time),
        `hold` says why it is held to be folded ("cooldown", "quiet")."""
        self.conn.execute(
            "INSERT INTO deliveries (alert_id, channel, target, status, attempts, next_attempt, created, hold)"
            " VALUES (?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT DO NOTHING",
            (alert_id, channel, target, now if due is None else due, now, hold),
        )

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
                r[0]
                for r in self.conn.execute(
                    "SELECT feed FROM items WHERE story_id = ? GROUP BY feed ORDER BY min(id)", (alert["story_id"],)
                )
            ]
            alert["deliveries"] = self._query(
                "SELECT channel, status, attempts, last_error, sent_at FROM deliveries WHERE alert_id = ? ORDER BY id",
                (alert["id"],),
            )
        return alerts

    def _items_newest_first(
        self, since: float | None, narrowing: str | None, params: list[Any], limit: int | None
    ) -> Iterator[dict[str, Any]]:
        """Items that arrived since `since`, the newest arrival first (items_first_seen), narrowed by a
        backend's full-text `narrowing` clause (an `i.id IN (...)` over its index, with `params`)."""
        where: list[str] = []
        if since is not None:
            where.append("i.first_seen >= ?")
            params = [since, *params]
        if narrowing:
            where.append(narrowing)
        sql = "SELECT i.* FROM items i"
        if where:
            sql += " WHERE " + " AND ".join(where)
        # Items of one poll arrive together: among them, the feed's newest first.
        sql += " ORDER BY i.first_seen DESC, coalesce(i.published, i.first_seen) DESC, i.id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        for item in self._stream(sql, params):
            item["tags"] = json.loads(item["tags"] or "[]")
            yield item

    def _stream(self, sql: str, params: list[Any]) -> Iterator[dict[str, Any]]:
        """Rows one at a time, for listings that may be long (a backtest over every item)."""
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row, strict=True))
