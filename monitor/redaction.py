"""The one gate for secrets: what is secret, every spelling it may reach an output in, and the
doors every written byte passes through.

What is secret is what the configuration says (config/loader.py collects it into
`Config.secrets`): values from `${VAR}` and systemd credentials, passwords written into URLs,
the console's token, destinations' URLs and the credentials in them. A value may reach an output
whole, percent-encoded, HTML- or JSON-escaped, and a password cut up by a parser at URL
delimiters too (apprise printing "tp@Pw" of a password holding `/` and `#`), so each is
redacted in every one of those spellings (`spellings`).

The doors: the process's standard output and error (`redacted_output`, installed by cli.py:
command output, `--json`, error messages, log lines, tracebacks, whatever a library prints), the
HTTP endpoint (runtime/endpoint.py: console pages, /metrics, /healthz) and, for what is stored,
delivery errors (delivery/channels.py). All three use a Redactor.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

MASK = "***"
MIN_SECRET = 4  # characters: a shorter value (or piece of one) would mask ordinary words
# Where a URL parser may cut a value: RFC 3986's delimiters, `%` and whitespace.
URL_DELIMITERS = frozenset(":/?#[]@!$&'()*+,;=% \t")
# Pieces of one secret considered: a value with more delimiters than this is cut at the first ones.
_MAX_CUTS = 24
PIECES_FROM = 8  # characters of a value that is cut into pieces
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
# A password in any URL's user info, known to be secret or not (the user name is no secret).
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s@:]*):[^/\s@]+@")
# A query key naming one of these holds a credential (`password=` and `apikey=` among them).
_SECRET_KEYS = "token|key|secret|pass|auth|sig"
_SECRET_KEY = re.compile(rf"(?i){_SECRET_KEYS}")
_SECRET_QUERY = re.compile(rf"(?i)((?:{_SECRET_KEYS})[^=&]*=)[^&]*")
_PERCENT = re.compile(r"%[0-9A-F]{2}")


def redact_url(url: str) -> str:
    """The URL without user:password and with secret-looking query values hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(rf"\1{MASK}@", url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if "@" in parts.netloc:
        netloc = f"{MASK}@{netloc}"
    query = _SECRET_QUERY.sub(rf"\1{MASK}", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@dataclass(frozen=True)
class Secrets:
    """What is secret: `values` masked whole wherever they appear (a destination's URL, a value
    from ${VAR} used as a path), `passwords` also in every piece a URL parser could cut them
    into (a password or token, a value put into a URL's user info or a secret query value)."""

    values: frozenset[str] = frozenset()
    passwords: frozenset[str] = frozenset()

    @classmethod
    def of(cls, values: Iterable[str] = (), passwords: Iterable[str] = ()) -> Secrets:
        return cls(frozenset(v for v in values if v), frozenset(p for p in passwords if p))

    def __or__(self, other: Secrets) -> Secrets:
        return Secrets(self.values | other.values, self.passwords | other.passwords)

    def __contains__(self, text: object) -> bool:
        return text in self.values or text in self.passwords


def credentials_in_url(url: str) -> set[str]:
    """The password of a URL's user info and its secret-looking query values (token=, key=…)."""
    out: set[str] = set()
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return out
    if password:  # the user name is no secret, and redacting a word like "alerts" everywhere hurts
        out.add(password)
    for key_value in parts.query.split("&"):
        key, _, value = key_value.partition("=")
        if value and _SECRET_KEY.search(key):
            out.add(value)
    return {s for s in out if len(s) >= MIN_SECRET}


def destination_secrets(url: str) -> Secrets:
    """What of a destination URL is secret: all of it, its path tokens, and its credentials
    (passwords).

    apprise and its HTTP libraries may log any part on their own (a Slack webhook's token is its
    path), so each part is redacted wherever it appears, not only the whole URL.
    """
    out = {url}
    try:
        parts = urlsplit(url)
    except ValueError:
        return Secrets.of(out)
    for segment in re.split(r"[/?&=:@]", parts.path + "?" + parts.query):
        # Long opaque segments are tokens (Slack's T…/B…/secret); short ones are words like "hook".
        if len(segment) >= 8 and re.search(r"\d", segment) and not re.fullmatch(r"\d+", segment):
            out.add(segment)
    if parts.scheme.lower() in ("slack", "discord", "tgram", "msteams", "pover", "pbul", "gotify") or (
        (parts.hostname or "").endswith("hooks.slack.com")
    ):
        # Every segment of these URLs is part of the credential.
        netloc = "" if parts.scheme.lower().startswith("http") else parts.netloc
        out.update(s for s in re.split(r"[/:@]", netloc + parts.path) if len(s) >= 4 and s != "services")
    return Secrets.of((s for s in out if len(s) >= MIN_SECRET), credentials_in_url(url))


def pieces(secret: str) -> set[str]:
    """The secret and each piece of it a URL parser could cut out: every run between two cuts,
    a cut being either side of a delimiter (so "tp@Pw" of "ab/tp@Pw#x" is one)."""
    cuts = {0, len(secret)}
    for at, char in enumerate(secret):
        if char in URL_DELIMITERS and len(cuts) < 2 * _MAX_CUTS:
            cuts.update((at, at + 1))
    ordered = sorted(cuts)
    return {secret[a:b] for i, a in enumerate(ordered) for b in ordered[i + 1 :]}


def spellings(secret: str, cut: bool = True) -> set[str]:
    """Every form of `secret`, and with `cut` of its pieces, that an output may carry, at least
    MIN_SECRET long: as it is, percent-encoded (either case) or decoded, HTML-, JSON- or
    repr-escaped. A value under PIECES_FROM characters is not cut: its pieces would be common words."""
    found: set[str] = set()
    cut = cut and len(secret) >= PIECES_FROM
    for base in {secret, unquote(secret)}:
        for piece in pieces(base) if cut else (base,):
            encoded = quote(piece, safe="")
            found.update(
                (
                    piece,
                    encoded,
                    _PERCENT.sub(lambda m: m.group().lower(), encoded),
                    quote_plus(piece, safe=""),
                    html.escape(piece),
                    html.escape(piece, quote=False),
                    json.dumps(piece)[1:-1],
                    json.dumps(piece, ensure_ascii=False)[1:-1],
                    repr(piece)[1:-1],
                )
            )
    return {s for s in found if len(s) >= MIN_SECRET}


class Redactor:
    """Replaces every spelling of every secret it knows, and URL credentials of any kind, with
    MASK. Thread-safe: the HTTP endpoint redacts from its threads while a reload teaches it the
    new configuration's secrets (it never forgets one: an old value may still be in flight)."""

    def __init__(self, secrets: Secrets | None = None) -> None:
        self._known: set[tuple[str, bool]] = set()
        self._spellings: tuple[str, ...] = ()
        self._lock = threading.Lock()
        if secrets is not None:
            self.learn(secrets)

    def learn(self, secrets: Secrets) -> None:
        given = {(v, False) for v in secrets.values} | {(p, True) for p in secrets.passwords}
        new = {(s, cut) for s, cut in given if len(s) >= MIN_SECRET} - self._known
        if not new:
            return
        with self._lock:
            found = set(self._spellings).union(*(spellings(s, cut) for s, cut in new))
            self._known |= new
            # Longest first: a whole secret is masked as one, before any piece of it.
            self._spellings = tuple(sorted(found, key=lambda s: (-len(s), s)))

    def redact(self, text: str) -> str:
        for spelling in self._spellings:
            if spelling in text:
                text = text.replace(spelling, MASK)
        return _URL_PASSWORD.sub(rf"\1:{MASK}@", text)

    def redact_bytes(self, data: bytes) -> bytes:
        """`data` as UTF-8 (any other byte kept as it is) with every secret masked."""
        return self.redact(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


class RedactingStream(io.TextIOBase):
    """A text stream that writes whole lines redacted: a secret split over two writes (print's
    arguments, a traceback's parts) is still seen whole. What is pending goes out on flush."""

    def __init__(self, inner: TextIO, redactor: Redactor) -> None:
        super().__init__()
        self.inner = inner
        self.redactor = redactor
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            end = self._pending.rfind("\n") + 1
            if end:
                lines, self._pending = self._pending[:end], self._pending[end:]
                self.inner.write(self.redactor.redact(lines))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self.inner.write(self.redactor.redact(self._pending))
                self._pending = ""
            self.inner.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # io.TextIOBase declares it a plain attribute
        return self.inner.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.inner.errors


def redacting(stream: TextIO, redactor: Redactor) -> TextIO:
    """`stream` behind `redactor`: itself when it already is."""
    if isinstance(stream, RedactingStream) and stream.redactor is redactor:
        return stream
    return RedactingStream(stream, redactor)  # type: ignore[return-value]  # a TextIOBase is a TextIO


@contextlib.contextmanager
def redacted_output(redactor: Redactor) -> Iterator[None]:
    """sys.stdout and sys.stderr behind `redactor` while inside; what is pending is written
    (redacted) on the way out."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = redacting(sys.stdout, redactor), redacting(sys.stderr, redactor)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
                stream.flush()
        sys.stdout, sys.stderr = saved
