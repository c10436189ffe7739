from __future__ import annotations

import pytest

from monitor.identity import canonical_url, item_key


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://www.aljazeera.com/news/2026/8/13/x?traffic_source=rss", "https://aljazeera.com/news/2026/8/13/x"),
        ("HTTP://WWW.Example.COM:80/a/b/#frag", "https://example.com/a/b"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?fbclid=1&gclid=2&ocid=3&at_medium=x&ns_campaign=y", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/article.php?p=123&page=2", "https://example.com/article.php?p=123&page=2"),
        ("", ""),
    ],
)
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical
    assert canonical_url(canonical) == canonical  # idempotent


def test_item_key_prefers_unique_guid_then_link_then_hash():
    assert item_key("abc", "https://x.org/1", "T", "d") == "guid:abc"
    # A GUID shared by several items of the document identifies nothing.
    assert item_key("abc", "https://x.org/1", "T", "d", {"abc": 3}) == "link:https://x.org/1"
    # The site's home page as GUID or link identifies nothing either.
    assert item_key("https://x.org/", "https://x.org/", "T", "d").startswith("hash:")
    assert item_key("", "https://x.org/1?utm_source=a", "T", "d") == "link:https://x.org/1"
    assert item_key("", "", "T", "d") == item_key("", "", "T", "d") != item_key("", "", "T2", "d")
