"""What kind of destination an apprise URL is. The one place that reads it off the URL:
the config (Slack's default rate limit), the channels (which dialect a message is
rendered in, which sender takes it) and story updates (email only) all ask here."""

from __future__ import annotations

from typing import Literal

Kind = Literal["slack", "email", "other"]
Dialect = Literal["slack", "html", "text"]  # Slack mrkdwn, HTML email, plain text

_SLACK = ("slack://", "https://hooks.slack.com/")
_EMAIL = ("mailto://", "mailtos://")
_DIALECTS: dict[Kind, Dialect] = {"slack": "slack", "email": "html", "other": "text"}


def destination_kind(url: str) -> Kind:
    lower = url.lower()
    if lower.startswith(_SLACK):
        return "slack"
    if lower.startswith(_EMAIL):
        return "email"
    return "other"


def dialect(url: str) -> Dialect:
    """The dialect a destination's messages are written in."""
    return _DIALECTS[destination_kind(url)]
