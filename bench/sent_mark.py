"""The cost of the durable sent mark: N deliveries marked sent one commit each, with the
commit synced (synchronous=FULL, as the outbox does) and without (NORMAL, every other
write). On the disk the database is on (pass a folder: the default is a temporary one).

    .venv/bin/python bench/sent_mark.py [--n 500] [--folder DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.models import Item
from monitor.parsing.facts import item_facts
from monitor.store import SQLiteStore


def deliveries(store: SQLiteStore, n: int) -> list[int]:
    now = time.time()
    with store.transaction():
        for i in range(n):
            item = Item(
                key=f"k{i}",
                title=f"t{i}",
                summary="",
                link=f"https://e.x/{i}",
                published=datetime.fromtimestamp(now, tz=UTC),
            )
            story = store.new_story(item.link, item.title, now, [], now)
            item_id = store.insert_item("f", item, item_facts(item), story, now)
            alert = store.record_alert(f"r{i}", story, item_id, [], [], now)
            assert alert is not None
            store.enqueue(alert, "c", "t", now)
    return [r[0] for r in store.conn.execute("SELECT id FROM deliveries ORDER BY id")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--folder", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        for label, durable in (("NORMAL", False), ("FULL (the sent mark)", True), ("NORMAL", False)):
            store = SQLiteStore(Path(folder) / f"{label[:4]}-{durable}-{time.monotonic_ns()}.db")
            ids = deliveries(store, args.n)
            start = time.perf_counter()
            for i in ids:
                if durable:
                    store.mark_sent_together([i], time.time())
                else:
                    with store.transaction():
                        store.conn.execute(
                            "UPDATE deliveries SET status = 'sent', sent_at = ? WHERE id = ?", (time.time(), i)
                        )
            each = (time.perf_counter() - start) / len(ids) * 1000
            print(f"{label:<22} {len(ids)} commits: {each:.3f} ms each")
            store.close()


if __name__ == "__main__":
    main()
