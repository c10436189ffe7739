"""robots.txt, per site: fetched through the Fetcher (under its limits and address policy),
read by robotstxt.RobotsRules for our agent, and kept for a day.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import AddressRefusedError, FetchError
from ..logs import redact_url
from .fetch import PageFetcher, worth_retrying
from .robotstxt import RobotsRules, request_target

ROBOTS_TTL = 24 * 3600.0  # RFC 9309 §2.4: a cached copy serves for a day at most
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 §2.5: at least this much is read; what is beyond, not
ROBOTS_ACCEPT = "text/plain, */*;q=0.5"
DEFAULT_PORTS = {"http": 80, "https": 443}


def product_token(user_agent: str) -> str:
    """The name robots.txt groups are matched against: `monitor` of `monitor/0.1 (+https://…)`."""
    words = user_agent.split()
    return words[0].split("/", 1)[0] if words else ""


def robots_url(url: str) -> str:
    """The robots.txt of the site (scheme, host and port) serving `url`, without credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.rsplit('@', 1)[-1].lower()}/robots.txt"


def _site(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme, 0)


@dataclass
class _Cached:
    rules: RobotsRules | None  # None: everything allowed (no robots.txt)
    expires: float


class RobotsCache:
    """robots.txt per site, each fetched through `fetcher` (so under the same address policy
    as the pages it governs) and kept for a day (by `clock`).

    RFC 9309 §2.3.1: a 4xx (404 included) means no rules, and so does a chain of redirects
    too long to follow; a 5xx, 429 or no answer at all is a temporary failure, raised as the
    FetchError it was and not cached, so that the caller backs the host off and asks again
    later. An AddressRefusedError is raised as it is: the site's pages would be refused too.
    """

    def __init__(
        self, fetcher: PageFetcher, *, user_agent: str, clock: Callable[[], float], ttl: float = ROBOTS_TTL
    ) -> None:
        self.fetcher = fetcher
        self.agent = product_token(user_agent)
        self.clock = clock
        self.ttl = ttl
        self._cached: dict[tuple[str, str, int], _Cached] = {}
        self._loading: dict[tuple[str, str, int], asyncio.Lock] = {}
        self._pruned_at = 0.0

    def cached(self, url: str) -> bool | None:
        """Whether `url` may be fetched, by the site's robots.txt as cached; None when that
        must be fetched first (never fetched, or older than a day)."""
        cached = self._cached.get(_site(url))
        if cached is None or cached.expires <= self.clock():
            return None
        return cached.rules is None or cached.rules.allows(request_target(url))

    async def allows(self, url: str, *, local_host: str | None) -> bool:
        """Whether `url` may be fetched, fetching the site's robots.txt when it is not cached.
        `local_host`: as for Fetcher.fetch_page (the host of the feed the link came from)."""
        site = _site(url)
        lock = self._loading.setdefault(site, asyncio.Lock())
        async with lock:  # one fetch of a site's robots.txt at a time; the others find it cached
            verdict = self.cached(url)
            if verdict is None:
                self._cached[site] = await self._load(url, local_host)
                self._prune()
                verdict = self.cached(url)
        assert verdict is not None  # just loaded: fresh for a day
        return verdict

    async def _load(self, url: str, local_host: str | None) -> _Cached:
        where = robots_url(url)
        try:
            result = await self.fetcher.fetch_page(
                where, local_host=local_host, accept=ROBOTS_ACCEPT, truncate_at=ROBOTS_MAX_BYTES
            )
        except AddressRefusedError:
            raise
        except FetchError as exc:
            if worth_retrying(exc):
                # Of the same class (HostUnreachable stays one), so that the caller tells them apart.
                message = f"robots.txt unavailable ({redact_url(where)}): {exc.message}"
                raise type(exc)(message, exc.status, exc.retry_after) from None
            # 4xx, or no robots.txt where the redirects led (too many of them, say): no rules.
            return _Cached(None, self.clock() + self.ttl)
        body = result.body or b""
        if len(body) >= ROBOTS_MAX_BYTES:
            body = body[: body.rfind(b"\n") + 1]  # cut off: a half rule could forbid more than the whole one
        # Off the event loop: a hostile 500 KiB file takes a few hundred milliseconds to read.
        rules = await asyncio.to_thread(RobotsRules.parse, body.decode("utf-8", errors="replace"), self.agent)
        return _Cached(rules, self.clock() + self.ttl)

    def _prune(self) -> None:
        """Forget robots.txt gone stale, once a day: a site not visited again needs none kept."""
        now = self.clock()
        if now - self._pruned_at < self.ttl:
            return
        self._pruned_at = now
        for site in [s for s, cached in self._cached.items() if cached.expires <= now]:
            del self._cached[site]
        for site in [s for s, lock in self._loading.items() if not lock.locked() and s not in self._cached]:
            del self._loading[site]
