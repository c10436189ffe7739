"""Feed health on its channel: one message per change of state, never a storm."""

from __future__ import annotations

import json

from deskkit import DAY, HOUR, T0, desk_config, rss

from monitor.config import Settings
from monitor.desk.feed_health import silence
from monitor.text import span


def titles(webhook) -> list[str]:
    return [m["title"] for m in webhook.messages()]


def test_a_feed_that_fails_then_recovers_sends_exactly_two_health_messages(
    tmp_path, feed_server, webhook, run_cli, open_rig
):
    doc = rss([("a1", "Morning bulletin", T0 - HOUR)])
    url = feed_server.serve("/wire.xml", doc)
    path = desk_config(tmp_path, {"wire": url}, [webhook.apprise_url], {"health_channel": "desk", "failing_after": 3})
    rig = open_rig(path)
    assert rig.poll("wire").status == "ok"
    feed_server.serve("/wire.xml", b"boom", status=500, validators=False)
    for _ in range(6):  # below the threshold, at it, and on and on: one message
        rig.clock.advance(10 * 60)
        assert rig.poll("wire").status == "error"
        rig.deliver()
    assert titles(webhook) == ["[feed health] wire is failing"]
    body = webhook.messages()[0]["message"]
    assert "3 consecutive errors" in body and "500" in body

    feeds = json.loads(run_cli("--config", str(path), "feeds", "--json").stdout)
    assert (feeds[0]["health"], feeds[0]["consecutive_errors"]) == ("failing", 6)
    assert "failing since" in run_cli("--config", str(path), "feeds").stdout

    feed_server.serve("/wire.xml", doc)
    for _ in range(3):
        rig.clock.advance(10 * 60)
        rig.poll("wire")
        rig.deliver()
    assert titles(webhook) == ["[feed health] wire is failing", "[feed health] wire recovered"]
    assert json.loads(run_cli("--config", str(path), "feeds", "--json").stdout)[0]["health"] == "ok"


def test_a_poll_that_stores_items_reads_its_feed_s_row_once(tmp_path, feed_server, webhook, open_rig, monkeypatch):
    """Feed health assesses the row the ingest's record of the poll returned: it does not
    read it again, and a feed back from silence is still seen to recover."""
    daily = [(f"d{n}", f"Daily column {n}", T0 - n * DAY) for n in range(10)]
    url = feed_server.serve("/daily.xml", rss(daily))
    path = desk_config(tmp_path, {"daily": url}, [webhook.apprise_url], {"health_channel": "desk"})
    rig = open_rig(path)
    for _ in range(6):
        rig.poll("daily")
        rig.clock.advance(DAY)
    assert rig.store.feed_health("daily")["state"] == "silent"
    reads: list[str] = []
    read = rig.store.feed_state
    monkeypatch.setattr(rig.store, "feed_state", lambda name: reads.append(name) or read(name))
    feed_server.serve("/daily.xml", rss([("new", "Daily column, again", rig.clock.now), *daily]))
    assert rig.poll("daily").new_items == 1
    rig.deliver()
    assert reads == ["daily"]  # before fetching
    assert titles(webhook) == ["[feed health] daily is silent", "[feed health] daily recovered"]
    assert rig.store.feed_health("daily")["state"] == "ok"


def test_failing_longer_than_the_set_time_counts_even_below_the_error_count(tmp_path, feed_server, webhook, open_rig):
    url = feed_server.serve("/slow.xml", rss([("a1", "Bulletin", T0)]))
    path = desk_config(
        tmp_path,
        {"slow": url},
        [webhook.apprise_url],
        {"health_channel": "desk", "failing_after": 10, "failing_for": "6h"},
    )
    rig = open_rig(path)
    rig.poll("slow")
    feed_server.serve("/slow.xml", b"", status=503, validators=False)
    rig.clock.advance(2 * HOUR)
    rig.poll("slow")
    rig.clock.advance(5 * HOUR)  # 7 h without a success, 2 errors
    rig.poll("slow")
    rig.deliver()
    assert titles(webhook) == ["[feed health] slow is failing"]


def test_a_steady_daily_feed_that_stops_is_reported_silent_once(tmp_path, feed_server, webhook, open_rig):
    daily = [(f"d{n}", f"Daily column {n}", T0 - n * DAY) for n in range(10)]
    url = feed_server.serve("/daily.xml", rss(daily))
    path = desk_config(tmp_path, {"daily": url}, [webhook.apprise_url], {"health_channel": "desk"})
    rig = open_rig(path)
    for _ in range(9):  # the feed keeps answering (304), but nothing new for 8 days
        rig.poll("daily")
        rig.deliver()
        rig.clock.advance(DAY)
    assert titles(webhook) == ["[feed health] daily is silent"]
    assert "usually publishes one every 1d" in webhook.messages()[0]["message"]
    # Four median gaps (4 days) is the line: not before.
    health = rig.store.feed_health("daily")
    assert health["state"] == "silent" and T0 + 4 * DAY < health["since"] <= T0 + 5 * DAY

    feed_server.serve("/daily.xml", rss([("new", "Daily column, again", rig.clock.now), *daily]))
    rig.poll("daily")
    rig.deliver()
    assert titles(webhook)[-1] == "[feed health] daily recovered"


def test_gone_and_moved_feeds_are_reported_with_what_to_do(tmp_path, feed_server, webhook, open_rig):
    gone = feed_server.serve("/gone.xml", b"", status=410, validators=False)
    new = feed_server.serve("/new.xml", rss([("a1", "Bulletin", T0)]))

    def moved(handler):
        handler.send_response(301)
        handler.send_header("Location", new)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    feed_server.handlers["/old.xml"] = moved
    path = desk_config(
        tmp_path,
        {"gone": gone, "old": feed_server.url("/old.xml")},
        [webhook.apprise_url],
        {"health_channel": "desk", "adopt_redirect_after": 2},
    )
    rig = open_rig(path)
    rig.poll("gone")
    for _ in range(3):  # adopted at the second answer from the new address; the third changes nothing
        rig.poll("old")
        rig.clock.advance(HOUR)
    rig.deliver()
    messages = {m["title"]: m["message"] for m in webhook.messages()}
    assert set(messages) == {"[feed health] gone is gone", "[feed health] old moved"}
    assert "410" in messages["[feed health] gone is gone"]
    assert f'url = "{new}"' in messages["[feed health] old moved"]


def test_no_health_channel_keeps_the_state_but_sends_nothing(tmp_path, feed_server, webhook, open_rig):
    url = feed_server.serve("/x.xml", b"", status=410, validators=False)
    rig = open_rig(desk_config(tmp_path, {"x": url}, [webhook.apprise_url]))
    rig.poll("x")
    rig.deliver()
    assert webhook.received == [] and rig.store.feed_health("x")["state"] == "gone"


def test_silence_needs_history_and_scales_with_the_cadence():
    s = Settings(database="x", silent_factor=4, silent_min=DAY)
    hourly = [T0 - n * HOUR for n in range(20)]
    assert silence(hourly[:4], T0 + 10 * DAY, s) == ""  # too little history to know its cadence
    assert silence(hourly, T0 + 23 * HOUR, s) == ""  # 4 gaps is 4 h, but never under a day
    assert "no new item for 1d 1h" in silence(hourly, T0 + 25 * HOUR, s)
    assert span(90061) == "1d 1h" and span(3700) == "1h 1m"
