"""What the web console reads: pages of alerts, a story whole, counts per rule. Read-only."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from .base import Connection


class ListingQueries(Connection):
    """Listings for people. Part of every store (sqlite.py, postgres.py)."""

    def alert_page(
        self,
        limit: int = 50,
        before: int | None = None,
        rule: str | None = None,
        channel: str | None = None,
        story: int | None = None,
    ) -> list[dict[str, Any]]:
        """Alerts newest first (by id), below the id `before` when given: a page costs the same
        however deep it is. Optionally one rule's, one channel's or one story's. Each comes with
        the item it alerted on, the outlets that carried its story (the alerted one first) and
        its deliveries."""
        where, params = [], []
        for clause, value in (
            ("id < ?", before),
            ("rule = ?", rule),
            ("story_id = ?", story),
            ("EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = alerts.id AND d.channel = ?)", channel),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        # The page's ids first, from the alerts alone (an index when filtered by rule), then
        # their items: the join is made for the page, never for every alert of the rule.
        ids = f"SELECT id FROM alerts{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT ?"
        alerts = self._query(
            "SELECT a.id, a.rule, a.story_id, a.created, a.terms, a.occurrences, i.id AS item_id, i.title,"
            " i.summary, i.link, i.feed, i.published,"
            # The body (up to 100,000 characters) only for an alert whose match is in it.
            """ CASE WHEN a.occurrences LIKE '%"body"%' THEN i.body END AS body"""
            " FROM alerts a JOIN items i ON i.id = a.item_id"
            f" WHERE a.id IN ({ids}) ORDER BY a.id DESC",
            (*params, limit),
        )
        if not alerts:
            return alerts
        outlets = self.story_outlets({a["story_id"] for a in alerts})
        deliveries: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for d in self._query(
            "SELECT alert_id, channel, target, status, attempts, sent_at, hold, fold FROM deliveries"
            f" WHERE alert_id {self.in_list} ORDER BY id",
            (self.as_list(a["id"] for a in alerts),),
        ):
            deliveries[d.pop("alert_id")].append(d)
        for a in alerts:
            a["terms"] = json.loads(a["terms"] or "[]")
            a["occurrences"] = [tuple(o) for o in json.loads(a["occurrences"] or "[]")]
            a["outlets"] = outlets.get(a["story_id"], [])
            a["deliveries"] = deliveries.get(a["id"], [])
        return alerts

    def story_outlets(self, story_ids: set[int]) -> dict[int, list[str]]:
        """The feeds that carried each story, in the order they first did."""
        outlets: dict[int, list[str]] = defaultdict(list)
        for story_id, feed, _ in self.conn.execute(
            f"SELECT story_id, feed, min(id) AS first_id FROM items WHERE story_id {self.in_list}"
            " GROUP BY story_id, feed ORDER BY story_id, first_id",
            (self.as_list(story_ids),),
        ):
            outlets[story_id].append(feed)
        return dict(outlets)

    def story_record(self, story_id: int) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT id, canonical_url, title, published, first_seen FROM stories WHERE id = ?", (story_id,)
        )
        return rows[0] if rows else None

    def story_items(self, story_id: int) -> list[dict[str, Any]]:
        """Every item of a story, in the order they were first seen; `updated` later than
        `first_seen` marks an edit."""
        return self._query(
            "SELECT id, feed, title, summary, link, published, first_seen, updated FROM items WHERE story_id = ?"
            " ORDER BY id",
            (story_id,),
        )

    def story_notices(self, story_id: int) -> list[dict[str, Any]]:
        """The updates recorded about a story's alerts (a new outlet, an edited headline), each once
        (one is recorded per alert)."""
        rows = self._query(
            "SELECT min(n.id) AS id, n.feed, n.body, min(n.created) AS created FROM notices n"
            " JOIN alerts a ON a.id = n.alert_id WHERE a.story_id = ? AND n.kind = 'update'"
            " GROUP BY n.feed, n.body ORDER BY id",
            (story_id,),
        )
        return rows

    def rule_alert_counts(self, since: float) -> dict[str, int]:
        """Alerts (stories matched) of each rule created since `since`."""
        return dict(
            self.conn.execute("SELECT rule, count(*) FROM alerts WHERE created >= ? GROUP BY rule", (since,)).fetchall()
        )
