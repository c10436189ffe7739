"""The full-text index's pending list, folded into the index beside the writers (PostgreSQL).

A GIN index takes a new row's entries into a pending list, cheap to append to, and folds the
list into the index proper once it passes gin_pending_list_limit: inside whichever insert
passed it. That insert is an ingest's, which holds the cluster's write lock while the server
sorts and merges some thousands of items' words, and every node's store work waits behind
it. So the store folds the list itself, every so much text written, on a thread and a pooled
connection of its own, outside any transaction: the writers only append. An insert that
finds the list being folded does not fold it too (the server skips its turn), and the two
take nothing else from each other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import MonitorError

log = logging.getLogger(__name__)

# The pending list's limit on the store's connections (pgconnection sets it), past which an
# insert folds the list itself: four times PostgreSQL's default, as a fold of more items at
# once costs less per item, and it is a margin for a fold running late. A full-text query
# reads the whole list: up to this much.
PENDING_LIST_LIMIT = "16MB"
# Characters of index text written between two folds: about half the limit (an item of the
# fixtures' size, some 330 characters, leaves some 0.9 kB in the list), so a fold ends long
# before an insert would start one. Counted in characters, so that article bodies count as
# the many words they bring.
FOLD_EVERY = 2_500_000


class PendingListFolder:
    """Folds `index`'s pending list after every FOLD_EVERY characters of index text written
    (`written`). `conn` is the store's connection pool; `close` waits for a fold under way."""

    def __init__(self, conn: Any, index: str = "items_fts") -> None:
        self._conn = conn
        self._sql = f"SELECT gin_clean_pending_list('{index}'::regclass)"
        self._every = FOLD_EVERY
        self._lock = threading.Lock()
        self._unfolded = 0
        self._folding = False
        self._refused = False
        self._thread: ThreadPoolExecutor | None = None  # made at the first fold: most commands write none

    def written(self, texts: Iterable[str | None]) -> None:
        """These index texts are in the list now: fold it, unless a fold is under way or due later."""
        size = sum(len(text) for text in texts if text)
        with self._lock:
            self._unfolded += size
            if self._folding or self._refused or self._unfolded < self._every:
                return
            self._folding, self._unfolded = True, 0
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="monitor-index")
            self._thread.submit(self._fold)

    def _fold(self) -> None:
        import psycopg

        try:
            self._conn.conn.execute(self._sql)
        except MonitorError as exc:  # the server away: the next fold, or an insert, does it
            log.debug("full-text index not folded: %s", exc)
        except psycopg.errors.InsufficientPrivilege:  # only the index's owner may fold it
            self._refuse(
                "the database role does not own the full-text index, so ingest folds its pending list itself "
                "(slower); make the role monitor logs in as the owner of its tables to spare it"
            )
        except psycopg.Error as exc:  # an index dropped or renamed by hand, say
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            self._refuse(f"full-text index not folded ({reason}), so ingest folds its pending list itself (slower)")
        except Exception:  # a bug: a thread's error has no caller to reach, so it is said here
            log.exception("full-text index not folded")
            self._refuse("full-text index: ingest folds its pending list itself from now on (slower)")
        finally:
            with self._lock:
                self._folding = False

    def _refuse(self, message: str) -> None:
        """This database will not have the store fold its index: the inserts fold it, as they
        always did, and no fold is tried again."""
        log.warning("%s", message)
        with self._lock:
            self._refused = True

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
