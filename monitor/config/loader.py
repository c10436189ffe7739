"""TOML → Config. Every problem is collected (not just the first) and names the file,
the key and the fix, so `monitor check` can report them all at once."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..databases import database_password, is_postgres_url
from ..destinations import destination_kind
from ..errors import ConfigError, RuleError
from ..redaction import Secrets, credentials_in_url, destination_secrets
from ..rules import compile_query
from .console_token import KEY as WEB_TOKEN_KEY
from .console_token import missing_token_problem, weak_token_problem
from .declare import MISSING, Special, TextList, declared, keys
from .model import (
    CONSOLE_URL,
    SLACK_MIN_GAP,
    ChannelConfig,
    Config,
    DedupSettings,
    DeliverySettings,
    FeedConfig,
    RuleConfig,
    Settings,
)
from .values import digest_problem

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# A configuration of 10,000 feeds is about 2 MiB of TOML; past this, it is not one.
MAX_CONFIG_BYTES = 32 * 2**20


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

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


def load_config(path: Path | str, env: Mapping[str, str] = os.environ) -> Config:
    """The configuration in the file at `path`; ConfigError for anything that keeps it from
    being read (the file, its encoding, its TOML, its size or depth, every problem in it)."""
    path = Path(path)
    env = CredentialEnv(env)
    try:
        raw = _read_at_most(path, MAX_CONFIG_BYTES)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the configuration: {exc.strerror or exc}"]) from None
    if raw is None:
        raise ConfigError([f"{path}: larger than {MAX_CONFIG_BYTES // 2**20} MiB; is it the configuration?"])
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: the file is not UTF-8 text; save it as UTF-8"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    except RecursionError:
        # tomllib reads nested arrays and tables recursively: a few thousand levels exhaust the stack.
        raise ConfigError([f"{path}: not valid TOML: arrays or tables nested too deeply"]) from None
    return _Loader(path, env).load(data)


def _read_at_most(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None past `limit` (read in pieces: read(limit) would allocate it all)."""
    pieces, total = [], 0
    with path.open("rb") as file:
        while piece := file.read(64 * 1024):
            total += len(piece)
            if total > limit:
                return None
            pieces.append(piece)
    return b"".join(pieces)


# What ends a URL's user info, or is misread inside it (RFC 3986 3.2.1: `:` only splits the user
# name from the password, `+` and `=` are allowed as they are; `%` is, before two hex digits).
_USER_INFO_ENDS = frozenset("/?#@[]")
_HEX = frozenset("0123456789abcdefABCDEF")


def _stray_percent(value: str, at: int) -> bool:
    """A `%` at `at` that does not start a percent-encoded byte."""
    return value[at] == "%" and not (len(value) >= at + 3 and value[at + 1] in _HEX and value[at + 2] in _HEX)


def _in_user_info(template: str, at: int) -> bool:
    """Whether position `at` of a URL as written lies in its user info (between `://` and `@`)."""
    start = template.find("://")
    if start < 0 or at < start:
        return False
    between = template[start + 3 : at]
    return not any(c in between for c in "/?#@") and "@" in template[at:]


