"""The configuration as frozen dataclasses: what the rest of the daemon reads. Each field
that a TOML key sets declares it (declare.py): its kind, bounds, default and problem words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..redaction import Secrets
from .declare import Choice, Duration, Flag, Number, Parsed, Special, Text, TextList, Whole, setting
from .values import parse_listen_or_off, parse_quiet, parse_rate, parse_zone

DEFAULT_INTERVAL = 300.0
DEFAULT_USER_AGENT = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
CONSOLE_URL = "console://"
DEFAULT_FLOOD_THRESHOLD = 20
DEFAULT_FLOOD_WINDOW = 600.0
SLACK_MIN_GAP = 1.0  # Slack accepts about one message a second per webhook


@dataclass(frozen=True)
class Settings:
    """[monitor]"""

    # A SQLite path (resolved by the loader) or a postgresql:// URL (kept as text).
    database: Path | str = field(metadata=setting(Text(), default="monitor.db"))
    interval: float = field(default=DEFAULT_INTERVAL, metadata=setting(Duration(above=0)))
    # "adaptive": each feed as often as it publishes, the set spending what `interval` would
    # (polling/rates.py); "fixed": every feed at its interval
    schedule: str = field(default="adaptive", metadata=setting(Choice(("adaptive", "fixed"))))
    # the bounds of an adaptive interval (widened to take `interval` in)
    min_interval: float = field(default=60.0, metadata=setting(Duration(above=0)))
    max_interval: float = field(default=3600.0, metadata=setting(Duration(above=0)))
    backfill: float = field(default=0.0, metadata=setting(Duration()))
    jitter: float = field(  # fraction of the interval
        default=0.1,
        metadata=setting(
            Number(at_least=0, at_most=0.5), problem="must be a fraction of the interval between 0 and 0.5, e.g. 0.1"
        ),
    )
    concurrency: int = field(default=10, metadata=setting(Whole(at_least=1)))
    per_host: int = field(default=2, metadata=setting(Whole(at_least=1)))
    # Whole-request deadline; 0 means the default, not "no deadline".
    timeout: float = field(default=30.0, metadata=setting(Duration(), zero_means_default=True))
    max_bytes: int = field(default=10 * 1024 * 1024, metadata=setting(Whole(at_least=1024)))
    user_agent: str = field(default=DEFAULT_USER_AGENT, metadata=setting(Text()))
    log_level: str = field(default="info", metadata=setting(Choice(("debug", "info", "warning", "error"))))
    connect_timeout: float = field(default=10.0, metadata=setting(Duration(above=0)))
    # the ceiling of the error backoff
    max_backoff: float = field(default=6 * 3600.0, metadata=setting(Duration(above=0)))
    # server hints (ttl, max-age) never stretch an interval past this
    ttl_ceiling: float = field(default=3600.0, metadata=setting(Duration(above=0)))
    # a parse that takes longer is killed
    parse_timeout: float = field(default=20.0, metadata=setting(Duration(above=0)))
    parse_workers: int = field(default=2, metadata=setting(Whole(at_least=1)))
    # polls answering the same permanent move before it is adopted
    adopt_redirect_after: int = field(default=3, metadata=setting(Whole(at_least=1)))
    # items' text is pruned after this; their identity is kept
    retention: float = field(default=30 * 86400.0, metadata=setting(Duration(above=0)))
    # (host, port) of /healthz, /metrics and the console; None: off. A port alone: 127.0.0.1.
    http: tuple[str, int] | None = field(default=None, metadata=setting(Parsed(parse_listen_or_off)))
    # What the console asks for (a bearer header, or once in its login form); required when `http`
    # listens beyond loopback. ${VAR} is read by the loader; never shown (repr included).
    web_token: str = field(default="", repr=False, metadata=setting(Text(non_empty=False)))
    # Feed health: the channel told of each feed's state changes, and the thresholds.
    # health_channel "": state is kept (monitor feeds) but nobody is messaged.
    health_channel: str = field(default="", metadata=setting(Text()))
    node: str = field(default="", metadata=setting(Text()))  # this daemon in a cluster; default: the host name
    # consecutive errors before a feed is "failing"
    failing_after: int = field(
        default=3,
        metadata=setting(Whole(at_least=1), problem="must be a whole number of consecutive errors, at least 1"),
    )
    # ... or failing (no success) for this long
    failing_for: float = field(default=6 * 3600.0, metadata=setting(Duration(above=0)))
    # "silent": no new item for this many times its median gap
    silent_factor: float = field(
        default=4.0,
        metadata=setting(Number(at_least=1), problem="must be a number of at least 1, e.g. 4 (times the median gap)"),
    )
    # ... and at least this long
    silent_min: float = field(default=86400.0, metadata=setting(Duration(above=0)))
    # Article bodies: the default of each feed's `fulltext`, and how they are fetched and kept.
    fulltext: bool = field(default=False, metadata=setting(Flag()))
    # seconds between two article requests to one host
    article_pace: float = field(default=1.0, metadata=setting(Duration(above=0)))
    # articles waiting for their page; past this, the oldest are skipped (and counted)
    article_queue: int = field(default=1000, metadata=setting(Whole(at_least=1)))
    # the stored body is cut here (characters)
    body_max_chars: int = field(default=100_000, metadata=setting(Whole(at_least=1000)))
    # `run --once` waits this long for the bodies of its new items before it exits
    body_wait: float = field(default=120.0, metadata=setting(Duration()))


@dataclass(frozen=True)
class DedupSettings:
    """[dedup]: how items from different feeds are recognised as one story."""

    # share of headline words in common; 0 turns it off
    title_similarity: float = field(
        default=0.6,
        metadata=setting(Number(at_least=0, at_most=1), problem="must be a number from 0 (off) to 1, e.g. 0.6"),
    )
    # headlines further apart in time never merge
    window: float = field(default=48 * 3600.0, metadata=setting(Duration()))


@dataclass(frozen=True)
class FeedConfig:
    """[[feeds]]"""

    name: str = field(metadata=setting(Text()))
    url: str = field(metadata=setting(Text()))  # ${VAR} and the scheme are the loader's
    interval: float = field(metadata=setting(Duration(above=0)))  # default: [monitor] interval
    tags: tuple[str, ...] = field(default=(), metadata=setting(TextList()))
    enabled: bool = field(default=True, metadata=setting(Flag()))
    title: str = field(default="", metadata=setting(Text(non_empty=False)))  # optional display label
    # poll at `interval` whatever <ttl> or max-age say
    ignore_server_ttl: bool = field(default=False, metadata=setting(Flag()))
    # fetch each alertable item's article and match its main text; default: [monitor] fulltext
    fulltext: bool = field(default=False, metadata=setting(Flag()))
    # false: article pages are fetched whatever the site's robots.txt says (with the site's permission)
    robots: bool = field(default=True, metadata=setting(Flag()))
    # on a local network by a name (a bridge at http://rss-bridge/…): it, and its own article pages,
    # may be fetched from private addresses; a url naming a private address or localhost needs no flag
    local: bool = field(default=False, metadata=setting(Flag()))
    # the feed sets its own interval: an adaptive schedule leaves it there (set by the loader)
    pinned: bool = False


@dataclass(frozen=True)
class RuleConfig:
    """[[rules]]"""

    name: str = field(metadata=setting(Text()))
    query: str = field(metadata=setting(Text()))
    notify: tuple[str, ...] = field(
        metadata=setting(TextList(), missing='is required: the channels to alert, e.g. notify = ["console"]')
    )
    # feed names or "tag:X"; empty = every feed
    feeds: tuple[str, ...] = field(default=(), metadata=setting(TextList()))
    # after a match goes out, later matches wait this long, folded into one
    cooldown: float = field(default=0.0, metadata=setting(Duration()))
    urgent: bool = field(default=False, metadata=setting(Flag()))  # goes out during a channel's quiet hours
    # also alert when the rule's hourly matches rise well above its baseline
    spike: bool = field(default=False, metadata=setting(Flag()))
    # "well above": this many times the trailing 7-day hourly mean
    spike_factor: float = field(
        default=3.0,
        metadata=setting(Number(above=1), problem="must be a number above 1, e.g. 3 (times the usual hourly matches)"),
    )
    # ... and at least this many matches in the hour
    spike_min: int = field(
        default=5,
        metadata=setting(Whole(at_least=1), problem="must be a whole number of matches in an hour, at least 1"),
    )

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
    """[channels.NAME]"""

    name: str
    urls: tuple[str, ...] = field(metadata=setting(Special()))  # ${VAR} may disable the channel
    disabled_reason: str = ""  # set when a ${VAR} it needs is unset
    # "" (send each alert), an interval ("15m") or a crontab ("0 7 * * *")
    digest: str = field(default="", metadata=setting(Special()))  # checked by the loader: a crontab in `timezone`
    timezone: str = field(default="UTC", metadata=setting(Parsed(parse_zone)))  # of a crontab digest
    # seconds between two messages to one destination (the rate limit); Slack's default is the loader's
    min_gap: float = field(default=0.0, metadata=setting(Parsed(parse_rate), key="rate_limit"))
    # messages per flood_window before folding; 0: off
    flood_threshold: int = field(
        default=DEFAULT_FLOOD_THRESHOLD,
        metadata=setting(Whole(at_least=0), problem="must be a whole number of messages (0 turns the flood guard off)"),
    )
    flood_window: float = field(
        default=DEFAULT_FLOOD_WINDOW, metadata=setting(Duration(above=0), problem='must be longer than 0s, e.g. "10m"')
    )
    # Jinja2 source of the message body ("" = built-in rendering), read from a file by the loader
    template: str = field(default="", metadata=setting(Special()))
    # quiet hours (start, end) in minutes after midnight, in `timezone`
    quiet: tuple[int, int] | None = field(default=None, metadata=setting(Parsed(parse_quiet)))

    @property
    def enabled(self) -> bool:
        return not self.disabled_reason


@dataclass(frozen=True)
class DeliverySettings:
    """[delivery]: how the outbox retries and when it gives up."""

    # first retry delay, doubled after each failure
    retry_first: float = field(default=30.0, metadata=setting(Duration(above=0)))
    # the longest delay between two attempts
    retry_max: float = field(default=30 * 60.0, metadata=setting(Duration(above=0)))
    # failing this long (since the first failure) → dead letter
    dead_after: float = field(default=24 * 3600.0, metadata=setting(Duration(above=0)))
    # how often the daemon looks for due deliveries
    check_every: float = field(default=2.0, metadata=setting(Duration(above=0)))


@dataclass(frozen=True)
class Config:
    """The whole file; the fields with a setting are its top-level tables."""

    path: Path
    settings: Settings = field(metadata=setting(Special(), key="monitor"))
    aliases: Mapping[str, str] = field(metadata=setting(Special()))
    feeds: tuple[FeedConfig, ...] = field(metadata=setting(Special()))
    rules: tuple[RuleConfig, ...] = field(metadata=setting(Special()))
    channels: Mapping[str, ChannelConfig] = field(metadata=setting(Special()))
    dedup: DedupSettings = field(default_factory=DedupSettings, metadata=setting(Special()))
    warnings: tuple[str, ...] = ()
    secrets: Secrets = field(default_factory=Secrets)  # what every output masks (redaction.py)
    delivery: DeliverySettings = field(default_factory=DeliverySettings, metadata=setting(Special()))

    def feed(self, name: str) -> FeedConfig | None:
        return next((f for f in self.feeds if f.name == name), None)

    def rule(self, name: str) -> RuleConfig | None:
        return next((r for r in self.rules if r.name == name), None)
