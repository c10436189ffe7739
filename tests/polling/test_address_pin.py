"""The address a fetch checks is the address it connects to, on every hop.

A local server plays a site on the open web through `Routed` (fetchkit), a network that
sends a public address to a port on 127.0.0.1 (as a NAT would) and reaches nothing else public.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fetchkit import PUBLIC, Routed, config_file, poll
from servers import FeedServer

from monitor.config import load_config
from monitor.errors import FetchError
from monitor.polling.addresses import is_private_address, parse_address, system_resolver
from monitor.polling.fetch import fetcher_for

FEED = (Path(__file__).parents[1] / "fixtures/story/toi_v1.xml").read_bytes()


def redirect(location: str):
    def handler(h):
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handler


def fetch_all(tmp_path, urls, resolver, network):
    """Fetch each URL in turn with one Fetcher; a FetchResult or the FetchError for each."""
    settings = load_config(config_file(tmp_path, {"f": urls[0]}), env={}).settings

    async def go():
        fetcher = fetcher_for(settings, resolver=resolver, network=network)
        results = []
        try:
            for url in urls:
                try:
                    results.append(await fetcher.fetch(url))
                except FetchError as exc:
                    results.append(exc)
        finally:
            await fetcher.aclose()
        return results

    return asyncio.run(go())


def paths(server: FeedServer) -> list[str]:
    return [p for p, _, _ in server.log]


def keep_alive(server: FeedServer) -> None:
    """Answer over HTTP/1.1, keeping connections open (http.server's default is 1.0)."""
    server.httpd.RequestHandlerClass.protocol_version = "HTTP/1.1"


def test_redirect_from_a_public_host_into_loopback_is_refused(tmp_path, feed_server):
    feed_server.serve("/admin", FEED)
    feed_server.handlers["/f"] = redirect(feed_server.url("/admin"))

    async def resolver(host):  # "site.test" plays a public site; 127.0.0.1 stays loopback
        return [PUBLIC] if host == "site.test" else [host]

    public_url = f"http://site.test:{feed_server.port}/f"
    [refused] = fetch_all(tmp_path, [public_url], resolver, Routed(feed_server.port))
    assert isinstance(refused, FetchError) and "public address to a private one" in str(refused)
    assert refused.status == 302 and feed_server.url("/admin") in str(refused)
    assert "/admin" not in paths(feed_server)
    # A feed configured on a private address itself (a local bridge) may redirect locally.
    [local] = fetch_all(tmp_path, [feed_server.url("/f")], resolver, Routed(feed_server.port))
    assert local.status == 200 and local.url == feed_server.url("/admin")


@pytest.mark.parametrize("answers", [["127.0.0.1"], [PUBLIC, "127.0.0.1"]])
def test_a_feed_name_answering_a_private_address_is_refused_unconnected(tmp_path, feed_server, answers):
    feed_server.serve("/f", FEED)

    async def resolver(host):
        return answers

    url = f"http://reader:s3cret@site.test:{feed_server.port}/f?token=abc"
    network = Routed(feed_server.port)
    [refused] = fetch_all(tmp_path, [url], resolver, network)
    assert isinstance(refused, FetchError)
    message = str(refused)
    assert f"http://***@site.test:{feed_server.port}/f?token=***" in message
    assert "site.test resolves to a private address" in message and "local = true" in message
    assert "s3cret" not in message and "abc" not in message
    assert feed_server.log == [] and network.connected == []


def test_a_feed_marked_local_may_be_on_a_private_address_by_name(tmp_path, feed_server):
    feed_server.serve("/f", FEED)

    async def resolver(host):
        return ["127.0.0.1"]

    url = f"http://rss-bridge:{feed_server.port}/f"
    path = config_file(tmp_path, {"f": url}, feed_extra={"local": True})
    outcome, _ = poll(path, "f", resolver=resolver)
    assert outcome.status == "ok", outcome.error
    unmarked, _ = poll(config_file(tmp_path, {"f": url}), "f", resolver=resolver)
    assert unmarked.status == "error" and "resolves to a private address" in unmarked.error


def test_a_rebinding_name_never_leads_to_loopback(tmp_path, feed_server):
    # feed_server is the private service; `site` is what the name answered first.
    feed_server.serve("/f", b"private")
    site = FeedServer()
    try:
        site.serve("/f", FEED, headers={"Connection": "close"})  # each fetch connects anew
        answers = [[PUBLIC]]

        async def resolver(host):
            return answers.pop() if answers else ["127.0.0.1"]

        network = Routed(site.port)
        url = f"http://site.test:{feed_server.port}/f"
        first, second = fetch_all(tmp_path, [url, url], resolver, network)
    finally:
        site.close()
    assert first.status == 200 and first.body == FEED
    assert isinstance(second, FetchError) and "site.test resolves to a private address" in str(second)
    assert "127.0.0.1" not in network.connected and feed_server.log == []


def test_a_kept_alive_connection_is_checked_again_for_the_request_reusing_it(tmp_path, feed_server):
    # A local bridge opens a connection to "localhost"; then "localhost" answers public and
    # a public feed redirects there: the open connection to 127.0.0.1 must not serve it.
    keep_alive(feed_server)
    feed_server.serve("/bridge", FEED)
    feed_server.serve("/admin", b"secret")
    feed_server.handlers["/f"] = redirect(f"http://localhost:{feed_server.port}/admin")
    answers = {"localhost": [["127.0.0.1"]]}

    async def resolver(host):
        if host == "public.example":
            return [PUBLIC]
        return answers[host].pop() if answers[host] else [PUBLIC]

    bridge = f"http://localhost:{feed_server.port}/bridge"
    public = f"http://public.example:{feed_server.port}/f"
    network = Routed(feed_server.port)
    ok, refused = fetch_all(tmp_path, [bridge, public], resolver, network)
    assert ok.status == 200
    assert isinstance(refused, FetchError) and "public address to a private one" in str(refused)
    assert "/admin" not in paths(feed_server)


REFUSED = "public address to a private one"


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("[::1]", REFUSED),
        ("[::ffff:127.0.0.1]", REFUSED),
        ("[::ffff:7f00:1]", REFUSED),
        ("2130706433", REFUSED),
        ("0x7f.0.0.1", REFUSED),
        ("127.1", REFUSED),
        ("0177.0.0.1", "not a valid URL"),  # httpx itself will not build this one
        # IPv6 forms that carry an IPv4 address a translator or tunnel would reach
        ("[64:ff9b::7f00:1]", REFUSED),
        ("[::127.0.0.1]", REFUSED),
        ("[::ffff:0:127.0.0.1]", REFUSED),
        ("[2002:7f00:1::1]", REFUSED),
    ],
)
def test_numeric_forms_of_loopback_in_redirects_from_a_public_feed_are_refused(tmp_path, feed_server, host, why):
    feed_server.serve("/admin", FEED)
    feed_server.handlers["/f"] = redirect(f"http://{host}:{feed_server.port}/admin")

    async def resolver(name):  # a resolver that hands names back as they are
        return [PUBLIC] if name == "site.test" else [name]

    network = Routed(feed_server.port)
    [refused] = fetch_all(tmp_path, [f"http://site.test:{feed_server.port}/f"], resolver, network)
    assert isinstance(refused, FetchError) and why in str(refused)
    assert "/admin" not in paths(feed_server) and network.connected == [PUBLIC]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("93.184.216.34", "93.184.216.34"),
        ("example.com", None),
        ("cafe", None),
        ("1.2.3.4.5", None),
        ("", None),
    ],
)
def test_parse_address_reads_what_the_socket_layer_reads(text, address):
    parsed = parse_address(text)
    assert (None if parsed is None else str(parsed)) == address


