"""The PostgreSQL store: several daemons on one database (`[monitor] database =
"postgresql://…"`). The queries are the mixins SQLite uses; this file adds the schema and
what PostgreSQL spells its own way: the full-text index (a GIN index over the same
normalised tokens, queried with tsquery, its pending list folded beside the writers:
pgindex.py) and reclaiming space (autovacuum's job)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import MonitorError
from ..models import Item, ItemFacts
from ..text import INDEXED_TOKEN_CHARS
from .bodies import BodyQueries
from .cluster import ClusterQueries
from .deliveries import DeliveryQueries
from .desk import DeskQueries
from .feeds import FeedQueries
from .items import ItemQueries
from .listings import ListingQueries
from .pgbulk import BulkWrites
from .pgindex import PendingListFolder
from .schema import (
    BODY_COLUMNS,
    BODY_TABLES,
    CLAIM_COLUMN,
    SCHEDULE_COLUMNS,
    SCHEMA_VERSION,
    V10_STATEMENTS,
    V12_STATEMENTS,
)

_REAL = "double precision"


def _lexemes(fts: str) -> str:
    """The full-text index's tsvector of the index text `fts` (items.fts, the normalised tokens
    SQLite's FTS5 holds too): its tokens as they are, without PostgreSQL's text parser, which
    cost a fifth of an item's insert. A token over INDEXED_TOKEN_CHARS is cut to them (a longer
    lexeme would be stored mangled) and an empty one dropped, so no text fails an insert."""
    cut = f"regexp_replace({fts}, '([^ ]{{{INDEXED_TOKEN_CHARS}}})[^ ]+', '\\1', 'g')"
    return f"array_to_tsvector(array_remove(string_to_array({cut}, ' '), ''))"


# The full-text index: made with the schema, and made again by migration 13.
_FTS_INDEX = f"CREATE INDEX items_fts ON items USING gin ({_lexemes('fts')})"

# Version 8 is the first PostgreSQL schema: everything SQLite's seven migrations built,
# and the cluster's leases and nodes. A later version appends its statements to MIGRATIONS.
SCHEMA = [
    "CREATE TABLE feeds (name text PRIMARY KEY, url text, adopted_url text, etag text, last_modified text,"
    f" next_poll {_REAL}, last_poll {_REAL}, last_success {_REAL}, last_status integer,"
    " consecutive_errors integer DEFAULT 0, last_error text, disabled_reason text, baselined integer DEFAULT 0,"
    f" title text, redirect_target text, redirect_count integer, body_hash text, server_ttl {_REAL},"
    f" lease_node text, lease_until {_REAL}, polled_by text)",
    f"CREATE TABLE stories (id bigserial PRIMARY KEY, canonical_url text, title text, published {_REAL},"
    f" first_seen {_REAL}, signature text)",
    f"CREATE TABLE story_terms (story_id bigint REFERENCES stories(id), term text, at {_REAL})",
    "CREATE TABLE items (id bigserial PRIMARY KEY, feed text, key text, story_id bigint REFERENCES stories(id),"
    " title text, summary text, author text, tags text, link text, canonical_url text, lang text,"
    f" published {_REAL}, first_seen {_REAL}, updated {_REAL}, content_hash text, fts text)",
    "CREATE TABLE alerts (id bigserial PRIMARY KEY, rule text, story_id bigint REFERENCES stories(id),"
    f" item_id bigint REFERENCES items(id), created {_REAL}, terms text, occurrences text)",
    "CREATE TABLE notices (id bigserial PRIMARY KEY, kind text, rule text, feed text, title text, link text,"
    f" body text, alert_id bigint, created {_REAL})",
    "CREATE TABLE deliveries (id bigserial PRIMARY KEY, alert_id bigint REFERENCES alerts(id),"
    " notice_id bigint REFERENCES notices(id), channel text, target text, status text DEFAULT 'pending',"
    f" attempts integer DEFAULT 0, next_attempt {_REAL}, last_error text, created {_REAL}, sent_at {_REAL},"
    f" dead_at {_REAL}, first_failed {_REAL}, fold integer NOT NULL DEFAULT 0, batch bigint, hold text,"
    " message_id text)",
    f"CREATE TABLE feed_health (name text PRIMARY KEY, state text, since {_REAL}, detail text, checked {_REAL})",
    f"CREATE TABLE rule_state (rule text PRIMARY KEY, cooldown_until {_REAL}, spike_since {_REAL})",
    f"CREATE TABLE leases (name text PRIMARY KEY, node text NOT NULL, expires {_REAL} NOT NULL)",
    f"CREATE TABLE nodes (node text PRIMARY KEY, host text, pid integer, started {_REAL}, heartbeat {_REAL},"
    f" stopped {_REAL})",
    "CREATE UNIQUE INDEX stories_url ON stories(canonical_url)",
    "CREATE UNIQUE INDEX items_feed_key ON items(feed, key)",
    "CREATE INDEX items_canonical ON items(canonical_url)",
    "CREATE INDEX items_story_feed ON items(story_id, feed)",
    "CREATE INDEX items_first_seen ON items(first_seen)",
    # The full-text index, and the items not in it yet.
    _FTS_INDEX,
    "CREATE INDEX items_unindexed ON items(id) WHERE fts IS NULL",
    "CREATE INDEX story_terms_term_at ON story_terms(term, at, story_id)",
    "CREATE INDEX story_terms_story ON story_terms(story_id)",
    "CREATE UNIQUE INDEX alerts_rule_story ON alerts(rule, story_id)",
    "CREATE INDEX alerts_story ON alerts(story_id)",
    "CREATE INDEX alerts_rule_created ON alerts(rule, created)",
    "CREATE UNIQUE INDEX deliveries_once ON deliveries(alert_id, channel, target)",
    "CREATE UNIQUE INDEX deliveries_notice ON deliveries(notice_id, channel, target)",
    "CREATE INDEX deliveries_due ON deliveries(status, next_attempt)",
    "CREATE INDEX deliveries_sent ON deliveries(channel, target, sent_at)",
    "CREATE INDEX feeds_due ON feeds(next_poll)",
]
# version -> the statements that bring the one before it there
MIGRATIONS: dict[int, list[str]] = {
    9: [
        *(f"ALTER TABLE items ADD COLUMN {column} {decl.replace('REAL', _REAL)}" for column, decl in BODY_COLUMNS),
        *BODY_TABLES,
    ],
    10: [CLAIM_COLUMN, *(sql.replace("REAL", _REAL) for sql in V10_STATEMENTS)],
    11: [f"ALTER TABLE feeds ADD COLUMN {column} {decl.replace('REAL', _REAL)}" for column, decl in SCHEDULE_COLUMNS],
    12: list(V12_STATEMENTS),
    13: ["DROP INDEX items_fts", _FTS_INDEX],
}

# A chunk of items' index texts, written by one statement.
_INDEX_ROW = (("id", "bigint"), ("fts", "text"))

# An FTS5 narrowing expression (rules/explain.py to_fts): quoted tokens, a * for a prefix,
# AND, OR and parentheses.
_FTS5_TOKEN = re.compile(r'"([^"]*)"(\*?)|(AND|OR|\(|\))')


def fts5_to_tsquery(expression: str) -> str:
    """The same narrowing as a tsquery literal: 'token', 'prefix':*, & and |, each token the
    lexeme it names. Its tokens are letters and digits only (to_fts refuses any other), so
    none needs escaping."""
    out = []
    for token, star, word in _FTS5_TOKEN.findall(expression):
        if word:
            out.append({"AND": "&", "OR": "|"}.get(word, word))
        else:
            out.append(f"'{token}'" + (":*" if star else ""))
    return " ".join(out)


class PostgresStore(
    BulkWrites, FeedQueries, ItemQueries, BodyQueries, DeliveryQueries, DeskQueries, ClusterQueries, ListingQueries
):
    """Every query of the store contract (contract.py) over a PostgreSQL connection pool."""

    # The shared terms counted story by story (LATERAL), each story's terms looked up by its id
    # among its headline's: a hash of every found story's terms against every asked term cost
    # PostgreSQL more, and with statistics of a smaller table it read all of story_terms.
    _SHARED_TERMS = (
        "SELECT p.k, p.story_id, x.shared FROM p JOIN (SELECT k, array_agg(term) AS terms FROM q GROUP BY k) qa"
        " ON qa.k = p.k CROSS JOIN LATERAL (SELECT count(*) AS shared FROM story_terms t"
        " WHERE t.story_id = p.story_id AND t.term = ANY(qa.terms)) x WHERE x.shared >= ?"
    )

    def __init__(self, url: str, busy_timeout: float = 30.0, node: str = "") -> None:
        super().__init__(url, busy_timeout)
        self.node = node
        self._index_folder = PendingListFolder(self)
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def _migrate(self) -> None:
        with self.transaction():  # the write lock: two daemons starting at once migrate once
            self.conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
            row = self.conn.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if version > SCHEMA_VERSION:
                raise MonitorError(
                    f"the database {self.path} was written by a newer monitor (schema {version}; "
                    f"this one knows up to {SCHEMA_VERSION})",
                    hint="run the newer monitor on every node, or point [monitor] database at a copy made before "
                    "the upgrade",
                )
            if version == SCHEMA_VERSION:
                return
            statements = list(SCHEMA) if version == 0 else []
            for step in range(max(version, 8) + 1, SCHEMA_VERSION + 1):
                statements += MIGRATIONS[step]
            for sql in statements:
                self.conn.execute(sql)
            self.conn.execute("DELETE FROM schema_version")
            self.conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))

    def insert_items(
        self, feed: str, items: Sequence[tuple[Item, ItemFacts, int, str | None]], now: float
    ) -> list[int]:
        ids = super().insert_items(feed, items, now)
        self._index_folder.written(text for _, _, _, text in items)
        return ids

    def update_item(self, item_id: int, item: Item, facts: ItemFacts, search_text: str, now: float) -> None:
        super().update_item(item_id, item, facts, search_text, now)
        self._index_folder.written([search_text])

    def store_body(self, item_id: int, body: str, search_text: str, link: str | None = None) -> bool:
        stored = super().store_body(item_id, body, search_text, link)
        self._index_folder.written([search_text])
        return stored

    def close(self) -> None:
        self._index_folder.close()  # before the pool its folds borrow from
        super().close()

    def index_pending(self, search_text: Callable[[str, str, str], str], chunk: int = 1000) -> Iterator[int]:
        """Give the items stored without an index text theirs (ingest writes it with the item;
        insert_item and older monitors did not), `chunk` per transaction, in one statement each
        (the GIN index follows the column). Yields how many each transaction indexed."""
        while True:
            with self.transaction():
                rows = self.conn.execute(
                    "SELECT id, title, summary, body FROM items WHERE fts IS NULL ORDER BY id LIMIT ?", (chunk,)
                ).fetchall()
                if not rows:
                    return
                texts = [(item_id, search_text(t or "", s or "", b or "")) for item_id, t, s, b in rows]
                self.conn.execute(
                    f"UPDATE items SET fts = t.fts FROM {self.rows_table(_INDEX_ROW)} AS t WHERE items.id = t.id",
                    self.rows_params(_INDEX_ROW, texts),
                )
                self._index_folder.written(text for _, text in texts)
            yield len(rows)

    def reclaim_space(self) -> None:
        """Autovacuum gives pruned rows' space back to the table."""

    def stored_items(
        self, since: float | None, fts_query: str | None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The items that arrived since `since`, the newest first, narrowed by an FTS5 expression (as
        a tsquery) when one is given."""
        if not fts_query:
            return self._items_newest_first(since, None, [], limit)
        # Items not indexed yet (fts NULL) are candidates too: the rule engine matches every
        # candidate exactly.
        narrowing = f"({_lexemes('i.fts')} @@ ?::tsquery OR i.fts IS NULL)"
        return self._items_newest_first(since, narrowing, [fts5_to_tsquery(fts_query)], limit)

    def _stream(self, sql: str, params: list[Any]) -> Iterator[dict[str, Any]]:
        return self.stream(sql, params)
