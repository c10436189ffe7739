"""Items, stories and alerts (writes happen inside a transaction), retention and listings."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..models import Item, ItemFacts
from .base import Connection

# How far behind its last mark retention looks again (ItemQueries.prune).
PRUNE_OVERLAP = 86400.0
_URL_ROW = (("url", "text"),)


class ItemQueries(Connection):
    """Items, stories, alerts. Part of every store (sqlite.py, postgres.py)."""

    def item_digests(self, feed: str, keys: Iterable[str]) -> tuple[dict[str, str], bool]:
        """The content digest of each of these keys the feed has stored, and whether it has
        stored any item at all: one statement (the row of NULLs says it has)."""
        rows = self.conn.execute(
            f"SELECT key, content_hash FROM items WHERE feed = ? AND key {self.in_list}"
            " UNION ALL SELECT NULL, NULL WHERE EXISTS (SELECT 1 FROM items WHERE feed = ?)",
            (feed, self.as_list(set(keys)), feed),
        ).fetchall()
        return {key: digest for key, digest in rows if key is not None}, bool(rows)

    _ITEM_FIELDS = "id, key, story_id, content_hash, title, summary, body, author, tags, link, canonical_url, lang"

    def find_item(self, feed: str, key: str) -> dict[str, Any] | None:
        """The stored version of an item (its searchable fields and digest), or None."""
        return self.find_items(feed, [key]).get(key)

    def find_items(self, feed: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored version of each of these keys the feed has, by key."""
        rows = self._stored_items(f"key {self.in_list}", (feed, self.as_list(set(keys))))
        return {row["key"]: row for row in rows}

    def _stored_items(self, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        """A feed's stored items (`feed = ?` first in `params`) as ingest compares them, by id."""
        rows = self._query(f"SELECT {self._ITEM_FIELDS} FROM items WHERE feed = ? AND {where} ORDER BY id", params)
        for row in rows:
            row["tags"] = tuple(json.loads(row["tags"] or "[]"))
        return rows

    def find_item_by_link(self, feed: str, url: str, title: str) -> dict[str, Any] | None:
        """The same item stored under another key: a link that was repeated inside an
        earlier document (so keyed by title and date then) and is unique now."""
        return self.find_items_by_link(feed, [(url, title)]).get((url, title))

    def find_items_by_link(self, feed: str, links: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """find_item_by_link for many (canonical link, title) at once: the first item stored of each."""
        wanted = {(url, title) for url, title in links if url}
        if not wanted:
            return {}
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self._stored_items(f"canonical_url {self.in_list}", (feed, self.as_list({u for u, _ in wanted}))):
            found.setdefault((row["canonical_url"], row["title"]), row)
        return {link: row for link, row in found.items() if link in wanted}

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
        return self.insert_items(feed, [(item, facts, story_id, None)], now)[0]

    _ITEM_ROW = (  # after its id
        ("title", "text"),
        ("summary", "text"),
        ("author", "text"),
        ("tags", "text"),
        ("link", "text"),
        ("canonical_url", "text"),
        ("lang", "text"),
        ("published", "double precision"),
        ("content_hash", "text"),
        ("feed", "text"),
        ("key", "text"),
        ("story_id", "bigint"),
        ("first_seen", "double precision"),
        ("updated", "double precision"),
        ("fts", "text"),
    )

    def insert_items(
        self, feed: str, items: Sequence[tuple[Item, ItemFacts, int, str | None]], now: float
    ) -> list[int]:
        """New items of one feed, each with its story and its full-text index text (written
        with the row, not by a second write of it; None leaves it to index_pending), in one
        statement: their ids, in order."""
        return self.insert_new(
            "items",
            self._ITEM_ROW,
            [
                (*self._item_values(item, facts), feed, item.key, story_id, now, now, index_text)
                for item, facts, story_id, index_text in items
            ],
        )

    def story_by_url(self, url: str) -> int | None:
        return self.stories_by_urls([url]).get(url)

    def stories_by_urls(self, urls: Iterable[str]) -> dict[str, int]:
        """The story of each of these canonical URLs that has one. Through items, so every URL
        of a story leads to it, not only its first; the first item stored under a URL decides
        (an edit may have brought another story's item to it)."""
        # Two index look-ups per URL, whatever the planner believes of the table (one filling up
        # has no statistics yet): scalar subqueries leave it nothing to join, and `id + 0`,
        # being no column, no primary key to walk for the smallest id.
        return {
            url: int(story)
            for url, story in self.execute_fresh(
                "SELECT t.url, (SELECT s.story_id FROM items s WHERE s.id = (SELECT min(i.id + 0) FROM items i"
                f" WHERE i.canonical_url = t.url)) FROM {self.rows_table(_URL_ROW)} AS t",
                self.rows_params(_URL_ROW, [(url,) for url in set(urls)]),
            ).fetchall()
            if story is not None
        }

    def new_story(
        self,
        url: str,
        title: str,
        published: float | None,
        terms: Iterable[str],
        now: float,
        signature: str | None = None,
    ) -> int:
        return self.new_stories([(url, title, published, list(terms), signature)], now)[0]

    def new_stories(
        self, stories: Sequence[tuple[str, str, float | None, Iterable[str], str | None]], now: float
    ) -> list[int]:
        """New stories, each (canonical url, headline, published, headline terms, signature), with
        their terms: their ids, in order. One statement on PostgreSQL, however many (insert_new)."""
        return self.insert_new(
            "stories",
            (
                ("canonical_url", "text"),
                ("title", "text"),
                ("published", "double precision"),
                ("first_seen", "double precision"),
                ("signature", "text"),
            ),
            [(url or None, title, published, now, signature) for url, title, published, _, signature in stories],
            children=(
                "story_terms",
                (("story_id", "bigint"), ("term", "text"), ("at", "double precision")),
                [
                    (n, term, now if published is None else published)
                    for n, (_, _, published, story_terms, _) in enumerate(stories)
                    for term in set(story_terms)
                ],
            ),
        )

    # Stories sharing at least `min_shared` headline terms with each asking headline (k), dated
    # inside its window, without an item from the feed asking (a feed's own items never merge).
    # Only the postings of the probe terms are read (story_terms_term_at, inside the window);
    # the shared terms are then counted per story found (`shared`), from its own terms
    # (story_terms_story_term), never over a common term's whole posting list. At most 20 per
    # headline, the most shared first.
    _CANDIDATES = (
        "WITH q AS {asks},"
        " p AS (SELECT DISTINCT q.k, t.story_id FROM q JOIN story_terms t ON t.term = q.term"
        " AND t.at BETWEEN q.lo AND q.hi WHERE q.probe = 1),"
        " c AS ({shared}),"
        " r AS (SELECT c.k, s.id, s.title, s.signature, row_number() OVER (PARTITION BY c.k"
        " ORDER BY c.shared DESC, s.id) AS n FROM c JOIN stories s ON s.id = c.story_id"
        " WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.story_id = s.id AND i.feed = ?))"
        " SELECT k, id, title, signature FROM r WHERE n <= 20 ORDER BY k, n"
    )
    # `t.term || ''` is no column, so a planner that believes a term has as many postings as the
    # average one cannot count from the term's side.
    _SHARED_TERMS = (
        "SELECT p.k, p.story_id, count(*) AS shared FROM p JOIN story_terms t ON t.story_id = p.story_id"
        " JOIN q ON q.k = p.k AND q.term = t.term || '' GROUP BY p.k, p.story_id HAVING count(*) >= ?"
    )
    _ASK_ROW = (
        ("k", "integer"),
        ("term", "text"),
        ("probe", "integer"),
        ("lo", "double precision"),
        ("hi", "double precision"),
    )

    def story_candidates(
        self,
        terms: Iterable[str],
        exclude_feed: str,
        around: float,
        window: float,
        min_shared: int = 4,
        probe: Iterable[str] | None = None,
    ) -> list[tuple[int, str, str | None]]:
        """(id, headline, headline signature) of the stories sharing at least `min_shared`
        headline terms, dated within `window` of `around`, that have no item from
        `exclude_feed`, most shared first. `probe`: terms of which every such story has one
        (any len(terms) - min_shared + 1 of them do; the rarest cost least); all by default."""
        return self.story_candidates_many([(terms, probe, around)], exclude_feed, window, min_shared)[0]

    def story_candidates_many(
        self,
        asks: Sequence[tuple[Iterable[str], Iterable[str] | None, float]],
        exclude_feed: str,
        window: float,
        min_shared: int = 4,
    ) -> list[list[tuple[int, str, str | None]]]:
        """story_candidates for many headlines of one feed, each (terms, probe, around): one
        answer per ask, in order, from one statement."""
        rows = []
        for k, (words, probe, around) in enumerate(asks):
            terms = set(words)
            if len(terms) < min_shared:
                continue
            probing = terms if probe is None else terms & set(probe)
            rows += [(k, term, int(term in probing), around - window, around + window) for term in sorted(terms)]
        found: list[list[tuple[int, str, str | None]]] = [[] for _ in asks]
        if rows:
            sql = self._CANDIDATES.format(asks=self.rows_table(self._ASK_ROW), shared=self._SHARED_TERMS)
            params = (*self.rows_params(self._ASK_ROW, rows), min_shared, exclude_feed)
            for k, story, title, signature in self.execute_fresh(sql, params):
                found[int(k)].append((int(story), title, signature))
        return found

    def prune(self, before: float) -> int:
        """Drop the text of items first seen before `before`, keeping their identity
        (feed, key, content digest, story, title): a feed that re-publishes old items
        never re-alerts, and the database stays bounded. Reads only what aged out since the
        last prune (the mark `pruned_before`, less a day: an item stored by a node whose clock
        runs behind is still reached), not the whole history again."""
        row = self.conn.execute("SELECT value FROM marks WHERE name = 'pruned_before'").fetchone()
        since = row[0] - PRUNE_OVERLAP if row else float("-inf")
        cur = self.conn.execute(
            "UPDATE items SET summary = '', body = NULL, author = '', tags = '[]', fts = ''"
            " WHERE first_seen >= ? AND first_seen < ?"
            " AND (summary != '' OR body IS NOT NULL OR fts IS NULL OR fts != '')",
            (since, before),
        )
        self.conn.execute(
            "DELETE FROM story_terms WHERE story_id IN"
            " (SELECT id FROM stories WHERE first_seen >= ? AND first_seen < ?)",
            (since, before),
        )
        self.conn.execute(
            "INSERT INTO marks (name, value) VALUES ('pruned_before', ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (before if row is None else max(before, row[0]),),  # a longer retention: older was pruned already
        )
        return int(cur.rowcount)

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
