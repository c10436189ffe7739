"""Is a host public? Used to refuse redirects from the open web into private networks."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

Resolver = Callable[[str], Awaitable[list[str]]]


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


def is_private_address(address: str) -> bool:
    """Loopback, private, link-local (169.254.169.254 included), unspecified or reserved."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def is_private_host(host: str, resolver: Resolver) -> bool:
    """True when any address of `host` is not public (a name that does not resolve is not private)."""
    return any(is_private_address(a) for a in await resolver(host))
