"""Leases and nodes: what lets several daemons share one database (PostgreSQL) and costs one
daemon on SQLite nothing but a few writes.

- A feed is polled by the node that claimed it: `claim_feeds` takes due feeds whose lease is
  free or expired and leases them to this node until a poll records its outcome (which frees
  the lease) or the lease expires (the node died: another takes the feed).
- A job that must run once per cluster (delivery, retention, index catch-up) runs on the
  node holding its named lease, renewed at each run; a dead holder's lease expires.
- Each node beats in `nodes`: `monitor cluster` lists them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from typing import Any

from .base import Connection

# A daemon beats this often (its tick); `monitor cluster` calls a node that has not beaten for
# three beats, and has not said it stopped, silent.
BEAT_EVERY = 5.0
SILENT_AFTER = 3 * BEAT_EVERY


def default_node(name: str | None = None) -> str:
    """This process's name in the cluster: the configured node (default: the host name) and
    the process id, so two daemons on one host never share a lease."""
    return f"{name or socket.gethostname()}:{os.getpid()}"


class ClusterQueries(Connection):
    """The leases and nodes tables. Part of every store (sqlite.py, postgres.py)."""

    def claim_feeds(self, now: float, lease: float, limit: int) -> list[str]:
        """Lease up to `limit` polled feeds (sync_feeds) that are due and that no live node
        holds, most overdue first. One statement over feeds_due: an idle tick reads no row."""
        if limit <= 0:
            return []
        rows = self.conn.execute(
            "UPDATE feeds SET lease_node = ?, lease_until = ? WHERE name IN (SELECT name FROM feeds"
            " WHERE next_poll <= ? AND polled = 1 AND disabled_reason IS NULL"
            f" AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_poll LIMIT ?{self.skip_locked})"
            " RETURNING name, next_poll",
            (self.node, now + lease, now, now, limit),
        ).fetchall()
        return [name for name, _ in sorted(rows, key=lambda r: (r[1], r[0]))]

    def release_feeds(self, names: Iterable[str]) -> None:
        """Give back leases this node took but will not poll (feeds its configuration does not
        know: another node has put a newer configuration in force)."""
        self.conn.execute(
            f"UPDATE feeds SET lease_node = NULL, lease_until = NULL WHERE lease_node = ? AND name {self.in_list}",
            (self.node, self.as_list(names)),
        )

    def hold_lease(self, job: str, now: float, lease: float) -> bool:
        """Take or renew the lease of a once-per-cluster job; False while another live node holds it."""
        row = self.conn.execute(
            "INSERT INTO leases (name, node, expires) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " node = excluded.node, expires = excluded.expires WHERE leases.node = excluded.node OR leases.expires <= ?"
            " RETURNING node",
            (job, self.node, now + lease, now),
        ).fetchone()
        return row is not None

    def beat(self, now: float, started: float) -> None:
        """This node is alive (the daemon's tick)."""
        host, _, pid = self.node.rpartition(":")
        self.conn.execute(
            "INSERT INTO nodes (node, host, pid, started, heartbeat) VALUES (?, ?, ?, ?, ?) ON CONFLICT (node)"
            " DO UPDATE SET heartbeat = excluded.heartbeat, stopped = NULL",
            (self.node, host, int(pid) if pid.isdigit() else None, started, now),
        )

    def leave(self, now: float) -> None:
        """A clean stop: free this node's leases at once, so the others need not wait them out."""
        with self.transaction():
            self.conn.execute("UPDATE leases SET expires = 0 WHERE node = ?", (self.node,))
            self.conn.execute(
                "UPDATE feeds SET lease_node = NULL, lease_until = NULL WHERE lease_node = ?", (self.node,)
            )
            self.conn.execute("UPDATE nodes SET stopped = ? WHERE node = ?", (now, self.node))

    def forget_nodes(self, before: float) -> int:
        """Drop nodes not heard from since `before` (retention)."""
        return self.conn.execute("DELETE FROM nodes WHERE heartbeat < ?", (before,)).rowcount

    def cluster_nodes(self, now: float) -> list[dict[str, Any]]:
        """Every node heard from, newest heartbeat first, with the leases it holds at `now`."""
        nodes = self._query("SELECT node, host, pid, started, heartbeat, stopped FROM nodes ORDER BY heartbeat DESC")
        jobs: dict[str, list[dict[str, Any]]] = {}
        for row in self._query("SELECT name, node, expires FROM leases WHERE expires > ? ORDER BY name", (now,)):
            jobs.setdefault(row["node"], []).append({"job": row["name"], "expires": row["expires"]})
        feeds = dict(
            self.conn.execute(
                "SELECT lease_node, count(*) FROM feeds WHERE lease_node IS NOT NULL AND lease_until > ?"
                " GROUP BY lease_node",
                (now,),
            ).fetchall()
        )
        polled = dict(
            self.conn.execute("SELECT polled_by, count(*) FROM feeds WHERE polled_by IS NOT NULL GROUP BY polled_by")
        )
        for node in nodes:
            node["jobs"] = jobs.get(node["node"], [])
            node["feeds_leased"] = int(feeds.get(node["node"], 0))
            node["feeds_polled_last"] = int(polled.get(node["node"], 0))
        return nodes
