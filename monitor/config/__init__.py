"""Configuration: TOML → frozen dataclasses (model), value parsers (values), and the
loader that validates everything at once (loader). Import from here."""

from .loader import CredentialEnv, find_config, load_config
from .model import (
    CONSOLE_URL,
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
from .values import digest_problem, is_loopback, parse_duration, parse_listen, parse_quiet, parse_rate

__all__ = [
    "CONSOLE_URL",
    "DEFAULT_FLOOD_THRESHOLD",
    "DEFAULT_FLOOD_WINDOW",
    "DEFAULT_INTERVAL",
    "DEFAULT_USER_AGENT",
    "SLACK_MIN_GAP",
    "ChannelConfig",
    "Config",
    "CredentialEnv",
    "DedupSettings",
    "DeliverySettings",
    "FeedConfig",
    "RuleConfig",
    "Settings",
    "digest_problem",
    "find_config",
    "is_loopback",
    "load_config",
    "parse_duration",
    "parse_listen",
    "parse_quiet",
    "parse_rate",
]
