"""Who may read the console: anyone on this machine when no token is set; else whoever shows
`[monitor] web_token`, as a bearer header or once through the login form, which sets a cookie
(how often a client may guess is throttle.py's; whether a token is needed, config/console_token.py's).

The cookie carries an HMAC of the token, not the token: a stolen cookie does not reveal it,
and a new token ends every session. Every comparison takes constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from ..config.values import is_loopback

COOKIE = "monitor_console"
SESSION_DAYS = 30
MAX_HEADER = 8192  # characters of a header read; a longer one is taken as absent


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"monitor console session", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def shown_token(headers: Mapping[str, str]) -> str:
    """What a request shows as the token (`Authorization: Bearer …`), or ""."""
    scheme, _, given = _header(headers, "authorization").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def in_session(headers: Mapping[str, str], token: str) -> bool:
    """Whether the request carries the login cookie of `token`."""
    given = cookie_value(_header(headers, "cookie"), COOKIE)
    return given is not None and hmac.compare_digest(given.encode(), session_value(token).encode())


def cookie_value(header: str, name: str) -> str | None:
    """The value of the cookie `name` in a Cookie header, or None: found by splitting on ";"
    and the first "=", in time linear in the header's length. Never http.cookies.SimpleCookie,
    which is quadratic in backslashes on some Python versions (CVE-2024-7592), before any token
    is compared; the console's own cookie is hex, with nothing to unquote."""
    for pair in header.split(";"):
        key, equals, value = pair.partition("=")
        if equals and key.strip() == name:
            return value.strip()
    return None


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "")
    return value if len(value) <= MAX_HEADER else ""


def session_cookie(token: str) -> str:
    """The Set-Cookie value the login form answers with. Not Secure: the console speaks plain
    HTTP (behind a TLS proxy, the proxy's own cookie rules apply)."""
    return f"{COOKIE}={session_value(token)}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_DAYS * 86400}"


def host_allowed(headers: Mapping[str, str], token: str) -> bool:
    """Whether the console (and /metrics) answers a request at all. With a token, whatever its
    Host: the console is meant to be reached by other names, and asks for the token. Without
    one, only a request addressed to this machine: a web page cannot read it through a name of
    its own pointed at 127.0.0.1 (DNS rebinding)."""
    return bool(token) or local_host(headers)


def local_host(headers: Mapping[str, str]) -> bool:
    """Whether the Host header names this machine."""
    host = _header(headers, "host").strip()
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else ""
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return bool(name) and is_loopback(name)
