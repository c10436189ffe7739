"""Email with a Message-ID we know, so a later message can reply to it (In-Reply-To/References).

Why not plain apprise: its email plugin accepts extra headers (`+Header=value` in the URL,
or the plugin's `headers`), which is enough for In-Reply-To and References, but it always
generates the Message-ID itself (`make_msgid()` inside `NotifyEmail.prepare_emails`) and
never reports it; a Message-ID passed as an extra header would make a second one. So for
email we use apprise's own parts: the URL parsing and settings of its plugin,
`NotifyEmail.prepare_emails` (HTML with a plain-text alternative, encodings) and
`AppriseSMTPController` (SSL/STARTTLS, login), and only swap the generated Message-ID
for ours before handing each message to the same SMTP session. Those are not apprise's
documented API: when they are missing or the URL asks for PGP (whose signature would
not survive the swap), `send_email` raises `Unsupported` and the caller sends through
apprise as before, unthreaded. tests/test_desk_email.py checks the whole path against a
real SMTP server.
"""

from __future__ import annotations

import re
import smtplib
from email.utils import make_msgid
from typing import Any

from .render import Message

# apprise is imported where it is used: it costs ~30 ms of start-up and only deliveries need it.
_MESSAGE_ID = re.compile(r"^Message-ID:[^\r\n]*(\r?\n[ \t][^\r\n]*)*", re.IGNORECASE | re.MULTILINE)


class Unsupported(Exception):
    """This apprise (or this URL) cannot be driven this way; send through apprise instead."""


class MailError(Exception):
    """The message did not go out: the server is unreachable, refused the login or the message."""


def with_message_id(raw: str, message_id: str) -> str:
    """The prepared message with its (single) Message-ID header replaced by ours."""
    head, sep, body = raw.partition("\n\n")
    head, n = _MESSAGE_ID.subn(f"Message-ID: {message_id}", head, count=1)
    if n != 1:
        raise Unsupported("the prepared message has no Message-ID header to replace")
    return head + sep + body


def send_email(url: str, message: Message, in_reply_to: str | None = None) -> str:
    """Send `message` to the email destination `url`; returns its Message-ID.
    Raises Unsupported (send another way) or MailError."""
    try:
        from apprise.plugins.email.base import PGP_MODE_DEFAULT, NotifyEmail
        from apprise.plugins.email.smtp import AppriseSMTPController
    except ImportError as exc:
        raise Unsupported(str(exc)) from None
    import apprise

    formats = {"html": apprise.NotifyFormat.HTML, "slack": apprise.NotifyFormat.MARKDOWN}
    plugin: Any = apprise.Apprise.instantiate(url)  # apprise's own parts, not its documented API
    plain_email = isinstance(plugin, NotifyEmail)  # kept untyped: its attributes are apprise internals
    if not plain_email or getattr(plugin, "pgp_mode", PGP_MODE_DEFAULT) != PGP_MODE_DEFAULT:
        raise Unsupported("not a plain email destination")
    if not plugin.targets:
        raise MailError("the URL names no recipient; add ?to=ADDRESS")
    message_id = make_msgid(domain=plugin.smtp_host)
    headers = {"X-Application": plugin.app_id, **plugin.headers}
    if in_reply_to:
        # References carries the thread's root; with one level of replies that is the first message.
        headers.update({"In-Reply-To": in_reply_to, "References": in_reply_to})
    try:
        prepared = list(
            NotifyEmail.prepare_emails(
                subject=message.title,
                body=message.body,
                notify_format=plugin.resolve_format(formats.get(message.kind, apprise.NotifyFormat.TEXT)),
                from_addr=plugin.from_addr,
                to=plugin.targets,
                cc=plugin.cc,
                bcc=plugin.bcc,
                reply_to=plugin.reply_to,
                smtp_host=plugin.smtp_host,
                attach=None,
                headers=headers,
                names=plugin.names,
                pgp=plugin.pgp,
                pgp_mode=plugin.pgp_mode,
                inline=plugin.inline,
                tzinfo=plugin.tzinfo,
            )
        )
    except (TypeError, AttributeError) as exc:  # apprise changed the parts we use
        raise Unsupported(f"{type(exc).__name__}: {exc}") from None
    bodies = [(m.to_addrs, with_message_id(m.body, message_id)) for m in prepared]
    server = f"{plugin.smtp_host}:{plugin.port}"
    try:
        with AppriseSMTPController(
            host=plugin.smtp_host,
            port=plugin.port,
            secure_mode=plugin.secure_mode,
            user=plugin.user,
            password=plugin.password,
            verify_certificate=plugin.verify_certificate,
            socket_connect_timeout=plugin.socket_connect_timeout,
        ) as smtp:
            for to_addrs, body in bodies:
                if not smtp.sendmail(plugin.from_addr[1], to_addrs, body):
                    raise MailError(f"the mail server {server} refused the message")
    except (OSError, smtplib.SMTPException, RuntimeError) as exc:
        raise MailError(f"cannot send through the mail server {server}: {type(exc).__name__}: {exc}") from None
    return message_id
