"""A fast static feed server for the benchmarks, run in its own process.

Why not tests/servers.py's FeedServer: it is http.server in a thread of the bench
process. Its per-request cost (~0.5 ms of Python) and the GIL it shares with whatever
the bench does would be billed to the tool being measured, and a naive
`feedparser.parse(url)` loop in the same process would fight it for the GIL. Why not
`python -m http.server`: no ETag, so no If-None-Match → 304. nginx would do, but is one
more system package to install.

This one is a single asyncio Protocol: HTTP/1.1 keep-alive (and 1.0), responses
precomputed as bytes, ETag (a hash of the body) and Last-Modified (the file's mtime),
304 on If-None-Match or If-Modified-Since, 404 otherwise. `GET /_reload` re-reads the
directory (the bench rewrites some files to make "changed" feeds); `GET /_stats` answers
"<200s> <304s>" since the last call and resets the counts. It prints
`PORT <n>` on standard output once listening.

    python bench/feedserver.py DIRECTORY
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import os
import sys
from pathlib import Path


class Routes:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.table: dict[bytes, tuple[bytes, bytes, bytes, bytes]] = {}
        self.reload()

    def reload(self) -> None:
        table = {}
        for path in sorted(self.root.rglob("*")):
            if not path.is_file():
                continue
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            modified = email.utils.formatdate(int(path.stat().st_mtime), usegmt=True)
            ctype = "application/atom+xml" if path.suffix == ".atom" else "application/rss+xml; charset=utf-8"
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                f"ETag: {etag}\r\nLast-Modified: {modified}\r\n\r\n"
            ).encode()
            not_modified = f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n".encode()
            url = ("/" + path.relative_to(self.root).as_posix()).encode()
            table[url] = (head + body, not_modified, etag.encode(), modified.encode())
        self.table = table


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found"
RELOADED = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
COUNTS = {"full": 0, "not_modified": 0}


def plain(text: str) -> bytes:
    body = text.encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body


class Handler(asyncio.Protocol):
    routes: Routes

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            raw, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            lines = raw.split(b"\r\n")
            parts = lines[0].split()
            if len(parts) < 3:
                self.transport.close()
                return
            target, version = parts[1], parts[2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if target == b"/_reload":
                self.routes.reload()
                answer = RELOADED
            elif target == b"/_stats":
                answer = plain(f"{COUNTS['full']} {COUNTS['not_modified']}")
                COUNTS["full"] = COUNTS["not_modified"] = 0
            else:
                route = self.routes.table.get(target.split(b"?", 1)[0])
                if route is None:
                    answer = NOT_FOUND
                else:
                    full, not_modified, etag, modified = route
                    inm, ims = headers.get(b"if-none-match"), headers.get(b"if-modified-since")
                    if inm is not None:
                        answer = not_modified if inm == etag else full
                    elif ims is not None and ims == modified:
                        answer = not_modified
                    else:
                        answer = full
                    COUNTS["full" if answer is full else "not_modified"] += 1
            connection = headers.get(b"connection", b"").lower()
            close = connection == b"close" or (version == b"HTTP/1.0" and connection != b"keep-alive")
            if version == b"HTTP/1.0" and not close:
                # An HTTP/1.0 client asked for keep-alive: say so, or it waits for EOF.
                head, _, rest = answer.partition(b"\r\n")
                answer = head + b"\r\nConnection: keep-alive\r\n" + rest
            self.transport.write(answer)
            if close:
                self.transport.close()
                return


async def main(root: Path) -> None:
    Handler.routes = Routes(root)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Handler, "127.0.0.1", int(os.environ.get("PORT", "0")), backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(Path(sys.argv[1])))
    except KeyboardInterrupt:
        pass
