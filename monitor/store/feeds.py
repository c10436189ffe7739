"""Feed state: schedule, validators, errors, redirects; cheap queries for the service."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import Connection, rows_as_dicts
from .records import FeedState


class FeedQueries(Connection):
    """The feeds table. Part of every store (sqlite.py, postgres.py)."""

    def sync_feeds(self, feeds: Iterable[tuple[str, str]], now: float, off: Iterable[str] = ()) -> list[str]:
        """Put a configuration's feeds in force: every configured (name, url) known, new feeds
        due now, and `polled` set on exactly the configured feeds not turned `off`, so that a
        claim reads the table alone. A few statements whatever the number of feeds. Returns
        the feeds polled until now that no longer are."""
        configured = dict(feeds)
        polled = sorted(set(configured) - set(off))
        with self.transaction():
            rows = self.conn.execute("SELECT name, url, polled FROM feeds").fetchall()
            known = {name: url for name, url, _ in rows}
            stopped = sorted({name for name, _, was in rows if was} - set(polled))
            new = [(name, url, now) for name, url in configured.items() if name not in known]
            if new:
                self.conn.executemany(
                    "INSERT INTO feeds (name, url, next_poll, consecutive_errors, baselined) VALUES (?, ?, ?, 0, 0)",
                    new,
                )
            moved = [(url, now, name) for name, url in configured.items() if name in known and known[name] != url]
            if moved:
                # A new URL is a new document: forget validators and any adopted move.
                self.conn.executemany(
                    "UPDATE feeds SET url = ?, etag = NULL, last_modified = NULL, adopted_url = NULL,"
                    " redirect_target = NULL, redirect_count = 0, body_hash = NULL,"
                    " disabled_reason = NULL, next_poll = ? WHERE name = ?",
                    moved,
                )
            flag = f"CASE WHEN name {self.in_list} THEN 1 ELSE 0 END"
            names = self.as_list(polled)
            self.conn.execute(f"UPDATE feeds SET polled = {flag} WHERE polled != {flag}", (names, names))
        return stopped

    def feed_state(self, name: str) -> FeedState | None:
        """The feed's row, with its feed health row (`health`): a poll reads both at once."""
        return self.feed_states_of([name]).get(name)

    def feed_states_of(self, names: Iterable[str]) -> dict[str, FeedState]:
        """feed_state of each of these feeds that is known, in one statement: a claim's."""
        states = {}
        for r in self._query(
            "SELECT feeds.*, h.state AS health_state, h.since AS health_since, h.detail AS health_detail,"
            " h.checked AS health_checked FROM feeds LEFT JOIN feed_health h ON h.name = feeds.name"
            f" WHERE feeds.name {self.in_list}",
            (self.as_list(names),),
        ):
            health = None
            if r["health_state"] is not None:
                health = {k: r[f"health_{k}"] for k in ("state", "since", "detail", "checked")} | {"name": r["name"]}
            states[r["name"]] = self._feed(r, health=health)
        return states

    def feed_states(self, count_items: bool = True) -> list[FeedState]:
        """Every known feed by name; with `count_items`, how many items each has stored (a read of
        every item's key: leave it out where the count is not shown)."""
        counts = (
            dict(self.conn.execute("SELECT feed, count(*) FROM items GROUP BY feed").fetchall()) if count_items else {}
        )
        return [self._feed(r, counts.get(r["name"], 0)) for r in self._query("SELECT * FROM feeds ORDER BY name")]

    @staticmethod
    def _feed(r: dict[str, Any], items: int = 0, health: dict[str, Any] | None = None) -> FeedState:
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
            health=health,
            rate=(r["rate_events"], r["rate_at"], r["rate_since"]) if r["rate_at"] is not None else None,
            poll_interval=r["poll_interval"],
            poll_reason=r["poll_reason"],
            poll_rate=r["poll_rate"],
        )

    def any_never_read(self) -> bool:
        """Has any polled feed never had a document read (nothing stored of one)?"""
        return (
            self.conn.execute("SELECT 1 FROM feeds WHERE body_hash IS NULL AND polled = 1 LIMIT 1").fetchone()
            is not None
        )

    # A recorded poll frees the feed's lease (cluster.py) and says which node polled it.
    _POLLED = "polled_by = ?, lease_node = NULL, lease_until = NULL"
    _SCHEDULED = (
        "poll_interval = ?, poll_reason = ?, poll_rate = ?, rate_events = coalesce(?, rate_events),"
        " rate_at = coalesce(?, rate_at), rate_since = coalesce(?, rate_since)"
    )

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
        """Record one poll's outcome. `error` None means success (errors reset); `baselined`: the
        poll stored the feed's baseline (mark_baselined); `interval`, `reason`, `per_day`: what
        the schedule chose, why, and the items a day it went by; `rate`: the feed's publishing
        rate as learned now (else kept). Returns the feed's row as recorded (without its
        `health`), None for a feed not known."""
        events, at, since = rate or (None, None, None)
        schedule = (interval, reason, per_day, events, at, since)
        if error is None:
            cursor = self.conn.execute(
                "UPDATE feeds SET last_poll = ?, last_success = ?, last_status = ?, consecutive_errors = 0,"
                " last_error = NULL, next_poll = ?, etag = coalesce(?, etag),"
                " last_modified = coalesce(?, last_modified),"
                " title = coalesce(?, title), body_hash = coalesce(?, body_hash), server_ttl = coalesce(?, server_ttl),"
                f" baselined = CASE WHEN ? = 1 THEN 1 ELSE baselined END, {self._SCHEDULED}, {self._POLLED}"
                " WHERE name = ? RETURNING *",
                (
                    now,
                    now,
                    status,
                    next_poll,
                    etag,
                    last_modified,
                    title,
                    body_hash,
                    server_ttl,
                    int(baselined),
                    *schedule,
                    self.node,
                    name,
                ),
            )
        else:
            cursor = self.conn.execute(
                "UPDATE feeds SET last_poll = ?, last_status = ?, consecutive_errors = consecutive_errors + 1,"
                " last_error = ?, next_poll = ?, disabled_reason = coalesce(?, disabled_reason),"
                f" {self._SCHEDULED}, {self._POLLED} WHERE name = ? RETURNING *",
                (now, status, error, next_poll, disabled_reason, *schedule, self.node, name),
            )
        rows = rows_as_dicts(cursor)
        return self._feed(rows[0]) if rows else None

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

    def mark_baselined(self, name: str) -> None:
        self.conn.execute("UPDATE feeds SET baselined = 1 WHERE name = ?", (name,))

    # -- service health: cheap queries for the watchdog, STATUS= and /metrics --

    def alerts_since(self, since: float) -> int:
        return self.conn.execute("SELECT count(*) FROM alerts WHERE created >= ?", (since,)).fetchone()[0]

    def feed_rates(self) -> dict[str, tuple[tuple[float, float, float] | None, float | None]]:
        """Each polled feed's learned rate (as FeedState.rate) and server hint, by name: what an
        adaptive schedule shares its budget by."""
        rows = self.conn.execute(
            "SELECT name, rate_events, rate_at, rate_since, server_ttl FROM feeds WHERE polled = 1"
        ).fetchall()
        return {name: ((events, at, since) if at is not None else None, ttl) for name, events, at, since, ttl in rows}

    def feed_intervals(self) -> dict[str, tuple[float, str]]:
        """The interval each feed's last poll chose, and why, by name (feeds not polled yet: none)."""
        rows = self.conn.execute(
            "SELECT name, poll_interval, poll_reason FROM feeds WHERE poll_interval IS NOT NULL"
        ).fetchall()
        return {name: (interval, reason or "") for name, interval, reason in rows}

    def feed_errors(self) -> dict[str, int]:
        """Consecutive errors of every known feed, by name."""
        return dict(self.conn.execute("SELECT name, coalesce(consecutive_errors, 0) FROM feeds").fetchall())

    def outbox_counts(self) -> dict[str, int]:
        """Deliveries not yet sent, by status ('pending', and 'dead' once deliveries age out)."""
        # By the index on (status, next_attempt): what waits, never the history of what was sent.
        return dict(
            self.conn.execute(
                "SELECT status, count(*) FROM deliveries WHERE status IN ('pending', 'dead') GROUP BY status"
            ).fetchall()
        )
