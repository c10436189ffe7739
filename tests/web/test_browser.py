"""The console in a real browser (Debian's chromium, driven by Playwright) against the real
daemon, run as a subprocess polling real feeds on 127.0.0.1 whose headlines are hostile: each
page loads and shows what it should, nothing a feed wrote runs, the forms work without
JavaScript, the playground highlights a hit, and off loopback the token is asked for."""

from __future__ import annotations

import socket
import time

import pytest
from consolekit import HOSTILE_TITLE, IMG, SCRIPT, request, rss, running_daemon
from testkit import wait_for, write_config

TOKEN = "k3Vq-8sXbT1p_Zr0aW9cLm"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser(browser_available):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_available, args=BROWSER_ARGS)
        yield browser
        browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def desk_config(tmp_path, feed_server, webhook, http: str, **monitor) -> None:
    now = time.time()
    wire = [
        ("w1", HOSTILE_TITLE, "Russia and Israel traded words.", "https://toi.example/w1", now - 600),
        ("w2", "Israel relayed dissatisfaction to Russia", "Officials said so.", "https://toi.example/w2", now - 300),
    ]
    # The same article (one link, one story) under a headline the rule does not match: whichever feed
    # is polled first, the wire's item alerts and the agency is the other outlet.
    agency = [("a1", "Israel relayed dissatisfaction to Moscow", "", "https://toi.example/w2", now - 200)]
    write_config(
        tmp_path,
        feeds={
            "wire": feed_server.serve("/wire.xml", rss(wire, f"Wire {IMG}")),
            "agency": feed_server.serve("/agency.xml", rss(agency, "Agency")),
            "broken": {"url": feed_server.url("/gone.xml"), "interval": "1s"},
        },
        rules=[{"name": "rift", "query": "Israel AND Russia", "notify": ["desk"]}],
        channels={"desk": {"urls": [webhook.apprise_url]}},
        monitor={"interval": "1h", "backfill": "1d", "http": http, "failing_after": 1, **monitor},
    )


def watch(page) -> dict[str, list[str]]:
    """What a page does that it must not: dialogs, script errors, refused loads (CSP)."""
    seen: dict[str, list[str]] = {"dialogs": [], "errors": [], "csp": []}
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("console", lambda m: "Content Security Policy" in m.text and seen["csp"].append(m.text))
    return seen


