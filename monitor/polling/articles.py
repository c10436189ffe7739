"""Article pages of items: fetched politely (robots.txt, a pace per host, backoff) and safely
(the address policy of Fetcher.fetch_page), for their main text to be extracted.

Each fetch ends in an ArticlePage whose `outcome` says what became of it, and whose message
says so naming the host, for the daemon to log and count.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from ..errors import AddressRefusedError, FetchError
from ..logs import redact_url
from .fetch import PageFetcher, worth_retrying
from .robots import RobotsCache

Outcome = Literal["fetched", "failed", "retry", "robots", "address"]

BACKOFF_FIRST = 60.0
BACKOFF_MAX = 3600.0
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Labels that say nothing of what the body is: the body itself may say it is HTML.
UNLABELLED = frozenset(
    {"", "text/plain", "application/octet-stream", "binary/octet-stream", "application/unknown", "unknown/unknown"}
)
# The WHATWG MIME sniffing patterns for HTML: one of these tags first, after blanks.
_HTML_START = re.compile(
    rb"(?:\xef\xbb\xbf)?[\t\n\x0c\r ]*<(?:!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b"
    rb"|body|br|p|!--)[ >]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ArticlePage:
    """What became of one article fetch.

    outcome: "fetched" (html holds the page), "failed" (not to be tried again: not HTML, an
    error status, an unusable link), "retry" (the host is unreachable or backs off: not
    before `not_before`), "robots" (robots.txt disallows it) or "address" (the link, or a
    redirect, led to an address a link may not reach).
    """

    outcome: Outcome
    url: str  # where the page was in the end (after redirects); the link when none was had
    html: bytes = b""
    content_type: str = ""
    message: str = ""
    not_before: float | None = None


@dataclass
class _Host:
    """One host's pace and backoff. `users`: fetches in (or waiting for) its lock."""

    lock: asyncio.Lock
    users: int = 0
    last_request: float | None = None
    failures: int = 0
    not_before: float = 0.0
    reason: str = ""


class ArticleFetcher:
    """Fetches article pages through `fetcher`, asking `robots` first.

    Requests to one host go one at a time, at most one per `pace` seconds (robots.txt
    included), waiting through `sleep`; other hosts go on meanwhile. A host that refuses
    (403), is overloaded (429, 5xx) or unreachable backs off: 60 s doubling up to an hour, or
    as long as its Retry-After says, until a page comes back. While it backs off, its
    articles are "retry" at once, without a request. Feeds on that host are not affected.
    """

    def __init__(
        self,
        fetcher: PageFetcher,
        robots: RobotsCache,
        *,
        pace: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.fetcher = fetcher
        self.robots = robots
        self.pace = pace
        self.clock = clock
        self.sleep = sleep
        self._hosts: dict[str, _Host] = {}
        self._prune_above = 64

    async def fetch(self, link: str, feed_url: str, honour_robots: bool) -> ArticlePage:
        """The page at `link`, an item's link in the feed at `feed_url` (whose host the link
        may share, on a private address: a local bridge serving its own pages)."""
        host = _link_host(link)
        if host is None:
            return ArticlePage("failed", link, message=f"{redact_url(link)} is not an http(s) link with a host")
        local_host = _link_host(feed_url)
        state = self._hosts.get(host)
        if state is None:
            self._prune()
            state = self._hosts[host] = _Host(asyncio.Lock())
        state.users += 1
        try:
            async with state.lock:
                return await self._fetch(link, host, local_host, honour_robots, state)
        finally:
            state.users -= 1

    async def _fetch(
        self, link: str, host: str, local_host: str | None, honour_robots: bool, state: _Host
    ) -> ArticlePage:
        wait = state.not_before - self.clock()
        if wait > 0:
            message = f"{host} backs off for {wait:.0f} s more (after {state.reason}); {redact_url(link)} not fetched"
            return ArticlePage("retry", link, message=message, not_before=state.not_before)
        try:
            if honour_robots:
                allowed = self.robots.cached(link)
                if allowed is None:
                    await self._pace(state)
                    allowed = await self.robots.allows(link, local_host=local_host)
                if not allowed:
                    message = f"robots.txt of {host} disallows {redact_url(link)} for {self.robots.agent}"
                    return ArticlePage("robots", link, message=message)
            await self._pace(state)
            page = await self.fetcher.fetch_page(link, local_host=local_host, wanted_type=_may_be_html)
        except AddressRefusedError as exc:
            return ArticlePage("address", link, message=exc.message)
        except FetchError as exc:
            return self._failure(link, host, state, exc)
        state.failures, state.not_before = 0, 0.0
        body = page.body or b""
        if not is_html(page.content_type, body):
            shown = page.content_type or "none"
            return ArticlePage("failed", page.url, message=f"{redact_url(page.url)} is not an HTML page ({shown})")
        return ArticlePage("fetched", page.url, body, page.content_type)

    def _failure(self, link: str, host: str, state: _Host, exc: FetchError) -> ArticlePage:
        status = exc.status
        what = f"{redact_url(link)}: {exc.message}"
        if status == 403:  # a paywall or a bot wall: this item stays headline-only
            delay = self._back_off(state, exc.message)
            return ArticlePage("failed", link, message=f"{what}; {host} backs off {delay:.0f} s")
        if worth_retrying(exc):
            delay = self._back_off(state, exc.message, exc.retry_after)
            return ArticlePage(
                "retry", link, message=f"{what}; {host} backs off {delay:.0f} s", not_before=state.not_before
            )
        return ArticlePage("failed", link, message=what)

    def _back_off(self, state: _Host, reason: str, retry_after: float | None = None) -> float:
        """Back the host off (as long as `retry_after` says, else exponentially); the delay."""
        doubled = BACKOFF_FIRST * 2 ** min(state.failures, 16)  # the exponent bounded: a host down for months
        delay = retry_after if retry_after is not None else min(doubled, BACKOFF_MAX)
        state.failures += 1
        state.not_before = self.clock() + delay
        state.reason = reason
        return delay

    async def _pace(self, state: _Host) -> None:
        if state.last_request is not None:
            wait = state.last_request + self.pace - self.clock()
            if wait > 0:
                await self.sleep(wait)
        state.last_request = self.clock()

    def _prune(self) -> None:
        """Forget hosts that nothing waits for, that may be asked again at once and whose
        backoff ended an hour ago, each time the table has doubled since last time."""
        if len(self._hosts) < self._prune_above:
            return
        now = self.clock()
        for host, state in list(self._hosts.items()):
            idle = state.users == 0 and (state.last_request is None or state.last_request + self.pace <= now)
            if idle and (state.failures == 0 or state.not_before + BACKOFF_MAX <= now):
                del self._hosts[host]
        self._prune_above = max(64, 2 * len(self._hosts))


def _link_host(url: str) -> str | None:
    """The host of an http(s) URL that can be requested, lower-cased; None for any other."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port == 0:
        return None
    return parts.hostname.lower()


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _may_be_html(content_type: str) -> bool:
    """Whether a body of this Content-Type is worth reading: HTML, or one that does not say."""
    media_type = _media_type(content_type)
    return media_type in HTML_TYPES or media_type in UNLABELLED


def is_html(content_type: str, body: bytes) -> bool:
    """Labelled HTML (or XHTML), or unlabelled and starting like HTML."""
    media_type = _media_type(content_type)
    return media_type in HTML_TYPES or (media_type in UNLABELLED and _HTML_START.match(body) is not None)
