"""Cooldowns and quiet hours (and the desk options), with real SQLite and a webhook, on a driven clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from deskkit import DAY, HOUR, ISRAEL, T0, Rig, desk_config, rss

from monitor.config import ChannelConfig, load_config
from monitor.delivery.holds import quiet_end
from monitor.delivery.outbox import outbox_rows
from monitor.errors import ConfigError


def titles(webhook) -> list[str]:
    return [m["title"] for m in webhook.messages()]


def baseline(rig: Rig, feed: str = "wire") -> None:
    rig.ingest(feed, rss([("old", "Yesterday's weather", T0 - DAY)]))


def test_cooldown_sends_the_first_match_at_once_and_folds_the_rest_into_one_follow_up(tmp_path, webhook, open_rig):
    rules = [{**ISRAEL, "cooldown": "30m"}]
    rig = open_rig(desk_config(tmp_path, {"wire": "https://example.com/feed"}, [webhook.apprise_url], rules=rules))
    baseline(rig)
    seen: list[tuple[str, str, float]] = []

    def arrive(guid: str, minutes: float) -> None:
        rig.clock.now = T0 + minutes * 60
        seen.append((guid, f"Israel story {guid}", rig.clock.now))
        rig.ingest("wire", rss(seen))
        rig.deliver()

    arrive("a", 0)
    assert titles(webhook) == ["[israel] Israel story a"]
    arrive("b", 5)
    arrive("c", 12)
    arrive("d", 29)
    assert len(webhook.received) == 1  # b, c, d wait for the window's end
    assert [r["state"] for r in outbox_rows(rig.store, rig.config.channels)] == ["held (cooldown)"] * 3
    rig.clock.now = T0 + 30 * 60
    rig.deliver()
    assert len(webhook.received) == 2
    follow_up = webhook.messages()[1]
    assert follow_up["title"].startswith("[desk] 3 alerts (cooldown)")
    assert all(f"Israel story {g}" in follow_up["message"] for g in "bcd")
    arrive("e", 41)  # after the window: at once again, opening a new one
    assert titles(webhook)[-1] == "[israel] Israel story e" and len(webhook.received) == 3


def test_quiet_hours_hold_alerts_for_one_digest_except_urgent_rules(tmp_path, webhook, open_rig):
    rules = [ISRAEL, {"name": "missiles", "query": "missile", "notify": ["desk"], "urgent": True}]
    channel = {"quiet": "22:00-07:00", "timezone": "Asia/Jerusalem"}
    rig = open_rig(
        desk_config(tmp_path, {"wire": "https://example.com/feed"}, [webhook.apprise_url], rules=rules, channel=channel)
    )
    baseline(rig)
    # 00:13 in Jerusalem: inside the quiet hours.
    rig.ingest(
        "wire",
        rss(
            [
                ("a", "Israel cabinet meets", T0),
                ("b", "Missile alert in the north", T0),
                ("c", "Israel and Jordan talk water", T0),
                ("d", "Israel budget vote", T0),
            ]
        ),
    )
    rig.deliver()
    assert titles(webhook) == ["[missiles] Missile alert in the north"]
    end = datetime(2023, 11, 15, 5, 0, tzinfo=UTC).timestamp()  # 07:00 in Jerusalem
    rig.clock.now = end - 1
    rig.deliver()
    assert len(webhook.received) == 1
    rig.clock.now = end
    rig.deliver()
    assert len(webhook.received) == 2
    digest = webhook.messages()[1]
    assert digest["title"].startswith("[desk] 3 alerts (quiet hours)")
    assert all(t in digest["message"] for t in ("Israel cabinet meets", "Jordan", "budget vote"))
    # By day, alerts go at once.
    rig.clock.now = end + HOUR
    rig.ingest("wire", rss([("e", "Israel recalls envoy", rig.clock.now)]))
    rig.deliver()
    assert titles(webhook)[-1] == "[israel] Israel recalls envoy"


def test_plan_combines_digest_cooldown_and_quiet_hours():
    from monitor.delivery.holds import Holds

    night = datetime(2024, 3, 1, 23, tzinfo=UTC).timestamp()
    morning = datetime(2024, 3, 2, 7, tzinfo=UTC).timestamp()
    channels = {
        "plain": ChannelConfig("plain", ("console://",)),
        "quiet": ChannelConfig("quiet", ("console://",), quiet=(22 * 60, 7 * 60)),
        "digest": ChannelConfig("digest", ("console://",), digest="15m"),
    }
    holds = Holds(None, channels, lambda ch, now: now + 900 if ch == "digest" else None)
    assert holds.plan("plain", night) == (None, None)
    assert holds.plan("plain", night, after=night + 600) == (night + 600, "cooldown")
    assert holds.plan("quiet", night) == (morning, "quiet")
    assert holds.plan("quiet", night, urgent=True) == (None, None)
    assert holds.plan("quiet", night - 3 * 3600, after=night - 3 * 3600 + 600) == (night - 3 * 3600 + 600, "cooldown")
    assert holds.plan("quiet", night - 600, after=night + 600) == (morning, "quiet")  # the follow-up waits for day
    assert holds.plan("digest", night, after=night + 600) == (night + 900, None)  # the digest folds it anyway


def test_quiet_end_wraps_midnight_and_follows_the_time_zone():
    at = lambda h, m=0: datetime(2024, 3, 1, h, m, tzinfo=UTC).timestamp()  # noqa: E731
    assert quiet_end((22 * 60, 7 * 60), "UTC", at(23)) == datetime(2024, 3, 2, 7, tzinfo=UTC).timestamp()
    assert quiet_end((22 * 60, 7 * 60), "UTC", at(3)) == at(7)
    assert quiet_end((22 * 60, 7 * 60), "UTC", at(7)) is None
    assert quiet_end((12 * 60, 13 * 60), "UTC", at(12, 30)) == at(13)
    assert quiet_end((12 * 60, 13 * 60), "UTC", at(21)) is None
    # 21:30 UTC is 23:30 in Jerusalem (UTC+2 in March).
    assert quiet_end((22 * 60, 7 * 60), "Asia/Jerusalem", at(21, 30)) == datetime(2024, 3, 2, 5, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "snippet, key, words",
    [
        ('[monitor]\nhealth_channel = "nowhere"\n', "[monitor] health_channel", 'unknown channel "nowhere"'),
        ("[monitor]\nfailing_after = 0\n", "[monitor] failing_after", "at least 1"),
        ('[monitor]\nsilent_min = "soon"\n', "[monitor] silent_min", "not a duration"),
        ('[channels.desk]\nurls = ["console://"]\nquiet = "10pm-7am"\n', "[channels.desk] quiet", '"22:00-07:00"'),
        (
            '[[rules]]\nname = "r"\nquery = "x"\nnotify = []\ncooldown = "half an hour"\n',
            'rule "r" cooldown',
            "not a duration",
        ),
        ('[[rules]]\nname = "r"\nquery = "x"\nnotify = []\nspike_factor = 1\n', 'rule "r" spike_factor', "above 1"),
        ('[[rules]]\nname = "r"\nquery = "x"\nnotify = []\nurgent = "yes"\n', 'rule "r" urgent', "true or false"),
    ],
)
def test_desk_options_are_validated_with_the_key_and_the_fix(tmp_path, snippet, key, words):
    path = tmp_path / "config.toml"
    path.write_text(snippet, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert any(key in p and words in p for p in err.value.problems), err.value.problems


def test_desk_options_load(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[monitor]\nhealth_channel = "desk"\nfailing_after = 5\nfailing_for = "2h"\nsilent_factor = 3\n'
        'silent_min = "12h"\n[channels.desk]\nurls = ["console://"]\nquiet = "23:30-06:15"\n'
        'timezone = "Europe/London"\n[[rules]]\nname = "r"\nquery = "x"\nnotify = ["desk"]\ncooldown = "30m"\n'
        "urgent = true\nspike = true\nspike_factor = 2.5\nspike_min = 8\n",
        encoding="utf-8",
    )
    config = load_config(path, env={})
    s, rule = config.settings, config.rule("r")
    assert (s.health_channel, s.failing_after, s.failing_for, s.silent_factor, s.silent_min) == (
        "desk",
        5,
        7200.0,
        3.0,
        43200.0,
    )
    assert config.channels["desk"].quiet == (23 * 60 + 30, 6 * 60 + 15)
    assert (rule.cooldown, rule.urgent, rule.spike, rule.spike_factor, rule.spike_min) == (1800.0, True, True, 2.5, 8)
    assert isinstance(config.channels["desk"], ChannelConfig)
    json.dumps(s.health_channel)
