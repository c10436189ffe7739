"""Feed state: schedule, validators, errors, redirects; cheap queries for the service."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from .base import Connection, rows_as_dicts
from .records import FeedState, SuccessfulPoll


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

    # What every recorded poll writes besides its outcome: the schedule's choice and the learned
    # rate (kept unless learned now); and that the poll frees the feed's lease (cluster.py) and
    # which node polled it. Its values are named fields, {interval} and so on (_positional).
    _RECORDED = (
        "poll_interval = {interval}, poll_reason = {reason}, poll_rate = {per_day},"
        " rate_events = coalesce({events}, rate_events), rate_at = coalesce({at}, rate_at),"
        " rate_since = coalesce({since}, rate_since), polled_by = {node}, lease_node = NULL, lease_until = NULL"
    )
    # ... and what a poll that read its feed writes: errors reset, what it did not say (None) kept.
    _READ = (
        "last_poll = {now}, last_success = {now}, last_status = {status}, consecutive_errors = 0,"
        " last_error = NULL, next_poll = {next}, etag = coalesce({etag}, etag),"
        " last_modified = coalesce({modified}, last_modified), title = coalesce({title}, title),"
        " body_hash = coalesce({hash}, body_hash), server_ttl = coalesce({ttl}, server_ttl),"
        f" baselined = CASE WHEN {{baselined}} = 1 THEN 1 ELSE baselined END, {_RECORDED}"
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
        if error is None:
            poll = SuccessfulPoll(
                name,
                now,
                next_poll,
                status,
                etag=etag,
                last_modified=last_modified,
                title=title,
                body_hash=body_hash,
                server_ttl=server_ttl,
                baselined=baselined,
                interval=interval,
                reason=reason,
                per_day=per_day,
                rate=rate,
            )
            return self.record_polls([poll]).get(name)
        events, at, since = rate or (None, None, None)
        recorded, fields = _positional(self._RECORDED)
        values = {
            "interval": interval,
            "reason": reason,
            "per_day": per_day,
            "events": events,
            "at": at,
            "since": since,
            "node": self.node,
        }
        cursor = self.conn.execute(
            "UPDATE feeds SET last_poll = ?, last_status = ?, consecutive_errors = consecutive_errors + 1,"
            " last_error = ?, next_poll = ?, disabled_reason = coalesce(?, disabled_reason),"
            f" {recorded} WHERE name = ? RETURNING *",
            (
                *(now, status, error, next_poll, disabled_reason),
                *(values[field] for field in fields),
                name,
            ),
        )
        rows = rows_as_dicts(cursor)
        return self._feed(rows[0]) if rows else None

    _POLL_FIELDS = (
        ("name", "text"),
        ("now", "double precision"),
        ("next", "double precision"),
        ("status", "integer"),
        ("etag", "text"),
        ("modified", "text"),
        ("title", "text"),
        ("hash", "text"),
        ("ttl", "double precision"),
        ("baselined", "integer"),
        ("interval", "double precision"),
        ("reason", "text"),
        ("per_day", "double precision"),
        ("events", "double precision"),
        ("at", "double precision"),
        ("since", "double precision"),
    )

    # A round's rows as a table (rows_table): columns named apart from the feed's own (p_...),
    # as RETURNING * also returns them on PostgreSQL (SQLite allows no `feeds.*` there).
    _POLL_TABLE = tuple((f"p_{field}", kind) for field, kind in _POLL_FIELDS)
    _READ_FROM_TABLE = _READ.format(**{field: f"t.p_{field}" for field, _ in _POLL_FIELDS}, node="?")

    def record_polls(self, polls: Sequence[SuccessfulPoll]) -> dict[str, FeedState]:
        """Record polls that read their feeds (errors reset), in one statement however many: a
        round of 304s costs one round trip, not one each. Returns each known feed's row as
        recorded (without its `health`), by name."""
        if len(polls) == 1:  # an ingest's record, a round of one: the plain statement, a parameter each
            read, fields = _positional(self._READ)
            values = _poll_values(polls[0]) | {"node": self.node}
            cursor = self.conn.execute(
                f"UPDATE feeds SET {read} WHERE name = ? RETURNING *", (*(values[f] for f in fields), values["name"])
            )
        elif polls:
            rows = [tuple(values[field] for field, _ in self._POLL_FIELDS) for values in map(_poll_values, polls)]
            cursor = self.conn.execute(
                f"UPDATE feeds SET {self._READ_FROM_TABLE} FROM {self.rows_table(self._POLL_TABLE)} AS t"
                " WHERE feeds.name = t.p_name RETURNING *",
                (self.node, *self.rows_params(self._POLL_TABLE, rows)),
            )
        else:
            return {}
        return {r["name"]: self._feed(r) for r in rows_as_dicts(cursor)}

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


def _poll_values(poll: SuccessfulPoll) -> dict[str, Any]:
    """A poll's values by the fields of FeedQueries._READ."""
    events, at, since = poll.rate or (None, None, None)
    return {
        "name": poll.name,
        "now": poll.now,
        "next": poll.next_poll,
        "status": poll.status,
        "etag": poll.etag,
        "modified": poll.last_modified,
        "title": poll.title,
        "hash": poll.body_hash,
        "ttl": poll.server_ttl,
        "baselined": int(poll.baselined),
        "interval": poll.interval,
        "reason": poll.reason,
        "per_day": poll.per_day,
        "events": events,
        "at": at,
        "since": since,
    }


@functools.cache
def _positional(template: str) -> tuple[str, tuple[str, ...]]:
    """`template` with its named fields ({now} and so on) as `?` placeholders, and the field
    each placeholder stands for, in order: the values of each call go in that order."""
    fields: list[str] = []

    class Placeholders(dict[str, str]):
        def __missing__(self, field: str) -> str:
            fields.append(field)
            return "?"

    return template.format_map(Placeholders()), tuple(fields)
