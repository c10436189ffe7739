"""A response body, decompressed as it arrives and never past a cap.

httpx inflates each network read whole before the reader sees it: 64 KiB of a gzip bomb is
64 MiB in memory before any cap can be checked. Here each read is inflated in steps of at most
STEP bytes, and reading stops the moment the cap is passed, so a body costs at most about its
cap (the pieces kept, then joined) whatever it claims to hold.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterable, Iterator

from ..errors import FetchError

STEP = 64 * 1024  # bytes inflated at a time
# What we ask servers for (fetch.ACCEPT_ENCODING); "x-gzip" is gzip's old name.
_GZIP = ("gzip", "x-gzip")
_IDENTITY = ("", "identity")


class BodyTooLarge(Exception):
    """The body holds more than the cap; `kept` is as much of it as the cap allows (when asked
    for: joining it is a copy of the cap's size)."""

    def __init__(self, kept: bytes | None) -> None:
        super().__init__("body larger than its cap")
        self.kept = kept


class _Inflater:
    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._zlib: zlib._Decompress | None = None
        if coding in _GZIP:
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            self._zlib = zlib.decompressobj()
        self._started = False

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """What `data` inflates to, a piece of at most STEP bytes at a time (the data itself
        for identity): the reader stops asking once it has enough."""
        if self._zlib is None:
            yield data
            return
        pending = data
        while pending:
            try:
                piece = self._zlib.decompress(pending, STEP)
            except zlib.error:
                if self.coding != "deflate" or self._started:
                    raise
                # "deflate" without its zlib wrapper, as some servers send it (httpx reads both).
                self._zlib, self._started = zlib.decompressobj(-zlib.MAX_WBITS), True
                continue
            self._started = True
            yield piece
            pending = self._zlib.unconsumed_tail

    def rest(self) -> bytes:
        return self._zlib.flush(STEP) if self._zlib is not None else b""


def content_coding(header: str) -> str:
    """The one content coding of a Content-Encoding header; FetchError for one not asked for
    (brotli, zstd, a stack of several: their decoded size could not be counted as it streams)."""
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    if len(codings) > 1 or (codings and codings[0] not in (*_GZIP, "deflate", *_IDENTITY)):
        raise FetchError(f"the response is encoded as {header.strip()!r}, which was not asked for")
    return codings[0] if codings else ""


async def read_inflated(raw: AsyncIterator[bytes], coding: str, cap: int, keep_cut: bool = False) -> bytes:
    """The body of `raw` (the bytes as sent) decoded per `coding`; BodyTooLarge past `cap` bytes,
    with the first `cap` bytes when `keep_cut`."""
    inflater = _Inflater(coding)
    kept: list[bytes] = []
    total = 0

    def keep(pieces: Iterable[bytes]) -> None:
        nonlocal total
        for piece in pieces:
            if total + len(piece) > cap:
                kept.append(piece[: cap - total])
                raise BodyTooLarge(b"".join(kept) if keep_cut else None)
            total += len(piece)
            kept.append(piece)

    try:
        async for data in raw:
            keep(inflater.pieces(data))
        keep([inflater.rest()])
    except zlib.error as exc:
        raise FetchError(f"the response could not be decompressed: {exc}") from None
    return b"".join(kept)
