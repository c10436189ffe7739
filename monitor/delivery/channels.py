"""Channels over apprise: pick each destination's dialect, send, report failures.

A channel is a named set of apprise URLs. Each URL is a separate destination with
its own delivery row, known by a hash of the URL (`target_id`) so that no secret is
ever written to the database. Rendering lives in render.py; the outbox (retries,
digests, flood guard, rate limit) in outbox.py.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from ..config import CONSOLE_URL, ChannelConfig
from ..destinations import Dialect, Kind, destination_kind, dialect
from ..errors import DeliveryError
from ..redaction import Redactor, Secrets, destination_secrets
from ..store import Delivery
from . import mailthread
from .render import AlertView, Message, Template, render_alert, render_digest

# apprise is imported where it is used (~30 ms of start-up; only deliveries and `check` need it).
_FORMATS = {"slack": "MARKDOWN", "html": "HTML", "text": "TEXT"}  # kind -> apprise.NotifyFormat member


def target_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def view(d: Delivery) -> AlertView:
    return AlertView(
        rule=d.rule,
        title=d.title,
        link=d.link,
        feed=d.feed,
        summary=d.summary,
        body=d.body,
        published=d.published,
        terms=d.terms,
        occurrences=d.occurrences,
        notice=d.notice or "",
    )


class Notifier:
    """Sends messages to the enabled channels' destinations (apprise objects cached per URL)."""

    def __init__(self, channels: Mapping[str, ChannelConfig], console: TextIO | None = None) -> None:
        self.channels = channels
        self.console = console or sys.stdout
        self._apprise: dict[str, Any] = {}  # url -> apprise.Apprise
        self._templates = {n: Template(c.template, n) for n, c in channels.items() if c.template}
        # What a destination says back is stored (a delivery's last error): without its secrets.
        secrets = Secrets()
        for url in (url for ch in channels.values() for url in ch.urls if url != CONSOLE_URL):
            secrets |= destination_secrets(url)
        self._redactor = Redactor(secrets)

    def redact(self, text: str) -> str:
        return self._redactor.redact(text)

    def targets(self, channel: str) -> list[str]:
        """Target ids of a channel's destinations; empty when disabled or unknown."""
        ch = self.channels.get(channel)
        if ch is None or not ch.enabled:
            return []
        return [target_id(url) for url in ch.urls]

    def _url(self, channel: str, target: str) -> str:
        ch = self.channels.get(channel)
        if ch is None:
            raise DeliveryError(
                f'channel "{channel}" is no longer configured', hint="restore it or let the delivery age out"
            )
        if not ch.enabled:
            raise DeliveryError(f'channel "{channel}" is disabled: {ch.disabled_reason}')
        for url in ch.urls:
            if target_id(url) == target:
                return url
        raise DeliveryError(f'channel "{channel}" no longer has this destination')

    def kind(self, channel: str, target: str) -> Kind:
        """What a destination is ("other" for one no longer configured)."""
        try:
            return destination_kind(self._url(channel, target))
        except DeliveryError:
            return "other"

    def dialect(self, channel: str, target: str) -> Dialect:
        """What a destination's messages are written in ("text" for one no longer configured)."""
        try:
            return dialect(self._url(channel, target))
        except DeliveryError:
            return "text"

    def compose(self, channel: str, target: str, alerts: Sequence[AlertView], reason: str = "digest") -> Message:
        """The message for one destination: the channel's template if it has one, else the built-in."""
        kind = self.dialect(channel, target)
        template = self._templates.get(channel)
        if template is not None:
            try:
                return template.render(alerts, channel, kind)
            except Exception as exc:  # checked at load time; a surprise must not lose the alert
                raise DeliveryError(
                    f'channel "{channel}": its template failed: {type(exc).__name__}: {exc}',
                    hint="run `monitor check`; the alert stays in the outbox",
                ) from None
        if len(alerts) == 1:
            return render_alert(alerts[0], kind)
        return render_digest(alerts, channel, kind, reason)

    def send(self, channel: str, target: str, message: Message, in_reply_to: str | None = None) -> str | None:
        """Deliver one message to one destination, or raise DeliveryError saying why.
        Returns the email Message-ID it went out under (None for other destinations);
        `in_reply_to` threads an email under an earlier one."""
        url = self._url(channel, target)
        if url == CONSOLE_URL:
            print(f"\n=== {message.title}\n{message.body}", file=self.console, flush=True)
            return None
        if destination_kind(url) == "email":
            try:
                return mailthread.send_email(url, message, in_reply_to)
            except mailthread.Unsupported:
                pass  # apprise's own path below: delivered, just not threadable
            except mailthread.MailError as exc:
                raise DeliveryError(
                    f'channel "{channel}": {self.redact(str(exc))}',
                    hint="check the mail server's host, port and login in the URL; the alert stays in the outbox",
                ) from None
            except Exception as exc:  # apprise raises for a few malformed inputs; never lose the alert over it
                raise DeliveryError(f'channel "{channel}": {self.redact(f"{type(exc).__name__}: {exc}")}') from None
        import apprise

        sender = self._apprise.get(url)
        if sender is None:
            sender = apprise.Apprise()
            if not sender.add(url):
                raise DeliveryError(f'channel "{channel}": apprise does not accept one of its URLs')
            self._apprise[url] = sender
        logs: list[str] = []
        try:
            result = sender.notify(
                body=message.body,
                title=message.title,
                body_format=apprise.NotifyFormat[_FORMATS.get(message.kind, "TEXT")],
                log_callback=lambda entry, _plugin: logs.append(str(getattr(entry, "message", entry))),
            )
        except Exception as exc:  # apprise raises for a few malformed inputs; never lose the alert over it
            raise DeliveryError(f'channel "{channel}": {self.redact(f"{type(exc).__name__}: {exc}")}') from None
        if not result:
            reason = self.redact(logs[-1]) if logs else "the destination refused the message"
            raise DeliveryError(f'channel "{channel}": {reason}')
        return None

    def validate(self) -> list[str]:
        """Problems with the enabled channels' URLs, one line each (no URL printed)."""
        import apprise

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
