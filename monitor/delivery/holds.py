"""Cooldowns and quiet hours: when a new delivery is due, and what it is folded with.

- A rule with `cooldown`: its first match goes out at once and opens a window; the
  matches inside the window are held to its end and go out as one follow-up message.
  The window lives in the database (rule_state), so a restart keeps it.
- A channel with `quiet = "22:00-07:00"` (in its `timezone`): what would go out inside
  those hours is held to their end and goes out as one digest, except from `urgent` rules.

The outbox sends the deliveries held for one reason to one destination as one message
(outbox.py); here we only decide each delivery's due time and reason, once, at enqueue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..config import ChannelConfig, RuleConfig
from ..store import DeskState

# The words a held batch is announced with ("[desk] 4 alerts (quiet hours): …").
REASONS = {"cooldown": "cooldown", "quiet": "quiet hours"}


def quiet_end(quiet: tuple[int, int], tz: str, now: float) -> float | None:
    """When the quiet hours around `now` end, or None when `now` is not in them."""
    zone = ZoneInfo(tz)
    local = datetime.fromtimestamp(now, zone)
    minute = local.hour * 60 + local.minute
    start, end = quiet
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    day = local.date() if minute < end else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end // 60, end % 60), tzinfo=zone).timestamp()


class Holds:
    def __init__(
        self, store: DeskState, channels: Mapping[str, ChannelConfig], digest_due: Callable[[str, float], float | None]
    ) -> None:
        self.store = store
        self.channels = channels
        self.digest_due = digest_due  # the channel's next digest time, or None (outbox.hold_until)

    def cooldown(self, rule: RuleConfig, now: float) -> float | None:
        """The end of the rule's open cooldown window (this match is folded into its follow-up),
        or None: the match goes out now and opens a window. Call inside ingest's transaction."""
        if not rule.cooldown:
            return None
        until = self.store.rule_state(rule.name)["cooldown_until"]
        if until is not None and now < until:
            return until
        self.store.set_rule_state(rule.name, cooldown_until=now + rule.cooldown)
        return None

    def plan(
        self, channel: str, now: float, urgent: bool = False, after: float | None = None
    ) -> tuple[float | None, str | None]:
        """(due time or None for now, hold reason or None) of a new delivery to `channel`;
        `after` is the end of a cooldown window the delivery waits for."""
        digest = self.digest_due(channel, now)
        due: float | None
        hold: str | None
        if digest is not None:
            due, hold = digest, None  # a digest channel folds everything already; a cooldown adds nothing
        else:
            due, hold = after, ("cooldown" if after is not None else None)
        ch = self.channels.get(channel)
        if ch is not None and ch.quiet and not urgent:
            end = quiet_end(ch.quiet, ch.timezone, due if due is not None else now)
            if end is not None:
                return end, "quiet"
        return due, hold
