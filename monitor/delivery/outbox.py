"""The outbox: deliver each (alert, destination) at least once, calmly.

- A delivery is marked sent only after apprise reports success; a failure is retried
  with exponential backoff until it succeeds or has been failing for `dead_after`,
  when it becomes a dead letter (`monitor outbox`, `--retry`, `--retry-dead`).
- While a destination fails, the rest of its queue waits for the same retry time
  instead of hammering it, and ages out with it.
- A digest channel's deliveries are held (at enqueue) until the channel's next
  digest time, computed with APScheduler's triggers; then they go out as one message.
  The hold time is stored, so a restart neither loses nor hurries a digest.
- The flood guard: past `flood_threshold` messages to a destination within
  `flood_window`, further alerts are held until the window has passed and then folded
  into one digest message.
- The rate limit spaces messages to one destination by `min_gap` seconds.

At-least-once: the only window for a duplicate is a crash (or kill) between a
destination accepting a message and the `mark_sent_together` commit that follows it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..config import ChannelConfig, DeliverySettings, parse_duration
from ..errors import DeliveryError
from ..store import Delivery, DeliveryQueue
from .channels import Notifier, view
from .holds import REASONS
from .render import SAMPLE, header_text

if TYPE_CHECKING:  # apscheduler is imported where a digest schedule is built (start-up cost)
    from apscheduler.triggers.base import BaseTrigger

log = logging.getLogger("monitor.delivery.outbox")

CLAIM_LEASE = 300.0  # how long a CLI retry keeps a running daemon off the deliveries it sends
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # interval digests fire on multiples from here


@dataclass
class DeliveryReport:
    sent: int = 0  # deliveries sent
    failed: int = 0  # deliveries whose attempt failed (kept for retry)
    messages: int = 0  # messages that went out (a digest is one)
    dead: int = 0  # deliveries that aged out into dead letters
    folded: int = 0  # deliveries held by the flood guard
    errors: list[str] = field(default_factory=list)


def digest_trigger(ch: ChannelConfig) -> BaseTrigger | None:
    """The channel's digest schedule: an interval aligned to the clock, or a crontab in its time zone."""
    if not ch.digest:
        return None
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    try:
        seconds = parse_duration(ch.digest)
    except ValueError:
        return CronTrigger.from_crontab(ch.digest, timezone=ch.timezone)
    return IntervalTrigger(seconds=seconds, start_date=_EPOCH, timezone=UTC)


def next_fire(trigger: BaseTrigger, now: float) -> float:
    fire = trigger.get_next_fire_time(None, datetime.fromtimestamp(now, tz=UTC))
    return fire.timestamp() if fire else now


