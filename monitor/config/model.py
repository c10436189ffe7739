"""The configuration as frozen dataclasses: what the rest of the daemon reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_INTERVAL = 300.0
DEFAULT_USER_AGENT = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
CONSOLE_URL = "console://"
DEFAULT_FLOOD_THRESHOLD = 20
DEFAULT_FLOOD_WINDOW = 600.0
SLACK_MIN_GAP = 1.0  # Slack accepts about one message a second per webhook


@dataclass(frozen=True)
class Settings:
    database: Path
    interval: float = DEFAULT_INTERVAL
    backfill: float = 0.0
    jitter: float = 0.1  # fraction of the interval
    concurrency: int = 10
    per_host: int = 2
    timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    user_agent: str = DEFAULT_USER_AGENT
    log_level: str = "info"
    connect_timeout: float = 10.0
    max_backoff: float = 6 * 3600.0  # ceiling of the error backoff
    ttl_ceiling: float = 3600.0  # server hints (ttl, max-age) never stretch an interval past this
    parse_timeout: float = 20.0  # a parse that takes longer is killed
    parse_workers: int = 2
    adopt_redirect_after: int = 3  # polls answering the same permanent move before it is adopted
    retention: float = 30 * 86400.0  # items' text is pruned after this; their identity is kept
    http: tuple[str, int] | None = None  # (host, port) of /healthz and /metrics; None: off
    # Feed health: the channel told of each feed's state changes, and the thresholds.
    health_channel: str = ""  # "" = state is kept (monitor feeds) but nobody is messaged
    failing_after: int = 3  # consecutive errors before a feed is "failing"
    failing_for: float = 6 * 3600.0  # ... or failing (no success) for this long
    silent_factor: float = 4.0  # "silent": no new item for this many times its median gap
    silent_min: float = 86400.0  # ... and at least this long


@dataclass(frozen=True)
class DedupSettings:
    """How items from different feeds are recognised as one story."""

    title_similarity: float = 0.6  # share of headline words in common; 0 turns it off
    window: float = 48 * 3600.0  # headlines further apart in time never merge


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str
    interval: float
    tags: tuple[str, ...] = ()
    enabled: bool = True
    title: str = ""  # optional display label
    ignore_server_ttl: bool = False  # poll at `interval` whatever <ttl> or max-age say


@dataclass(frozen=True)
class RuleConfig:
    name: str
    query: str
    notify: tuple[str, ...]
    feeds: tuple[str, ...] = ()  # feed names or "tag:X"; empty = every feed
    cooldown: float = 0.0  # after a match goes out, later matches wait this long, folded into one
    urgent: bool = False  # goes out during a channel's quiet hours
    spike: bool = False  # also alert when the rule's hourly matches rise well above its baseline
    spike_factor: float = 3.0  # "well above": this many times the trailing 7-day hourly mean
    spike_min: int = 5  # ... and at least this many matches in the hour

    def applies_to(self, feed: FeedConfig) -> bool:
        if not self.feeds:
            return True
        for sel in self.feeds:
            if sel.startswith("tag:"):
                if sel[4:] in feed.tags:
                    return True
            elif sel == feed.name:
                return True
        return False


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    urls: tuple[str, ...]
    disabled_reason: str = ""  # set when a ${VAR} it needs is unset
    digest: str = ""  # "" (send each alert), an interval ("15m") or a crontab ("0 7 * * *")
    timezone: str = "UTC"  # of a crontab digest
    min_gap: float = 0.0  # seconds between two messages to one destination (the rate limit)
    flood_threshold: int = DEFAULT_FLOOD_THRESHOLD  # messages per flood_window before folding; 0: off
    flood_window: float = DEFAULT_FLOOD_WINDOW
    template: str = ""  # Jinja2 source of the message body ("" = built-in rendering)
    quiet: tuple[int, int] | None = None  # quiet hours (start, end) in minutes after midnight, in `timezone`

    @property
    def enabled(self) -> bool:
        return not self.disabled_reason


@dataclass(frozen=True)
class DeliverySettings:
    """[delivery]: how the outbox retries and when it gives up."""

    retry_first: float = 30.0  # first retry delay, doubled after each failure
    retry_max: float = 30 * 60.0  # the longest delay between two attempts
    dead_after: float = 24 * 3600.0  # failing this long (since the first failure) → dead letter
    check_every: float = 2.0  # how often the daemon looks for due deliveries


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings
    aliases: Mapping[str, str]
    feeds: tuple[FeedConfig, ...]
    rules: tuple[RuleConfig, ...]
    channels: Mapping[str, ChannelConfig]
    dedup: DedupSettings = field(default_factory=DedupSettings)
    warnings: tuple[str, ...] = ()
    secrets: frozenset[str] = field(default_factory=frozenset)  # env values to redact from logs
    delivery: DeliverySettings = field(default_factory=DeliverySettings)

    def feed(self, name: str) -> FeedConfig | None:
        return next((f for f in self.feeds if f.name == name), None)

    def rule(self, name: str) -> RuleConfig | None:
        return next((r for r in self.rules if r.name == name), None)
