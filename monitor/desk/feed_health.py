"""Feed health: one state per feed, and one message to the health channel per change.

States, most serious first: "gone" (410 or disabled), "failing" (`failing_after`
consecutive errors, or no success for `failing_for`), "silent" (no new item for much
longer than the feed's own cadence: `silent_factor` times the median gap between its
recent items, and at least `silent_min`), "moved" (a permanent redirect was adopted and
the config still names the old url), "ok".

The state is assessed after every poll of a feed (a silent feed is still polled, so
silence is noticed without a separate job) and stored in `feed_health`; a message goes
out only when the stored state changes, so a feed failing for a week is one message
and its recovery one more. A burst of changes (the network is down: every feed fails
at once) reaches the health channel's flood guard like any burst of alerts.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from itertools import pairwise

from ..config import FeedConfig, Settings
from ..delivery.fanout import FanOut
from ..delivery.render import when
from ..redaction import redact_url
from ..store import FeedState, Store
from ..text import span

MIN_HISTORY = 5  # items needed before a feed's cadence means anything
RECHECK_SILENCE = 3600.0  # a feed with no new items has its cadence looked at most this often
RULE_LABEL = "feed health"  # how health messages are labelled where an alert names its rule
BAD = ("gone", "failing", "silent")


@dataclass(frozen=True)
class Verdict:
    state: str
    detail: str = ""


def silence(times: list[float], now: float, settings: Settings) -> str:
    """Why the feed counts as silent ("" if it does not): `times` newest first."""
    if len(times) < MIN_HISTORY:
        return ""
    ordered = sorted(times)
    gap = statistics.median(b - a for a, b in pairwise(ordered))
    quiet_for = now - ordered[-1]
    if quiet_for <= max(settings.silent_factor * gap, settings.silent_min):
        return ""
    return (
        f"no new item for {span(quiet_for)}; it usually publishes one every {span(gap)} "
        f"(median gap of its last {len(times)} items)"
    )


def assess(feed: FeedConfig, state: FeedState, now: float, settings: Settings, silent: str) -> Verdict:
    if state.disabled_reason:
        return Verdict(
            "gone",
            f"disabled: {state.disabled_reason}. Fix or remove its url in the config, "
            "then reload (`systemctl reload monitor`)",
        )
    errors = state.consecutive_errors
    failing_since = state.last_success
    if errors and (
        errors >= settings.failing_after or (failing_since is not None and now - failing_since >= settings.failing_for)
    ):
        since = f"; last success {when(failing_since)}" if failing_since else "; it never answered successfully"
        return Verdict("failing", f"{errors} consecutive errors{since}; last error: {state.last_error}")
    if silent:
        return Verdict("silent", silent)
    if state.adopted_url and state.adopted_url != feed.url:
        new = redact_url(state.adopted_url)
        return Verdict(
            "moved", f'moved permanently: now polling {new}. Change its line in the config to:\nurl = "{new}"'
        )
    return Verdict("ok")


def message(name: str, old: str | None, new: Verdict) -> tuple[str, str] | None:
    """(title, body) of the message for a change from `old` to `new`, or None for no message."""
    if new.state in BAD:
        return f"{name} is {new.state}", new.detail
    if old in BAD:
        extra = f"\n{new.detail}" if new.detail else ""
        return f"{name} recovered", f"{name} works again (it was {old}).{extra}"
    if new.state == "moved" and old != "moved":
        return f"{name} moved", new.detail
    return None  # ok after ok or after moved (the config was updated), or a first look that is fine


class FeedHealth:
    def __init__(self, store: Store, settings: Settings, fanout: FanOut) -> None:
        self.store = store
        self.settings = settings
        self.fanout = fanout

    def observe(self, feed: FeedConfig, now: float, new_items: int = 0, state: FeedState | None = None) -> str | None:
        """Assess the feed after a poll; on a change of state, store it and enqueue one message.
        `state`: the feed's row and health as the poll left them, when the poll has them (else
        read here). Returns the message title when one was enqueued (or would have been, without
        a channel)."""
        # Reads first, outside a transaction: most polls change nothing and should not take
        # the write lock. Only this feed's poll writes its row, and a feed is never polled twice
        # at once, so nothing can change between the reads and the write.
        if state is None:
            state = self.store.feed_state(feed.name)
        if state is None:
            return None
        prev = state.health
        checked = prev["checked"] if prev else None
        silent = ""
        if not new_items and (
            prev is None or prev["state"] == "silent" or checked is None or now - checked >= RECHECK_SILENCE
        ):
            silent = silence(self.store.item_times(feed.name), now, self.settings)
            checked = now
        verdict = assess(feed, state, now, self.settings, silent)
        old = prev["state"] if prev else None
        if prev is not None and old == verdict.state:
            if checked is not None and checked != prev["checked"]:
                self.store.set_feed_health(feed.name, old, prev["since"], prev["detail"], checked)
            return None
        text = message(feed.name, old, verdict)
        if text is None:  # a state and no message (a first look that is fine): one statement
            self.store.set_feed_health(feed.name, verdict.state, now, verdict.detail, checked or now)
            return None
        with self.store.transaction():  # the new state and its message, together
            self.store.set_feed_health(feed.name, verdict.state, now, verdict.detail, checked or now)
            self._enqueue(feed.name, *text, now)
        return text[0]

    def _enqueue(self, feed: str, title: str, body: str, now: float) -> None:
        channel = self.settings.health_channel
        if not channel:
            return
        notice = self.store.add_notice("health", RULE_LABEL, feed, title, body, now)
        self.fanout.notice(notice, [channel], now)
