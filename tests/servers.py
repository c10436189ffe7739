"""Real HTTP servers on 127.0.0.1 for tests: a feed server and a webhook receiver."""

from __future__ import annotations

import email.utils
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# How often a server's loop looks for a shutdown: the standard library's 0.5 s was added to
# every test that starts one.
SHUTDOWN_POLL = 0.02


@dataclass
class Served:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    validators: bool = True  # send ETag and Last-Modified, answer 304 to them


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FeedServer:
    """Serves documents by path, with ETag/Last-Modified and 304s like a real site."""

    def __init__(self) -> None:
        self.routes: dict[str, Served] = {}
        self.log: list[tuple[str, int, dict[str, str]]] = []  # (path, status, request headers)
        self.handlers: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                path = self.path
                custom = server.handlers.get(path)
                if custom:
                    custom(self)
                    return
                served = server.routes.get(path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if served is None:
                    self._answer(404, b"not found", {"Content-Type": "text/plain"}, path, headers)
                    return
                out = {"Content-Type": served.content_type, **served.headers}
                if served.validators and served.status == 200:
                    etag = '"' + hashlib.sha256(served.body).hexdigest()[:16] + '"'
                    modified = email.utils.formatdate(1_700_000_000 + len(served.body), usegmt=True)
                    out["ETag"], out["Last-Modified"] = etag, modified
                    if headers.get("if-none-match") == etag:
                        self._answer(304, b"", {"ETag": etag}, path, headers)
                        return
                self._answer(served.status, served.body, out, path, headers)

            def _answer(self, status, body, headers, path, req_headers):
                with server._lock:
                    server.log.append((path, status, req_headers))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes, **kw) -> str:
        self.routes[path] = Served(body, **kw)
        return self.url(path)

    def statuses(self, path: str) -> list[int]:
        return [s for p, s, _ in self.log if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class WebhookReceiver:
    """Collects POSTed bodies; fails the first `fail_first` requests with a 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[bytes] = []
        self.attempts = 0
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender was cut off mid-request (killed): nothing was delivered
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                receiver.received.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(SHUTDOWN_POLL,), daemon=True).start()

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def messages(self) -> list[dict]:
        return [json.loads(b) for b in self.received]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
