"""Feed state: schedule, validators, errors, redirects; cheap queries for the service."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import Connection
from .records import FeedState


class FeedQueries(Connection):
    """The feeds table. Part of every store (sqlite.py, postgres.py)."""

    def sync_feeds(self, feeds: Iterable[tuple[str, str]], now: float) -> None:
        """Make the feeds table know every configured (name, url); new feeds are due now."""
        with self.transaction():
            for name, url in feeds:
                row = self.conn.execute("SELECT url FROM feeds WHERE name = ?", (name,)).fetchone()
                if row is None:
                    self.conn.execute(
                        "INSERT INTO feeds (name, url, next_poll, consecutive_errors, baselined)"
                        " VALUES (?, ?, ?, 0, 0)",
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

    def feed_states(self, count_items: bool = True) -> list[FeedState]:
        """Every known feed by name; with `count_items`, how many items each has stored (a read of
        every item's key: leave it out where the count is not shown)."""
        counts = (
            dict(self.conn.execute("SELECT feed, count(*) FROM items GROUP BY feed").fetchall()) if count_items else {}
        )
        return [self._feed(r, counts.get(r["name"], 0)) for r in self._query("SELECT * FROM feeds ORDER BY name")]

    @staticmethod
    def _feed(r: dict[str, Any], items: int = 0) -> FeedState:
        return FeedState(
            name=r["name"],
            url=r["url"],
            etag=r["etag"],
            last_modified=r["last_modified"],
            next_poll=r["next_poll"] or 0.0,
            last_poll=r["last_poll"],
            last_success=r["last_success"],
            last_status=r["last_status"],
            consecutive_errors=r["consecutive_errors"] or 0,
            last_error=r["last_error"],
            disabled_reason=r["disabled_reason"],
            baselined=bool(r["baselined"]),
            adopted_url=r["adopted_url"],
            items=items,
            redirect_target=r["redirect_target"],
            redirect_count=r["redirect_count"] or 0,
            body_hash=r["body_hash"],
            server_ttl=r["server_ttl"],
            title=r["title"],
            polled_by=r["polled_by"],
        )

    def any_never_read(self, names: Iterable[str]) -> bool:
        """Has any of these feeds never had a document read (nothing stored of one)?"""
        return (
            self.conn.execute(
                f"SELECT 1 FROM feeds WHERE body_hash IS NULL AND name {self.in_list} LIMIT 1", (self.as_list(names),)
            ).fetchone()
            is not None
        )

    # A recorded poll frees the feed's lease (cluster.py) and says which node polled it.
    _POLLED = "polled_by = ?, lease_node = NULL, lease_until = NULL"

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
                " last_error = NULL, next_poll = ?, etag = coalesce(?, etag),"
                " last_modified = coalesce(?, last_modified),"
                " title = coalesce(?, title), body_hash = coalesce(?, body_hash), server_ttl = coalesce(?, server_ttl),"
                f" {self._POLLED} WHERE name = ?",
                (now, now, status, next_poll, etag, last_modified, title, body_hash, server_ttl, self.node, name),
            )
        else:
            self.conn.execute(
                "UPDATE feeds SET last_poll = ?, last_status = ?, consecutive_errors = consecutive_errors + 1,"
                " last_error = ?, next_poll = ?, disabled_reason = coalesce(?, disabled_reason),"
                f" {self._POLLED} WHERE name = ?",
                (now, status, error, next_poll, disabled_reason, self.node, name),
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
        row = self.conn.execute(
            f"SELECT count(DISTINCT canonical_url) FROM items WHERE feed = ? AND canonical_url {self.in_list}",
            (feed, self.as_list(urls)),
        ).fetchone()
        return int(row[0])

    def known_keys(self, feed: str, keys: Iterable[str]) -> int:
        keys = list(set(keys))
        if not keys:
            return 0
        row = self.conn.execute(
            f"SELECT count(*) FROM items WHERE feed = ? AND key {self.in_list}", (feed, self.as_list(keys))
        )
        return int(row.fetchone()[0])

    def mark_baselined(self, name: str) -> None:
        self.conn.execute("UPDATE feeds SET baselined = 1 WHERE name = ?", (name,))

    # -- service health: cheap queries for the watchdog, STATUS= and /metrics --

    def alerts_since(self, since: float) -> int:
        return self.conn.execute("SELECT count(*) FROM alerts WHERE created >= ?", (since,)).fetchone()[0]

    def feed_errors(self) -> dict[str, int]:
        """Consecutive errors of every known feed, by name."""
        return dict(self.conn.execute("SELECT name, coalesce(consecutive_errors, 0) FROM feeds").fetchall())

    def outbox_counts(self) -> dict[str, int]:
        """Deliveries not yet sent, by status ('pending', and 'dead' once deliveries age out)."""
        return dict(
            self.conn.execute(
                "SELECT status, count(*) FROM deliveries WHERE status != 'sent' GROUP BY status"
            ).fetchall()
        )
