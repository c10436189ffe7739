"""How often a client may guess the console's token: a few wrong guesses, then a wait that
doubles with every further one, up to a bound, per client address.

A client that must wait is answered 429 without its guess being compared, so guessing costs
the guesser time and us nothing; other addresses are not held up. The table of addresses is
bounded: past its size the address longest without a wrong guess is forgotten.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

ALLOWED = 5  # wrong guesses answered before the first wait
FIRST_WAIT = 15.0  # seconds; doubled by each further wrong guess
LONGEST_WAIT = 900.0
FORGET_AFTER = 600.0  # seconds after the last wrong guess (and its wait) before a client starts afresh
CLIENTS = 10_000  # addresses remembered


@dataclass
class _Guesses:
    wrong: int = 0
    last: float = 0.0  # when the last wrong guess came
    until: float = 0.0  # no guess of this client is compared before then


class LoginThrottle:
    """Wrong guesses by client address, read on `clock` (seconds, monotonic in the daemon).
    Safe to share between the endpoint's threads."""

    def __init__(
        self,
        clock: Callable[[], float],
        allowed: int = ALLOWED,
        first_wait: float = FIRST_WAIT,
        longest_wait: float = LONGEST_WAIT,
        forget_after: float = FORGET_AFTER,
        clients: int = CLIENTS,
    ) -> None:
        self.clock = clock
        self.allowed = allowed
        self.first_wait = first_wait
        self.longest_wait = longest_wait
        self.forget_after = forget_after
        self.clients = clients
        self._guesses: OrderedDict[str, _Guesses] = OrderedDict()  # oldest wrong guess first
        self._lock = threading.Lock()

    def wait(self, client: str) -> int:
        """Whole seconds before a guess from `client` is compared again; 0: now."""
        with self._lock:
            now = self.clock()
            guesses = self._current(client, now)
            return 0 if guesses is None else _seconds(guesses.until - now)

    def failed(self, client: str) -> tuple[int, int]:
        """Count a wrong guess from `client`: (wrong guesses in a row, seconds it must now wait)."""
        with self._lock:
            now = self.clock()
            guesses = self._current(client, now) or _Guesses()
            guesses.wrong += 1
            guesses.last = now
            if guesses.wrong >= self.allowed:
                doublings = min(guesses.wrong - self.allowed, 32)  # past the bound anyway
                guesses.until = now + min(self.longest_wait, self.first_wait * 2**doublings)
            self._guesses[client] = guesses
            self._guesses.move_to_end(client)
            while len(self._guesses) > self.clients:
                self._guesses.popitem(last=False)
            return guesses.wrong, _seconds(guesses.until - now)

    def succeeded(self, client: str) -> None:
        """`client` showed the token: its wrong guesses are forgotten."""
        with self._lock:
            self._guesses.pop(client, None)

    def remembered(self) -> int:
        """How many addresses the table holds."""
        with self._lock:
            return len(self._guesses)

    def _current(self, client: str, now: float) -> _Guesses | None:
        guesses = self._guesses.get(client)
        if guesses is not None and now - max(guesses.last, guesses.until) > self.forget_after:
            del self._guesses[client]
            return None
        return guesses


def _seconds(left: float) -> int:
    return max(0, math.ceil(left))
