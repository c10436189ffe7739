"""robots.txt, per origin: fetched through the Fetcher (under the feed's address policy), read by
robotstxt.RobotsRules for our agent, kept for a day, and matched off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..errors import AddressRefusedError, FetchError
from ..redaction import redact_url
from .fetch import PageFetcher, worth_retrying
from .origins import AddressPolicy, Origin, origin_of
from .robotstxt import MAX_RULES, RobotsRules, request_target

log = logging.getLogger("monitor.polling.robots")

ROBOTS_TTL = 24 * 3600.0  # RFC 9309 §2.4: a cached copy serves for a day at most
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 §2.5: at least this much is read; what is beyond, not
ROBOTS_ACCEPT = "text/plain, */*;q=0.5"


def product_token(user_agent: str) -> str:
    """The name robots.txt groups are matched against: `monitor` of `monitor/0.1 (+https://…)`."""
    words = user_agent.split()
    return words[0].split("/", 1)[0] if words else ""


@dataclass
class _Cached:
    rules: RobotsRules | None  # None: everything allowed (no robots.txt)
    expires: float


class RobotsCache:
    """robots.txt per origin, each fetched through `fetcher` (so under the same address policy
    as the pages it governs) and kept for a day (by `clock`).

    RFC 9309 §2.3.1: a 4xx (404 included) means no rules, and so does a chain of redirects
    too long to follow; a 5xx, 429 or no answer at all is a temporary failure, raised as the
    FetchError it was and not cached, so that the caller backs the origin off and asks again
    later. An AddressRefusedError is raised as it is: the origin's pages would be refused too.
    """

    def __init__(
        self, fetcher: PageFetcher, *, user_agent: str, clock: Callable[[], float], ttl: float = ROBOTS_TTL
    ) -> None:
        self.fetcher = fetcher
        self.agent = product_token(user_agent)
        self.clock = clock
        self.ttl = ttl
        self._cached: dict[Origin, _Cached] = {}
        self._loading: dict[Origin, asyncio.Lock] = {}
        self._pruned_at = 0.0

    async def allows(
        self, url: str, policy: AddressPolicy, before_fetch: Callable[[], Awaitable[None]] | None = None
    ) -> bool:
        """Whether `url` may be fetched, fetching its origin's robots.txt (under the policy of
        the feed the link came from, after awaiting `before_fetch`) when none is cached. The
        match runs in a thread: a site's rules against a long link can take a while."""
        origin = origin_of(url)
        if origin is None:
            return False
        rules = await self._rules(origin, policy, before_fetch)
        if rules is None:
            return True
        return await asyncio.to_thread(rules.allows, request_target(url))

    async def _rules(
        self, origin: Origin, policy: AddressPolicy, before_fetch: Callable[[], Awaitable[None]] | None
    ) -> RobotsRules | None:
        lock = self._loading.setdefault(origin, asyncio.Lock())
        async with lock:  # one fetch of an origin's robots.txt at a time; the others find it cached
            cached = self._cached.get(origin)
            if cached is None or cached.expires <= self.clock():
                if before_fetch is not None:
                    await before_fetch()
                cached = self._cached[origin] = await self._load(origin, policy)
                self._prune()
        return cached.rules

    async def _load(self, origin: Origin, policy: AddressPolicy) -> _Cached:
        where = origin.url("/robots.txt")
        try:
            result = await self.fetcher.fetch_page(
                where, policy=policy, accept=ROBOTS_ACCEPT, truncate_at=ROBOTS_MAX_BYTES
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
        if rules.overflowed:
            log.warning(
                "robots.txt of %s holds more than %d rules for %s: read as disallowing every page",
                origin.label,
                MAX_RULES,
                self.agent,
            )
        return _Cached(rules, self.clock() + self.ttl)

    def _prune(self) -> None:
        """Forget robots.txt gone stale, once a day: a site not visited again needs none kept."""
        now = self.clock()
        if now - self._pruned_at < self.ttl:
            return
        self._pruned_at = now
        for origin in [o for o, cached in self._cached.items() if cached.expires <= now]:
            del self._cached[origin]
        for origin in [o for o, lock in self._loading.items() if not lock.locked() and o not in self._cached]:
            del self._loading[origin]
