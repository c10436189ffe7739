"""What each page shows, read from a store and the configuration in force: plain values for
its template (present.py formats them). Nothing here writes.

Each page function runs inside the reader's lock (one read connection for the console), so it
reads what it needs and returns; the template is rendered after, outside the lock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ..config import Config
from ..delivery.channels import target_id
from ..delivery.outbox import delivery_state
from ..destinations import destination_kind
from ..errors import RuleError
from ..redaction import redact_url
from ..rules import compile_query
from ..rules.backtest import backtest
from ..store import Store
from .present import link, marked, snippet

PAGE = 50  # alerts on a page
STORY_ALERTS = 200  # a story's alerts shown (one per rule)
OUTBOX = 100  # deliveries on a page, oldest first
PLAYGROUND_HITS = 50
# Candidates the playground matches at most (about 70 µs each): a query the full-text index
# cannot narrow (a regular expression alone) would otherwise match every item of the window.
PLAYGROUND_EXAMINE = 500
DAY = 86400.0
WINDOWS = {"1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
# Feed states, most in need of a look first.
SEVERITY = ("gone", "failing", "silent", "moved", "new", "off", "ok")


class PageProblem(Exception):
    """A request the page cannot answer: `status` 400 or 404, and what to say."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Params:
    """A request's query parameters (the first value of each)."""

    def __init__(self, values: Mapping[str, list[str]]) -> None:
        self.values = values

    def text(self, name: str) -> str:
        return (self.values.get(name) or [""])[0].strip()

    def whole(self, name: str) -> int | None:
        value = self.text(name)
        if not value:
            return None
        if not value.isdigit() or len(value) > 18:  # a database integer holds 18 digits whatever they are
            raise PageProblem(400, f"{name} must be a whole number, not {value[:20]!r}")
        return int(value)

    def choice(self, name: str, options: Mapping[str, Any], default: str) -> str:
        value = self.text(name) or default
        if value not in options:
            raise PageProblem(400, f"{name} must be one of {', '.join(options)}")
        return value


@dataclass(frozen=True)
class Configured:
    """The configuration as pages show it: destinations by channel name and kind, never their
    URLs. (Every secret is masked in the whole page as it leaves: runtime/endpoint.py.)"""

    config: Config
    kinds: Mapping[tuple[str, str], str]

    @classmethod
    def of(cls, config: Config) -> Configured:
        kinds = {
            (name, target_id(url)): _kind(url) for name, channel in config.channels.items() for url in channel.urls
        }
        return cls(config, kinds)

    def kind(self, channel: str, target: str) -> str:
        return self.kinds.get((channel, target), "no longer configured")


def _kind(url: str) -> str:
    """slack, email, or else the URL's scheme (json, console...), which carries no secret."""
    kind = destination_kind(url)
    if kind != "other":
        return kind
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return scheme if scheme.replace("+", "").replace("-", "").replace(".", "").isalnum() else "other"


# -- the alert stream and a story --------------------------------------------------


def _alert(a: Mapping[str, Any], conf: Configured) -> dict[str, Any]:
    occurrences = a["occurrences"]
    return {
        "id": a["id"],
        "rule": a["rule"],
        "story_id": a["story_id"],
        "created": a["created"],
        "published": a["published"],
        "feed": a["feed"],
        "title": marked(a["title"] or "(no title)", occurrences, "title"),
        "snippet": snippet(a["summary"], a["body"], occurrences),
        "link": link(a["link"]),
        "terms": a["terms"],
        "also": [f for f in a["outlets"] if f != a["feed"]],
        "deliveries": [
            {
                "channel": d["channel"],
                "kind": conf.kind(d["channel"], d["target"]),
                "status": d["status"],
                "state": delivery_state(d, conf.config.channels.get(d["channel"])),
                "attempts": d["attempts"],
                "sent_at": d["sent_at"],
            }
            for d in a["deliveries"]
        ],
    }


