"""Deliveries: what is due, what was sent or failed, folding, claims."""

from __future__ import annotations

import json
from typing import Any

from .base import Connection
from .records import Delivery


class DeliveryQueries(Connection):
    """The deliveries table. Part of every store (sqlite.py, postgres.py)."""

    # LEFT JOINs: a delivery carries either a story alert or a notice. An item's body (up to
    # 100,000 characters) is read only for an alert with a match in it (occurrences is JSON:
    # [["body", start, end], ...]): only then can its snippet come from the body.
    _DELIVERY_SQL = (
        "SELECT d.id, d.alert_id, d.channel, d.target, d.attempts, d.status, d.last_error, d.next_attempt,"
        " d.created, d.fold, d.hold, coalesce(a.rule, n.rule) AS rule, a.terms, a.occurrences,"
        " coalesce(i.title, n.title) AS title, coalesce(i.link, n.link) AS link, coalesce(i.feed, n.feed) AS feed,"
        " coalesce(i.summary, n.body) AS summary, i.published, n.kind AS notice, n.alert_id AS notice_alert,"
        """ CASE WHEN a.occurrences LIKE '%"body"%' THEN i.body END AS body"""
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
            id=r["id"],
            alert_id=r["alert_id"],
            channel=r["channel"],
            target=r["target"],
            attempts=r["attempts"],
            rule=r["rule"],
            title=r["title"] or "",
            link=r["link"] or "",
            feed=r["feed"],
            summary=r["summary"] or "",
            body=r["body"] or "",
            published=r["published"],
            terms=tuple(json.loads(r["terms"] or "[]")),
            occurrences=tuple(tuple(o) for o in json.loads(r["occurrences"] or "[]")),
            created=r["created"] or 0.0,
            fold=bool(r["fold"]),
            hold=r.get("hold"),
            notice=r.get("notice"),
            notice_alert=r.get("notice_alert"),
        )

    def mark_sent_together(self, ids: list[int], now: float, message_id: str | None = None) -> None:
        """Deliveries that went out in one message (one alert, or a digest), in one durable
        commit: the write-ahead log is synced before it returns, so a power cut cannot roll
        the mark back and have the message sent again after the reboot."""
        with self.durable():
            self.conn.execute(
                "UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL,"
                f" fold = 0, batch = ?, message_id = coalesce(?, message_id) WHERE id {self.in_list}",
                (now, min(ids), message_id, self.as_list(ids)),
            )

    def mark_failed_together(
        self, ids: list[int], error: str, next_attempt: float, now: float, dead_after: float, attempted: bool = True
    ) -> list[int]:
        """Record a failure (or, `attempted` False, a wait behind one); those failing for
        `dead_after` become dead letters (their ids returned)."""
        with self.transaction():
            self.conn.execute(
                "UPDATE deliveries SET attempts = attempts + ?, last_error = ?, next_attempt = ?,"
                f" first_failed = coalesce(first_failed, ?) WHERE id {self.in_list}",
                (int(attempted), error, next_attempt, now, self.as_list(ids)),
            )
            dead = [
                r[0]
                for r in self.conn.execute(
                    f"SELECT id FROM deliveries WHERE id {self.in_list} AND first_failed <= ? ORDER BY id",
                    (self.as_list(ids), now - dead_after),
                )
            ]
            if dead:
                self.conn.execute(
                    f"UPDATE deliveries SET status = 'dead', dead_at = ? WHERE id {self.in_list}",
                    (now, self.as_list(dead)),
                )
        return dead

    def fold(self, ids: list[int], release: float) -> None:
        """Hold deliveries for the flood guard's digest at `release`."""
        self.conn.execute(
            f"UPDATE deliveries SET fold = 1, next_attempt = ? WHERE id {self.in_list}", (release, self.as_list(ids))
        )

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

    def outbox(self, limit: int = 500, after: int = 0) -> list[dict[str, Any]]:
        """Pending and dead deliveries, oldest first (above the id `after`), with what they carry."""
        return self._query(
            "SELECT d.id, d.status, d.channel, d.target, d.attempts, d.last_error, d.created, d.next_attempt,"
            " d.first_failed, d.dead_at, d.fold, d.hold, coalesce(a.rule, n.rule) AS rule,"
            " coalesce(i.title, n.title) AS title, coalesce(i.link, n.link) AS link, coalesce(i.feed, n.feed) AS feed"
            " FROM deliveries d LEFT JOIN alerts a ON a.id = d.alert_id LEFT JOIN items i ON i.id = a.item_id"
            " LEFT JOIN notices n ON n.id = d.notice_id"
            " WHERE d.status IN ('pending', 'dead') AND d.id > ? ORDER BY d.id LIMIT ?",
            (after, limit),
        )

    def delivery_status(self, ids: list[int]) -> dict[int, str]:
        return dict(
            self.conn.execute(
                f"SELECT id, status FROM deliveries WHERE id {self.in_list}", (self.as_list(ids),)
            ).fetchall()
        )

    def dead_ids(self) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT id FROM deliveries WHERE status = 'dead' ORDER BY id")]

    def claim(self, ids: list[int], now: float, lease: float) -> list[Delivery]:
        """Make pending or dead deliveries pending again with a fresh age-out clock, and hold them
        for `lease` seconds so that a running daemon leaves them to the caller who sends them now."""
        if not ids:
            return []
        with self.transaction():
            self.conn.execute(
                "UPDATE deliveries SET status = 'pending', dead_at = NULL, first_failed = NULL, attempts = 0,"
                f" fold = 0, next_attempt = ? WHERE status IN ('pending', 'dead') AND id {self.in_list}",
                (now + lease, self.as_list(ids)),
            )
            rows = self._query(
                self._DELIVERY_SQL + f" WHERE d.status = 'pending' AND d.id {self.in_list}", (self.as_list(ids),)
            )
        return [self._delivery(r) for r in rows]
