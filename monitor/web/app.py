"""The console's HTTP side in one place: routing, who is admitted, the headers every answer
carries. The server (runtime/endpoint.py) hands each request that is not /healthz or
/metrics to `Console.handle` and writes back the Response.

Read-only: every page is a GET; the one POST is the login form, which changes nothing but
the browser's cookie.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

from ..config import Config
from ..store import DATABASE_ERRORS, Store
from . import auth, pages
from .present import environment
from .throttle import LoginThrottle

log = logging.getLogger("monitor.web")

# No script at all, styles from our own stylesheet only, nothing from another origin, and no
# framing: a headline that slipped past escaping still could not run or load anything.
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
HTML = "text/html; charset=utf-8"
MAX_FORM = 4096  # bytes of a login form read; a larger body is refused unread
NAV = (("/", "Alerts"), ("/feeds", "Feeds"), ("/rules", "Rules"), ("/playground", "Playground"), ("/outbox", "Outbox"))
_STORY = re.compile(r"/stories/(\d{1,18})")


class Reader(Protocol):
    """A read connection of the console's own (runtime/endpoint.py StoreReader)."""

    def call(self, fn: Callable[[Store], Any]) -> Any: ...


class Body(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = SECURITY_HEADERS


class Console:
    """The pages, over `reader` and the configuration in force (`config()`, renewed by a reload).
    `clock` dates the pages; `throttle` counts wrong tokens by client address."""

    def __init__(
        self,
        config: Callable[[], Config],
        reader: Reader,
        clock: Callable[[], float] = time.time,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.config = config
        self.reader = reader
        self.clock = clock
        self.throttle = throttle if throttle is not None else LoginThrottle(time.monotonic)
        self.templates = environment()
        self.stylesheet = files("monitor.web").joinpath("static/console.css").read_bytes()

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: Body, client: str) -> Response:
        """Answer one request from the address `client`. `headers`: names in lower case."""
        try:
            return self._answer(method, target, headers, body, client)
        except Exception:
            log.exception("console: %s %s failed", method, urlsplit(target).path)
            return self._page(500, "problem.html", {"message": "This page failed; the daemon's log says why."})

    def answers_host(self, headers: Mapping[str, str]) -> bool:
        """Whether a request with these headers is answered by the console, or by /metrics,
        under the token in force (auth.host_allowed)."""
        return auth.host_allowed(headers, self.config().settings.web_token)

    def _answer(self, method: str, target: str, headers: Mapping[str, str], body: Body, client: str) -> Response:
        parts = urlsplit(target)
        path, params = parts.path, parse_qs(parts.query)
        if path == "/static/console.css" and method == "GET":
            return Response(200, "text/css; charset=utf-8", self.stylesheet)
        token = self.config().settings.web_token
        if not auth.host_allowed(headers, token):
            return self._page(400, "problem.html", {"message": "This console answers on this machine only."})
        if path == "/login":
            return self._login(method, headers, body, token, client)
        refused = self._admit(headers, token, client, target) if token else None
        if refused is not None:
            return refused
        if method != "GET":
            return self._page(405, "problem.html", {"message": "The console only reads."}, (("Allow", "GET"),))
        try:
            return self._route(path, pages.Params(params))
        except pages.PageProblem as exc:
            return self._page(exc.status, "problem.html", {"message": exc.message})
        except DATABASE_ERRORS as exc:
            log.warning("console: cannot read the database: %s", exc)
            return self._page(503, "problem.html", {"message": "The database does not answer; try again shortly."})

    def _route(self, path: str, params: pages.Params) -> Response:
        conf, now = pages.Configured.of(self.config()), self.clock()
        story = _STORY.fullmatch(path)
        routes: dict[str, tuple[str, Callable[[Store], dict[str, Any]]]] = {
            "/": ("alerts.html", lambda s: pages.alert_stream(s, conf, params)),
            "/feeds": ("feeds.html", lambda s: pages.feeds(s, conf)),
            "/rules": ("rules.html", lambda s: pages.rules(s, conf, now)),
            "/playground": ("playground.html", lambda s: pages.playground(s, conf, now, params)),
            "/outbox": ("outbox.html", lambda s: pages.outbox(s, conf, params)),
        }
        if story:
            template, read = "story.html", lambda s: pages.story(s, conf, int(story.group(1)))
        elif path in routes:
            template, read = routes[path]
        else:
            raise pages.PageProblem(404, "There is no such page.")
        return self._page(200, template, self.reader.call(read), here=path)

    # -- the token -------------------------------------------------------------------

    def _login(self, method: str, headers: Mapping[str, str], body: Body, token: str, client: str) -> Response:
        if not token:
            return _redirect("/")
        if method != "POST":
            return self._login_form(200, "/")
        length = headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_FORM:
            return self._page(413, "problem.html", {"message": "That is not the login form."})
        form = parse_qs(body.read(int(length)).decode("utf-8", "replace"))
        after = _local_path((form.get("next") or ["/"])[0])
        refused = self._judge((form.get("token") or [""])[0], token, client, "the login form", after)
        if refused is not None:
            return refused
        return _redirect(after, (("Set-Cookie", auth.session_cookie(token)),))

    def _admit(self, headers: Mapping[str, str], token: str, client: str, target: str) -> Response | None:
        """None when the request shows the token in a bearer header, or carries the session
        cookie; else the answer."""
        shown = auth.shown_token(headers)
        if shown:
            return self._judge(shown, token, client, "a bearer header", target)
        return None if auth.in_session(headers, token) else self._login_form(401, target)

    def _judge(self, guess: str, token: str, client: str, shown_in: str, after: str) -> Response | None:
        """None when `guess` is the token; else the answer. A client that guessed wrong too
        often is told to wait, its guess not even compared."""
        wait = self.throttle.wait(client)
        if wait:
            message = f"Too many wrong tokens from your address: try again in {wait} seconds."
            return self._page(429, "problem.html", {"message": message}, (("Retry-After", str(wait)),))
        if auth.token_matches(guess, token):
            self.throttle.succeeded(client)
            return None
        wrong, wait = self.throttle.failed(client)
        held = f"; its next guess is answered in {wait} s" if wait else ""
        log.warning("console: a wrong token from %s in %s (%d in a row)%s", client, shown_in, wrong, held)
        return self._login_form(401, after, wrong=True)

    def _login_form(self, status: int, after: str, wrong: bool = False) -> Response:
        extra = (("WWW-Authenticate", 'Bearer realm="monitor"'),) if status == 401 else ()
        return self._page(status, "login.html", {"next": _local_path(after), "wrong": wrong}, extra)

    # -- answers ---------------------------------------------------------------------

    def _page(
        self,
        status: int,
        template: str,
        values: Mapping[str, Any],
        headers: tuple[tuple[str, str], ...] = (),
        here: str = "",
    ) -> Response:
        html = self.templates.get_template(template).render(**values, nav=NAV, here=here, now=self.clock())
        return Response(status, HTML, html.encode(), (*SECURITY_HEADERS, *headers))


def _redirect(location: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(303, HTML, b"", (("Location", location), *SECURITY_HEADERS, *headers))


def _local_path(target: str) -> str:
    """`target` when it is a path on this console, else "/": the login form never sends a
    browser elsewhere (`//evil.example`, `https://…`, a backslash some browsers read as /)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return quote(target, safe="/?=&%:+,;@!$'()*-._~")
