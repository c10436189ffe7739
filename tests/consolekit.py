"""The web console for tests: feeds whose text is hostile, the console served in-process by the
daemon's own endpoint over a real store, and plain HTTP requests that follow no redirect."""

from __future__ import annotations

import email.utils
import html
import http.client
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from testkit import monitor_exe

from monitor.config import Config
from monitor.redaction import Redactor
from monitor.runtime.endpoint import HealthServer, Heartbeat, Metrics, StoreReader
from monitor.web import Console
from monitor.web.throttle import LoginThrottle

# What a hostile outlet puts in a headline: were it ever markup, the page would run it.
SCRIPT = "<script>window.pwned = 'script'</script>"
IMG = "<img src=x onerror=\"window.pwned = 'img'\">"
HOSTILE_TITLE = f'Israel warns {SCRIPT} Russia {IMG} & "friends"'
PAGES = ("/", "/feeds", "/rules", "/playground?q=Israel", "/outbox")
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def rss(items: Iterable[tuple[str, str, str, str, float]], title: str = "Wire") -> bytes:
    """RSS from (guid, headline, summary, link, published): the text arrives as text, whatever
    it holds (escaped once for HTML, which the parser reads it as, and once for XML)."""
    body = "".join(
        f"<item><guid>{escape(g)}</guid><title>{_text(t)}</title><description>{_text(s)}</description>"
        f"<link>{escape(link)}</link><pubDate>{email.utils.formatdate(p, usegmt=True)}</pubDate></item>"
        for g, t, s, link, p in items
    )
    channel = f"<title>{_text(title)}</title>"
    return f'<?xml version="1.0"?><rss version="2.0"><channel>{channel}{body}</channel></rss>'.encode()


def _text(text: str) -> str:
    return escape(html.escape(text, quote=False))


class ConsoleServer:
    """The daemon's HTTP endpoint with the console, over the store at `database`; `config()`
    is the configuration in force. Close it (the tests' fixtures do)."""

    def __init__(
        self,
        database: Path | str,
        config: Callable[[], Config],
        clock: Callable[[], float],
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.health_reader = StoreReader(database)
        self.reader = StoreReader(database)
        self.console = Console(config, self.reader, clock, throttle)
        beat = Heartbeat()
        beat.tick()
        # The daemon's gate, as the daemon builds it: every secret of the configuration.
        redactor = Redactor(config().secrets)
        self.server = HealthServer(("127.0.0.1", 0), beat, Metrics(), self.health_reader, self.console, redactor)
        self.server.start()
        self.port = self.server.address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, headers: Mapping[str, str] | None = None, source: str | None = None) -> Reply:
        return request(self.url(path), headers=headers, source=source)

    def close(self) -> None:
        self.server.close()
        self.reader.close()
        self.health_reader.close()


class Reply:
    def __init__(self, status: int, headers: Mapping[str, str], body: str) -> None:
        self.status, self.headers, self.body = status, headers, body


def request(
    url: str,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    source: str | None = None,
) -> Reply:
    """One request, no redirect followed; header names of the reply in lower case. `source`: the
    client's address (any of 127.0.0.0/8 reaches a server on 127.0.0.1, as another client)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=30, source_address=(source, 0) if source else None
    )
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode("utf-8"))
    finally:
        conn.close()


@contextmanager
def running_daemon(folder: Path, env: Mapping[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """`monitor run` on folder/config.toml, as a service runs it; stopped (SIGTERM) on the way out.
    Its log is folder/daemon.log."""
    base = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "LANG": "C.UTF-8", "TMPDIR": str(folder)}
    with (folder / "daemon.log").open("w") as log:
        proc = subprocess.Popen(
            [*monitor_exe(), "--config", str(folder / "config.toml"), "run"],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**base, **(env or {})},
            cwd=folder,
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