def alert_stream(store: Store, conf: Configured, params: Params) -> dict[str, Any]:
    """`/`: alerts newest first, by rule and by channel, PAGE at a time (?before=<alert id>)."""
    rule, channel, before = params.text("rule") or None, params.text("channel") or None, params.whole("before")
    rows = store.alert_page(PAGE + 1, before, rule, channel)
    filters = {k: v for k, v in (("rule", rule), ("channel", channel)) if v}
    return {
        "alerts": [_alert(a, conf) for a in rows[:PAGE]],
        "newest": "/?" + urlencode(filters) if before else None,
        "older": "/?" + urlencode({**filters, "before": rows[PAGE - 1]["id"]}) if len(rows) > PAGE else None,
        "before": before,
        "rule": rule or "",
        "channel": channel or "",
        "rules": sorted({r.name for r in conf.config.rules} | ({rule} if rule else set())),
        "channels": sorted({*conf.config.channels} | ({channel} if channel else set())),
    }


def story(store: Store, conf: Configured, story_id: int) -> dict[str, Any]:
    """`/stories/ID`: every item and outlet of a story, its edits and its alerts."""
    record = store.story_record(story_id)
    if record is None:
        raise PageProblem(404, f"there is no story {story_id}")
    items = [
        {
            "feed": i["feed"],
            "title": i["title"] or "(no title)",
            "link": link(i["link"]),
            "published": i["published"],
            "first_seen": i["first_seen"],
            "edited": i["updated"] if (i["updated"] or 0) > (i["first_seen"] or 0) else None,
        }
        for i in store.story_items(story_id)
    ]
    return {
        "story": {**record, "link": link(record["canonical_url"])},
        "items": items,
        "outlets": list(dict.fromkeys(i["feed"] for i in items)),
        "alerts": [_alert(a, conf) for a in store.alert_page(STORY_ALERTS, story=story_id)],
        "notices": store.story_notices(story_id),
    }


# -- the desk: feeds, rules, the playground, the outbox ------------------------------


def feeds(store: Store, conf: Configured) -> dict[str, Any]:
    """`/feeds`: each configured feed's state, since when and why, its last status and next poll."""
    states = {s.name: s for s in store.feed_states(count_items=False)}
    health = store.feed_healths()
    rows = []
    for feed in conf.config.feeds:
        s, h = states.get(feed.name), health.get(feed.name) or {}
        if not feed.enabled:
            state = "off"
        elif s is None or s.last_poll is None:
            state = "new"
        else:
            state = h.get("state") or ("failing" if s.consecutive_errors else "ok")
        rows.append(
            {
                "name": feed.name,
                "title": feed.title or (s.title if s else "") or "",
                "url": redact_url(feed.url),
                "state": state,
                "since": h.get("since"),
                "why": h.get("detail") or (s.last_error if s else "") or "",
                "last_status": s.last_status if s else None,
                "last_poll": s.last_poll if s else None,
                "last_success": s.last_success if s else None,
                "next_poll": s.next_poll if s and feed.enabled and not s.disabled_reason else None,
                "errors": s.consecutive_errors if s else 0,
                "schedule": s.schedule_text if s and feed.enabled else "",
            }
        )
    rows.sort(key=lambda r: (SEVERITY.index(r["state"]) if r["state"] in SEVERITY else 0, r["name"]))
    counts = {state: sum(r["state"] == state for r in rows) for state in SEVERITY}
    return {"feeds": rows, "counts": {k: v for k, v in counts.items() if v}}


def rules(store: Store, conf: Configured, now: float) -> dict[str, Any]:
    """`/rules`: each rule, its query explained, and its alerts over 24 hours and 7 days."""
    day, week = store.rule_alert_counts(now - DAY), store.rule_alert_counts(now - 7 * DAY)
    rows = []
    for r in conf.config.rules:
        try:
            explained = compile_query(r.query, conf.config.aliases).explain()
        except RuleError as exc:  # the loader refuses such a rule; a page says so rather than fail
            explained = exc.render()
        rows.append(
            {
                "name": r.name,
                "query": r.query,
                "explained": explained,
                "feeds": r.feeds,
                "notify": r.notify,
                "cooldown": r.cooldown,
                "urgent": r.urgent,
                "spike": r.spike,
                "day": day.get(r.name, 0),
                "week": week.get(r.name, 0),
            }
        )
    return {"rules": rows}


