"""Channels over apprise: render an alert, send it to one destination, report failures.

A channel is a named set of apprise URLs. Each URL is a separate destination with
its own delivery row, known by a hash of the URL (`target_id`) so that no secret is
ever written to the database.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TextIO

import apprise

from .config import CONSOLE_URL, ChannelConfig
from .errors import DeliveryError
from .logs import RedactFilter
from .store import Delivery

SNIPPET = 300


def target_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def snippet(text: str, occurrences: tuple[tuple[str, int, int], ...], field: str = "summary") -> str:
    """About SNIPPET characters of `text` around the first match in it."""
    if len(text) <= SNIPPET:
        return text
    starts = [s for f, s, _ in occurrences if f == field]
    centre = min(starts) if starts else 0
    begin = max(0, centre - SNIPPET // 3)
    end = min(len(text), begin + SNIPPET)
    cut = text[begin:end].strip()
    return ("…" if begin else "") + cut + ("…" if end < len(text) else "")


def render(d: Delivery) -> Message:
    """A plain-text alert: rule, headline, link, outlet, time, terms, snippet."""
    when = ""
    if d.published:
        when = datetime.fromtimestamp(d.published, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [d.title or "(no title)", d.link]
    lines.append(" · ".join(x for x in (d.feed, when) if x))
    if d.terms:
        lines.append("matched: " + ", ".join(d.terms))
    if d.summary:
        lines.append("")
        lines.append(snippet(d.summary, d.occurrences))
    return Message(title=f"[{d.rule}] {d.title}", body="\n".join(line for line in lines if line is not None))


class Notifier:
    """Sends messages to the enabled channels' destinations (apprise objects cached per URL)."""

    def __init__(self, channels: Mapping[str, ChannelConfig], console: TextIO | None = None) -> None:
        self.channels = channels
        self.console = console or sys.stdout
        self._apprise: dict[str, apprise.Apprise] = {}
        self._redact = RedactFilter(url for ch in channels.values() for url in ch.urls if url != CONSOLE_URL)

    def targets(self, channel: str) -> list[str]:
        """Target ids of a channel's destinations; empty when disabled or unknown."""
        ch = self.channels.get(channel)
        if ch is None or not ch.enabled:
            return []
        return [target_id(url) for url in ch.urls]

    def _url(self, channel: str, target: str) -> str:
        ch = self.channels.get(channel)
        if ch is None:
            raise DeliveryError(f'channel "{channel}" is no longer configured', hint="restore it or let the delivery age out")
        if not ch.enabled:
            raise DeliveryError(f'channel "{channel}" is disabled: {ch.disabled_reason}')
        for url in ch.urls:
            if target_id(url) == target:
                return url
        raise DeliveryError(f'channel "{channel}" no longer has this destination')

    def send(self, channel: str, target: str, message: Message) -> None:
        """Deliver one message to one destination, or raise DeliveryError saying why."""
        url = self._url(channel, target)
        if url == CONSOLE_URL:
            print(f"\n=== {message.title}\n{message.body}", file=self.console, flush=True)
            return
        sender = self._apprise.get(url)
        if sender is None:
            sender = apprise.Apprise()
            if not sender.add(url):
                raise DeliveryError(f'channel "{channel}": apprise does not accept one of its URLs')
            self._apprise[url] = sender
        logs: list[str] = []
        result = sender.notify(
            body=message.body,
            title=message.title,
            body_format=apprise.NotifyFormat.TEXT,
            log_callback=lambda entry, _plugin: logs.append(str(getattr(entry, "message", entry))),
        )
        if not result:
            reason = self._redact.redact(logs[-1]) if logs else "the destination refused the message"
            raise DeliveryError(f'channel "{channel}": {reason}')

    def validate(self) -> list[str]:
        """Problems with the enabled channels' URLs, one line each (no URL printed)."""
        problems = []
        for ch in self.channels.values():
            if not ch.enabled:
                continue
            for n, url in enumerate(ch.urls, 1):
                if url != CONSOLE_URL and not apprise.Apprise().add(url):
                    problems.append(
                        f'channel "{ch.name}" url #{n}: apprise does not recognise this URL; '
                        "see https://github.com/caronc/apprise/wiki for the forms it accepts"
                    )
        return problems
