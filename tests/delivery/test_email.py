"""Email through a real SMTP server (aiosmtpd on 127.0.0.1), the way apprise sends it."""

from __future__ import annotations

import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from monitor.config import ChannelConfig
from monitor.delivery.channels import Notifier, target_id
from monitor.delivery.render import AlertView

PASSWORD = "Sm7pPassw0rdQ"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == PASSWORD.encode())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate, auth_require_tls=False
    )
    controller.start()
    # Plain SMTP (mailto://, not mailtos://) with a login; apprise needs no TLS for this.
    inbox.url = f"mailto://alerts:{PASSWORD}@127.0.0.1:{port}?from=monitor@example.com&to=desk@example.com"
    yield inbox
    controller.stop()


def test_email_is_html_with_a_text_alternative_clean_subject_escaped_and_highlighted(smtp):
    title = "Israel <b>warns</b>\r\nBcc: victim@example.com"
    summary = "In Israel, <script>alert('x')</script> & officials met."
    alert = AlertView(
        rule="rift",
        title=title,
        link="https://example.com/a?x=1&y=2",
        feed="wire",
        summary=summary,
        published=1_700_000_000.0,
        terms=("Israel",),
        occurrences=(("title", 0, 6), ("summary", 3, 9)),
    )
    channels = {"email": ChannelConfig(name="email", urls=(smtp.url,))}
    notifier = Notifier(channels)
    target = target_id(smtp.url)
    notifier.send("email", target, notifier.compose("email", target, [alert]))

    assert smtp.logins == [(b"alerts", PASSWORD.encode())]
    [msg] = smtp.messages
    assert msg.get_content_type() == "multipart/alternative"
    subject = msg["Subject"]
    assert "\r" not in subject and "\n" not in subject
    assert subject == "[rift] Israel <b>warns</b> Bcc: victim@example.com"
    assert msg["Bcc"] is None and [str(a) for a in msg["To"].addresses] == ["desk@example.com"]
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "<mark>Israel</mark>" in html and "&lt;b&gt;warns&lt;/b&gt;" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="https://example.com/a?x=1&amp;y=2"' in html
    assert "Israel" in plain and "<mark>" not in plain


def test_an_unreachable_server_is_a_delivery_error_without_the_password():
    from monitor.errors import DeliveryError

    # (A refused login would do too, but aiosmtpd then holds the connection until apprise's 15 s timeout.)
    url = f"mailto://alerts:{PASSWORD}@127.0.0.1:{free_port()}?from=monitor@example.com&to=desk@example.com"
    channels = {"email": ChannelConfig(name="email", urls=(url,))}
    notifier = Notifier(channels)
    target = target_id(url)
    with pytest.raises(DeliveryError) as err:
        notifier.send("email", target, notifier.compose("email", target, [AlertView("r", "t", "", "f")]))
    assert PASSWORD not in err.value.render() and "127.0.0.1" in err.value.render()
