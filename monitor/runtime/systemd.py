"""The systemd notify protocol (sd_notify(3)) over the stdlib socket module.

systemd passes `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace)
to a `Type=notify` service; each message is one datagram of `KEY=VALUE` lines.
Outside systemd the variable is unset and every call is a no-op, so the daemon
never needs to know how it was started.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("monitor.runtime.systemd")


class SystemdNotifier:
    """Sends READY/STATUS/WATCHDOG/STOPPING/RELOADING messages when systemd listens."""

    def __init__(self, env: Mapping[str, str] = os.environ) -> None:
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract socket: a leading NUL byte
            address = "\0" + address[1:]
        self.address = address if address.startswith(("/", "\0")) else ""
        self.watchdog_interval = _watchdog_interval(env)
        self._sock: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> bool:
        """Send one datagram; False when not under systemd or when sending failed."""
        if not self.address:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(lines).encode("utf-8"), self.address)
            return True
        except OSError as exc:
            # A notify failure must never stop the daemon; say it once, not every tick.
            if not self._warned:
                log.warning("cannot notify systemd at $NOTIFY_SOCKET: %s", exc)
                self._warned = True
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def reloading(self, monotonic_usec: int) -> bool:
        # MONOTONIC_USEC lets systemd (>= 253) pair RELOADING=1 with the READY=1 that ends it.
        return self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None when not asked."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    # WATCHDOG_PID names the process systemd watches; a child that inherited the
    # variables must not ping on the parent's behalf.
    if pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000 / 2
