"""[monitor] web_token: when the console needs one, and when one is hard enough to guess.

The one owner of "who may open the console" to other machines. The loader asks it about the
file's `http`; the daemon (runtime/assembly.py) about the address it serves the console on,
whichever set it (`http`, `--http`, `$MONITOR_HTTP`), at start and at every reload. What a
request must show is monitor/web/auth.py's.
"""

from __future__ import annotations

import math

from .values import is_loopback

KEY = "[monitor] web_token"
MIN_LENGTH = 16
MIN_BITS = 80
MAKE_TOKEN = (
    "make one with `openssl rand -base64 24` or `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)

# The alphabet a guesser must try for each kind of character a token uses. Anything that is
# not an ASCII letter or digit counts as one of the 33 ASCII symbols: no more is assumed.
_KINDS = (
    ("lower-case letters", str.islower, 26),
    ("capitals", str.isupper, 26),
    ("digits", str.isdigit, 10),
)
_SYMBOLS = 33
_REPEAT = 3  # characters: a stretch this long seen before in the token costs a guesser one symbol
_LONGEST_READ = 256  # characters estimated: past this, a token is long enough anyway


def missing_token_problem(address: tuple[str, int] | None, token: str) -> str:
    """Why serving the console on `address` with `token` would open it to anyone who reaches
    it, or "". Beyond loopback a token is required; on loopback, or with no listener, not."""
    if address is None or token or is_loopback(address[0]):
        return ""
    host, port = address
    shown = f"[{host}]" if ":" in host else host
    return (
        f"is required: the console listens on {shown}:{port} ([monitor] http, or run's --http or $MONITOR_HTTP), "
        'beyond this machine, and would be open to anyone who reaches it; set web_token = "${MONITOR_WEB_TOKEN}" '
        f'({MAKE_TOKEN}) or serve the console on "127.0.0.1:PORT"'
    )


def weak_token_problem(token: str) -> str:
    """Why `token` is too easy to guess, or "". Never quotes it."""
    if not token:
        return ""
    reasons = []
    if len(token) < MIN_LENGTH:
        reasons.append(f"it has {len(token)} characters, {MIN_LENGTH} at least")
    kinds = _kinds(token)
    if len(kinds) == 1:
        reasons.append(f"it uses {kinds[0]} only")
    bits, repeats = guess_bits(token)
    if bits < MIN_BITS:
        why = ", as parts of it repeat or run in order" if repeats else ""
        reasons.append(f"about {bits:.0f} bits by a conservative estimate{why}, {MIN_BITS} at least")
    if not reasons:
        return ""
    return f"is too easy to guess ({'; '.join(reasons)}): {MAKE_TOKEN}"


def guess_bits(token: str) -> tuple[float, bool]:
    """A conservative estimate of the bits a guesser faces, and whether repeats lowered it.

    Each character costs log2 of the alphabet of the kinds the token uses, except one that
    repeats the one before it or continues a run (`abc`, `321`), which costs nothing, and a
    stretch of at least three seen earlier in the token (`passwordpassword`), which costs one
    character for the whole stretch.
    """
    text = token[:_LONGEST_READ]
    if not text:
        return 0.0, False
    per_char = math.log2(sum(size for _, size in _alphabet(text)))
    bits, charged, i = 0.0, 0, 0
    while i < len(text):
        seen = _seen_before(text, i)
        if seen:
            bits += per_char
            charged += 1
            i += seen
            continue
        if not _predictable(text, i):
            bits += per_char
            charged += 1
        i += 1
    return bits, charged < len(text)


def _alphabet(text: str) -> list[tuple[str, int]]:
    found = [(name, size) for name, test, size in _KINDS if any(c.isascii() and test(c) for c in text)]
    if any(not (c.isascii() and c.isalnum()) for c in text):
        found.append(("symbols", _SYMBOLS))
    return found


def _kinds(text: str) -> list[str]:
    return [name for name, _ in _alphabet(text)]


def _seen_before(text: str, i: int) -> int:
    """The length of the longest stretch from `i` that starts earlier in `text` too (0 when
    under _REPEAT): a copy a guesser gets for the price of pointing at it."""
    length = 0
    while i + length < len(text) and text.find(text[i : i + length + 1], 0, i + length) != -1:
        length += 1
    return length if length >= _REPEAT else 0


def _predictable(text: str, i: int) -> bool:
    """Whether text[i] repeats the character before it or continues a run by one."""
    if i == 0:
        return False
    step = ord(text[i]) - ord(text[i - 1])
    return step == 0 or (i >= 2 and abs(step) == 1 and ord(text[i - 1]) - ord(text[i - 2]) == step)