def playground(store: Store, conf: Configured, now: float, params: Params) -> dict[str, Any]:
    """`/playground?q=…`: a draft query explained and tried on the stored items of a window,
    newest first, its hits highlighted; a refused query shown with its caret message."""
    query, since = params.text("q"), params.choice("since", WINDOWS, "7d")
    page: dict[str, Any] = {"query": query, "since": since, "windows": list(WINDOWS), "refusal": None}
    page.update(explained=None, narrowing=None, hits=[], examined=0, cut=False)
    if not query:
        return page
    try:
        compiled = compile_query(query, conf.config.aliases)
    except RuleError as exc:
        page["refusal"] = exc.render()
        return page
    page["explained"], page["narrowing"] = compiled.explain(), compiled.fts_query()
    configured = {f.name: f.title or f.name for f in conf.config.feeds}
    own_titles = {s.name: s.title for s in store.feed_states(count_items=False)}
    examined = _Counted()
    rows = store.stored_items(now - WINDOWS[since], compiled.fts_query(), PLAYGROUND_EXAMINE)
    with _closing(rows):
        candidates = examined.count(rows)
        for row, m in backtest(compiled, candidates, configured, own_titles):
            occurrences = m.occurrences
            page["hits"].append(
                {
                    "title": marked(row["title"] or "(no title)", occurrences, "title"),
                    "snippet": snippet(row["summary"], row["body"], occurrences),
                    "link": link(row["link"]),
                    "feed": row["feed"],
                    "published": row["published"] or row["first_seen"],
                    "story_id": row["story_id"],
                    "terms": list(m.terms),
                }
            )
            if len(page["hits"]) >= PLAYGROUND_HITS:
                break
    page["examined"] = examined.n
    page["cut"] = examined.n >= PLAYGROUND_EXAMINE and len(page["hits"]) < PLAYGROUND_HITS
    return page


def outbox(store: Store, conf: Configured, params: Params) -> dict[str, Any]:
    """`/outbox`: pending and dead deliveries, oldest first, OUTBOX at a time (?after=<delivery id>),
    with their errors."""
    after = params.whole("after")
    found = store.outbox(OUTBOX + 1, after or 0)
    rows = [
        {
            "id": r["id"],
            "status": r["status"],
            "state": delivery_state(r, conf.config.channels.get(r["channel"])),
            "channel": r["channel"],
            "kind": conf.kind(r["channel"], r["target"]),
            "rule": r["rule"],
            "title": r["title"] or "(no title)",
            "link": link(r["link"]),
            "feed": r["feed"],
            "attempts": r["attempts"],
            "error": r["last_error"] or "",
            "created": r["created"],
            "next_attempt": r["next_attempt"] if r["status"] == "pending" else None,
            "failing_since": r["first_failed"],
            "dead_at": r["dead_at"],
        }
        for r in found[:OUTBOX]
    ]
    return {
        "deliveries": rows,
        "counts": store.outbox_counts(),
        "oldest": "/outbox" if after else None,
        "newer": f"/outbox?after={found[OUTBOX - 1]['id']}" if len(found) > OUTBOX else None,
    }


class _Counted:
    """Counts the rows that pass through it."""

    n = 0

    def count(self, rows: Iterator[Any]) -> Iterator[Any]:
        for row in rows:
            self.n += 1
            yield row


@contextmanager
def _closing(rows: Iterator[Any]) -> Iterator[Iterator[Any]]:
    """Close a store's row stream even when not read to its end (a PostgreSQL server-side cursor
    and its transaction, a SQLite statement's read snapshot)."""
    try:
        yield rows
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