class Outbox:
    def __init__(
        self,
        store: DeliveryQueue,
        notifier: Notifier,
        channels: Mapping[str, ChannelConfig],
        settings: DeliverySettings,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.channels = channels
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self._triggers = {n: digest_trigger(c) for n, c in channels.items() if c.digest}
        self._last_sent: dict[tuple[str, str], float] = {}  # per destination, for the rate limit

    def hold_until(self, channel: str, now: float) -> float | None:
        """When a new delivery for `channel` becomes due: its next digest time, or None (now)."""
        trigger = self._triggers.get(channel)
        return next_fire(trigger, now) if trigger else None

    def backoff(self, attempts: int) -> float:
        """Delay after the `attempts`-th failure (1-based): retry_first doubling to retry_max."""
        return min(self.settings.retry_first * 2 ** min(max(attempts - 1, 0), 30), self.settings.retry_max)

    async def deliver_due(self) -> DeliveryReport:
        """Send everything due now, destination by destination."""
        report = DeliveryReport()
        await self._deliver(self.store.due_deliveries(self.clock()), report)
        return report

    async def retry(self, ids: list[int]) -> tuple[DeliveryReport, dict[int, str]]:
        """Send these pending or dead deliveries now; returns the report and each id's new status."""
        claimed = self.store.claim(ids, self.clock(), CLAIM_LEASE)
        report = DeliveryReport()
        await self._deliver(claimed, report)
        return report, self.store.delivery_status(ids) if ids else {}

    async def _deliver(self, rows: list[Delivery], report: DeliveryReport) -> None:
        groups: dict[tuple[str, str], list[Delivery]] = {}
        for row in rows:
            groups.setdefault((row.channel, row.target), []).append(row)
        for (channel, target), group in groups.items():
            await self._deliver_group(channel, target, group, report)

    async def _deliver_group(self, channel: str, target: str, rows: list[Delivery], report: DeliveryReport) -> None:
        ch = self.channels.get(channel)
        now = self.clock()
        batches: list[tuple[list[Delivery], str]]
        held: list[tuple[list[Delivery], str]] = []
        if ch is None or not ch.digest:
            # Held by a cooldown or quiet hours: one message per reason (holds.py).
            for reason in dict.fromkeys(r.hold for r in rows if r.hold):
                held.append(([r for r in rows if r.hold == reason], REASONS.get(reason, reason)))
            rows = [r for r in rows if not r.hold]
        folded = [r for r in rows if r.fold]
        if ch is not None and ch.digest:
            batches = [(rows, "digest")]
        elif folded:
            # The flood window has passed: everything held goes out as one message.
            batches = [(rows, "flood")]
        else:
            send = rows
            if ch is not None and ch.flood_threshold:
                recent = self.store.messages_since(channel, target, now - ch.flood_window)
                allowance = max(ch.flood_threshold - recent, 0)
                send, overflow = rows[:allowance], rows[allowance:]
                if overflow:
                    release = self.store.fold_release(channel, target) or now + ch.flood_window
                    self.store.fold([r.id for r in overflow], release)
                    report.folded += len(overflow)
                    log.warning(
                        'channel "%s": more than %d messages in %.0fs; holding %d alerts for one digest in %.0fs',
                        channel,
                        ch.flood_threshold,
                        ch.flood_window,
                        len(overflow),
                        release - now,
                    )
            batches = [([r], "alert") for r in send]
        batches = held + batches
        for n, (batch, reason) in enumerate(batches):
            if not await self._send(channel, target, batch, reason, report):
                # The destination is failing: the rest of its queue waits for the same retry.
                rest = [r for b, _ in batches[n + 1 :] for r in b]
                if rest:
                    self._failed(
                        rest, "waiting: an earlier message to this destination failed", rest[0], report, attempted=False
                    )
                return

    async def _send(
        self, channel: str, target: str, batch: list[Delivery], reason: str, report: DeliveryReport
    ) -> bool:
        ch = self.channels.get(channel)
        gap = ch.min_gap if ch is not None else 0.0
        last = self._last_sent.get((channel, target))
        if gap and last is not None:
            wait = last + gap - self.clock()
            if wait > 0:
                await self.sleep(wait)
        try:
            message = self.notifier.compose(channel, target, [view(r) for r in batch], reason)
            in_reply_to = self._thread(channel, target, batch)
            if in_reply_to:
                # "Re: " + the first message's subject: clients that thread by subject agree.
                message = replace(message, title=header_text(f"Re: [{batch[0].rule}] {batch[0].title}"))
            message_id = await asyncio.to_thread(self.notifier.send, channel, target, message, in_reply_to)
        except DeliveryError as exc:
            self._last_sent[(channel, target)] = self.clock()
            self._failed(batch, exc.message, max(batch, key=lambda r: r.attempts), report, attempted=True)
            return False
        now = self.clock()
        self._last_sent[(channel, target)] = now
        self.store.mark_sent_together([r.id for r in batch], now, message_id)
        report.sent += len(batch)
        report.messages += 1
        return True

    def _thread(self, channel: str, target: str, batch: list[Delivery]) -> str | None:
        """The Message-ID a story update replies to: its story's first alert to this destination
        (None when that has not gone out yet, or for anything else)."""
        if len(batch) != 1 or batch[0].notice != "update" or not batch[0].notice_alert:
            return None
        return self.store.thread_message_id(batch[0].notice_alert, channel, target)

    def _failed(
        self, batch: list[Delivery], error: str, head: Delivery, report: DeliveryReport, attempted: bool
    ) -> None:
        now = self.clock()
        delay = self.backoff(head.attempts + 1)
        error = self.notifier.redact(error)
        dead = self.store.mark_failed_together(
            [r.id for r in batch], error, now + delay, now, self.settings.dead_after, attempted=attempted
        )
        report.failed += len(batch)
        report.errors.append(error)
        if attempted:
            log.warning("deliveries %s (%s): %s; retry in %.1fs", _ids(batch), head.channel, error, delay)
        if dead:
            report.dead += len(dead)
            log.error(
                "deliveries %s (%s) failed for %.0fs and are now dead letters; `monitor outbox --retry-dead` "
                "sends them again",
                _ids(dead),
                head.channel,
                self.settings.dead_after,
            )


def _ids(rows: Sequence[Delivery | int]) -> str:
    ids = [r.id if isinstance(r, Delivery) else r for r in rows]
    return ",".join(map(str, ids[:10])) + ("…" if len(ids) > 10 else "")


def send_sample(notifier: Notifier, channel: str) -> list[tuple[int, str | None]]:
    """`monitor notify-test`: a realistic alert to each destination; (number, error or None) each."""
    results: list[tuple[int, str | None]] = []
    for n, target in enumerate(notifier.targets(channel), 1):
        try:
            notifier.send(channel, target, notifier.compose(channel, target, [SAMPLE]))
            results.append((n, None))
        except DeliveryError as exc:
            results.append((n, exc.message))
    return results


def delivery_state(row: Mapping[str, Any], channel: ChannelConfig | None) -> str:
    """A delivery's status in words: a pending one held for a digest says why ("held (flood)")."""
    status = str(row["status"])
    if status != "pending":
        return status
    if row["fold"]:
        return "held (flood)"
    if row.get("hold"):
        return f"held ({REASONS.get(row['hold'], row['hold'])})"
    if channel is not None and channel.digest and not row["attempts"]:
        return "held (digest)"
    return status


def outbox_rows(store: DeliveryQueue, channels: Mapping[str, ChannelConfig]) -> list[dict[str, object]]:
    """`monitor outbox`: pending and dead deliveries, with times in ISO 8601 (UTC)."""

    def iso(ts: float | None) -> str | None:
        return datetime.fromtimestamp(ts, tz=UTC).isoformat() if ts else None

    rows = []
    for r in store.outbox():
        rows.append(
            {
                "id": r["id"],
                "status": r["status"],
                "state": delivery_state(r, channels.get(r["channel"])),
                "channel": r["channel"],
                "destination": r["target"],
                "rule": r["rule"],
                "title": r["title"],
                "link": r["link"],
                "feed": r["feed"],
                "attempts": r["attempts"],
                "last_error": r["last_error"],
                "created": iso(r["created"]),
                "next_attempt": iso(r["next_attempt"]) if r["status"] == "pending" else None,
                "failing_since": iso(r["first_failed"]),
                "dead_at": iso(r["dead_at"]),
            }
        )
    return rows
