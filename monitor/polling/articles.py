"""Article pages of items: fetched politely (robots.txt, a pace and a backoff per origin) and
safely (the feed's AddressPolicy, origins.py), for their main text to be extracted.

Each fetch ends in an ArticlePage whose `outcome` says what became of it, and whose message
says so naming the origin, for the daemon to log and count.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from ..errors import AddressRefusedError, FetchError
from ..identity import MAX_LINK_CHARS
from ..redaction import redact_url
from .fetch import PageFetcher, worth_retrying
from .origins import AddressPolicy, Origin, origin_of
from .robots import RobotsCache

Outcome = Literal["fetched", "failed", "retry", "deferred", "robots", "address"]

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
    error status, an unusable link), "retry" (a request failed for a reason that may pass: not
    before `not_before`), "deferred" (no request made: the origin backs off until `not_before`
    after another page's failure), "robots" (robots.txt disallows it) or "address" (the link,
    or a redirect, led to an address a link may not reach).
    """

    outcome: Outcome
    url: str  # where the page was in the end (after redirects); the link when none was had
    html: bytes = b""
    content_type: str = ""
    message: str = ""
    not_before: float | None = None


@dataclass
class _Origin:
    """One origin's pace and backoff. `users`: fetches in (or waiting for) its lock."""

    lock: asyncio.Lock
    users: int = 0
    last_request: float | None = None
    failures: int = 0
    not_before: float = 0.0
    reason: str = ""


class ArticleFetcher:
    """Fetches article pages through `fetcher`, asking `robots` first.

    Requests to one origin go one at a time, at most one per `pace` seconds (robots.txt
    included), waiting through `sleep`; other origins go on meanwhile. An origin that refuses
    (403), is overloaded (429, 5xx) or unreachable backs off: 60 s doubling up to an hour, or
    as long as its Retry-After says, until a page comes back. While it backs off, its
    articles are "deferred" at once, without a request. Feeds are not affected, nor are other
    ports of the same host.
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
        self._origins: dict[Origin, _Origin] = {}
        self._prune_above = 64

    async def fetch(self, link: str, policy: AddressPolicy, honour_robots: bool) -> ArticlePage:
        """The page at `link`, an item's link in a feed whose AddressPolicy is `policy`."""
        origin = origin_of(link)
        if origin is None:
            shown = redact_url(link[:200])
            message = f"{shown} is not an http(s) link with a host, of at most {MAX_LINK_CHARS} characters"
            return ArticlePage("failed", link, message=message)
        state = self._origins.get(origin)
        if state is None:
            self._prune()
            state = self._origins[origin] = _Origin(asyncio.Lock())
        state.users += 1
        try:
            async with state.lock:
                return await self._fetch(link, origin, policy, honour_robots, state)
        finally:
            state.users -= 1

    async def _fetch(
        self, link: str, origin: Origin, policy: AddressPolicy, honour_robots: bool, state: _Origin
    ) -> ArticlePage:
        site = origin.label
        wait = state.not_before - self.clock()
        if wait > 0:
            message = f"{site} backs off for {wait:.0f} s more (after {state.reason}); {redact_url(link)} not fetched"
            return ArticlePage("deferred", link, message=message, not_before=state.not_before)
        try:
            if honour_robots and not await self.robots.allows(link, policy, before_fetch=lambda: self._pace(state)):
                message = f"robots.txt of {site} disallows {redact_url(link)} for {self.robots.agent}"
                return ArticlePage("robots", link, message=message)
            await self._pace(state)
            page = await self.fetcher.fetch_page(link, policy=policy, wanted_type=_may_be_html)
        except AddressRefusedError as exc:
            return ArticlePage("address", link, message=exc.message)
        except FetchError as exc:
            return self._failure(link, site, state, exc)
        state.failures, state.not_before = 0, 0.0
        body = page.body or b""
        if not is_html(page.content_type, body):
            shown = page.content_type or "none"
            return ArticlePage("failed", page.url, message=f"{redact_url(page.url)} is not an HTML page ({shown})")
        return ArticlePage("fetched", page.url, body, page.content_type)

    def _failure(self, link: str, site: str, state: _Origin, exc: FetchError) -> ArticlePage:
        status = exc.status
        what = f"{redact_url(link)}: {exc.message}"
        if status == 403:  # a paywall or a bot wall: this item stays headline-only
            delay = self._back_off(state, exc.message)
            return ArticlePage("failed", link, message=f"{what}; {site} backs off {delay:.0f} s")
        if worth_retrying(exc):
            delay = self._back_off(state, exc.message, exc.retry_after)
            return ArticlePage(
                "retry", link, message=f"{what}; {site} backs off {delay:.0f} s", not_before=state.not_before
            )
        return ArticlePage("failed", link, message=what)

    def _back_off(self, state: _Origin, reason: str, retry_after: float | None = None) -> float:
        """Back the origin off (as long as `retry_after` says, else exponentially); the delay."""
        doubled = BACKOFF_FIRST * 2 ** min(state.failures, 16)  # the exponent bounded: a host down for months
        delay = retry_after if retry_after is not None else min(doubled, BACKOFF_MAX)
        state.failures += 1
        state.not_before = self.clock() + delay
        state.reason = reason
        return delay

    async def _pace(self, state: _Origin) -> None:
        if state.last_request is not None:
            wait = state.last_request + self.pace - self.clock()
            if wait > 0:
                await self.sleep(wait)
        state.last_request = self.clock()

    def _prune(self) -> None:
        """Forget origins that nothing waits for, that may be asked again at once and whose
        backoff ended an hour ago, each time the table has doubled since last time."""
        if len(self._origins) < self._prune_above:
            return
        now = self.clock()
        for origin, state in list(self._origins.items()):
            idle = state.users == 0 and (state.last_request is None or state.last_request + self.pace <= now)
            if idle and (state.failures == 0 or state.not_before + BACKOFF_MAX <= now):
                del self._origins[origin]
        self._prune_above = max(64, 2 * len(self._origins))


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
