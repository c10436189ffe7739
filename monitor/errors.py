"""The exception tree. Each error carries a hint telling the user what to do.

The CLI (monitor/cli.py) is the one place that turns these into messages and
exit codes: `exit_code` 2 means bad usage or configuration, 1 a runtime failure.
"""

from __future__ import annotations

from .redaction import Secrets


class MonitorError(Exception):
    """Base of every error the user may see."""

    exit_code = 1
    hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def render(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class UsageError(MonitorError):
    exit_code = 2


class ConfigError(MonitorError):
    """One or more problems in the configuration; `problems` lists them all."""

    exit_code = 2
    hint = "fix the listed keys and run `monitor check` again"

    def __init__(self, problems: list[str], secrets: Secrets | None = None) -> None:
        self.problems = list(problems)
        # What the file holds as secret, as far as it was read: never to be shown with a problem.
        self.secrets = secrets or Secrets()
        super().__init__("\n".join(self.problems))

    def render(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the configuration:"
        return "\n".join([head, *self.problems])


class RuleError(MonitorError):
    """A watch-rule query that cannot be used. `column` is 0-based into `query`."""

    exit_code = 2

    def __init__(self, message: str, query: str, column: int, detail: str = "") -> None:
        super().__init__(message)
        self.query = query
        self.column = max(0, min(column, len(query)))
        self.detail = detail

    def render(self, context: str = "") -> str:
        """The caret-style message of docs/rules.md §5; `context` names the rule."""
        head = f"{context}: {self.message}" if context else self.message
        # Show one line of the query around the column so long queries stay readable.
        line_start = self.query.rfind("\n", 0, self.column) + 1
        line_end = self.query.find("\n", self.column)
        line = self.query[line_start : line_end if line_end != -1 else None]
        caret = " " * (self.column - line_start) + "^" + (f" {self.detail}" if self.detail else "")
        return f"{head}\n  {line}\n  {caret}"


class FetchError(MonitorError):
    """An HTTP failure for one feed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class AddressRefusedError(FetchError):
    """A request (or one of its redirects) would have connected to an address its policy
    forbids, a private one for a link from the open web; nothing was sent to it."""


class HostUnreachable(FetchError):
    """No answer to be had: the connection failed, timed out or broke mid-exchange. Unlike
    an answer, it may be different a while later."""


class FeedGone(FetchError):
    hint = "the server answered 410 Gone: remove the feed or set a new url"


class ParseError(MonitorError):
    hint = "the document is not a feed the parser understands; check the url in a browser"


class DeliveryError(MonitorError):
    hint = "check the channel's URL and that the destination is reachable; the alert stays in the outbox"


class NotFound(MonitorError):
    """A named thing (rule, channel, feed) the user asked for does not exist."""

    exit_code = 2
