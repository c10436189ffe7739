"""TOML → Config. Every problem is collected (not just the first) and names the file,
the key and the fix, so `monitor check` can report them all at once."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RuleError
from ..logs import url_secrets
from ..rules import compile_query
from .model import (
    DEFAULT_FLOOD_THRESHOLD,
    DEFAULT_FLOOD_WINDOW,
    DEFAULT_INTERVAL,
    DEFAULT_USER_AGENT,
    SLACK_MIN_GAP,
    ChannelConfig,
    Config,
    DedupSettings,
    DeliverySettings,
    FeedConfig,
    RuleConfig,
    Settings,
)
from .values import digest_problem, parse_duration, parse_listen, parse_quiet, parse_rate, valid_zone


def find_config(explicit: str | None, env: Mapping[str, str] = os.environ) -> Path:
    """--config, then $MONITOR_CONFIG, then ./config.toml, then ~/.config/monitor/config.toml."""
    if explicit:
        return Path(explicit)
    if env.get("MONITOR_CONFIG"):
        return Path(env["MONITOR_CONFIG"])
    candidates = [Path("config.toml"), Path.home() / ".config" / "monitor" / "config.toml"]
    for c in candidates:
        if c.exists():
            return c
    raise ConfigError(
        [
            "no configuration found: looked for --config, $MONITOR_CONFIG, ./config.toml and "
            "~/.config/monitor/config.toml; copy config.example.toml to config.toml to start"
        ]
    )


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class CredentialEnv(Mapping[str, str]):
    """The environment, then systemd credentials: `${NAME}` falls back to the file
    $CREDENTIALS_DIRECTORY/NAME (LoadCredential=NAME:PATH in the unit), so a secret
    need never be in an environment variable. The environment wins when both are set."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        directory = env.get("CREDENTIALS_DIRECTORY", "")
        self.directory = Path(directory) if directory else None

    def _credential(self, name: str) -> str | None:
        if self.directory is None or not _ENV_NAME.fullmatch(name):
            return None
        try:
            # A trailing newline is an artefact of `echo … > file`, never part of a secret.
            return (self.directory / name).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError):
            return None

    def __getitem__(self, name: str) -> str:
        if self.env.get(name):
            return self.env[name]
        value = self._credential(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (bool(self.env.get(name)) or self._credential(name) is not None)

    def __iter__(self):
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


def load_config(path: Path | str, env: Mapping[str, str] = os.environ) -> Config:
    path = Path(path)
    env = CredentialEnv(env)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the configuration: {exc.strerror or exc}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: the file is not UTF-8 text; save it as UTF-8"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return _Loader(path, env).load(data)


_MONITOR_KEYS = {
    "database",
    "interval",
    "backfill",
    "jitter",
    "concurrency",
    "per_host",
    "timeout",
    "max_bytes",
    "user_agent",
    "log_level",
    "connect_timeout",
    "max_backoff",
    "ttl_ceiling",
    "parse_timeout",
    "parse_workers",
    "adopt_redirect_after",
    "retention",
    "http",  # the service's health/metrics endpoint
    "health_channel",
    "failing_after",
    "failing_for",
    "silent_factor",
    "silent_min",  # feed health
}
_FEED_KEYS = {"name", "url", "interval", "tags", "enabled", "title", "ignore_server_ttl"}
_RULE_KEYS = {"name", "query", "notify", "feeds", "cooldown", "urgent", "spike", "spike_factor", "spike_min"}
_CHANNEL_KEYS = {"urls", "digest", "timezone", "rate_limit", "flood_threshold", "flood_window", "template", "quiet"}
_DELIVERY_KEYS = {"retry_first", "retry_max", "dead_after", "check_every"}
_TOP_KEYS = {"monitor", "aliases", "feeds", "rules", "channels", "dedup", "delivery"}
_DEDUP_KEYS = {"title_similarity", "window"}
_LOG_LEVELS = ("debug", "info", "warning", "error")


class _Loader:
    """One pass over the parsed TOML that records every problem it finds."""

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.env = env
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.secrets: set[str] = set()

    def problem(self, where: str, what: str) -> None:
        self.problems.append(f"{self.path}: {where}: {what}")

    def unknown_keys(self, where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                fix = f'did you mean "{close[0]}"?' if close else "allowed keys: " + ", ".join(sorted(allowed))
                self.problem(f"{where} key {key!r}", f"unknown key; {fix}")

    def table(self, data: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(f"[{key}]", "must be a table, written [" + key + "]")
            return {}
        return value

    def duration(self, where: str, value: Any, default: float) -> float:
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.problem(where, str(exc))
            return default

    def string(self, where: str, value: Any, required: bool = True) -> str:
        if value is None:
            if required:
                self.problem(where, "is required; add it as a quoted string")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.problem(where, "must be a non-empty string")
            return ""
        return value

    def boolean(self, where: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.problem(where, "must be true or false (unquoted)")
            return False
        return value

    def string_list(self, where: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(where, 'must be a list of strings, e.g. ["a", "b"]')
            return ()
        return tuple(value)

    def interpolate(self, where: str, value: str) -> tuple[str, list[str]]:
        """Replace ${VAR}; return the text and the names of unset variables."""
        missing: list[str] = []

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in self.env or self.env[name] == "":
                missing.append(name)
                return m.group(0)
            self.secrets.add(self.env[name])
            return self.env[name]

        return _ENV_REF.sub(sub, value), missing

    def load(self, data: dict[str, Any]) -> Config:
        self.unknown_keys("top level", data, _TOP_KEYS)
        settings = self.settings(self.table(data, "monitor"))
        aliases = self.aliases(self.table(data, "aliases"))
        channels = self.channels(self.table(data, "channels"))
        feeds = self.feeds(data.get("feeds", []), settings)
        rules = self.rules(data.get("rules", []), aliases, channels, feeds)
        dedup = self.dedup(self.table(data, "dedup"))
        delivery = self.delivery(self.table(data, "delivery"))
        if settings.health_channel and settings.health_channel not in channels:
            known = ", ".join(sorted(channels)) or "none defined"
            self.problem(
                "[monitor] health_channel",
                f'unknown channel "{settings.health_channel}"; define [channels.{settings.health_channel}] '
                f"or use one of: {known}",
            )
        if self.problems:
            raise ConfigError(self.problems)
        return Config(
            path=self.path,
            settings=settings,
            aliases=aliases,
            feeds=tuple(feeds),
            rules=tuple(rules),
            channels=channels,
            dedup=dedup,
            warnings=tuple(self.warnings),
            secrets=frozenset(s for s in self.secrets if len(s) >= 4),
            delivery=delivery,
        )

    def settings(self, t: dict[str, Any]) -> Settings:
        self.unknown_keys("[monitor]", t, _MONITOR_KEYS)
        base = self.path.parent
        db_text = self.string("[monitor] database", t.get("database", "monitor.db"))
        db_text, missing = self.interpolate("[monitor] database", db_text)
        if missing:
            self.problem("[monitor] database", f"uses ${{{missing[0]}}}, which is not set; set it or write the path")
        database = Path(db_text).expanduser()
        if not database.is_absolute():
            # Under systemd the config sits in read-only /etc; a relative database
            # belongs in the unit's StateDirectory (the first one when several).
            state_dir = self.env.get("STATE_DIRECTORY", "").split(":")[0]
            database = (Path(state_dir) if state_dir else base) / database
        http = None
        if t.get("http") not in (None, ""):
            try:
                http = parse_listen(t["http"])
            except ValueError as exc:
                self.problem("[monitor] http", str(exc))
        level = str(t.get("log_level", "info")).lower()
        if level not in _LOG_LEVELS:
            self.problem("[monitor] log_level", f"{level!r} is not one of {', '.join(_LOG_LEVELS)}")
            level = "info"
        jitter = t.get("jitter", 0.1)
        if not isinstance(jitter, (int, float)) or isinstance(jitter, bool) or not 0 <= jitter <= 0.5:
            self.problem("[monitor] jitter", "must be a fraction of the interval between 0 and 0.5, e.g. 0.1")
            jitter = 0.1
        ints = {}
        whole_numbers = (
            ("concurrency", 10, 1),
            ("per_host", 2, 1),
            ("max_bytes", 10 * 1024 * 1024, 1024),
            ("parse_workers", 2, 1),
            ("adopt_redirect_after", 3, 1),
        )
        for key, default, low in whole_numbers:
            v = t.get(key, default)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                self.problem(f"[monitor] {key}", f"must be a whole number of at least {low}")
                v = default
            ints[key] = v
        interval = self.duration("[monitor] interval", t.get("interval"), DEFAULT_INTERVAL)
        if interval <= 0:
            self.problem("[monitor] interval", "must be longer than 0s")
            interval = DEFAULT_INTERVAL
        timeout = self.duration("[monitor] timeout", t.get("timeout"), 30.0)
        positive = {}
        for key, default in (
            ("connect_timeout", 10.0),
            ("max_backoff", 6 * 3600.0),
            ("ttl_ceiling", 3600.0),
            ("parse_timeout", 20.0),
            ("retention", 30 * 86400.0),
        ):
            value = self.duration(f"[monitor] {key}", t.get(key), default)
            if value <= 0:
                self.problem(f"[monitor] {key}", "must be longer than 0s")
                value = default
            positive[key] = value
        health = self.health_settings(t)
        return Settings(
            database=database,
            **health,
            interval=interval,
            backfill=self.duration("[monitor] backfill", t.get("backfill"), 0.0),
            jitter=float(jitter),
            timeout=timeout if timeout > 0 else 30.0,
            user_agent=self.string("[monitor] user_agent", t.get("user_agent", DEFAULT_USER_AGENT)),
            log_level=level,
            http=http,
            **ints,
            **positive,
        )

    def health_settings(self, t: dict[str, Any]) -> dict[str, Any]:
        """[monitor] health_channel and the thresholds of feed health (issue 9)."""
        out: dict[str, Any] = {}
        if t.get("health_channel") is not None:
            out["health_channel"] = self.string("[monitor] health_channel", t["health_channel"])
        after = t.get("failing_after", 3)
        if not isinstance(after, int) or isinstance(after, bool) or after < 1:
            self.problem("[monitor] failing_after", "must be a whole number of consecutive errors, at least 1")
        else:
            out["failing_after"] = after
        factor = t.get("silent_factor", 4.0)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor < 1:
            self.problem("[monitor] silent_factor", "must be a number of at least 1, e.g. 4 (times the median gap)")
        else:
            out["silent_factor"] = float(factor)
        for key, default in (("failing_for", 6 * 3600.0), ("silent_min", 86400.0)):
            value = self.duration(f"[monitor] {key}", t.get(key), default)
            if value <= 0:
                self.problem(f"[monitor] {key}", "must be longer than 0s")
            else:
                out[key] = value
        return out

    def dedup(self, t: dict[str, Any]) -> DedupSettings:
        self.unknown_keys("[dedup]", t, _DEDUP_KEYS)
        similarity = t.get("title_similarity", 0.6)
        if isinstance(similarity, bool) or not isinstance(similarity, (int, float)) or not 0 <= similarity <= 1:
            self.problem("[dedup] title_similarity", "must be a number from 0 (off) to 1, e.g. 0.6")
            similarity = 0.6
        window = self.duration("[dedup] window", t.get("window"), 48 * 3600.0)
        return DedupSettings(float(similarity), window)

    def aliases(self, t: dict[str, Any]) -> dict[str, str]:
        aliases: dict[str, str] = {}
        for name, query in t.items():
            if not isinstance(query, str):
                self.problem(f"[aliases] {name}", "must be a query string")
                continue
            aliases[name] = query
        for name in aliases:
            try:
                compile_query(f"@{name}", aliases)
            except RuleError as exc:
                self.problems.append(exc.render(f'{self.path}: alias "{name}"'))
        return aliases

    def channels(self, t: dict[str, Any]) -> dict[str, ChannelConfig]:
        channels: dict[str, ChannelConfig] = {}
        for name, body in t.items():
            where = f"[channels.{name}]"
            if not isinstance(body, dict):
                self.problem(where, "must be a table with a `urls` list")
                continue
            self.unknown_keys(where, body, _CHANNEL_KEYS)
            urls = self.string_list(f"{where} urls", body.get("urls"))
            if not urls:
                self.problem(f"{where} urls", 'is required: a list of apprise URLs, e.g. ["console://"]')
                continue
            resolved, unset = [], []
            for url in urls:
                text, missing = self.interpolate(f"{where} urls", url)
                unset.extend(missing)
                resolved.append(text)
            reason = ""
            if unset:
                missing = list(dict.fromkeys(unset))
                names = ", ".join(f"${{{n}}}" for n in missing)
                reason = f"{names} not set"
                verb, it = ("is", "it") if len(missing) == 1 else ("are", "them")
                self.warnings.append(
                    f'{self.path}: channel "{name}" is disabled: {names} {verb} not set; '
                    f"export {it} (or put {it} in the service's EnvironmentFile, or load {it} with LoadCredential=) "
                    "to enable the channel"
                )
            for text in resolved:
                self.secrets.update(url_secrets(text))
            channels[name] = ChannelConfig(
                name=name, urls=tuple(resolved), disabled_reason=reason, **self.channel_delivery(where, body, resolved)
            )
        return channels

    def channel_delivery(self, where: str, body: dict[str, Any], urls: list[str]) -> dict[str, Any]:  # noqa: PLR0912
        """A channel's digest, rate limit, flood guard and template, each checked here."""
        out: dict[str, Any] = {}
        tz = body.get("timezone", "UTC")
        if not isinstance(tz, str) or not valid_zone(tz):
            self.problem(f"{where} timezone", f'{tz!r} is not a time zone name such as "UTC" or "Europe/London"')
            tz = "UTC"
        out["timezone"] = tz
        digest = body.get("digest")
        if digest is not None:
            problem = digest_problem(digest, tz)
            if problem:
                self.problem(f"{where} digest", problem)
            else:
                out["digest"] = digest.strip()
        rate = body.get("rate_limit")
        if rate is None:
            slack = any(u.lower().startswith(("slack://", "https://hooks.slack.com/")) for u in urls)
            out["min_gap"] = SLACK_MIN_GAP if slack else 0.0
        else:
            try:
                out["min_gap"] = parse_rate(rate)
            except ValueError as exc:
                self.problem(f"{where} rate_limit", str(exc))
        threshold = body.get("flood_threshold", DEFAULT_FLOOD_THRESHOLD)
        if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 0:
            self.problem(f"{where} flood_threshold", "must be a whole number of messages (0 turns the flood guard off)")
        else:
            out["flood_threshold"] = threshold
        window = self.duration(f"{where} flood_window", body.get("flood_window"), DEFAULT_FLOOD_WINDOW)
        if window <= 0:
            self.problem(f"{where} flood_window", 'must be longer than 0s, e.g. "10m"')
        else:
            out["flood_window"] = window
        template = body.get("template")
        if template is not None:
            out["template"] = self.template(f"{where} template", template)
        if body.get("quiet") is not None:
            try:
                out["quiet"] = parse_quiet(body["quiet"])
            except ValueError as exc:
                self.problem(f"{where} quiet", str(exc))
        return out

    def rule_desk(self, label: str, t: dict[str, Any]) -> dict[str, Any]:
        """A rule's cooldown, urgency and spike settings (issue 9)."""
        out: dict[str, Any] = {}
        if t.get("cooldown") is not None:
            out["cooldown"] = self.duration(f"{label} cooldown", t["cooldown"], 0.0)
        for key in ("urgent", "spike"):
            if key in t:
                out[key] = self.boolean(f"{label} {key}", t[key])
        factor = t.get("spike_factor", 3.0)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 1:
            self.problem(f"{label} spike_factor", "must be a number above 1, e.g. 3 (times the usual hourly matches)")
        else:
            out["spike_factor"] = float(factor)
        low = t.get("spike_min", 5)
        if not isinstance(low, int) or isinstance(low, bool) or low < 1:
            self.problem(f"{label} spike_min", "must be a whole number of matches in an hour, at least 1")
        else:
            out["spike_min"] = low
        return out

    def template(self, where: str, value: Any) -> str:
        from ..delivery.render import check_template  # jinja2 is only needed when a template is used

        if not isinstance(value, str) or not value.strip():
            self.problem(where, 'must be the path of a Jinja2 template file, e.g. "templates/slack.j2"')
            return ""
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.path.parent / path
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(where, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
            return ""
        for problem in check_template(source):
            self.problem(where, f"{path}: {problem}; templates may only use the documented values")
        return source

    def delivery(self, t: dict[str, Any]) -> DeliverySettings:
        self.unknown_keys("[delivery]", t, _DELIVERY_KEYS)
        base = DeliverySettings()
        values = {}
        for key in sorted(_DELIVERY_KEYS):
            value = self.duration(f"[delivery] {key}", t.get(key), getattr(base, key))
            if value <= 0:
                self.problem(f"[delivery] {key}", "must be longer than 0s")
                value = getattr(base, key)
            values[key] = value
        if values["retry_max"] < values["retry_first"]:
            self.problem("[delivery] retry_max", "must be at least retry_first")
        return DeliverySettings(**values)

    def named_tables(
        self, entries: Any, kind: str, keys: set[str], named_label: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each table of a `[[kind]]` array with the label its problems carry: by position,
        and by name once it has one (`named_label` with {i} and {name})."""
        if not isinstance(entries, list):
            self.problem(f"[[{kind}]]", f"must be an array of tables, each written [[{kind}]]")
            return
        for i, t in enumerate(entries, 1):
            label = f"[[{kind}]] #{i}"
            if not isinstance(t, dict):
                self.problem(label, "must be a table")
                continue
            if isinstance(t.get("name"), str):
                label = named_label.format(i=i, name=t["name"])
            self.unknown_keys(label, t, keys)
            yield label, t

    def feeds(self, entries: Any, settings: Settings) -> list[FeedConfig]:
        feeds: list[FeedConfig] = []
        seen: set[str] = set()
        for label, t in self.named_tables(entries, "feeds", _FEED_KEYS, '[[feeds]] #{i} "{name}"'):
            name = self.string(f"{label} name", t.get("name"))
            url = self.string(f"{label} url", t.get("url"))
            if url:
                url, missing = self.interpolate(f"{label} url", url)
                if missing:
                    self.problem(f"{label} url", f"uses ${{{missing[0]}}}, which is not set")
                elif not re.match(r"^https?://[^/\s]+", url, re.I):
                    self.problem(f"{label} url", f"{url!r} is not an http:// or https:// address")
            if name in seen:
                self.problem(f"{label} name", f'duplicate feed name "{name}"; give each feed its own name')
            seen.add(name)
            enabled = self.boolean(f"{label} enabled", t.get("enabled", True))
            ignore_ttl = self.boolean(f"{label} ignore_server_ttl", t.get("ignore_server_ttl", False))
            interval = self.duration(f"{label} interval", t.get("interval"), settings.interval)
            if interval <= 0:
                self.problem(f"{label} interval", "must be longer than 0s")
            feeds.append(
                FeedConfig(
                    name=name,
                    url=url,
                    interval=interval,
                    tags=self.string_list(f"{label} tags", t.get("tags")),
                    enabled=enabled,
                    title=self.string(f"{label} title", t.get("title"), required=False),
                    ignore_server_ttl=ignore_ttl,
                )
            )
        return feeds

    def rules(
        self,
        entries: Any,
        aliases: Mapping[str, str],
        channels: Mapping[str, ChannelConfig],
        feeds: list[FeedConfig],
    ) -> list[RuleConfig]:
        rules: list[RuleConfig] = []
        seen: set[str] = set()
        feed_names = {f.name for f in feeds}
        tags = {tag for f in feeds for tag in f.tags}
        for label, t in self.named_tables(entries, "rules", _RULE_KEYS, 'rule "{name}"'):
            name = self.string(f"{label} name", t.get("name"))
            if name in seen:
                self.problem(f"{label} name", f'duplicate rule name "{name}"; give each rule its own name')
            seen.add(name)
            query = self.string(f"{label} query", t.get("query"))
            if query:
                try:
                    compile_query(query, aliases)
                except RuleError as exc:
                    self.problems.append(exc.render(f"{self.path}: {label}"))
            notify = self.string_list(f"{label} notify", t.get("notify"))
            if not notify and "notify" not in t:
                self.problem(f"{label} notify", 'is required: the channels to alert, e.g. notify = ["console"]')
            for ch in notify:
                if ch not in channels:
                    known = ", ".join(sorted(channels)) or "none defined"
                    self.problem(
                        f"{label} notify", f'unknown channel "{ch}"; define [channels.{ch}] or use one of: {known}'
                    )
            selectors = self.string_list(f"{label} feeds", t.get("feeds"))
            for sel in selectors:
                if sel.startswith("tag:"):
                    if sel[4:] not in tags:
                        self.problem(f"{label} feeds", f'no feed has the tag "{sel[4:]}"; add it to a feed\'s tags')
                elif sel not in feed_names:
                    close = difflib.get_close_matches(sel, sorted(feed_names), n=1)
                    hint = f'; did you mean "{close[0]}"?' if close else "; use a feed name or tag:NAME"
                    self.problem(f"{label} feeds", f'unknown feed "{sel}"{hint}')
            rules.append(RuleConfig(name=name, query=query, notify=notify, feeds=selectors, **self.rule_desk(label, t)))
        return rules
