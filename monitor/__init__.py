"""monitor: watch news feeds, match watch rules, deliver each story once."""

__version__ = "0.1.0"

# httpx's package import also imports its command-line tool (httpx._main), which pulls in rich,
# pygments and click whenever they are installed: ~35 ms of every start-up for a CLI we never
# call. Marking it absent makes httpx fall back to its stub `httpx.main` (which only says
# "install httpx[cli]"); nothing else in httpx uses it. Only if httpx was not imported yet.
import sys as _sys

if "httpx" not in _sys.modules:
    _sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
del _sys
