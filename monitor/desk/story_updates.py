"""Story updates by email: when a story that already alerted gains an outlet or has its
headline edited, each email destination that got the alert gets a short update, sent as
a reply to the first message (In-Reply-To/References, see mailthread.py) so that a mail
client shows one thread per story.

Only email: a chat channel has no threads through apprise, and one more message per new
outlet there would be the noise the one-alert-per-story rule exists to prevent (`monitor
alerts` lists the outlets instead).
"""

from __future__ import annotations

from ..config import Config
from ..delivery.fanout import FanOut
from ..destinations import destination_kind
from ..models import Item
from ..store import Store


class StoryUpdates:
    def __init__(self, config: Config, store: Store, fanout: FanOut) -> None:
        self.config = config
        self.store = store
        self.fanout = fanout
        self.channels = {
            name
            for name, ch in config.channels.items()
            if ch.enabled and any(destination_kind(u) == "email" for u in ch.urls)
        }

    @property
    def enabled(self) -> bool:
        """Whether any channel is email; otherwise ingest skips the look-ups altogether."""
        return bool(self.channels)

    def outlets(self, story_id: int) -> list[str]:
        """The feeds that carried the story before the item being ingested (call before inserting it)."""
        return self.store.story_feeds(story_id) if self.store.story_alerts(story_id) else []

    def new_source(self, feed: str, label: str, story_id: int, item: Item, before: list[str], now: float) -> int:
        if not before or feed in before:
            return 0
        outlets = ", ".join([*before, feed])
        text = f"Now also carried by {label}: {item.title}\nOutlets so far: {outlets}"
        return self._enqueue(story_id, feed, item.link, text, now)

    def edited(self, feed: str, story_id: int, old_title: str, item: Item, now: float) -> int:
        if not old_title or old_title == item.title:
            return 0
        text = f"Headline edited by {feed}:\nwas: {old_title}\nnow: {item.title}"
        return self._enqueue(story_id, feed, item.link, text, now)

    def _enqueue(self, story_id: int, feed: str, link: str, text: str, now: float) -> int:
        """One update notice per alert on the story, to the email destinations of its rule."""
        sent = 0
        for alert in self.store.story_alerts(story_id):
            rule = self.config.rule(alert["rule"])
            if rule is None:
                continue
            channels = [c for c in rule.notify if c in self.channels]
            if not self.fanout.destinations(channels, only="email"):
                continue
            notice = self.store.add_notice(
                "update", rule.name, feed, alert["title"] or "", text, now, link=link, alert_id=alert["id"]
            )
            self.fanout.notice(notice, channels, now, urgent=rule.urgent, only="email")
            sent += 1
        return sent
