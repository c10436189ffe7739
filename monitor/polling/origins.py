"""What may be fetched, and from where: the one owner of that policy.

An origin is a URL's (scheme, host, port). Every fetch (a feed, an article page, a robots.txt,
`monitor match URL`) goes out under the AddressPolicy of the feed it is made for, and that
policy is decided from the feed's configuration alone: a feed configured on a private address
(an IP literal, `localhost`) or marked `local = true` may connect to private addresses; any
other may not, whatever its host name resolves to now or resolved to before. No resolution,
restart or other node can change the decision, so a name that a hostile DNS server points at
127.0.0.1 after its items were queued is refused like any link into the network.

A local feed's exception covers its own origin only: its article links to another port of the
same host (another daemon's console, an admin panel) are links like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

from ..config import FeedConfig
from ..errors import FetchError
from ..identity import MAX_LINK_CHARS
from .addresses import Hop, is_private_address

DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    scheme: str  # "http" or "https"
    host: str  # lower-cased; an IPv6 literal without its brackets
    port: int

    @property
    def label(self) -> str:
        """How messages name it: the host, and the port when it is not the scheme's own."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    def url(self, path: str) -> str:
        """`path` on this origin, e.g. its /robots.txt (no credentials, whatever the link had)."""
        return f"{self.scheme}://{self.label}{path}"


def origin_of(url: str) -> Origin | None:
    """The origin of an http(s) URL that may be requested; None for any other (another scheme,
    no host, a port out of range, a broken IPv6 literal, longer than MAX_LINK_CHARS)."""
    found = _origin_or_why_not(url)
    return found if isinstance(found, Origin) else None


def checked_origin(url: str) -> Origin:
    """origin_of, or a FetchError saying why the URL cannot be requested."""
    found = _origin_or_why_not(url)
    if isinstance(found, str):
        raise FetchError(f"not a valid URL ({found}); check it")
    return found


def _origin_or_why_not(url: str) -> Origin | str:
    if len(url) > MAX_LINK_CHARS:
        return f"longer than {MAX_LINK_CHARS} characters"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range
    except ValueError as exc:
        return str(exc)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        return "not an http:// or https:// URL"
    if not parts.hostname:
        return "no host name"
    if port == 0:
        return "port 0"
    return Origin(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])


def configured_local(url: str) -> bool:
    """Whether a configured URL names a private address by itself: an IP literal in any form
    the socket layer reads (see addresses.parse_address), `localhost` or a `.localhost` name
    (RFC 6761: always this machine)."""
    origin = origin_of(url)
    if origin is None:
        return False
    host = origin.host
    return host == "localhost" or host.endswith(".localhost") or is_private_address(host)


@dataclass(frozen=True)
class AddressPolicy:
    """Where the fetches made for one feed may connect.

    home: the origin of the feed's configured URL (None: not a URL that can be requested).
    local: the feed is on a private network by its configuration (configured_local, or
    `local = true`): its own fetches, redirects included, may connect anywhere, and so may the
    article pages of its own origin. Everything else connects to public addresses only.
    """

    home: Origin | None
    local: bool

    @classmethod
    def of_feed(cls, feed: FeedConfig) -> AddressPolicy:
        return cls.of_url(feed.url, feed.local)

    @classmethod
    def of_url(cls, url: str, local: bool = False) -> AddressPolicy:
        """The policy of a URL the operator wrote (a feed's, or one given to `monitor match`)."""
        return cls(origin_of(url), local or configured_local(url))

    def feed_hop(self, origin: Origin) -> Hop:
        """A hop of the feed's own fetch (its URL, an adopted move, every redirect)."""
        return Hop(allow_private=self.local)

    def page_hop(self, origin: Origin) -> Hop:
        """A hop of a page an item of the feed links to (its robots.txt included)."""
        return Hop(allow_private=self.local and origin == self.home)
