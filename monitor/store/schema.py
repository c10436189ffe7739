"""The SQLite schema and its migrations (PostgreSQL's: postgres.py)."""

from __future__ import annotations

from ..errors import MonitorError
from .connection import SQLiteConnection

# Each _migrate_* step below brings an older file up to this version; what each version
# added is in its docstring, and a newer file than this is refused.
SCHEMA_VERSION = 13  # 13 changed only PostgreSQL's full-text index (postgres.py)

# The full-text index only narrows a backtest: every candidate is then matched exactly by the
# rule engine. So it keeps neither token positions nor document sizes (no phrase, NEAR or bm25
# queries; phrases narrow as AND, see rules/explain.py): about a fifth cheaper per stored item.
FTS_OPTIONS = "detail=none, columnsize=0"

# v9, in SQL both databases speak (postgres.py runs the same statements).
BODY_COLUMNS = (("body", "TEXT"), ("body_state", "TEXT"), ("body_due", "REAL"), ("body_attempts", "INTEGER"))
# v10, in SQL both databases speak (postgres.py runs the same statements): which feeds the
# configuration in force polls, so that a claim carries no list of names; stories and alerts by
# date, and where retention stopped last, so that it reads only what aged out since.
CLAIM_COLUMN = "ALTER TABLE feeds ADD COLUMN polled INTEGER NOT NULL DEFAULT 0"
V10_STATEMENTS = (
    "CREATE INDEX stories_first_seen ON stories(first_seen)",
    "CREATE INDEX alerts_created ON alerts(created)",  # alerts today (STATUS=), not all alerts ever
    "CREATE INDEX items_feed_seen ON items(feed, first_seen)",  # a feed's latest items (feed health)
    "CREATE TABLE marks (name TEXT PRIMARY KEY, value REAL NOT NULL)",
)
# v11, likewise: each feed's learned publishing rate (polling/rates.py) and the interval its
# last poll chose, with why.
SCHEDULE_COLUMNS = (
    ("rate_events", "REAL"),
    ("rate_at", "REAL"),
    ("rate_since", "REAL"),
    ("poll_interval", "REAL"),
    ("poll_reason", "TEXT"),
    ("poll_rate", "REAL"),
)
# v12, likewise: a story's terms by story and term, read to count the terms a headline shares
# with a candidate story.
V12_STATEMENTS = (
    "CREATE INDEX story_terms_story_term ON story_terms(story_id, term)",
    "DROP INDEX story_terms_story",  # story_terms_story_term covers it
)
BODY_TABLES = (
    "CREATE TABLE body_counts (feed TEXT NOT NULL, outcome TEXT NOT NULL, count INTEGER NOT NULL,"
    " PRIMARY KEY (feed, outcome))",
    # The queue: only the items waiting, by when each is due.
    "CREATE INDEX items_body_queue ON items(body_due) WHERE body_state = 'pending'",
)