@pytest.mark.parametrize(
    "address",
    [
        "2130706433",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "127.1",
        "0xa9fea9fe",
        "[::1]",
        "::ffff:127.0.0.1",
        "fe80::1%eth0",
        "64:ff9b::a00:1",  # NAT64 to 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 to the metadata address
        "64:ff9b:1::808:808",  # local-use NAT64: never global, whatever it embeds
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "::a00:1",  # IPv4-compatible 10.0.0.1
        "::ffff:0:a00:1",  # SIIT's IPv4-translated 10.0.0.1
        "fec0::1",  # site-local
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    ],
)
def test_every_form_of_a_private_address_is_private(address):
    assert is_private_address(address)


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::808:808", "2002:808:808::1", "example.com"],
)
def test_public_addresses_and_names_are_not_private(address):
    assert not is_private_address(address)


def test_a_feed_on_loopback_itself_still_polls(tmp_path, feed_server):
    feed_server.serve("/f", FEED)
    for url in (feed_server.url("/f"), f"http://localhost:{feed_server.port}/f"):
        outcome, _ = poll(config_file(tmp_path, {"f": url}), "f", resolver=system_resolver)
        assert outcome.status == "ok", outcome.error


def test_kept_alive_connections_are_reused_without_resolving_again(tmp_path, feed_server):
    keep_alive(feed_server)
    feed_server.serve("/f", FEED)
    calls = []

    async def resolver(host):
        calls.append(host)
        return ["127.0.0.1"]

    url = f"http://localhost:{feed_server.port}/f"
    results = fetch_all(tmp_path, [url, url, url], resolver, Routed(feed_server.port))
    assert [r.status for r in results] == [200, 200, 200]
    assert calls == ["localhost"]
