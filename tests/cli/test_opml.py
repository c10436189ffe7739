"""import-opml / export-opml through the installed CLI, on OPML as real readers export it."""

from __future__ import annotations

import json
import shutil
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

from monitor.opml import read_opml

ROOT = Path(__file__).parents[2]
OPML = Path(__file__).parents[1] / "fixtures" / "opml"


def example_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    shutil.copy(ROOT / "config.example.toml", path)
    return path


def test_reader_exports_are_read_leniently():
    feedly = read_opml((OPML / "feedly.opml").read_bytes())
    assert [o.tags for o in feedly] == [("middle-east",)] * 3 + [("wires",)] * 2
    assert feedly[2].title == "ynet - חדשות"

    odd = read_opml((OPML / "thunderbird-and-friends.opml").read_bytes())
    assert [o.url for o in odd] == [
        "https://www.middleeasteye.net/rss",  # lower-case xmlurl
        "https://www.arabnews.com/cat/1/rss.xml",  # XMLURL, empty text
        "https://arabnews.com/cat/1/rss.xml",
        "feed://example.org/podcast.xml",
        "https://blog.example.org/feed/",
    ]
    assert odd[0].tags == ("news", "regional") and odd[0].title == ""
    assert odd[4].tags == ("analysis-think-tanks", "israel")


def test_import_adds_new_feeds_keeps_the_file_and_skips_duplicates(run_cli, tmp_path):
    config = example_config(tmp_path)
    before = config.read_text(encoding="utf-8")

    result = run_cli("import-opml", str(OPML / "feedly.opml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "added ynet-חדשות: https://www.ynet.co.il/Integration/StoryRss1854.xml [middle-east]",
        "added reuters-world: https://feeds.example-wire.com/reuters/worldNews [wires]",
    ]
    assert 'skipped The Times of Israel: already configured as "times-of-israel"' in result.stdout
    assert 'skipped TASS: already configured as "tass"' in result.stdout
    assert "2 feeds added, 3 skipped" in result.stderr

    after = config.read_text(encoding="utf-8")
    # Everything that was there is still there, in order: the new text only inserts.
    old_lines = before.splitlines()
    new_lines = after.splitlines()
    it = iter(new_lines)
    assert all(line in it for line in old_lines)
    rules_at = new_lines.index("[[rules]]")
    assert new_lines[rules_at - 2].startswith("# Rules: name (unique)")  # its comment stays with it
    assert new_lines.index('name = "reuters-world"') < rules_at
    assert "# imported from feedly.opml on " in after

    check = run_cli("check")
    assert check.returncode == 0, check.stderr
    data = tomllib.loads(after)
    ynet = next(f for f in data["feeds"] if f["name"] == "ynet-חדשות")
    assert ynet["title"] == "ynet - חדשות" and ynet["tags"] == ["middle-east"]

    again = run_cli("import-opml", str(OPML / "feedly.opml"), "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["added"] == [] and len(report["skipped"]) == 5
    assert config.read_text(encoding="utf-8") == after


def test_import_names_untitled_feeds_and_dedups_within_the_file(run_cli, tmp_path):
    config = example_config(tmp_path)
    dry = run_cli("import-opml", str(OPML / "thunderbird-and-friends.opml"), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert [f["name"] for f in report["added"]] == ["blog-with-a-category"]
    reasons = {s["url"]: s["reason"] for s in report["skipped"]}
    assert reasons["https://www.middleeasteye.net/rss"] == 'already configured as "middle-east-eye"'
    assert reasons["feed://example.org/podcast.xml"] == "not an http(s) URL"
    assert config.read_text(encoding="utf-8") == (ROOT / "config.example.toml").read_text(encoding="utf-8")

    inoreader = run_cli("import-opml", str(OPML / "inoreader.xml"), "--json")
    added = json.loads(inoreader.stdout)["added"]
    # The nuclear search is configured (switched off); the sanctions one differs only by its query.
    assert [f["name"] for f in added] == ["iran-sanctions-google-news"]


def test_import_into_a_config_without_feeds_and_an_untitled_feed_gets_its_host(run_cli, tmp_path):
    (tmp_path / "config.toml").write_text(
        '# my desk\n[monitor]\ndatabase = "m.db"  # beside me\n\n[channels.console]\nurls = ["console://"]\n',
        encoding="utf-8",
    )
    (tmp_path / "one.opml").write_text(
        '<opml version="2.0"><head/><body><outline type="rss" xmlUrl="https://www.example.org/feed"/>'
        '<outline type="rss" xmlUrl="https://www.example.org/other"/></body></opml>',
        encoding="utf-8",
    )
    result = run_cli("import-opml", "one.opml")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "config.toml").read_text(encoding="utf-8")
    assert text.startswith('# my desk\n[monitor]\ndatabase = "m.db"  # beside me\n')
    assert [f["name"] for f in tomllib.loads(text)["feeds"]] == ["www-example-org", "www-example-org-2"]


def test_import_rejects_what_is_not_opml(run_cli, tmp_path):
    example_config(tmp_path)
    (tmp_path / "feed.xml").write_text("<rss><channel/></rss>", encoding="utf-8")
    result = run_cli("import-opml", "feed.xml")
    assert result.returncode == 1 and "not an OPML file" in result.stderr and "hint:" in result.stderr
    missing = run_cli("import-opml", "nope.opml")
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_export_is_opml_2_and_round_trips(run_cli, tmp_path):
    config = example_config(tmp_path)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'url = "https://tass.com/rss/v2.xml"', 'url = "https://tass.com/rss/v2.xml?key=${TASS_KEY}"'
        ),
        encoding="utf-8",
    )
    result = run_cli("export-opml", env={"TASS_KEY": "s3cr3t-key-value"})
    assert result.returncode == 0, result.stderr
    assert "s3cr3t-key-value" not in result.stdout and "${TASS_KEY}" in result.stdout
    root = ET.fromstring(result.stdout)
    assert root.get("version") == "2.0" and root.find("head/dateCreated") is not None
    outlines = root.findall("body/outline")
    assert len(outlines) == 16
    ynet = next(o for o in outlines if o.get("text") == "Ynet (Hebrew)")
    assert ynet.get("category") == "/middle-east,/israel,/hebrew"
    assert next(o for o in outlines if "nuclear" in o.get("xmlUrl")).get("isComment") == "true"

    (tmp_path / "out.opml").write_text(result.stdout, encoding="utf-8")
    back = run_cli("import-opml", "out.opml", "--dry-run", "--json", env={"TASS_KEY": "s3cr3t-key-value"})
    assert json.loads(back.stdout)["added"] == []  # every feed is recognised as already there
