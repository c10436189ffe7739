"""How a setting is declared: each field of the model that a TOML key sets carries, in its
metadata, the key, the kind of value (with its bounds), the words of its problem, what it does
and whether a reload puts it in force. The default is the field's own default. The loader reads
the settings from these declarations and derives the allowed keys from them, the reload its
restart settings, and docs/configuration.md is generated from them, so each setting is written
down once."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .values import parse_duration

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_METADATA_KEY = "monitor.setting"
MISSING: Any = dataclasses.MISSING


class Kind:
    """What a value must be. `read` returns it as the model holds it, or raises ValueError
    saying what is wrong; `problem` (a declaration's own words, or None) replaces the
    kind's words about the type and the bounds. `describe` says the same for people, and
    `literal` writes a value the model holds as it is written in TOML."""

    missing = "is required"  # the words when a key without a default is absent
    empty: Any = None  # what a required setting holds after a problem

    def read(self, value: Any, problem: str | None) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def literal(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else f"{value}"


def duration_literal(seconds: float) -> str:
    """`"30s"`, `"10m"`, `"6h"`, `"30d"`: seconds as a duration is written, in the largest unit
    that holds it whole (a fraction of a second as a number of seconds)."""
    if seconds != int(seconds):
        return f"{seconds:g}"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f'"{int(seconds) // size}{unit}"'
    return f'"{int(seconds)}s"'


@dataclass(frozen=True)
class Duration(Kind):
    """A duration such as "30s", "10m", "1h", "2d", or a number of seconds; never negative."""

    above: float | None = None

    def read(self, value: Any, problem: str | None) -> float:
        seconds = parse_duration(value)
        if self.above is not None and seconds <= self.above:
            raise ValueError(problem or f"must be longer than {self.above:g}s")
        return seconds

    def describe(self) -> str:
        longer = f" longer than {self.above:g}s" if self.above is not None else ""
        return f'duration (e.g. "30s", "10m", "1h"){longer}'

    def literal(self, value: Any) -> str:
        return duration_literal(value)


@dataclass(frozen=True)
class Whole(Kind):
    at_least: int

    def read(self, value: Any, problem: str | None) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < self.at_least:
            raise ValueError(problem or f"must be a whole number of at least {self.at_least}")
        return value

    def describe(self) -> str:
        return f"whole number, at least {self.at_least}"


@dataclass(frozen=True)
class Number(Kind):
    """An integer or a float, held as a float."""

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None

    def read(self, value: Any, problem: str | None) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (self.at_least is not None and value < self.at_least)
            or (self.above is not None and value <= self.above)
            or (self.at_most is not None and value > self.at_most)
        ):
            raise ValueError(problem or "must be a number" + self.bounds())
        return float(value)

    def bounds(self) -> str:
        if self.at_least is not None and self.at_most is not None:
            return f" from {self.at_least:g} to {self.at_most:g}"
        parts = [f"of at least {self.at_least:g}"] if self.at_least is not None else []
        parts += [f"above {self.above:g}"] if self.above is not None else []
        parts += [f"of at most {self.at_most:g}"] if self.at_most is not None else []
        return " " + " and ".join(parts) if parts else ""

    def describe(self) -> str:
        return "number" + self.bounds()

    def literal(self, value: Any) -> str:
        return f"{value:g}"


@dataclass(frozen=True)
class Flag(Kind):
    empty = False

    def read(self, value: Any, problem: str | None) -> bool:
        if not isinstance(value, bool):
            raise ValueError(problem or "must be true or false (unquoted)")
        return value

    def describe(self) -> str:
        return "true or false"

    def literal(self, value: Any) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class Text(Kind):
    non_empty: bool = True
    missing = "is required; add it as a quoted string"
    empty = ""

    def read(self, value: Any, problem: str | None) -> str:
        if not isinstance(value, str) or (self.non_empty and not value.strip()):
            raise ValueError(problem or "must be a non-empty string")
        return value

    def describe(self) -> str:
        return "string, not empty" if self.non_empty else "string"


@dataclass(frozen=True)
class TextList(Kind):
    """A list of strings; a single string is a list of one."""

    empty = ()

    def read(self, value: Any, problem: str | None) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(problem or 'must be a list of strings, e.g. ["a", "b"]')
        return tuple(value)

    def describe(self) -> str:
        return "list of strings (a single string is a list of one)"

    def literal(self, value: Any) -> str:
        return json.dumps(list(value), ensure_ascii=False)


@dataclass(frozen=True)
class Choice(Kind):
    """One of a few words, in any case."""

    options: tuple[str, ...]

    def read(self, value: Any, problem: str | None) -> str:
        word = str(value).lower()
        if word not in self.options:
            raise ValueError(problem or f"{word!r} is not one of {', '.join(self.options)}")
        return word

    def describe(self) -> str:
        return "one of " + ", ".join(f'"{o}"' for o in self.options) + " (any case)"


@dataclass(frozen=True)
class Parsed(Kind):
    """Read by a parser of values.py, whose ValueError says what is wrong; `describes` says
    what the parser accepts, for people."""

    parse: Callable[[Any], Any]
    describes: str

    def read(self, value: Any, problem: str | None) -> Any:
        return self.parse(value)

    def describe(self) -> str:
        return self.describes


@dataclass(frozen=True)
class Special(Kind):
    """Read by the loader's own code: it depends on other settings, the environment or files.
    `describes` says what the loader accepts, for people."""

    describes: str

    def describe(self) -> str:
        return self.describes


@dataclass(frozen=True)
class Setting:
    kind: Kind
    doc: str  # what the setting does, for people (docs/configuration.md)
    key: str | None = None  # the TOML key, when it is not the field's name
    problem: str | None = None  # replaces the kind's words for a wrong type or a value out of bounds
    missing: str | None = None  # replaces the kind's words for a required key that is absent
    zero_means_default: bool = False
    default: Any = None  # the TOML value when absent, for a field that holds what the loader makes of it
    # Built into a part that lives as long as the process (the store, the fetcher, a listener):
    # a reload leaves it as it was and says that a restart is needed.
    restart: bool = False
    environment: bool = False  # ${VAR} in its value is read by the loader (loader.py, `interpolate`)
    default_doc: str | None = None  # the default in words, when the loader takes it from elsewhere


def setting(
    kind: Kind,
    *,
    doc: str,
    key: str | None = None,
    problem: str | None = None,
    missing: str | None = None,
    zero_means_default: bool = False,
    default: Any = None,
    restart: bool = False,
    environment: bool = False,
    default_doc: str | None = None,
) -> dict[str, Setting]:
    """The metadata of a dataclass field that a TOML key sets."""
    return {
        _METADATA_KEY: Setting(
            kind, doc, key, problem, missing, zero_means_default, default, restart, environment, default_doc
        )
    }


@dataclass(frozen=True)
class Declared:
    """One declared setting of a model class, as the loader reads it."""

    name: str  # the field
    key: str  # the TOML key
    setting: Setting
    default: Any  # MISSING: required, unless the loader gives a default

    @property
    def kind(self) -> Kind:
        return self.setting.kind

    @property
    def missing(self) -> str:
        return self.setting.missing or self.kind.missing

    def read(self, value: Any, default: Any) -> Any:
        """`value` as the model holds it; ValueError says what is wrong with it."""
        got = self.kind.read(value, self.setting.problem)
        return default if self.setting.zero_means_default and got == 0 else got


def declared(cls: type[DataclassInstance]) -> tuple[Declared, ...]:
    """The settings of `cls`, in the order of its fields."""
    out = []
    for f in dataclasses.fields(cls):
        s = f.metadata.get(_METADATA_KEY)
        if s is None:
            continue
        default = f.default
        if default is MISSING and callable(f.default_factory):
            default = f.default_factory()
        if s.default is not None:
            default = s.default
        out.append(Declared(f.name, s.key or f.name, s, default))
    return tuple(out)


def keys(cls: type[DataclassInstance]) -> set[str]:
    """The TOML keys a table read into `cls` may hold."""
    return {d.key for d in declared(cls)}