class _Loader:
    """One pass over the parsed TOML that records every problem it finds."""

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.env = env
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.secrets = Secrets()

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

    def channel_tables(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """[channels.NAME] tables. Channels are found by name, so they are not an array: [[channels]]
        with `name = …` (as feeds and rules are written) is refused with the spelling to use."""
        value = data.get("channels", {})
        if isinstance(value, dict):
            return value
        fix = "write each channel as a table named after it, [channels.NAME], with its keys"
        if not isinstance(value, list):
            self.problem("channels", f"{fix} (e.g. [channels.slack])")
            return {}
        names = [t["name"] for t in value if isinstance(t, dict) and isinstance(t.get("name"), str)]
        tables = "here: " + ", ".join(f"[channels.{n}]" for n in names) if names else "e.g. [channels.slack]"
        self.problem("[[channels]]", f"{fix} and no `name` ({tables})")
        return {}

    def read(
        self, cls: type[DataclassInstance], where: str, t: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The declared settings of `cls` in table `t`, each checked, by field name; the
        special ones are left to the caller. `defaults` holds those known only now."""
        out: dict[str, Any] = {}
        for d in declared(cls):
            if isinstance(d.kind, Special):
                continue
            default = (defaults or {}).get(d.name, d.default)
            # After a problem the load fails anyway; the default stands in so that the checks
            # across settings judge only the other values.
            fallback = d.kind.empty if default is MISSING else default
            value = t.get(d.key)
            if value is None:
                if default is MISSING:
                    self.problem(f"{where} {d.key}", d.missing)
                out[d.name] = fallback
                continue
            try:
                out[d.name] = d.read(value, default)
            except ValueError as exc:
                self.problem(f"{where} {d.key}", str(exc))
                out[d.name] = fallback
        return out

    def interpolate(self, value: str, url_of: str = "") -> tuple[str, list[str]]:
        """Replace ${VAR}; return the text and the names of unset variables. `url_of`: the key,
        when `value` is a URL: a value put into its user info that a URL parser would cut is
        warned about (never shown)."""
        missing: list[str] = []

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in self.env or self.env[name] == "":
                missing.append(name)
                return m.group(0)
            found = self.env[name]
            if url_of and _in_user_info(value, m.start()):
                self.secrets |= Secrets.of(passwords=[found])
                self.warn_unencoded(url_of, name, found)
            else:
                self.secrets |= Secrets.of([found])
            return found

        return _ENV_REF.sub(sub, value), missing

    def warn_unencoded(self, where: str, name: str, value: str) -> None:
        """A password substituted into a URL's user info ends where a URL parser sees `/ ? # @`
        (or is misread at `%`, `[`, `]`, a space): say which of its characters to encode, and how,
        without showing any of it."""
        cut = sorted(
            {c for at, c in enumerate(value) if c in _USER_INFO_ENDS or c.isspace() or _stray_percent(value, at)}
        )
        if not cut:
            return
        shown = ", ".join(f"{c!r} as {quote(c, safe='')}" for c in cut)
        self.warnings.append(
            f"{self.path}: {where}: ${{{name}}} holds characters that end or garble a password in a URL "
            f"({shown}); store it percent-encoded: python3 -c 'import os, urllib.parse; "
            f'print(urllib.parse.quote(os.environ["{name}"], safe=""))\''
        )

    def load(self, data: dict[str, Any]) -> Config:
        self.unknown_keys("top level", data, keys(Config))
        settings = self.settings(self.table(data, "monitor"))
        aliases = self.aliases(self.table(data, "aliases"))
        channels = self.channels(self.channel_tables(data))
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
            raise ConfigError(self.problems, secrets=self.secrets)
        return Config(
            path=self.path,
            settings=settings,
            aliases=aliases,
            feeds=tuple(feeds),
            rules=tuple(rules),
            channels=channels,
            dedup=dedup,
            warnings=tuple(self.warnings),
            secrets=self.secrets,
            delivery=delivery,
        )

    def settings(self, t: dict[str, Any]) -> Settings:
        self.unknown_keys("[monitor]", t, keys(Settings))
        values = self.read(Settings, "[monitor]", t)
        values["web_token"] = self.web_token(values["web_token"], values["http"])
        if values["min_interval"] > values["max_interval"]:
            self.problem(
                "[monitor] min_interval",
                f"{values['min_interval']:g}s is longer than max_interval ({values['max_interval']:g}s); "
                "lower min_interval or raise max_interval",
            )
        written = values["database"]
        db_text, missing = self.interpolate(written, "[monitor] database" if is_postgres_url(written) else "")
        if missing:
            self.problem("[monitor] database", f"uses ${{{missing[0]}}}, which is not set; set it or write the path")
        if is_postgres_url(db_text):
            # A password written inline is as secret as one from ${PGPASSWORD}, and so is the
            # $PGPASSWORD that libpq reads by itself when the URL has none.
            self.secrets |= Secrets.of(passwords=[database_password(db_text) or "", self.env.get("PGPASSWORD", "")])
            return Settings(**{**values, "database": db_text})
        database = Path(db_text).expanduser()
        if not database.is_absolute():
            # Under systemd the config sits in read-only /etc; a relative database
            # belongs in the unit's StateDirectory (the first one when several).
            state_dir = self.env.get("STATE_DIRECTORY", "").split(":")[0]
            database = (Path(state_dir) if state_dir else self.path.parent) / database
        return Settings(**{**values, "database": database})

    def web_token(self, written: str, http: tuple[str, int] | None) -> str:
        """The console's token with ${VAR} read, checked against the file's `http` by the rules of
        console_token.py (the daemon checks it again against the address it serves on)."""
        where = WEB_TOKEN_KEY
        token, missing = self.interpolate(written)
        if missing:
            self.problem(
                where,
                f"uses ${{{missing[0]}}}, which is not set; export it (or load it with LoadCredential=) "
                "or remove the key",
            )
            return ""
        if token:
            # Written out in the file, it is as secret as one from ${VAR}.
            self.secrets |= Secrets.of(passwords=[token])
        for problem in (weak_token_problem(token), missing_token_problem(http, token)):
            if problem:
                self.problem(where, problem)
        return token

    def dedup(self, t: dict[str, Any]) -> DedupSettings:
        self.unknown_keys("[dedup]", t, keys(DedupSettings))
        return DedupSettings(**self.read(DedupSettings, "[dedup]", t))

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
            self.unknown_keys(where, body, keys(ChannelConfig))
            try:
                urls = TextList().read(body.get("urls", []), None)
            except ValueError as exc:
                self.problem(f"{where} urls", str(exc))
                urls = ()
            if not urls:
                self.problem(f"{where} urls", 'is required: a list of apprise URLs, e.g. ["console://"]')
                continue
            resolved, reason = self.channel_urls(name, urls)
            slack = any(destination_kind(u) == "slack" for u in resolved)
            values = self.read(ChannelConfig, where, body, {"min_gap": SLACK_MIN_GAP if slack else 0.0})
            digest = body.get("digest")
            if digest is not None:
                problem = digest_problem(digest, values["timezone"])
                if problem:
                    self.problem(f"{where} digest", problem)
                else:
                    values["digest"] = digest.strip()
            if body.get("template") is not None:
                values["template"] = self.template(f"{where} template", body["template"])
            channels[name] = ChannelConfig(name=name, urls=resolved, disabled_reason=reason, **values)
        return channels

    def channel_urls(self, name: str, urls: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
        """The channel's URLs with ${VAR} replaced, and why it is disabled ("" when it is not)."""
        resolved, unset = [], []
        for url in urls:
            text, missing = self.interpolate(url, f"[channels.{name}] urls")
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
            if text != CONSOLE_URL:
                self.secrets |= destination_secrets(text)
        return tuple(resolved), reason

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
        self.unknown_keys("[delivery]", t, keys(DeliverySettings))
        delivery = DeliverySettings(**self.read(DeliverySettings, "[delivery]", t))
        if delivery.retry_max < delivery.retry_first:
            self.problem("[delivery] retry_max", "must be at least retry_first")
        return delivery

    def named_tables(
        self, entries: Any, kind: str, allowed: set[str], named_label: str
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
            self.unknown_keys(label, t, allowed)
            yield label, t

    def feeds(self, entries: Any, settings: Settings) -> list[FeedConfig]:
        feeds: list[FeedConfig] = []
        seen: set[str] = set()
        for label, t in self.named_tables(entries, "feeds", keys(FeedConfig), '[[feeds]] #{i} "{name}"'):
            values = self.read(FeedConfig, label, t, {"interval": settings.interval, "fulltext": settings.fulltext})
            name, url = values["name"], values["url"]
            if url:
                url, missing = self.interpolate(url, f"{label} url")
                self.secrets |= Secrets.of(passwords=credentials_in_url(url))
                if missing:
                    self.problem(f"{label} url", f"uses ${{{missing[0]}}}, which is not set")
                elif not re.match(r"^https?://[^/\s]+", url, re.I):
                    self.problem(f"{label} url", f"{url!r} is not an http:// or https:// address")
            if name in seen:
                self.problem(f"{label} name", f'duplicate feed name "{name}"; give each feed its own name')
            seen.add(name)
            feeds.append(FeedConfig(**{**values, "url": url, "pinned": "interval" in t}))
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
        for label, t in self.named_tables(entries, "rules", keys(RuleConfig), 'rule "{name}"'):
            rule = RuleConfig(**self.read(RuleConfig, label, t))
            if rule.name in seen:
                self.problem(f"{label} name", f'duplicate rule name "{rule.name}"; give each rule its own name')
            seen.add(rule.name)
            if rule.query:
                try:
                    compile_query(rule.query, aliases)
                except RuleError as exc:
                    self.problems.append(exc.render(f"{self.path}: {label}"))
            for ch in rule.notify:
                if ch not in channels:
                    known = ", ".join(sorted(channels)) or "none defined"
                    self.problem(
                        f"{label} notify", f'unknown channel "{ch}"; define [channels.{ch}] or use one of: {known}'
                    )
            for sel in rule.feeds:
                if sel.startswith("tag:"):
                    if sel[4:] not in tags:
                        self.problem(f"{label} feeds", f'no feed has the tag "{sel[4:]}"; add it to a feed\'s tags')
                elif sel not in feed_names:
                    close = difflib.get_close_matches(sel, sorted(feed_names), n=1)
                    hint = f'; did you mean "{close[0]}"?' if close else "; use a feed name or tag:NAME"
                    self.problem(f"{label} feeds", f'unknown feed "{sel}"{hint}')
            rules.append(rule)
        return rules
