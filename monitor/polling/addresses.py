"""Which addresses a fetch may connect to, and a network backend that connects only to those.

The check and the connection use one resolution: the backend resolves a host once, checks
its addresses and connects to one of them. A second lookup (httpcore's own) would let a
hostile DNS server answer "public" to the check and "127.0.0.1" to the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore

Resolver = Callable[[str], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Digits, hex digits and the `x` of `0x`: the alphabet of inet_aton's numeric forms.
_NUMERIC_IPV4 = frozenset("0123456789abcdefxABCDEFX.")


def parse_address(text: str) -> IPAddress | None:
    """An IP literal as the socket layer would read it, or None for a name.

    Besides the canonical forms this reads what inet_aton (and so getaddrinfo) accepts:
    `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`, `127.1`. Left to the system, those would be
    names that slip past a check of canonical addresses and still connect to loopback.
    """
    text = text.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if not text or not set(text) <= _NUMERIC_IPV4 or text.count(".") > 3:
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


async def system_resolver(host: str) -> list[str]:
    """The host's addresses as the system resolves them, in the system's order of preference
    (IP literals resolve to themselves)."""
    literal = parse_address(host)
    if literal is not None:
        return [str(literal)]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# Where an IPv6 address carries an IPv4 one that a gateway or the host itself would reach:
# NAT64 (RFC 6052, well-known prefix), SIIT's IPv4-translated form (RFC 2765) and the
# deprecated IPv4-compatible form (RFC 4291); IPv4-mapped and 6to4 have their own properties.
_EMBEDDING_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
    ipaddress.IPv6Network("::/96"),
)
# Never global, whatever Python's tables say: local-use NAT64 (RFC 8215, the IPv4 address at a
# position the operator picks) and the deprecated site-local block.
_LOCAL_IPV6 = (ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("fec0::/10"))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a connection to `ip` reaches through a translator or tunnel, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _EMBEDDING_IPV4) and int(ip) > 1:  # :: and ::1 are IPv6's own
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_private(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _LOCAL_IPV6):
            return True
        inner = embedded_ipv4(ip)
        if inner is not None and _is_private(inner):
            return True
    return not ip.is_global or ip.is_multicast


def is_private_address(address: str) -> bool:
    """Loopback, private, link-local (169.254.169.254 included), unspecified or reserved,
    in any form the socket layer reads as an address (see `parse_address`), an IPv6 address
    carrying such an IPv4 address (NAT64, 6to4, Teredo, IPv4-mapped, -compatible or
    -translated) included."""
    ip = parse_address(address.split("%", 1)[0])
    return ip is not None and _is_private(ip)


class AddressRefused(Exception):
    """A hop's host resolved to an address its policy forbids; nothing was sent to it."""


@dataclass
class Hop:
    """One request's address policy (origins.AddressPolicy decides it), and what the
    connection it went out on was.

    allow_private: whether the request may connect to a private address; False, public ones only.
    """

    allow_private: bool
    private: bool | None = None  # set once the request is written: the peer's class


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving and checking each host itself (through
    `resolver`) and connecting to the checked addresses only, in the resolver's order.

    The policy of the request at hand is in `hop`, a context variable the Fetcher sets
    around each request (each fetch runs in its own task, so concurrent fetches do not
    see each other's). Without a hop it connects nowhere. A kept-alive connection is
    checked again each time it is reused, against the policy of the request reusing it.
    """

    def __init__(self, resolver: Resolver, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()
        self.hop: ContextVar[Hop | None] = ContextVar("monitor_fetch_hop", default=None)

    async def addresses(self, host: str) -> list[IPAddress]:
        literal = parse_address(host)
        if literal is not None:
            return [literal]
        # Whatever the resolver returns is read as addresses only: a name (or a numeric
        # form) handed back would be resolved again by the socket layer, unchecked.
        found = (parse_address(a) for a in await self.resolver(host))
        return list(dict.fromkeys(ip for ip in found if ip is not None))

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        hop = self.hop.get()
        if hop is None:
            raise AddressRefused(f"no address policy for a connection to {host}; connections go through the Fetcher")
        addresses = await self.addresses(host)
        if not addresses:
            raise httpcore.ConnectError(f"{host} does not resolve to any address; check the host name")
        private = [_is_private(ip) for ip in addresses]
        if not hop.allow_private and any(private):
            # Every answer refused, not just the private ones: a name that answers both is
            # someone choosing where we connect.
            raise AddressRefused(f"{host} resolves to a private address")
        error: Exception | None = None
        for ip, is_private in zip(addresses, private, strict=True):
            try:
                stream = await self.inner.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _PinnedStream(stream, is_private, self.hop)
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("feeds are fetched over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _PinnedStream(httpcore.AsyncNetworkStream):
    """A connection that knows whether its peer is private, so that reusing it is checked
    like opening it (a connection a local bridge opened to a name must not serve a public
    feed's redirect to that same name)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, private: bool, hop: ContextVar[Hop | None]) -> None:
        self._stream = stream
        self._private = private
        self._hop = hop

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        hop = self._hop.get()
        if hop is None or (self._private and not hop.allow_private):
            raise AddressRefused("a kept-alive connection to a private address")
        hop.private = self._private
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _PinnedStream(stream, self._private, self._hop)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