class SchemaMixin(SQLiteConnection):
    """Creates and migrates the tables. Part of SQLiteStore (sqlite.py)."""

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise MonitorError(
                f"the database {self.path} was written by a newer monitor (schema {version}; "
                f"this one knows up to {SCHEMA_VERSION})",
                hint="run the newer monitor, or point [monitor] database at a copy made before the upgrade",
            )
        if version == SCHEMA_VERSION:
            return
        if version == 0:
            # Only effective before the first table exists: lets pruning give space back.
            self.conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db = self.db
        with self.transaction():
            db["feeds"].create(
                {
                    "name": str,
                    "url": str,
                    "adopted_url": str,
                    "etag": str,
                    "last_modified": str,
                    "next_poll": float,
                    "last_poll": float,
                    "last_success": float,
                    "last_status": int,
                    "consecutive_errors": int,
                    "last_error": str,
                    "disabled_reason": str,
                    "baselined": int,
                    "title": str,
                    "redirect_target": str,
                    "redirect_count": int,
                    "body_hash": str,
                    "server_ttl": float,
                },
                pk="name",
                if_not_exists=True,
                defaults={"consecutive_errors": 0, "baselined": 0},
            )
            db["stories"].create(
                {
                    "id": int,
                    "canonical_url": str,
                    "title": str,
                    "published": float,
                    "first_seen": float,
                    "signature": str,
                },
                pk="id",
                if_not_exists=True,
            )
            if "signature" not in {row[1] for row in self.conn.execute("PRAGMA table_info(stories)")}:
                # v5: the headline signature (dedup.TitleSignature.encode), so candidates are never
                # tokenised again; NULL on older stories, whose headline is read instead.
                self.conn.execute("ALTER TABLE stories ADD COLUMN signature TEXT")
            # Headline terms of each story, so near-identical headlines are found by index;
            # `at` is the story's date (coalesce(published, first_seen)).
            db["story_terms"].create(
                {"story_id": int, "term": str, "at": float},
                if_not_exists=True,
                foreign_keys=[("story_id", "stories", "id")],
            )
            if "at" not in {row[1] for row in self.conn.execute("PRAGMA table_info(story_terms)")}:
                self.conn.execute("ALTER TABLE story_terms ADD COLUMN at REAL")  # v4
                self.conn.execute(
                    "UPDATE story_terms SET at = (SELECT coalesce(published, first_seen) FROM stories"
                    " WHERE stories.id = story_terms.story_id)"
                )
            db["items"].create(
                {
                    "id": int,
                    "feed": str,
                    "key": str,
                    "story_id": int,
                    "title": str,
                    "summary": str,
                    "author": str,
                    "tags": str,
                    "link": str,
                    "canonical_url": str,
                    "lang": str,
                    "published": float,
                    "first_seen": float,
                    "updated": float,
                    "content_hash": str,
                    "fts": str,
                },
                pk="id",
                if_not_exists=True,
                foreign_keys=[("story_id", "stories", "id")],
            )
            db["alerts"].create(
                {
                    "id": int,
                    "rule": str,
                    "story_id": int,
                    "item_id": int,
                    "created": float,
                    "terms": str,
                    "occurrences": str,
                },
                pk="id",
                if_not_exists=True,
                foreign_keys=[("story_id", "stories", "id"), ("item_id", "items", "id")],
            )
            db["deliveries"].create(
                {
                    "id": int,
                    "alert_id": int,
                    "channel": str,
                    "target": str,
                    "status": str,
                    "attempts": int,
                    "next_attempt": float,
                    "last_error": str,
                    "created": float,
                    "sent_at": float,
                },
                pk="id",
                if_not_exists=True,
                defaults={"attempts": 0, "status": "pending"},
                foreign_keys=[("alert_id", "alerts", "id")],
            )
            for sql in (
                "CREATE UNIQUE INDEX IF NOT EXISTS stories_url ON stories(canonical_url)",
                "CREATE UNIQUE INDEX IF NOT EXISTS items_feed_key ON items(feed, key)",
                "CREATE INDEX IF NOT EXISTS items_canonical ON items(canonical_url)",
                # v7: with the feed, so "has this story an item from this feed?" (asked of every
                # headline candidate) is one index probe, not a read of each of the story's items.
                "CREATE INDEX IF NOT EXISTS items_story_feed ON items(story_id, feed)",
                "DROP INDEX IF EXISTS items_story",  # up to v6: items_story_feed covers it
                "CREATE INDEX IF NOT EXISTS items_first_seen ON items(first_seen)",
                # Covering, and by date: counting a headline's shared terms reads only the
                # postings inside the matching window, never the table.
                "CREATE INDEX IF NOT EXISTS story_terms_term_at ON story_terms(term, at, story_id)",
                "CREATE UNIQUE INDEX IF NOT EXISTS alerts_rule_story ON alerts(rule, story_id)",
                "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_once ON deliveries(alert_id, channel, target)",
                "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_attempt)",
            ):
                self.conn.execute(sql)
            self._migrate_lean_indexes()
            self._migrate_outbox()
            self._migrate_desk()
            self._migrate_index_behind()
            self._migrate_cluster()
            self._migrate_bodies()
            self._migrate_claims()
            self._migrate_schedule()
            for sql in V12_STATEMENTS:
                self.conn.execute(
                    sql.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS").replace(
                        "DROP INDEX", "DROP INDEX IF EXISTS"
                    )
                )
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _migrate_lean_indexes(self) -> None:
        """v4: items_fts (re)created with FTS_OPTIONS (external content: the text itself
        lives in items.fts only; the triggers that keep it in step: _migrate_index_behind); the
        items(published) index, which no query could use (they all read
        coalesce(published, first_seen)), and story_terms(term), now covered, dropped;
        story_terms carries its story's date (`at`) for story_terms_term_at."""
        row = self.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'items_fts'").fetchone()
        if row and FTS_OPTIONS in row[0]:
            return
        for trigger in ("items_ai", "items_ad", "items_au"):
            self.conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        self.conn.execute("DROP TABLE IF EXISTS items_fts")
        self.conn.execute(f"CREATE VIRTUAL TABLE items_fts USING fts5(fts, content=items, {FTS_OPTIONS})")
        if row:  # an older database: index what it holds
            self.conn.execute("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")
        self.conn.execute("DROP INDEX IF EXISTS items_published")
        self.conn.execute("DROP INDEX IF EXISTS story_terms_term")  # story_terms_term_at covers it

    def _migrate_index_behind(self) -> None:
        """v6: items are indexed a step behind ingest, in bulk (ItemQueries.index_pending), not
        by a trigger per insert: the index only serves backtests, and a trigger made it a large
        share of ingest's CPU. `index_state.indexed_upto`: every item with an id up to it is in
        items_fts, and no other. The triggers touch only those rows (an FTS5 'delete' of a row
        never indexed corrupts the index). An item inserted below the mark (its id reused after
        the newest item was deleted) lowers the mark below itself: SQLite gives a new row the
        largest id plus one, so no item above the new mark is indexed. Every older database had
        all its items indexed."""
        if self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'index_state'").fetchone():
            return
        self.conn.execute("CREATE TABLE index_state (indexed_upto INTEGER NOT NULL)")
        self.conn.execute("INSERT INTO index_state SELECT coalesce(max(id), 0) FROM items")
        for trigger in ("items_ai", "items_ad", "items_au"):
            self.conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        indexed = "(SELECT indexed_upto FROM index_state)"
        for sql in (
            f"CREATE TRIGGER items_ai AFTER INSERT ON items WHEN new.id <= {indexed} BEGIN"
            " UPDATE index_state SET indexed_upto = new.id - 1; END",
            f"CREATE TRIGGER items_ad AFTER DELETE ON items WHEN old.id <= {indexed} BEGIN"
            " INSERT INTO items_fts (items_fts, rowid, fts) VALUES ('delete', old.id, old.fts); END",
            f"CREATE TRIGGER items_au AFTER UPDATE OF fts ON items WHEN old.id <= {indexed} BEGIN"
            " INSERT INTO items_fts (items_fts, rowid, fts) VALUES ('delete', old.id, old.fts);"
            " INSERT INTO items_fts (rowid, fts) VALUES (new.id, new.fts); END",
        ):
            self.conn.execute(sql)

    def _migrate_cluster(self) -> None:
        """v8: feed leases, job leases and nodes (cluster.py), as on PostgreSQL, where several
        daemons share a database; on SQLite the one daemon holds them all. Guarded by the columns."""
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(feeds)")}
        for column, decl in (("lease_node", "TEXT"), ("lease_until", "REAL"), ("polled_by", "TEXT")):
            if column not in have:
                self.conn.execute(f"ALTER TABLE feeds ADD COLUMN {column} {decl}")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, node TEXT NOT NULL, expires REAL NOT NULL)"
        )
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS nodes (node TEXT PRIMARY KEY, host TEXT, pid INTEGER, started REAL,"
            " heartbeat REAL, stopped REAL)"
        )

    def _migrate_bodies(self) -> None:
        """v9: article bodies on items, their queue (bodies.py) and their counters per feed.
        Guarded by the columns."""
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(items)")}
        for column, decl in BODY_COLUMNS:
            if column not in have:
                self.conn.execute(f"ALTER TABLE items ADD COLUMN {column} {decl}")
        for sql in BODY_TABLES:
            self.conn.execute(
                sql.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS").replace(
                    "CREATE INDEX", "CREATE INDEX IF NOT EXISTS"
                )
            )

    def _migrate_claims(self) -> None:
        """v10: feeds.polled (sync_feeds sets it from the configuration put in force), stories
        by first_seen, and `marks` (retention's watermark); feeds by next_poll, which PostgreSQL
        always had: without it every claim (one a second) read the whole feeds table. Guarded
        by the columns."""
        if "polled" not in {row[1] for row in self.conn.execute("PRAGMA table_info(feeds)")}:
            self.conn.execute(CLAIM_COLUMN)
        self.conn.execute("CREATE INDEX IF NOT EXISTS feeds_due ON feeds(next_poll)")
        for sql in V10_STATEMENTS:
            self.conn.execute(
                sql.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS").replace(
                    "CREATE INDEX", "CREATE INDEX IF NOT EXISTS"
                )
            )

    def _migrate_schedule(self) -> None:
        """v11: feeds' learned rates and chosen intervals (SCHEDULE_COLUMNS). Guarded by the columns."""
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(feeds)")}
        for column, decl in SCHEDULE_COLUMNS:
            if column not in have:
                self.conn.execute(f"ALTER TABLE feeds ADD COLUMN {column} {decl}")

    def _migrate_outbox(self) -> None:
        """v2: dead letters, age-out, flood folding and message batches on deliveries.

        Guarded by the columns themselves rather than the version number, so it is
        safe whatever other migrations run around it.
        """
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(deliveries)")}
        for column, decl in (
            ("dead_at", "REAL"),  # set when the delivery aged out (status 'dead')
            ("first_failed", "REAL"),  # start of the age-out clock
            ("fold", "INTEGER NOT NULL DEFAULT 0"),  # 1: held by the flood guard for one digest
            ("batch", "INTEGER"),  # deliveries sent in one message share the id of its first
        ):
            if column not in have:
                self.conn.execute(f"ALTER TABLE deliveries ADD COLUMN {column} {decl}")
        self.conn.execute("CREATE INDEX IF NOT EXISTS deliveries_sent ON deliveries(channel, target, sent_at)")

    def _migrate_desk(self) -> None:
        """v3: notices (feed health, spikes, story updates) delivered through the
        outbox like alerts, holds (cooldown, quiet hours), email Message-IDs, and the small
        state of feed health and of rules (cooldown window, spike). Guarded by the columns."""
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(deliveries)")}
        for column, decl in (
            ("notice_id", "INTEGER REFERENCES notices(id)"),  # set instead of alert_id for a notice
            ("hold", "TEXT"),  # "cooldown" / "quiet": released folded into one message of that kind
            ("message_id", "TEXT"),  # the email Message-ID it went out under (threads replies)
        ):
            if column not in have:
                self.conn.execute(f"ALTER TABLE deliveries ADD COLUMN {column} {decl}")
        self.db["notices"].create(
            {
                "id": int,
                "kind": str,
                "rule": str,
                "feed": str,
                "title": str,
                "link": str,
                "body": str,
                "alert_id": int,
                "created": float,
            },
            pk="id",
            if_not_exists=True,
        )
        self.db["feed_health"].create(
            {"name": str, "state": str, "since": float, "detail": str, "checked": float},
            pk="name",
            if_not_exists=True,
        )
        self.db["rule_state"].create(
            {"rule": str, "cooldown_until": float, "spike_since": float},
            pk="rule",
            if_not_exists=True,
        )
        for sql in (
            "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_notice ON deliveries(notice_id, channel, target)",
            "CREATE INDEX IF NOT EXISTS alerts_story ON alerts(story_id)",
            "CREATE INDEX IF NOT EXISTS alerts_rule_created ON alerts(rule, created)",
        ):
            self.conn.execute(sql)
