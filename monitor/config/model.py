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
    database: Path | str = field(
        metadata=setting(
            Text(),
            default="monitor.db",
            restart=True,
            environment=True,
            doc="The SQLite database file, or a `postgresql://` URL of a database that several daemons "
            "share. A relative path is relative to the configuration file, or to the service's "
            "`$STATE_DIRECTORY` when systemd runs it; `~` is the home directory.",
        )
    )
    interval: float = field(
        default=DEFAULT_INTERVAL,
        metadata=setting(
            Duration(above=0),
            doc="The polling budget: as many requests as polling every feed this often would make. "
            "A feed that sets its own `interval` is polled at it.",
        ),
    )
    schedule: str = field(
        default="adaptive",
        metadata=setting(
            Choice(("adaptive", "fixed")),
            doc='"adaptive": each feed as often as it publishes (learned from its items\' dates), '
            "the set of feeds spending what `interval` would, within `min_interval` and `max_interval`. "
            '"fixed": every feed at its interval.',
        ),
    )
    min_interval: float = field(
        default=60.0,
        metadata=setting(
            Duration(above=0),
            doc="The shortest interval of an adaptive schedule (widened to take `interval` in).",
        ),
    )
    max_interval: float = field(
        default=3600.0,
        metadata=setting(
            Duration(above=0),
            doc="The longest interval of an adaptive schedule (widened to take `interval` in); "
            "at least `min_interval`.",
        ),
    )
    backfill: float = field(
        default=0.0,
        metadata=setting(
            Duration(),
            doc="The first poll of a new feed records what is there without alerting on old news; "
            'items published within this window of that first poll do alert. "0s": none do.',
        ),
    )
    jitter: float = field(
        default=0.1,
        metadata=setting(
            Number(at_least=0, at_most=0.5),
            problem="must be a fraction of the interval between 0 and 0.5, e.g. 0.1",
            doc="Random spread of each poll time, as a fraction of the interval.",
        ),
    )
    concurrency: int = field(
        default=10, metadata=setting(Whole(at_least=1), restart=True, doc="Feeds fetched at once, in all.")
    )
    per_host: int = field(
        default=2, metadata=setting(Whole(at_least=1), restart=True, doc="Feeds fetched at once from one host.")
    )
    timeout: float = field(
        default=30.0,
        metadata=setting(
            Duration(),
            zero_means_default=True,
            restart=True,
            doc="The deadline of a whole request (a server dripping bytes cannot stretch it); "
            '0 means the default, not "no deadline".',
        ),
    )
    max_bytes: int = field(
        default=10 * 1024 * 1024,
        metadata=setting(
            Whole(at_least=1024),
            restart=True,
            doc="The largest body read, in bytes, counted after decompression (gzip bombs stop here).",
        ),
    )
    user_agent: str = field(
        default=DEFAULT_USER_AGENT,
        metadata=setting(
            Text(), restart=True, doc="Sent with every request, so site operators can see who polls them."
        ),
    )
    log_level: str = field(
        default="info",
        metadata=setting(
            Choice(("debug", "info", "warning", "error")),
            doc="The least severe log lines written; `monitor run --log-level` overrides it.",
        ),
    )
    connect_timeout: float = field(
        default=10.0,
        metadata=setting(Duration(above=0), restart=True, doc="The deadline of opening a connection."),
    )
    max_backoff: float = field(
        default=6 * 3600.0,
        metadata=setting(
            Duration(above=0),
            doc="Failing feeds back off exponentially (2x, 4x, 8x… the interval, with jitter) up to this.",
        ),
    )
    ttl_ceiling: float = field(
        default=3600.0,
        metadata=setting(
            Duration(above=0),
            doc="A server's `<ttl>`, `<sy:updatePeriod>` or Cache-Control max-age is a floor under a "
            "feed's interval, up to this.",
        ),
    )
    parse_timeout: float = field(
        default=20.0,
        metadata=setting(
            Duration(above=0),
            restart=True,
            doc="A parse that takes longer is killed, and that feed fails alone.",
        ),
    )
    parse_workers: int = field(
        default=2,
        metadata=setting(Whole(at_least=1), restart=True, doc="The worker processes that parse feeds and articles."),
    )
    adopt_redirect_after: int = field(
        default=3,
        metadata=setting(
            Whole(at_least=1),
            doc="A permanent redirect (301/308) is adopted once the new address has answered this many "
            "polls in a row; `monitor feeds` then says to update the url.",
        ),
    )
    retention: float = field(
        default=30 * 86400.0,
        metadata=setting(
            Duration(above=0),
            doc="Items older than this lose their text (summary, author, tags); their identity stays, "
            "so a feed that re-publishes old items never alerts again.",
        ),
    )
    http: tuple[str, int] | None = field(
        default=None,
        metadata=setting(
            Parsed(
                parse_listen_or_off,
                '"HOST:PORT" (e.g. "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464"), '
                'a port alone (127.0.0.1), or "" (off)',
            ),
            restart=True,
            default_doc="off",
            doc="Serve the web console, `/healthz` and `/metrics` (Prometheus) here. "
            "`monitor run --http` ($MONITOR_HTTP) overrides it.",
        ),
    )
    web_token: str = field(
        default="",
        repr=False,  # a secret: never shown
        metadata=setting(
            Text(non_empty=False),
            environment=True,
            default_doc="none",
            doc="The token the console asks for (a bearer header, or once in its login form). Required "
            "when `http` listens beyond this machine; refused when easy to guess. Make one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
        ),
    )
    health_channel: str = field(
        default="",
        metadata=setting(
            Text(),
            default_doc="none",
            doc="The channel told when a feed starts failing, recovers, is gone (410), has moved or falls "
            "silent. Unset: `monitor feeds` still shows each feed's state, and nobody is messaged.",
        ),
    )
    node: str = field(
        default="",
        metadata=setting(
            Text(),
            restart=True,
            default_doc="the host name",
            doc="This daemon's name in a cluster (`monitor cluster`, `monitor feeds`); its process id is "
            "appended. `monitor run --node` ($MONITOR_NODE) overrides it.",
        ),
    )
    failing_after: int = field(
        default=3,
        metadata=setting(
            Whole(at_least=1),
            problem="must be a whole number of consecutive errors, at least 1",
            doc='A feed is "failing" after this many consecutive errors…',
        ),
    )
    failing_for: float = field(
        default=6 * 3600.0,
        metadata=setting(Duration(above=0), doc="… or after no successful poll for this long."),
    )
    silent_factor: float = field(
        default=4.0,
        metadata=setting(
            Number(at_least=1),
            problem="must be a number of at least 1, e.g. 4 (times the median gap)",
            doc='A feed is "silent" when no new item came for this many times the median gap between its recent items…',
        ),
    )
    silent_min: float = field(
        default=86400.0,
        metadata=setting(Duration(above=0), doc="… and for at least this long."),
    )
    fulltext: bool = field(
        default=False,
        metadata=setting(
            Flag(),
            doc="The default of each feed's `fulltext`: fetch the page of each new item once and match its "
            "main text too (`body:` in a query, and bare terms).",
        ),
    )
    article_pace: float = field(
        default=1.0,
        metadata=setting(Duration(above=0), restart=True, doc="The time between two article requests to one site."),
    )
    article_queue: int = field(
        default=1000,
        metadata=setting(
            Whole(at_least=1),
            doc="Articles waiting for their page, at most; past it the oldest are skipped "
            "(`monitor feeds` counts them).",
        ),
    )
    body_max_chars: int = field(
        default=100_000,
        metadata=setting(Whole(at_least=1000), doc="The stored body of an article is cut at this many characters."),
    )
    body_wait: float = field(
        default=120.0,
        metadata=setting(Duration(), doc="`monitor run --once` waits up to this long for the bodies of its new items."),
    )


