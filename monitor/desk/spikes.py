"""Volume spikes: a rule with `spike = true` also alerts when its matches in the last hour
rise well above its own baseline, so a desk learns that coverage tripled, not only that
one more story appeared.

- A match is an alert of the rule: one per story (the same wire story in five feeds
  counts once), whether or not a cooldown or quiet hours held its message.
- The baseline is the rule's mean matches per hour over the 7 days before the last
  hour, or over the time since monitoring began when that is shorter (at least a day;
  with less history there is no baseline and no spike).
- A spike: at least `spike_factor` times the baseline and at least `spike_min` matches.
  One alert per spike: the rule is marked spiking and alerts again only after the hour's
  count has fallen below the threshold (checked at its next match).
"""

from __future__ import annotations

from ..config import RuleConfig
from ..delivery.fanout import FanOut
from ..store import Store

HOUR = 3600.0
BASELINE = 7 * 86400.0
MIN_HISTORY = 86400.0
TOP = 5


class Spikes:
    def __init__(self, store: Store, fanout: FanOut) -> None:
        self.store = store
        self.fanout = fanout

    def baseline(self, rule: str, now: float) -> float | None:
        """Mean matches per hour before the last hour, or None without a day of history."""
        began = self.store.first_seen_any()
        if began is None:
            return None
        start = max(began, now - HOUR - BASELINE)
        hours = (now - HOUR - start) / HOUR
        if hours * HOUR < MIN_HISTORY:
            return None
        return self.store.rule_alert_count(rule, start, now - HOUR) / hours

    def check(self, rule: RuleConfig, now: float) -> str | None:
        """After the rule matched: alert once when it spikes (returns the alert's title).
        Call inside ingest's transaction, after its alerts are recorded."""
        mean = self.baseline(rule.name, now)
        if mean is None:
            return None
        count = self.store.rule_alert_count(rule.name, now - HOUR, now + 1)
        threshold = max(rule.spike_factor * mean, rule.spike_min)
        spiking = self.store.rule_state(rule.name)["spike_since"] is not None
        if count < threshold:
            if spiking:  # it subsided: the next spike alerts again
                self.store.set_rule_state(rule.name, spike_since=None)
            return None
        if spiking:
            return None
        self.store.set_rule_state(rule.name, spike_since=now)
        title = f"spike: {count} matches in the last hour, usually {mean:.1f} an hour"
        top = self.store.top_stories(rule.name, now - HOUR, TOP)
        lines = [
            f"{count} stories matched in the last hour, {count / mean:.1f} times the usual {mean:.1f} an hour"
            if mean
            else f"{count} stories matched in the last hour; usually none",
            "(usual: the mean of the previous 7 days, or since monitoring began). Top stories:",
        ]
        for n, s in enumerate(top, 1):
            outlets = f"{s['sources']} outlet{'s' if s['sources'] != 1 else ''}"
            lines.append(f"{n}. {s['title'] or '(no title)'} ({outlets}) {s['link'] or ''}".rstrip())
        notice = self.store.add_notice(
            "spike", rule.name, "", title, "\n".join(lines), now, link=top[0]["link"] if top else ""
        )
        self.fanout.notice(notice, rule.notify, now, urgent=rule.urgent)
        return title
