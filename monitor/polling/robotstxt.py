"""robots.txt as RFC 9309 reads it: which of a site's URLs our agent may fetch.

The groups naming our product token are merged (the `*` groups serve only when none does);
of their rules, the most specific one matching a URL's path and query decides, an allow
winning a tie. A pattern is matched by finding its literal parts in turn, leftmost first,
never by a regular expression: the file is the site's, and a pattern of many `*` must cost
no more than one search per part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# Characters of a line read; the rest is cut, as Google's parser does (at 16,664 bytes).
MAX_LINE = 16 * 1024
# Rules for our agent matched against each link: every one is a search of the link, so a file
# of tens of thousands (500 KiB holds 28,000) would cost seconds a link. Real sites stay under
# a few thousand; a file past this is read as disallowing everything, never as allowing more.
MAX_RULES = 5000

_LINES = re.compile(r"\r\n|\r|\n")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# An escape, or a character that is neither unreserved nor reserved (RFC 3986 2.2). `*` and `$`
# are escaped too: a pattern can name them only so (RFC 9309 2.2.3), `%2A` matching a `*` in a path.
_TO_NORMALISE = re.compile(r"%[0-9A-Fa-f]{2}|[^A-Za-z0-9\-._~:/?#\[\]@!&'()+,;=]")
# What ends a user-agent line's product token: `monitor/1.0` and `monitor (news)` name monitor.
_NOT_PRODUCT = re.compile(r"[^A-Za-z0-9_-]")


def _normalised(match: re.Match[str]) -> str:
    text = match.group()
    if len(text) == 3 and text[0] == "%":
        char = chr(int(text[1:], 16))
        return char if char in _UNRESERVED else text.upper()
    return "".join(f"%{byte:02X}" for byte in text.encode("utf-8", "surrogatepass"))


def normalise(text: str) -> str:
    """`text` (a path, or a pattern's literal part) in the form compared (RFC 9309 2.2.2):
    escapes of unreserved characters decoded, other escapes in upper case, and what a URI
    may not hold bare (non-ASCII as UTF-8, spaces, controls, a lone `%`) escaped."""
    return _TO_NORMALISE.sub(_normalised, text)


def request_target(url: str) -> str:
    """What rules are matched against: the path and query of `url`, as written there."""
    parts = urlsplit(url)
    asked = parts.query or url.partition("#")[0].endswith("?")
    return (parts.path or "/") + ("?" + parts.query if asked else "")


@dataclass(frozen=True)
class Rule:
    """One allow or disallow line: `parts` are the pattern's literal parts (normalised, the
    middle ones never empty) between which `*` matches anything; `anchored`: the pattern
    ended in `$`, so the path must end where it does."""

    allow: bool
    parts: tuple[str, ...]
    anchored: bool
    specificity: int  # octets in the pattern (normalised)

    @classmethod
    def compile(cls, allow: bool, pattern: str) -> Rule:
        anchored = pattern.endswith("$")
        head, *rest = pattern.removesuffix("$").split("*")
        if rest:  # `**` is `*`; an empty last part stays: it says the pattern ended in `*`
            rest = [part for part in rest[:-1] if part] + [rest[-1]]
        parts = tuple(normalise(part) for part in (head, *rest))
        return cls(allow, parts, anchored, len("*".join(parts)) + anchored)

    def matches(self, target: str) -> bool:
        """Whether the pattern matches `target` (normalised) from its start: one search per
        part, each found leftmost after the one before (which leaves the most room for the rest)."""
        parts = self.parts
        if not target.startswith(parts[0]):
            return False
        if len(parts) == 1:
            return not self.anchored or len(target) == len(parts[0])
        at = len(parts[0])
        for part in parts[1:-1]:
            found = target.find(part, at)
            if found < 0:
                return False
            at = found + len(part)
        last = parts[-1]
        if self.anchored:
            return len(target) - len(last) >= at and target.endswith(last)
        return target.find(last, at) >= 0


def _record(line: str) -> tuple[str, str] | None:
    """A line's key (lower-cased) and value, or None for a line that is neither. A line without
    its colon is read as Google's parser reads it: two words, the key and the value (a site
    that wrote `Disallow /private` meant it)."""
    key, colon, value = line.partition(":")
    if colon:
        return key.strip().lower(), value.strip()
    words = line.split()
    return (words[0].lower(), words[1]) if len(words) == 2 else None


@dataclass(frozen=True)
class RobotsRules:
    """The rules of one robots.txt that apply to one agent, most specific first (an allow
    before a disallow as specific): the first that matches decides. `overflowed`: the file
    held more than MAX_RULES for the agent, and is read as one `Disallow: /`."""

    rules: tuple[Rule, ...]
    overflowed: bool = False

    @classmethod
    def parse(cls, text: str, agent: str) -> RobotsRules:
        """The rules in `text` for `agent` (a product token, matched whole and in any case)."""
        agent = agent.lower()
        ours: list[Rule] = []
        default: list[Rule] = []
        named_us = in_ours = in_default = False
        opening = False  # the last record read was a user-agent line: the next one joins its group
        for line in _LINES.split(text.removeprefix("\ufeff")):
            cut = len(line) > MAX_LINE
            record = _record(line[:MAX_LINE].partition("#")[0])
            if record is None:
                continue
            key, value = record
            if key == "user-agent":
                if not opening:
                    opening, in_ours, in_default = True, False, False
                product = value.split(maxsplit=1)[0] if value else ""
                if product == "*":
                    in_default = True
                elif agent and _NOT_PRODUCT.split(product, maxsplit=1)[0].lower() == agent:
                    named_us = in_ours = True
            elif key in ("allow", "disallow"):
                opening = False
                # An empty pattern matches nothing; an allow cut short could allow more than it says.
                if value and (in_ours or in_default) and not (cut and key == "allow"):
                    rule = Rule.compile(key == "allow", value)
                    if in_ours:
                        ours.append(rule)
                    if in_default:
                        default.append(rule)
        chosen = dict.fromkeys(ours if named_us else default)  # a rule repeated is matched once
        if len(chosen) > MAX_RULES:
            return cls((Rule.compile(False, "/"),), overflowed=True)
        return cls(tuple(sorted(chosen, key=lambda rule: (-rule.specificity, not rule.allow))))

    def allows(self, target: str) -> bool:
        """Whether the path and query `target` (see request_target) may be fetched."""
        target = normalise(target)
        if target == "/robots.txt":
            return True
        return next((rule.allow for rule in self.rules if rule.matches(target)), True)
