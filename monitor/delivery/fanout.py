"""The one fan-out: an alert or a notice into the outbox, once for every destination of
its channels, each with the due time and hold reason the desk plans for it (holds.py).

Alerts, feed-health notices, spikes and story updates all enqueue through here, so a
destination's holds, digests and quiet hours apply to each of them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ..destinations import Kind
from ..store import DeliveryQueue
from .holds import Holds


class FanOut:
    def __init__(
        self,
        store: DeliveryQueue,
        targets: Callable[[str], list[str]],
        kind: Callable[[str, str], Kind],
        holds: Holds,
    ) -> None:
        self.store = store
        self.targets = targets  # a channel's enabled destinations (Notifier.targets)
        self.kind = kind  # what a destination is (Notifier.kind)
        self.holds = holds

    def alert(
        self, alert_id: int, channels: Iterable[str], now: float, *, urgent: bool = False, after: float | None = None
    ) -> int:
        """Enqueue a story alert; `after` is the end of the rule's cooldown it waits for.
        Returns how many deliveries were enqueued."""
        n = 0
        for channel, target, due, hold in self._plan(channels, now, urgent, after, None):
            self.store.enqueue(alert_id, channel, target, now, due, hold)
            n += 1
        return n

    def notice(
        self,
        notice_id: int,
        channels: Iterable[str],
        now: float,
        *,
        urgent: bool = False,
        only: Kind | None = None,
    ) -> int:
        """Enqueue a notice (feed health, spike, story update), only to destinations of the kind
        `only` when one is given. Returns how many deliveries were enqueued."""
        n = 0
        for channel, target, due, hold in self._plan(channels, now, urgent, None, only):
            self.store.enqueue_notice(notice_id, channel, target, now, due, hold)
            n += 1
        return n

    def destinations(self, channels: Iterable[str], only: Kind | None = None) -> list[tuple[str, str]]:
        """(channel, destination) of these channels, only those of the kind `only` when given."""
        return [
            (channel, target)
            for channel in channels
            for target in self.targets(channel)
            if only is None or self.kind(channel, target) == only
        ]

    def _plan(
        self, channels: Iterable[str], now: float, urgent: bool, after: float | None, only: Kind | None
    ) -> Iterator[tuple[str, str, float | None, str | None]]:
        for channel in channels:
            targets = [target for _, target in self.destinations([channel], only)]
            if targets:
                due, hold = self.holds.plan(channel, now, urgent, after)
                for target in targets:
                    yield channel, target, due, hold
