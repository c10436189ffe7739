"""Volume spikes: one alert when a rule's hourly matches rise well above its own baseline."""

from __future__ import annotations

from datetime import UTC, datetime

from deskkit import DAY, HOUR, ISRAEL, T0, Rig, desk_config, rss

from monitor.models import Item
from monitor.parsing.facts import item_facts


def titles(webhook) -> list[str]:
    return [m["title"] for m in webhook.messages()]


def baseline(rig: Rig, feed: str = "wire") -> None:
    rig.ingest(feed, rss([("old", "Yesterday's weather", T0 - DAY)]))


def seed_history(rig: Rig, rule: str, every: float, days: float) -> None:
    """The rule's past: one alert every `every` seconds over `days` days before T0."""
    with rig.store.transaction():
        n, t = 0, T0 - days * DAY
        while t < T0 - HOUR:
            item = Item(
                key=f"h{n}",
                title=f"Old Israel story {n}",
                summary="",
                link=f"https://example.com/h{n}",
                published=datetime.fromtimestamp(t, tz=UTC),
            )
            story = rig.store.new_story(item.link, item.title, t, [], t)
            item_id = rig.store.insert_item("archive", item, item_facts(item), story, t)
            rig.store.record_alert(rule, story, item_id, ["Israel"], [], t)
            n, t = n + 1, t + every


def test_a_burst_over_a_seeded_history_is_one_spike_alert_until_it_subsides(tmp_path, webhook, open_rig):
    rules = [{**ISRAEL, "spike": True, "spike_min": 4}]
    rig = open_rig(desk_config(tmp_path, {"wire": "https://example.com/feed"}, [webhook.apprise_url], rules=rules))
    seed_history(rig, "israel", every=6 * HOUR, days=7)  # about 0.17 an hour
    baseline(rig)
    items: list[tuple[str, str, float]] = []

    def burst(count: int, minutes: float) -> None:
        rig.clock.advance(minutes * 60)
        start = len(items)
        items.extend((f"s{n}", f"Israel development number {n}", rig.clock.now) for n in range(start, start + count))
        rig.ingest("wire", rss(items))
        rig.deliver()

    def spikes() -> list[dict]:
        return [m for m in webhook.messages() if "spike" in m["title"]]

    burst(2, 0)
    assert spikes() == []
    burst(3, 10)  # 5 in the hour: at least 4, and more than 3 x 0.17
    [spike] = spikes()
    assert spike["title"] == "[israel] spike: 5 matches in the last hour, usually 0.2 an hour"
    assert "Israel development number 4" in spike["message"] and "1 outlet" in spike["message"]
    burst(4, 10)  # still spiking: no second spike alert
    assert len(spikes()) == 1
    burst(1, 3 * 60)  # the hour has calmed down: the spike is over
    burst(5, 10)
    assert len(spikes()) == 2
    assert len(webhook.received) == 15 + 2  # every match still alerts on its own


def test_no_spike_without_a_day_of_history(tmp_path, webhook, open_rig):
    rules = [{**ISRAEL, "spike": True, "spike_min": 2}]
    rig = open_rig(desk_config(tmp_path, {"wire": "https://example.com/feed"}, [webhook.apprise_url], rules=rules))
    baseline(rig)
    rig.ingest("wire", rss([(f"n{n}", f"Israel news {n}", T0) for n in range(6)]))
    rig.deliver()
    assert len(webhook.received) == 6 and not any("spike" in t for t in titles(webhook))
