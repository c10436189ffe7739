"""The desk: notices, holds, email threads, feed health, rule state."""

from __future__ import annotations

from typing import Any

from .base import Connection


class DeskQueries(Connection):
    """Notices and the small state of feed health and rules. Part of every store (sqlite.py, postgres.py)."""

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
        cur = self.conn.execute(
            "INSERT INTO notices (kind, rule, feed, title, link, body, alert_id, created) VALUES (?,?,?,?,?,?,?,?)"
            " RETURNING id",
            (kind, rule, feed, title, link, body, alert_id, now),
        )
        return int(cur.fetchone()[0])

    def enqueue_notice(
        self, notice_id: int, channel: str, target: str, now: float, due: float | None = None, hold: str | None = None
    ) -> None:
        self.conn.execute(
            "INSERT INTO deliveries (notice_id, channel, target, status, attempts, next_attempt, created, hold)"
            " VALUES (?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT DO NOTHING",
            (notice_id, channel, target, now if due is None else due, now, hold),
        )

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
            "SELECT a.id, a.rule, i.title FROM alerts a JOIN items i ON i.id = a.item_id WHERE a.story_id = ?"
            " ORDER BY a.id",
            (story_id,),
        )

    def story_feeds(self, story_id: int) -> list[str]:
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT feed FROM items WHERE story_id = ? GROUP BY feed ORDER BY min(id)", (story_id,)
            )
        ]

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
        # Every item's time is at most its first_seen, so the `limit` newest times are all at or
        # after the oldest time among the `limit` latest arrivals: only the items first seen
        # since then are read (items_feed_seen), not the feed's whole history.
        when = "CASE WHEN published < first_seen THEN published ELSE first_seen END"
        return [
            r[0]
            for r in self.conn.execute(
                f"SELECT {when} AS t FROM items WHERE feed = ? AND first_seen >= (SELECT min({when}) FROM"
                " (SELECT published, first_seen FROM items WHERE feed = ? ORDER BY first_seen DESC LIMIT ?) latest)"
                " ORDER BY t DESC LIMIT ?",
                (feed, feed, limit, limit),
            )
        ]

    def rule_state(self, rule: str) -> dict[str, Any]:
        rows = self._query("SELECT * FROM rule_state WHERE rule = ?", (rule,))
        return rows[0] if rows else {"rule": rule, "cooldown_until": None, "spike_since": None}

    def set_rule_state(self, rule: str, **values: float | None) -> None:
        state = {**self.rule_state(rule), **values}
        self.conn.execute(
            "INSERT INTO rule_state (rule, cooldown_until, spike_since) VALUES (?, ?, ?) ON CONFLICT (rule)"
            " DO UPDATE SET cooldown_until = excluded.cooldown_until, spike_since = excluded.spike_since",
            (rule, state["cooldown_until"], state["spike_since"]),
        )

    def rule_alert_count(self, rule: str, since: float, until: float) -> int:
        """Alerts (stories matched) of a rule created in [since, until)."""
        return self.conn.execute(
            "SELECT count(*) FROM alerts WHERE rule = ? AND created >= ? AND created < ?", (rule, since, until)
        ).fetchone()[0]

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
