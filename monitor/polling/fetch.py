"""HTTP only: conditional GET, redirects, size and time limits, concurrency caps, address policy."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin

import httpcore
import httpx

from ..config import Settings
from ..errors import AddressRefusedError, FeedGone, FetchError, HostUnreachable
from ..models import FetchResult
from ..redaction import redact_url
from .addresses import AddressRefused, Hop, PinnedBackend, Resolver, system_resolver
from .inflate import BodyTooLarge, content_coding, read_inflated
from .origins import AddressPolicy, Origin, checked_origin

MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 24 * 3600.0
# Only encodings whose decoded size we count as it streams (no brotli/zstd surprises).
ACCEPT_ENCODING = "gzip, deflate"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
LOCAL_FEED_ADVICE = (
    "a feed on a local network is fetched only when its url names the address itself "
    "(http://10.0.0.5/feed.xml), localhost, or the feed says local = true"
)
# Errors of the network rather than of the answer: another attempt later may get through.
_UNREACHABLE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

HopPolicy = Callable[[Origin], Hop]
"""The address policy of one hop of an exchange, by the origin it goes to (AddressPolicy's)."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds or an HTTP date → seconds from now (capped), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return min(max(delta, 0.0), MAX_RETRY_AFTER)


def worth_retrying(exc: FetchError) -> bool:
    """Whether a failed fetch may go through later: no answer at all, 429 or a 5xx."""
    status = exc.status
    return isinstance(exc, HostUnreachable) or status == 429 or (status is not None and status >= 500)


def parse_max_age(cache_control: str | None) -> float | None:
    """`Cache-Control: max-age=N` → N seconds (None when absent, no-cache or garbage)."""
    if not cache_control:
        return None
    for part in cache_control.lower().split(","):
        name, _, value = part.strip().partition("=")
        if name == "max-age" and value.strip().isdigit():
            return float(value.strip())
    return None


class FeedFetcher(Protocol):
    """What a poll needs of a fetcher (the Fetcher below, or one wrapped to time it)."""

    async def fetch(
        self,
        url: str,
        etag: str | None = None,
        last_modified: str | None = None,
        *,
        policy: AddressPolicy | None = None,
    ) -> FetchResult: ...


class PageFetcher(Protocol):
    """What article and robots.txt fetches need of a fetcher (the Fetcher below, or one wrapped)."""

    async def fetch_page(
        self,
        url: str,
        *,
        policy: AddressPolicy,
        accept: str = HTML_ACCEPT,
        truncate_at: int | None = None,
        wanted_type: Callable[[str], bool] | None = None,
    ) -> FetchResult: ...


class Fetcher:
    """Fetches feeds through one shared httpx transport (passed in: `make_transport`).

    Requests go to the transport itself, not through an `httpx.AsyncClient`: of a client
    this needs nothing (redirects are followed here, so that permanent moves can be told
    apart from temporary ones; feeds get no cookies back; no auth), and its machinery was
    ~10% of each request's CPU (cookie jar, auth and redirect flows, request merging).

    Connections go only to addresses checked for the request at hand: the Fetcher puts a
    PinnedBackend (resolving through `resolver`) under the transport's connection pool;
    `network` is the backend that backend connects through (httpcore's, unless a test
    routes addresses).
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        user_agent: str,
        connect_timeout: float,
        concurrency: int,
        per_host: int,
        max_bytes: int,
        timeout: float,
        resolver: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.transport = transport
        self._pins = PinnedBackend(resolver, network)
        install_backend(transport, self._pins)
        self.user_agent = user_agent
        # Per connect and per read/write (httpcore's); `timeout` bounds the whole exchange.
        self._timeouts = httpx.Timeout(30.0, connect=connect_timeout).as_dict()
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._global = asyncio.Semaphore(concurrency)
        self._per_host_limit = per_host
        self._hosts: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(self._per_host_limit))

    async def fetch(
        self,
        url: str,
        etag: str | None = None,
        last_modified: str | None = None,
        *,
        policy: AddressPolicy | None = None,
    ) -> FetchResult:
        """A feed document. `policy`: the feed's (AddressPolicy.of_feed); by default the one
        `url` itself calls for, as for a URL given on the command line."""
        policy = policy or AddressPolicy.of_url(url)
        headers = self._headers(ACCEPT)
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with self._limits(url), self._follow(url, headers, policy.feed_hop) as answer:
                return await self._feed_result(answer, url, etag, last_modified)
        except AddressRefusedError as exc:
            if exc.status is not None:  # a redirect: the feed's own address was fine
                raise
            raise AddressRefusedError(f"{exc.message}; {LOCAL_FEED_ADVICE}") from None

    async def fetch_page(
        self,
        url: str,
        *,
        policy: AddressPolicy,
        accept: str = HTML_ACCEPT,
        truncate_at: int | None = None,
        wanted_type: Callable[[str], bool] | None = None,
    ) -> FetchResult:
        """A web page (an item's article, a robots.txt), under the limits and User-Agent of feeds.

        The link came from a feed's document: each hop (the first request and every redirect)
        connects where `policy.page_hop` (the feed's) lets it. A refusal is an AddressRefusedError.

        A response other than 2xx is a FetchError with its status (and Retry-After for 429
        and 503); one that could not be had for the network's sake is a HostUnreachable.
        `truncate_at`: read at most this many bytes (and no more than max_bytes) and keep them,
        where a longer body would otherwise fail. `wanted_type`: when it says no to the
        response's Content-Type, the body is not read (the result's body is empty).
        """
        async with self._limits(url), self._follow(url, self._headers(accept), policy.page_hop) as answer:
            response = answer.response
            if not 200 <= response.status_code < 300:
                raise _status_error(response)
            content_type = response.headers.get("content-type", "")
            body = b""
            if wanted_type is None or wanted_type(content_type):
                body = await self._read_capped(response, truncate_at)
            return FetchResult(response.status_code, answer.url, body, content_type=content_type)

    async def aclose(self) -> None:
        await self.transport.aclose()

    def _headers(self, accept: str) -> dict[str, str]:
        return {"User-Agent": self.user_agent, "Accept": accept, "Accept-Encoding": ACCEPT_ENCODING}

    @contextlib.asynccontextmanager
    async def _limits(self, url: str) -> AsyncIterator[None]:
        """The concurrency caps and the one deadline of an exchange, and its errors in words."""
        host = checked_origin(url).host
        async with self._global, self._hosts[host]:
            try:
                # One deadline for the whole exchange: a server dripping a byte at a
                # time cannot stretch it.
                async with asyncio.timeout(self.timeout):
                    yield
            except TimeoutError:
                raise HostUnreachable(f"timed out after {self.timeout:g}s") from None
            except httpx.TooManyRedirects:
                raise FetchError("too many redirects") from None
            except httpx.InvalidURL as exc:  # not an HTTPError: httpx refused to build the request
                raise FetchError(f"not a valid URL ({exc}); check it") from None
            except _UNREACHABLE as exc:
                raise HostUnreachable(_describe(exc)) from None
            except httpx.HTTPError as exc:
                raise FetchError(_describe(exc)) from None

    @contextlib.asynccontextmanager
    async def _follow(self, url: str, headers: dict[str, str], hop_for: HopPolicy) -> AsyncIterator[_Answer]:
        """The response at the end of `url`'s redirects (at most MAX_REDIRECTS), each hop
        connecting only where `hop_for` lets it; open while the caller reads it."""
        current, seen, all_permanent = url, {url}, True
        first: Hop | None = None
        redirect_status: int | None = None
        for _ in range(MAX_REDIRECTS + 1):
            hop = hop_for(checked_origin(current))
            try:
                response = await self._send(current, headers, hop)
            except AddressRefused as exc:
                raise _refusal(url, current, redirect_status, first, exc) from None
            try:
                if first is None:
                    first = hop
                status = response.status_code
                if status in (301, 302, 303, 307, 308) and "location" in response.headers:
                    target = urljoin(current, response.headers["location"])
                    checked_origin(target)
                    if target in seen:
                        raise FetchError(f"redirect loop at {redact_url(target)}", status=status)
                    seen.add(target)
                    # Only a chain made entirely of permanent moves moves the feed.
                    all_permanent = all_permanent and status in (301, 308)
                    current, redirect_status = target, status
                    continue
                yield _Answer(response, current, all_permanent)
                return
            finally:
                await response.aclose()  # gives the connection back to the pool
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    async def _feed_result(self, answer: _Answer, url: str, etag: str | None, last_modified: str | None) -> FetchResult:
        response, current = answer.response, answer.url
        status = response.status_code
        moved_to = current if current != url and answer.all_permanent else None
        if status == 304:
            # A 304 may carry fresh validators; otherwise the old ones stand.
            return FetchResult(
                304,
                current,
                None,
                response.headers.get("etag") or etag,
                response.headers.get("last-modified") or last_modified,
                moved_to,
            )
        if status == 410:
            raise FeedGone("the server says the feed is gone (410)", status=410)
        if status >= 400:
            raise _status_error(response)
        body = await self._read_capped(response)
        return FetchResult(
            status=status,
            url=current,
            body=body,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            permanent_redirect=moved_to,
            content_type=response.headers.get("content-type", ""),
            max_age=parse_max_age(response.headers.get("cache-control")),
        )

    async def _send(self, url: str, headers: dict[str, str], hop: Hop) -> httpx.Response:
        """The response to one GET (its body unread: the caller closes it), connected under `hop`."""
        request = httpx.Request("GET", url, headers=headers, extensions={"timeout": self._timeouts})
        pinned = self._pins.hop.set(hop)
        try:
            response = await self.transport.handle_async_request(request)
        finally:
            self._pins.hop.reset(pinned)
        response.request = request
        if hop.private is None:
            await response.aclose()
            # The request went out without passing the pin: an httpx/httpcore change.
            raise RuntimeError(
                "a request bypassed the checked-address pin (monitor/polling/addresses.py); "
                "install the httpx and httpcore versions pyproject.toml names"
            )
        return response

    async def _read_capped(self, response: httpx.Response, truncate_at: int | None = None) -> bytes:
        """The body, decompressed here (inflate.py) so that a gzip bomb stops at the cap: a
        FetchError past max_bytes, or the first `truncate_at` bytes kept."""
        limit = self.max_bytes if truncate_at is None else min(truncate_at, self.max_bytes)
        coding = content_coding(response.headers.get("content-encoding", ""))
        try:
            return await read_inflated(response.aiter_raw(), coding, limit, keep_cut=truncate_at is not None)
        except BodyTooLarge as cut:
            if cut.kept is None:
                raise FetchError(f"response larger than {self.max_bytes // 1024} KiB; not read further") from None
            return cut.kept


@dataclass
class _Answer:
    """The final response of an exchange, and the URL that gave it."""

    response: httpx.Response
    url: str
    all_permanent: bool  # every redirect on the way was a permanent move


def _refusal(
    url: str, current: str, redirect_status: int | None, first: Hop | None, exc: AddressRefused
) -> AddressRefusedError:
    if redirect_status is None:
        return AddressRefusedError(f"refused to fetch {redact_url(url)}: {exc}")
    if first is not None and first.private is False:
        return AddressRefusedError(
            f"refused a redirect from a public address to a private one ({redact_url(current)}: {exc})",
            status=redirect_status,
        )
    return AddressRefusedError(f"refused a redirect to {redact_url(current)}: {exc}", status=redirect_status)


def _status_error(response: httpx.Response) -> FetchError:
    """An HTTP error status as a FetchError, with Retry-After for 429 and 503."""
    status = response.status_code
    retry_after = None
    if status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"))
    return FetchError(f"HTTP {status} {response.reason_phrase}".strip(), status, retry_after)


def _describe(exc: httpx.HTTPError) -> str:
    """An httpx error in words, without the URL (which may carry credentials)."""
    kind = type(exc).__name__
    words = {
        "ConnectError": "could not connect",
        "ConnectTimeout": "connection timed out",
        "ReadTimeout": "the server stopped sending",
        "RemoteProtocolError": "the server broke the HTTP protocol",
        "DecodingError": "the response could not be decompressed",
        "UnsupportedProtocol": "unsupported URL scheme",
    }.get(kind, kind)
    detail = str(exc).split(" for url", 1)[0]
    return f"{words}: {detail}" if detail and detail not in words else words


def fetcher_for(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver = system_resolver,
    network: httpcore.AsyncNetworkBackend | None = None,
) -> Fetcher:
    """The Fetcher a configuration asks for (its limits, timeouts and User-Agent)."""
    return Fetcher(
        transport or make_transport(),
        user_agent=settings.user_agent,
        connect_timeout=settings.connect_timeout,
        concurrency=settings.concurrency,
        per_host=settings.per_host,
        max_bytes=settings.max_bytes,
        timeout=settings.timeout,
        resolver=resolver,
        network=network,
    )


def install_backend(transport: httpx.AsyncBaseTransport, backend: httpcore.AsyncNetworkBackend) -> None:
    """Put `backend` under the transport's connection pool, which then opens every
    connection through it. httpx offers no public way to pass httpcore a network backend,
    so this sets the pool's private attribute (httpx and httpcore are bounded in
    pyproject.toml for it) and refuses to start when that attribute is not there."""
    pool = getattr(transport, "_pool", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError(
            f"cannot pin fetches to checked addresses: {type(transport).__name__} (httpx {httpx.__version__}, "
            f"httpcore {httpcore.__version__}) has no httpcore connection pool to put the backend under; "
            "install the httpx and httpcore versions pyproject.toml names"
        )
    pool._network_backend = backend


def make_transport() -> httpx.AsyncHTTPTransport:
    """The one connection pool the daemon uses (TLS verified against certifi's roots).
    trust_env=False: no certificate settings picked up from the environment behind the
    operator's back (and a transport uses no proxy or netrc credentials at all)."""
    return httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20), trust_env=False
    )
