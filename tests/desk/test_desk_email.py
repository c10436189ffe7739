"""Story updates by email are replies to the first alert, checked on a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller
from deskkit import DAY, HOUR, T0, desk_config, rss

from monitor.delivery.mailthread import Unsupported, with_message_id


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.url = f"mailto://127.0.0.1:{port}?from=monitor@example.com&to=desk@example.com"
    yield inbox
    controller.stop()


STORY = "Israel relays dissatisfaction to Russia"


def test_updates_to_a_story_are_threaded_replies_to_its_first_email(tmp_path, smtp, webhook, open_rig):
    path = desk_config(
        tmp_path,
        {"toi": "https://example.com/toi", "jpost": "https://example.com/jpost"},
        [smtp.url, webhook.apprise_url],
    )
    rig = open_rig(path)
    rig.ingest("toi", rss([("old", "Weather", T0 - DAY)]))
    rig.ingest("jpost", rss([("old", "Markets", T0 - DAY)]))
    rig.ingest("toi", rss([("story", STORY, T0)]))
    rig.deliver()
    [first] = smtp.messages
    assert first["Subject"] == f"[israel] {STORY}"
    first_id = first["Message-ID"]
    assert first_id and len(first.get_all("Message-ID")) == 1 and first["In-Reply-To"] is None

    # Another outlet carries the same article: no second alert, but a reply in the email thread.
    rig.clock.advance(HOUR)
    rig.ingest("jpost", rss([("story", STORY + " (JPost)", T0 + HOUR)]).replace(b"<guid>story", b"<guid>jp"))
    rig.deliver()
    # The headline is edited at the first outlet.
    rig.clock.advance(HOUR)
    rig.ingest("toi", rss([("story", STORY + " as rift widens", T0)]))
    rig.deliver()

    _, *replies = smtp.messages
    assert len(replies) == 2
    for reply in replies:
        assert reply["In-Reply-To"] == first_id and reply["References"] == first_id
        assert reply["Subject"] == f"Re: [israel] {STORY}"
        assert len(reply.get_all("Message-ID")) == 1 and reply["Message-ID"] != first_id
    assert "Now also carried by jpost" in replies[0].get_body(("plain",)).get_content()
    edited = replies[1].get_body(("html",)).get_content()
    assert "Headline edited by toi" in edited and "as rift widens" in edited
    # The webhook destination got the alert once and no updates: threads are an email thing.
    assert [m["title"] for m in webhook.messages()] == [f"[israel] {STORY}"]


def test_the_message_id_swap_touches_the_header_only():
    raw = "Subject: x\nMessage-ID: <a@b>\nTo: d@e\n\nbody mentions Message-ID: <a@b>\n"
    assert (
        with_message_id(raw, "<n@m>") == "Subject: x\nMessage-ID: <n@m>\nTo: d@e\n\nbody mentions Message-ID: <a@b>\n"
    )
    with pytest.raises(Unsupported):
        with_message_id("Subject: x\n\nbody\n", "<n@m>")
