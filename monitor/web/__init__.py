"""The read-only web console: what the daemon sees, for people who never open a terminal.

Served by the daemon's HTTP endpoint (runtime/endpoint.py) beside /healthz and /metrics:
`app.py` answers requests (routing, the token, security headers), `pages.py` reads what
each page shows from the store and the configuration, `present.py` and `templates/` turn
it into HTML (no JavaScript, one stylesheet in `static/`).
"""

from .app import Console, Response

__all__ = ["Console", "Response"]
