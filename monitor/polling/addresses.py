"""Is a host public? Used to refuse redirects from the open web into private networks."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

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
    """The host's addresses as the system resolves them (IP literals resolve to themselves)."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos})


def _is_private(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def is_private_address(address: str) -> bool:
    """Loopback, private, link-local (169.254.169.254 included), unspecified or reserved,
    in any form the socket layer reads as an address (see `parse_address`)."""
    ip = parse_address(address.split("%", 1)[0])
    return ip is not None and _is_private(ip)


async def is_private_host(host: str, resolver: Resolver) -> bool:
    """True when any address of `host` is not public (a name that does not resolve is not private)."""
    return any(is_private_address(a) for a in await resolver(host))