def test_every_page_in_a_browser_with_hostile_headlines_on_loopback(tmp_path, feed_server, webhook, browser):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    desk_config(tmp_path, feed_server, webhook, f"127.0.0.1:{port}")
    with running_daemon(tmp_path):
        wait_for(lambda: len(webhook.received) == 2)  # both alerts delivered: the pages have it all
        wait_for(lambda: "failing" in _text(base + "/feeds"))

        # With scripts allowed, as an editor's browser runs: a headline that were markup would run.
        context = browser.new_context(viewport={"width": 412, "height": 900})  # a phone's width
        page = context.new_page()
        seen = watch(page)
        page.goto(base + "/")
        assert page.locator("h1").inner_text() == "Alerts"
        headlines = page.locator(".alert h2").all_inner_texts()
        assert HOSTILE_TITLE in headlines and "Israel relayed dissatisfaction to Russia" in headlines
        hostile = page.locator(".alert h2", has_text=SCRIPT)
        assert hostile.locator("mark").all_inner_texts() == ["Israel", "Russia"]
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert page.locator("script").count() == 0 and page.locator(".alert img").count() == 0
        # The stylesheet applies (allowed by the policy): marks are highlighted.
        assert (
            hostile.locator("mark").first.evaluate("m => getComputedStyle(m).backgroundColor") == "rgb(255, 229, 138)"
        )
        carried = page.locator(".alert", has=page.locator(".also"))
        assert carried.locator(".also").inner_text() == "also carried by: agency"
        assert page.locator(".delivery").first.inner_text().startswith("desk json: sent")

        hostile.locator("a").click()  # its story page shows the headline plain, with the outlet's own title
        assert page.locator("h1").inner_text() == HOSTILE_TITLE and page.locator(".items .headline").inner_text() == (
            HOSTILE_TITLE
        )
        page.go_back()
        carried.locator("h2 a").click()
        assert page.locator("h1").inner_text().startswith("Israel relayed dissatisfaction to ")
        assert page.locator(".outlets").inner_text() in (
            "Carried by 2 outlets: wire, agency",
            "Carried by 2 outlets: agency, wire",
        )
        assert page.locator(".items li").count() == 2 and page.locator(".alert").count() == 1

        page.locator("nav a", has_text="Feeds").click()
        failing = page.locator("tr.failing")
        assert failing.locator(".name").inner_text() == "broken" and "HTTP 404" in failing.inner_text()
        assert page.locator("tr.ok").count() == 2
        assert page.locator("tr", has_text="wire").locator("small").first.inner_text() == f"Wire {IMG}"

        page.locator("nav a", has_text="Rules").click()
        assert page.locator(".rule-card dd code").all_inner_texts() == ["Israel AND Russia", "(israel AND russia)"]
        assert "2 alerts in 24 h" in page.locator(".rule-card .counts").inner_text()

        page.locator("nav a", has_text="Outbox").click()
        assert page.locator(".empty").inner_text() == "The outbox is empty: every alert was delivered."
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert seen == {"dialogs": [], "errors": [], "csp": []}
        context.close()

        # Without JavaScript at all: the forms and links are plain HTML.
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(base + "/playground")
        page.locator("#q").fill("dissatisfaction NEAR/3 Russia")
        _submit(page, "Try")
        assert "q=dissatisfaction+NEAR%2F3+Russia" in page.url
        assert page.locator(".explained code").first.inner_text() == "(dissatisfaction NEAR/3 russia)"
        hits = page.locator(".hit")
        assert hits.count() == 1
        assert hits.first.locator("mark").all_inner_texts() == ["dissatisfaction", "Russia"]
        page.locator("#q").fill("(Russia AND")
        _submit(page, "Try")
        assert '^ this "(" is never closed' in page.locator(".refusal pre").inner_text()
        page.goto(base + "/")
        page.locator("select[name=rule]").select_option("rift")
        _submit(page, "Show")
        assert page.url.endswith("/?rule=rift&channel=") and page.locator(".alert").count() == 2
        context.close()


def _submit(page, button: str) -> None:
    """Submit a form without JavaScript, and wait for the page it leads to to load (a click
    returns once the navigation has started, before the new page's elements are there)."""
    page.locator("button", has_text=button).click()
    page.wait_for_load_state()


def test_off_loopback_the_browser_is_asked_for_the_token_once(tmp_path, feed_server, webhook, browser):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    desk_config(tmp_path, feed_server, webhook, f"0.0.0.0:{port}", web_token="${MONITOR_WEB_TOKEN}")
    with running_daemon(tmp_path, env={"MONITOR_WEB_TOKEN": TOKEN}):
        wait_for(lambda: _status(base + "/healthz") == 200)
        context = browser.new_context()
        page = context.new_page()
        seen = watch(page)
        asked = page.goto(base + "/outbox")
        assert asked.status == 401 and page.locator("h1").inner_text() == "Sign in"
        page.locator("#token").fill("not-the-token-at-all")
        page.locator("button", has_text="Sign in").click()
        assert page.locator(".error").inner_text() == "That token is not the one configured."
        page.locator("#token").fill(TOKEN)
        page.locator("button", has_text="Sign in").click()
        assert page.url == base + "/outbox" and page.locator("h1").inner_text() == "Outbox"
        assert page.evaluate("document.cookie") == ""  # HttpOnly: no script could read the session
        [cookie] = context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
        page.goto(base + "/feeds")  # asked once: the cookie carries on
        assert page.locator("h1").inner_text() == "Feeds"
        assert seen == {"dialogs": [], "errors": [], "csp": []}
        context.close()
        assert _status(base + "/feeds") == 401 and _status(base + "/metrics") == 200


def _status(url: str) -> int | None:
    try:
        return request(url).status
    except OSError:
        return None


def _text(url: str) -> str:
    try:
        return request(url).body
    except OSError:
        return ""