@dataclass(frozen=True)
class DedupSettings:
    """[dedup]: how items from different feeds are recognised as one story."""

    title_similarity: float = field(
        default=0.6,
        metadata=setting(
            Number(at_least=0, at_most=1),
            problem="must be a number from 0 (off) to 1, e.g. 0.6",
            doc="The share of headline words in common (after stop words) that merges two items into "
            'one story; 0 turns it off. Headlines with conflicting numbers ("kills 5" / "kills 12") '
            "or places never merge.",
        ),
    )
    window: float = field(
        default=48 * 3600.0,
        metadata=setting(Duration(), doc="Headlines further apart in time than this never merge."),
    )


@dataclass(frozen=True)
class FeedConfig:
    """[[feeds]]"""

    name: str = field(metadata=setting(Text(), doc="The feed's name, unique among the feeds."))
    url: str = field(
        metadata=setting(
            Text(),
            environment=True,
            doc="The feed's http:// or https:// address.",
        )
    )
    interval: float = field(
        metadata=setting(
            Duration(above=0),
            default_doc="`[monitor] interval`",
            doc="Poll the feed at this interval; an adaptive schedule leaves it there.",
        )
    )
    tags: tuple[str, ...] = field(
        default=(), metadata=setting(TextList(), doc='Labels that rules select feeds by (`feeds = ["tag:NAME"]`).')
    )
    enabled: bool = field(
        default=True, metadata=setting(Flag(), doc="false: the feed stays in the file but is not polled.")
    )
    title: str = field(default="", metadata=setting(Text(non_empty=False), doc="A display label."))
    ignore_server_ttl: bool = field(
        default=False,
        metadata=setting(Flag(), doc="Poll at `interval` whatever the feed's `<ttl>` or max-age say."),
    )
    fulltext: bool = field(
        default=False,
        metadata=setting(
            Flag(),
            default_doc="`[monitor] fulltext`",
            doc="Fetch the article page of each item that could alert, and match its main text too.",
        ),
    )
    robots: bool = field(
        default=True,
        metadata=setting(
            Flag(),
            doc="false: article pages are fetched whatever the site's robots.txt says (only with the "
            "site's permission).",
        ),
    )
    local: bool = field(
        default=False,
        metadata=setting(
            Flag(),
            doc="The feed is on your own network by a name (an RSS bridge at `http://rss-bridge/…`): it and "
            "its article pages may be fetched from private addresses. A url naming a private address or "
            "localhost needs no flag.",
        ),
    )
    # the feed sets its own interval: an adaptive schedule leaves it there (set by the loader)
    pinned: bool = False


