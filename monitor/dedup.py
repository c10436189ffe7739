"""Identity: item keys inside a feed and canonical URLs across feeds. Pure functions."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that only track the reader, never identify the article.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "ocid", "cmpid", "mc_cid", "mc_eid",
        "traffic_source", "ito", "ref", "ref_src", "smid", "smtyp", "cid", "partner",
        "igshid", "yclid", "_ga", "rss", "mod",
    }
)
TRACKING_PREFIXES = ("utm_", "at_", "ns_")

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def canonical_url(url: str) -> str:
    """The URL with what does not identify the article removed.

    Scheme and host lower-cased, `www.` and default ports dropped, fragment and
    tracking parameters removed, a trailing slash dropped; other query parameters
    are kept (some sites identify articles by them) in their original order.
    """
    url = url.strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return url
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or str(port) == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    path = parts.path.rstrip("/")
    # http and https are one article; normalise to https so mixed feeds agree.
    return urlunsplit(("https", netloc, path, urlencode(query), ""))


def is_home_page(url: str) -> bool:
    """A link to the site root (possibly with only a query) identifies no article."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.path.strip("/") == "" and not parts.query


def item_key(guid: str, link: str, title: str, date: str, guid_counts: dict[str, int] | None = None) -> str:
    """Identity of an item inside its feed.

    The GUID unless it is evidently not unique (shared by several items of the
    document, or the site's home page), else the canonical link (unless that too is
    shared or the home page), else a hash of title and date.
    """
    guid = guid.strip()
    counts = guid_counts or {}
    if guid and counts.get(guid, 1) <= 1 and not is_home_page(guid):
        return "guid:" + guid
    link_c = canonical_url(link)
    if link_c and counts.get("link:" + link_c, 1) <= 1 and not is_home_page(link):
        return "link:" + link_c
    digest = hashlib.sha256(f"{title.strip()}\x00{date.strip()}".encode()).hexdigest()[:24]
    return "hash:" + digest
