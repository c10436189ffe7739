"""Article bodies: the queue of items waiting for their page, the bodies, and their counters.

The queue is the items table itself (`body_state = 'pending'`), so it outlives a restart and is
shared by a cluster: a node claims a few items by pushing their `body_due` past a lease, and a
node that dies leaves them to be claimed again once it expires.

`body_state`: NULL (no body wanted), 'pending', 'fetched', or why there is none: 'failed',
'robots', 'address' (a link into a private network) or 'skipped' (past the queue's limit).
`body_counts` counts each outcome per feed (`monitor feeds`, /metrics).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import Connection

BODY_OUTCOMES = ("fetched", "failed", "robots", "address", "skipped")


class BodyQueries(Connection):
    """Part of every store (sqlite.py, postgres.py)."""

    def want_body(self, item_id: int, now: float) -> None:
        """Queue the item for its article page (a new item, or one whose link changed)."""
        self.conn.execute(
            "UPDATE items SET body = NULL, body_state = 'pending', body_due = ?, body_attempts = 0 WHERE id = ?",
            (now, item_id),
        )

    def trim_body_queue(self, limit: int) -> dict[str, int]:
        """Skip the oldest items past `limit` waiting in the queue; counts them per feed."""
        rows = self.conn.execute(
            "UPDATE items SET body_state = 'skipped', body_due = NULL WHERE body_state = 'pending' AND id <="
            " (SELECT id FROM items WHERE body_state = 'pending' ORDER BY id DESC LIMIT 1 OFFSET ?) RETURNING feed",
            (limit,),
        ).fetchall()
        skipped: dict[str, int] = {}
        for (feed,) in rows:
            skipped[feed] = skipped.get(feed, 0) + 1
        for feed, count in skipped.items():
            self.count_bodies(feed, "skipped", count)
        return skipped

    def claim_bodies(self, now: float, lease: float, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` queued items that are due, oldest first, leased to this node for `lease`
        seconds (another node, or this one after a restart, takes them when it expires)."""
        if limit <= 0:
            return []
        rows = self._query(
            "UPDATE items SET body_due = ? WHERE id IN (SELECT id FROM items WHERE body_state = 'pending'"
            f" AND body_due <= ? ORDER BY body_due, id LIMIT ?{self.skip_locked})"
            " RETURNING id, feed, key, link, body_attempts, body_due",
            (now + lease, now, limit),
        )
        return sorted(rows, key=lambda r: r["id"])

    def store_body(self, item_id: int, body: str, search_text: str, link: str | None = None) -> bool:
        """The article's main text; the item's full-text index text (`search_text`, with the body)
        is replaced with it (re-indexed at once by trigger when the item is indexed already).
        With `link`, only while the item still has that link. Whether it was stored."""
        cur = self.conn.execute(
            "UPDATE items SET body = ?, body_state = 'fetched', body_due = NULL, fts = ? WHERE id = ?"
            " AND link = coalesce(?, link)",
            (body, search_text, item_id, link),
        )
        return bool(cur.rowcount)

    def no_body(self, item_id: int, outcome: str) -> None:
        """The item stays with its headline and summary: `outcome` says why ('failed', 'robots', 'address')."""
        self.conn.execute(
            "UPDATE items SET body_state = ?, body_due = NULL WHERE id = ? AND body_state = 'pending'",
            (outcome, item_id),
        )

    def retry_body(self, item_id: int, due: float, attempted: bool = True) -> None:
        """Try the item's page again at `due` (its origin backs off); `attempted`: a request for
        it failed (counted towards giving up), rather than waiting out another page's backoff."""
        self.conn.execute(
            "UPDATE items SET body_due = ?, body_attempts = body_attempts + ? WHERE id = ? AND body_state = 'pending'",
            (due, int(attempted), item_id),
        )

    def count_bodies(self, feed: str, outcome: str, count: int = 1) -> None:
        self.conn.execute(
            "INSERT INTO body_counts (feed, outcome, count) VALUES (?, ?, ?)"
            " ON CONFLICT (feed, outcome) DO UPDATE SET count = body_counts.count + excluded.count",
            (feed, outcome, count),
        )

    def body_counts(self) -> dict[str, dict[str, int]]:
        """Per feed, how many bodies each outcome (BODY_OUTCOMES) had."""
        counts: dict[str, dict[str, int]] = {}
        for feed, outcome, count in self.conn.execute("SELECT feed, outcome, count FROM body_counts"):
            counts.setdefault(feed, dict.fromkeys(BODY_OUTCOMES, 0))[outcome] = int(count)
        return counts

    def bodies_pending(self, feeds: Iterable[str] | None = None, since: float | None = None) -> int:
        """Items still waiting for their page (of these feeds; first stored since `since`)."""
        sql, params = "SELECT count(*) FROM items WHERE body_state = 'pending'", []
        if feeds is not None:
            sql += f" AND feed {self.in_list}"
            params.append(self.as_list(feeds))
        if since is not None:
            sql += " AND first_seen >= ?"
            params.append(since)
        return int(self.conn.execute(sql, params).fetchone()[0])