@dataclass(frozen=True)
class RuleConfig:
    """[[rules]]"""

    name: str = field(metadata=setting(Text(), doc="The rule's name, unique among the rules."))
    query: str = field(
        metadata=setting(Text(), doc="What the rule matches, in the query language of [rules.md](rules.md).")
    )
    notify: tuple[str, ...] = field(
        metadata=setting(
            TextList(),
            missing='is required: the channels to alert, e.g. notify = ["console"]',
            doc="The channels its alerts go to.",
        )
    )
    feeds: tuple[str, ...] = field(
        default=(),
        metadata=setting(
            TextList(),
            default_doc="every feed",
            doc='The feeds it watches: feed names, or "tag:NAME" for every feed with that tag.',
        ),
    )
    cooldown: float = field(
        default=0.0,
        metadata=setting(
            Duration(),
            doc="After an alert goes out, later matches wait this long and go out as one follow-up.",
        ),
    )
    urgent: bool = field(
        default=False, metadata=setting(Flag(), doc="Alerts go out during a channel's quiet hours too.")
    )
    spike: bool = field(
        default=False,
        metadata=setting(Flag(), doc="Also alert when the rule's hourly matches rise well above their usual rate."),
    )
    spike_factor: float = field(
        default=3.0,
        metadata=setting(
            Number(above=1),
            problem="must be a number above 1, e.g. 3 (times the usual hourly matches)",
            doc="\"Well above\": the last hour's matches reach this many times the rule's 7-day hourly mean…",
        ),
    )
    spike_min: int = field(
        default=5,
        metadata=setting(
            Whole(at_least=1),
            problem="must be a whole number of matches in an hour, at least 1",
            doc="… and at least this many.",
        ),
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
    urls: tuple[str, ...] = field(
        metadata=setting(
            Special('list of apprise URLs (e.g. ["console://"])'),
            environment=True,
            doc="Where the channel's messages go: apprise URLs (https://github.com/caronc/apprise/wiki); "
            "`console://` prints each alert on standard output. A URL naming a `${VAR}` that is not set "
            "disables the channel, with one warning.",
        )
    )
    disabled_reason: str = ""  # set when a ${VAR} it needs is unset
    digest: str = field(
        default="",
        metadata=setting(
            Special('interval (e.g. "15m") or five-field crontab (e.g. "0 7 * * *")'),
            default_doc="none: each alert is sent as it comes",
            doc="Collect alerts and send them as one message at this interval, or at the times of the "
            'crontab ("0 7 * * *": every day at 07:00, in `timezone`).',
        ),
    )
    timezone: str = field(
        default="UTC",
        metadata=setting(
            Parsed(parse_zone, 'IANA time zone name (e.g. "UTC", "Asia/Jerusalem")'),
            doc="The time zone of a crontab `digest` and of `quiet` hours.",
        ),
    )
    # Slack's default is the loader's: it depends on the channel's URLs.
    min_gap: float = field(
        default=0.0,
        metadata=setting(
            Parsed(parse_rate, 'rate (e.g. "1/s", "20/m", "100/h"), or 0 (no limit)'),
            key="rate_limit",
            default_doc='0 (no limit); "1/s" for a channel with a Slack webhook',
            doc="At most this many messages per destination.",
        ),
    )
    flood_threshold: int = field(
        default=DEFAULT_FLOOD_THRESHOLD,
        metadata=setting(
            Whole(at_least=0),
            problem="must be a whole number of messages (0 turns the flood guard off)",
            doc="Past this many messages to a destination within `flood_window`, further alerts are held "
            "and sent as one digest; 0 turns the flood guard off.",
        ),
    )
    flood_window: float = field(
        default=DEFAULT_FLOOD_WINDOW,
        metadata=setting(
            Duration(above=0),
            problem='must be longer than 0s, e.g. "10m"',
            doc="The window `flood_threshold` counts messages in.",
        ),
    )
    # Holds the template's source: the loader reads the file the key names.
    template: str = field(
        default="",
        metadata=setting(
            Special("path of a Jinja2 template file, relative to the configuration file"),
            default_doc="none: the built-in rendering",
            doc="A Jinja2 template for the message body; `monitor check` renders it with a sample alert.",
        ),
    )
    # quiet hours (start, end) in minutes after midnight
    quiet: tuple[int, int] | None = field(
        default=None,
        metadata=setting(
            Parsed(parse_quiet, 'span of hours "HH:MM-HH:MM" on a 24-hour clock (e.g. "22:00-07:00")'),
            default_doc="none",
            doc="Quiet hours, in `timezone`: alerts are held and sent as one digest when they end, except "
            "those of rules with `urgent = true`.",
        ),
    )

    @property
    def enabled(self) -> bool:
        return not self.disabled_reason


@dataclass(frozen=True)
class DeliverySettings:
    """[delivery]: how the outbox retries and when it gives up."""

    retry_first: float = field(
        default=30.0,
        metadata=setting(
            Duration(above=0),
            doc="The first retry after a failure; each further failure doubles the delay, up to `retry_max`.",
        ),
    )
    retry_max: float = field(
        default=30 * 60.0,
        metadata=setting(Duration(above=0), doc="The longest delay between two attempts; at least `retry_first`."),
    )
    dead_after: float = field(
        default=24 * 3600.0,
        metadata=setting(
            Duration(above=0),
            doc="A delivery failing this long (since its first failure) becomes a dead letter "
            "(`monitor outbox --retry-dead` sends them again).",
        ),
    )
    check_every: float = field(
        default=2.0,
        metadata=setting(
            Duration(above=0), restart=True, doc="How often the daemon looks for deliveries that are due."
        ),
    )


@dataclass(frozen=True)
class Config:
    """The whole file; the fields with a setting are its top-level tables."""

    path: Path
    settings: Settings = field(
        metadata=setting(Special("table"), key="monitor", doc="The daemon: polling, fetching, storage, feed health.")
    )
    aliases: Mapping[str, str] = field(
        metadata=setting(
            Special("table of NAME = query"),
            doc="Named queries, used in rules (and in other aliases) as `@NAME`.",
        )
    )
    feeds: tuple[FeedConfig, ...] = field(
        metadata=setting(Special("array of tables"), doc="The feeds polled, one `[[feeds]]` table each.")
    )
    rules: tuple[RuleConfig, ...] = field(
        metadata=setting(Special("array of tables"), doc="The watch rules, one `[[rules]]` table each.")
    )
    channels: Mapping[str, ChannelConfig] = field(
        metadata=setting(
            Special("table of tables"),
            doc="Where alerts go, one `[channels.NAME]` table each; rules name them in `notify`.",
        )
    )
    dedup: DedupSettings = field(
        default_factory=DedupSettings,
        metadata=setting(Special("table"), doc="How items from different feeds become one story."),
    )
    warnings: tuple[str, ...] = ()
    secrets: Secrets = field(default_factory=Secrets)  # what every output masks (redaction.py)
    delivery: DeliverySettings = field(
        default_factory=DeliverySettings,
        metadata=setting(Special("table"), doc="How the outbox retries a failing destination, and when it gives up."),
    )

    def feed(self, name: str) -> FeedConfig | None:
        return next((f for f in self.feeds if f.name == name), None)

    def rule(self, name: str) -> RuleConfig | None:
        return next((r for r in self.rules if r.name == name), None)
