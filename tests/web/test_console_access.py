"""Who may read the console, over HTTP to the daemon's endpoint: with a token, a bearer header
or the login form's cookie (an HMAC of the token, HttpOnly, SameSite=Strict); without one,
this machine only. /healthz and /metrics answer as before; the console only reads."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest
from consolekit import CSP, ConsoleServer, request
from testkit import T0, Clock, write_config

from monitor.config import load_config
from monitor.web import auth
from monitor.web.throttle import LoginThrottle

TOKEN = "k3Vq-8sXbT1p_Zr0aW9cLm"


@pytest.fixture
def console(tmp_path):
    """console(token, throttle) -> a ConsoleServer over an empty store, its config asking for `token`."""
    opened = []

    def open_console(token: str = "", throttle: LoginThrottle | None = None) -> ConsoleServer:
        config = load_config(write_config(tmp_path, monitor={"web_token": token} if token else {}), env={})
        server = ConsoleServer(config.settings.database, lambda: config, lambda: T0, throttle)
        opened.append(server)
        return server

    yield open_console
    for server in opened:
        server.close()


def login(server: ConsoleServer, token: str, after: str = "/feeds", source: str | None = None):
    form = f"token={token}&next={after}".encode()
    return request(
        server.url("/login"),
        "POST",
        {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(form))},
        form,
        source,
    )


def test_with_a_token_a_page_asks_for_it_and_a_bearer_header_shows_it(console):
    server = console(TOKEN)
    asked = server.get("/feeds")
    assert asked.status == 401 and asked.headers["www-authenticate"] == 'Bearer realm="monitor"'
    assert '<form class="login" method="post" action="/login">' in asked.body
    assert '<input type="hidden" name="next" value="/feeds">' in asked.body
    assert asked.headers["content-security-policy"] == CSP
    assert server.get("/feeds", {"Authorization": f"Bearer {TOKEN}"}).status == 200
    wrong = server.get("/feeds", {"Authorization": f"Bearer {TOKEN[:-1]}x"})
    assert wrong.status == 401 and "not the one configured" in wrong.body
    assert TOKEN not in asked.body + wrong.body
    # What the daemon always served stays open: a health check or Prometheus has no token.
    assert server.get("/healthz").status == 200 and server.get("/metrics").status == 200
    assert server.get("/static/console.css").status == 200


def test_the_login_form_sets_a_cookie_derived_from_the_token_and_never_sends_a_browser_elsewhere(console):
    server = console(TOKEN)
    refused = login(server, "guess-guess-guess-guess")
    assert refused.status == 401 and "set-cookie" not in refused.headers and "not the one configured" in refused.body
    signed_in = login(server, TOKEN)
    assert signed_in.status == 303 and signed_in.headers["location"] == "/feeds"
    cookie = signed_in.headers["set-cookie"]
    value = hmac.new(TOKEN.encode(), b"monitor console session", hashlib.sha256).hexdigest()
    assert cookie.startswith(f"monitor_console={value};") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert server.get("/rules", {"Cookie": f"monitor_console={value}"}).status == 200
    assert server.get("/rules", {"Cookie": f"monitor_console={value[:-1]}0"}).status == 401
    assert server.get("/rules", {"Cookie": "monitor_console=\x01; broken"}).status == 401
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert login(server, TOKEN, elsewhere).headers["location"] == "/"
    assert request(server.url("/login"), "POST", {"Content-Length": "100000"}, b"").status == 413


GUESS = "not-the-token-but-a-guess"


def test_wrong_tokens_are_throttled_per_client_address_without_comparing_the_guess(console, caplog):
    clock = Clock(0.0)
    server = console(TOKEN, LoginThrottle(clock))
    guess, shown = {"Authorization": f"Bearer {GUESS}"}, {"Authorization": f"Bearer {TOKEN}"}
    with caplog.at_level(logging.WARNING, logger="monitor.web"):
        for _ in range(3):
            assert server.get("/feeds", guess).status == 401
        for _ in range(2):
            assert login(server, GUESS).status == 401  # the login form's guesses count alike
        held = server.get("/feeds", shown)  # the token itself, but it is not even compared now
        assert held.status == 429 and held.headers["retry-after"] == "15" and "try again in 15 seconds" in held.body
        assert login(server, TOKEN).status == 429 and "set-cookie" not in login(server, TOKEN).headers
        # Another address is not held up by this one's guesses.
        assert server.get("/feeds", shown, source="127.0.0.2").status == 200
        assert server.get("/feeds", guess, source="127.0.0.2").status == 401
        # Each wrong guess after a wait doubles the next one, up to 15 minutes.
        waits = []
        for _ in range(8):
            clock.advance(int(server.get("/feeds", shown).headers["retry-after"]))
            assert server.get("/feeds", guess).status == 401
            waits.append(int(server.get("/feeds", guess).headers["retry-after"]))
        assert waits == [30, 60, 120, 240, 480, 900, 900, 900]
        clock.advance(900)
        assert server.get("/feeds", shown).status == 200  # and the slate is clean
        assert server.get("/feeds", guess).status == 401 and server.get("/feeds", shown).status == 200
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 5 + 1 + 8 + 1, warned  # each wrong guess, none of the answers held
    assert all("a wrong token from 127.0." in m for m in warned)
    assert (
        "console: a wrong token from 127.0.0.1 in the login form (5 in a row); its next guess is answered in 15 s"
        in warned
    )
    assert GUESS not in caplog.text and TOKEN not in caplog.text


def test_the_throttle_remembers_a_bounded_number_of_addresses(console):
    clock = Clock(0.0)
    throttle = LoginThrottle(clock, clients=2)
    server = console(TOKEN, throttle)
    guess, shown = {"Authorization": f"Bearer {GUESS}"}, {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(5):
        server.get("/feeds", guess, source="127.0.0.2")
    assert server.get("/feeds", shown, source="127.0.0.2").status == 429
    for newer in ("127.0.0.3", "127.0.0.4"):
        server.get("/feeds", guess, source=newer)
    assert throttle.remembered() == 2  # the oldest address was forgotten for the newer ones
    assert server.get("/feeds", shown, source="127.0.0.2").status == 200


def test_the_session_cookie_is_found_by_splitting_the_header_never_by_simplecookie(console, monkeypatch):
    """http.cookies.SimpleCookie is quadratic in backslashes on this Python (CVE-2024-7592: one
    40,000-backslash cookie costs seconds of CPU before any token is compared). The console
    never hands it a header, and reads no Cookie header over 8 KiB."""
    import http.cookies

    handed: list[int] = []
    monkeypatch.setattr(http.cookies.BaseCookie, "load", lambda _self, raw: handed.append(len(raw)))
    server = console(TOKEN)
    session = f"monitor_console={hmac.new(TOKEN.encode(), b'monitor console session', hashlib.sha256).hexdigest()}"
    assert server.get("/rules", {"Cookie": f'theme=dark; {session}; quoted="a\\\\b"'}).status == 200
    for hostile in ('monitor_console="' + "\\" * 40_000 + '"', 'monitor_console="' + "\\" * 8_000 + '"'):
        assert server.get("/rules", {"Cookie": hostile}).status == 401
    assert server.get("/rules", {"Cookie": "x=" + "y" * 9000 + "; " + session}).status == 401  # over 8 KiB: unread
    assert handed == []
    # A bearer header over 8 KiB is not read either: no guess, nothing for the throttle to count.
    assert server.get("/rules", {"Authorization": "Bearer " + "x" * 9000}).status == 401
    assert server.console.throttle.remembered() == 0


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("monitor_console=abc", "abc"),
        ("a=1; monitor_console=abc; b=2", "abc"),
        ("a=1;monitor_console= abc ;b", "abc"),
        ("monitor_consolex=abc; xmonitor_console=def; monitor_console", None),
        ("", None),
        ('monitor_console="' + "\\" * 40_000 + '"', '"' + "\\" * 40_000 + '"'),  # read as it is, once
    ],
)
def test_the_cookie_parser_takes_the_pair_named_monitor_console(header, value):
    assert auth.cookie_value(header, auth.COOKIE) == value


def test_a_new_token_ends_every_session(tmp_path, console):
    server = console(TOKEN)
    cookie = login(server, TOKEN).headers["set-cookie"].split(";")[0]
    assert server.get("/", {"Cookie": cookie}).status == 200
    renewed = load_config(write_config(tmp_path, monitor={"web_token": TOKEN + "-renewed"}), env={})
    server.console.config = lambda: renewed  # a reload put it in force
    assert server.get("/", {"Cookie": cookie}).status == 401


def test_without_a_token_only_this_machine_may_ask(console):
    server = console()
    assert server.get("/").status == 200
    for host in ("localhost", f"localhost:{server.port}", f"[::1]:{server.port}", f"127.0.0.1:{server.port}"):
        assert server.get("/", {"Host": host}).status == 200, host
    # A page of another site whose name now points at 127.0.0.1 (DNS rebinding) is not answered.
    rebound = server.get("/", {"Host": f"attacker.example:{server.port}"})
    assert rebound.status == 400 and "this machine only" in rebound.body
    assert server.get("/login").headers["location"] == "/"


def test_without_a_token_metrics_answer_this_machine_only_and_healthz_anyone(console):
    server = console()
    for host in ("localhost", f"localhost:{server.port}", f"[::1]:{server.port}", f"127.0.0.1:{server.port}"):
        assert server.get("/metrics", {"Host": host}).status == 200, host
    # A page elsewhere, its name pointed at 127.0.0.1, would read every feed's name and the outbox.
    rebound = server.get("/metrics", {"Host": f"attacker.example:{server.port}"})
    assert rebound.status == 400 and "monitor_" not in rebound.body
    assert server.get("/healthz", {"Host": f"lb.example:{server.port}"}).status == 200  # a load balancer's name
    # With a token the console is meant to be reached by other names, and so is /metrics.
    tokened = console(TOKEN)
    assert tokened.get("/metrics", {"Host": f"desk.example:{tokened.port}"}).status == 200


def test_healthz_answers_head_as_it_answers_get_without_the_body(console):
    server = console()
    got, head = server.get("/healthz"), request(server.url("/healthz"), "HEAD")
    assert head.status == got.status == 200 and head.body == "" and got.body
    assert head.headers.keys() == got.headers.keys() and head.headers["content-type"] == "application/json"
    assert int(head.headers["content-length"]) > 0


def test_the_console_only_reads(console):
    server = console()
    for method in ("POST", "PUT", "DELETE"):
        reply = request(server.url("/"), method, {"Content-Length": "0"}, b"")
        assert reply.status in (405, 501), method  # http.server answers 501 to methods it has no handler for
    assert request(server.url("/"), "POST", {"Content-Length": "0"}, b"").headers["allow"] == "GET"


def test_a_database_that_does_not_answer_is_a_503_page_and_a_failing_page_a_500(console, monkeypatch, caplog):
    server = console()
    server.reader.store.close()
    gone = server.get("/feeds")
    assert gone.status == 503 and "The database does not answer" in gone.body
    from monitor.web import pages

    def broken(*_args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(pages, "rules", broken)
    with caplog.at_level(logging.ERROR, logger="monitor.web"):
        failed = server.get("/rules")
    assert failed.status == 500 and "This page failed" in failed.body and "a bug" not in failed.body
    assert "console: GET /rules failed" in caplog.text and "RuntimeError: a bug" in caplog.text
