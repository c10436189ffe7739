"""The lxml fast path gives exactly feedparser's result wherever it answers, and hands
everything else to feedparser: every real fixture and the whole feedparser corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.parsing.fast import AVAILABLE, UNAVAILABLE_REASON, fast_parse
from monitor.parsing.feed import parse_feed

FIXTURES = Path(__file__).parents[1] / "fixtures"
FILES = sorted(p for d in ("feeds", "feedparser-corpus/tests") for p in (FIXTURES / d).rglob("*") if p.is_file())


def test_the_fast_path_is_available():
    # Off, every test below would pass through feedparser alone and prove nothing.
    assert AVAILABLE, UNAVAILABLE_REASON


def _assert_fast_and_identical(body: bytes) -> None:
    assert fast_parse(body) is not None
    fast, slow = _both(body)
    assert fast == slow


def _both(body: bytes, content_type: str = ""):
    def run(fast: bool):
        try:
            return parse_feed(body, "http://example.org/feed.xml", content_type, fast=fast)
        except ParseError as exc:
            return ("ParseError", exc.message)

    return run(True), run(False)


def test_identical_items_on_every_fixture_and_the_feedparser_corpus():
    assert len(FILES) > 2100
    taken = 0
    mismatches = []
    for path in FILES:
        body = path.read_bytes()
        if fast_parse(body) is None:
            continue
        taken += 1
        fast, slow = _both(body)
        if fast != slow:
            mismatches.append(str(path.relative_to(FIXTURES)))
    assert mismatches == []
    # The fast path must actually carry much of it (716 corpus/fixture files today), or
    # this proves little.
    assert taken >= 700


@pytest.mark.parametrize(
    "content_type", ["", "application/rss+xml; charset=utf-8", "text/xml", "text/html", "Application/RSS+XML"]
)  # not XML to feedparser: a warning
def test_content_types(content_type):
    body = (FIXTURES / "feeds" / "bbc_news-frontpage_2023-11-24.xml").read_bytes()
    fast, slow = _both(body, content_type)
    assert fast == slow


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0" encoding="windows-1252"?><rss version="2.0"><channel><title>x</title></channel></rss>',
        b'<rss version="0.91"><channel><title>x</title></channel></rss>',
        b'<rss version="2.0"><channel><item><title>t</title><link>/relative</link></item></channel></rss>',
        b'<rss version="2.0"><channel><item><guid>http://a.example/1</guid><title>t</title></item></channel></rss>',
        b'<rss version="2.0"><channel><item xml:base="http://a.example/"><link>http://a.example/1</link></item></channel></rss>',
        b'<rss version="2.0"><channel><item><link>http://a.example/1</link><author>a@b.c (A)</author></item></channel></rss>',
        b'<!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel><item><link>http://a.example/1</link></item></channel></rss>',
        b'<rss version="2.0"><channel><item><link>http://a.example/1</link><title>a &nbsp; b</title></item></channel></rss>',
    ],
)
def test_anything_unusual_goes_to_feedparser(body):
    assert fast_parse(body) is None


def _rss(items: str, channel: str = "", head: bytes = b'<?xml version="1.0" encoding="UTF-8"?>\n') -> bytes:
    return (
        head
        + (
            '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xmlns:media="http://search.yahoo.com/mrss/" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
            f"<channel><title>Feed</title>{channel}{items}</channel></rss>"
        ).encode()
    )


_LINK = "<link>http://a.example/1</link>"


# ISO-8859-1 (jornal-de-noticias): every byte is one character to lxml and feedparser alike,
# and feedparser's pop() repairs and maps the text as for UTF-8.
_ISO_8859_1 = (
    b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    b"<channel><title>F\xe9ed \x80</title><item><link>http://a.example/\xe9</link><title>%s</title>"
    b"<category domain='d\xe9'>\xc3\xa9t\xc3\xa9</category><description>A\xc3\xa7\xc3\xa3o \x85 &#8364; &#x80;</description>"
    b"<dc:creator>Ren\xe9</dc:creator></item></channel></rss>"
) % bytes(range(0x80, 0x100))


@pytest.mark.parametrize("content_type", ["", "application/rss+xml"])
def test_iso_8859_1_takes_the_fast_path_with_identical_results(content_type):
    assert fast_parse(_ISO_8859_1, content_type) is not None
    fast, slow = _both(_ISO_8859_1, content_type)
    assert fast == slow


@pytest.mark.parametrize(
    "body, content_type",
    [
        (_ISO_8859_1, "application/rss+xml; charset=iso-8859-1"),
        (b"\xef\xbb\xbf" + _ISO_8859_1, ""),  # a UTF-8 byte order mark
        # feedparser's regex wants no blanks around "=": it would read the document as UTF-8
        (_ISO_8859_1.replace(b'encoding="', b'encoding = "'), ""),
        (_ISO_8859_1.replace(b"ISO-8859-1", b"latin-1"), ""),
        # an encoding on the first line that is not the XML declaration's, to feedparser's regex
        (
            b'<?xml-stylesheet href="s.xsl" encoding="iso-8859-1"?>'
            + _rss(f"<item>{_LINK}<title>caf\u00e9</title></item>", head=b""),
            "",
        ),
    ],
)
def test_other_encodings_go_to_feedparser(body, content_type):
    assert fast_parse(body, content_type) is None


@pytest.mark.parametrize(
    "body",
    [
        _rss(f"<item>{_LINK}<title>t</title></item>", head=b"\xef\xbb\xbf"),
        _rss(f"<item>{_LINK}<title>t</title></item>", head=b"\n  "),
        _rss(f"<item>{_LINK}</item>", channel="<language>en</language><dc:language>en</dc:language>"),
        _rss(f"<item>{_LINK}<description>a</description><media:description>b</media:description></item>"),
        _rss(f"<item>{_LINK}<media:description type='plain'>b</media:description><description>a</description></item>"),
        _rss(
            f"<item>{_LINK}<content:encoded>&lt;p&gt;c&lt;/p&gt;</content:encoded><description>a</description>"
            "<media:description>b</media:description></item>"
        ),
        _rss(
            f"<item>{_LINK}<description>a</description><content:encoded>c</content:encoded>"
            "<media:description>b</media:description></item>"
        ),
        _rss(
            f"<item>{_LINK}<author>Jane Roe (in Paris)</author><dc:creator>A, B and C</dc:creator><dc:creator/></item>"
        ),
        _rss(f"<item>{_LINK}<title>a \u0085 b\u0080</title></item>"),  # C1 controls: feedparser maps them to cp1252
        _rss(
            f"<item>{_LINK}<title>Associa\u00c3\u00a7\u00c3\u00a3o</title><description>\u00c2\u00a331 \u00c2\u00a0</description>"
            "<category>\u00c3\u00a9t\u00c3\u00a9</category></item>"
        ),  # UTF-8 read as Latin-1: repaired
        _rss(f"<item>{_LINK}<title>caf\u00e9 \u00c3</title></item>"),  # not repairable: kept
        _rss(
            f"<item>{_LINK}<category>a</category><category>a</category><category domain='d'>a</category>"
            "<category domain='d'>a</category><category domain='e'/><category>b</category><category/>"
            "<category domain='e'/><category>c</category></item>"
        ),
        _rss(
            f"<item>{_LINK}<media:group><media:content url='http://a.example/i.jpg'><media:credit>X</media:credit>"
            "</media:content><media:thumbnail url='http://a.example/t.jpg'/></media:group></item>"
        ),
        # feedparser's link repairs: slashes after the scheme, "&amp;" and "&b;" in a query string
        _rss("<item><link>http:///a.example/1?a=1&amp;amp;b=2&amp;c;=3</link><guid>http:///a.example/2</guid></item>"),
        # an atom:link in an item is the link as well (the last of them wins), unless rel says otherwise
        _rss(
            f"<item>{_LINK}<atom:link xmlns:atom='http://www.w3.org/2005/Atom' href='http://b.example/'/>"
            "<atom:link xmlns:atom='http://www.w3.org/2005/Atom' rel='self' href='http://c.example/'/></item>"
        ),
        # feedparser lower-cases names: Author is an author, Tags comma-separated tags (jpost);
        # elements it has no handler for it keeps under their names, which we never read
        _rss(
            f"<item>{_LINK}<Author>By X</Author><Tags>a, b,,a</Tags><Photographer>P</Photographer><itemID>1</itemID>"
            "<RelatedItemID1/></item>",
            channel="<channelName>Home</channelName>",
        ).replace(b"</rss>", b"<meta name='x' content='y'/></rss>"),
        _rss(
            f"<item>{_LINK}<category>b</category><media:keywords>a, b , c,</media:keywords>"
            "<mir:commentsID xmlns:mir='http://www.mirror.co.uk'>1</mir:commentsID></item>"
        ),
        _rss(
            f"<item>{_LINK}<site xmlns='com-wordpress:feed-additions:1'>1</site>"
            "<x:a xmlns:x='urn:x'><x:b>1</x:b><x:c d='e'/></x:a></item>"
        ),
        # the first non-empty title wins, title and dc:title alike; a source starts afresh
        _rss(f"<item>{_LINK}<title></title><dc:title>B</dc:title><TITLE>C</TITLE></item>"),
        _rss(f"<item>{_LINK}<title>A</title><source url='http://s.example/'>S</source><dc:title>B</dc:title></item>"),
        # an image in an item (aktuality, livemint): its title is a title of the item
        _rss(
            f"<item>{_LINK}<image><url>http://i.example/1.jpg</url><title>I</title><link>http://i.example/</link>"
            "<width>1</width><height>x</height></image><title>T</title></item>"
        ),
        _rss(f"<item>{_LINK}<image><title>I</title></image></item>"),
        _rss(f"<item>{_LINK}<title>T</title><image><title>I</title></image><dc:title>D</dc:title></item>"),
        _rss(f"<item>{_LINK}<image>http://i.example/1.jpg</image><bigimage>x</bigimage></item>"),
        _rss("<item><title>no link</title><guid isPermaLink='false'>1</guid></item>"),
    ],
)
def test_common_extras_take_the_fast_path_with_identical_results(body):
    _assert_fast_and_identical(body)


@pytest.mark.parametrize(
    "body",
    [
        _rss(f"<item>{_LINK}</item>", channel="<language>en</language><dc:language>de</dc:language>"),
        _rss(f"<item>{_LINK}<media:group><media:title>x</media:title></media:group></item>"),
        _rss(f"<item>{_LINK}<media:group><media:description>x</media:description></media:group></item>"),
        _rss(f"<item>{_LINK}<author>jane@example.org (Jane)</author></item>"),
        _rss(f"<item>{_LINK}<description>a</description><description>b</description></item>"),
        _rss(f"<item>{_LINK}<title>t</title></item>", head=b'\n<?xml version="1.0"?>'),
        _rss(f"<item lang='de'>{_LINK}<title>t</title></item>"),  # the item's language
        _rss(f"<item>{_LINK}<enclosure url='http://a.example/x' BASE='http://b.example/'/></item>"),  # moves the base
        _rss(f"<item>{_LINK}<media:description type='application/octet-stream'>aGVsbG8=</media:description></item>"),
        _rss(f"<item xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' rdf:about='urn:x'>{_LINK}</item>"),
        _rss(f"<item>{_LINK}<date>Mon, 01 Jan 2024 00:00:00 GMT</date></item>"),  # FeedParserDict stores it as updated
        _rss(f"<item>{_LINK}<foo><title>x</title></foo></item>"),  # an unknown element, a known one inside
        _rss(f"<item>{_LINK}<media:keywords scheme='x'>a, b</media:keywords></item>"),  # no tags at all then
        _rss(f"<item>{_LINK}<ttl a='b'>5</ttl></item>", channel="<ttl a='b'>5</ttl>"),  # the attributes are the ttl
        # feedparser names an unknown namespace by the first prefix declared for it, not the element's
        _rss(f"<item>{_LINK}<a:foo xmlns:a='urn:u'>X</a:foo><b:bar xmlns:b='urn:u'>Y</b:bar></item>"),
        # a prefix feedparser knows, declared for another namespace, renames elements everywhere
        _rss(
            f"<item>{_LINK}<content:encoded>c</content:encoded><x xmlns:content='http://purl.org/dc/elements/1.1/'/></item>"
        ),
        _rss(f"<item>{_LINK}<image><title>I</title><description>d</description></image></item>"),  # the item's summary
    ],
)
def test_unusual_extras_go_to_feedparser(body):
    assert fast_parse(body) is None


def _atom(entries: str, attrs: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"{attrs}>'
        f"<title type='text'>Feed</title><id>urn:x</id>{entries}</feed>"
    ).encode()


# bbc-chinese: media and a dc:title inside the entry's link
_BBC_LINK = (
    "<link rel='alternate' type='text/html' href='http://a.example/1' title='story'>"
    "<media:content xmlns:media='http://search.yahoo.com/mrss/'><media:thumbnail url='http://i.example/1' width='1'>"
    "<img alt='x' src='http://i.example/1'/></media:thumbnail></media:content>"
    "<dc:title xmlns:dc='http://purl.org/dc/elements/1.1/'>D</dc:title></link>"
)


@pytest.mark.parametrize(
    "body",
    [
        _atom("<entry><id>http://a.example/1</id><title>t</title></entry>"),  # the id stands in for the link
        _atom(
            "<entry><id>http://a.example/1</id><link href='http://a.example/2'/><link rel='enclosure' href='http://a.example/x.mp3'/></entry>"
        ),
        _atom("<entry><link href='/relative?a=1&amp;amp;b=2'/><id>urn:1</id></entry>"),
        _atom(
            "<entry><id>urn:1</id><summary type='html'>&lt;b&gt;s&lt;/b&gt;</summary><content type='html'>c</content></entry>"
        ),
        _atom("<entry><id>urn:1</id><content type='text'>c</content><summary>s</summary></entry>"),
        _atom(
            "<entry><id>urn:1</id><title xml:lang='pt_BR'>t</title><category term='a' label='A'/><category label='B'/>"
            "<category term='a' label='A'/><author><name> Jane </name><email>j@example.org</email></author></entry>",
            attrs=" xml:lang='en'",
        ),
        _atom(
            "<entry><id>urn:1</id><title>Associa\u00c3\u00a7\u00c3\u00a3o</title><updated>2024-01-02T03:04:05Z</updated>"
            "<published>bogus</published></entry>"
        ),
        _atom(
            "<entry><id>http:///a.example/1</id><link rel='alternate' type='xhtml' href='http:///a.example/2'/></entry>"
        ),
        # after a non-empty title, feedparser's title_depth drops a dc:title deeper down
        _atom(f"<entry><id>urn:1</id><title xml:lang='zh'>T</title>{_BBC_LINK}</entry>", attrs=" xml:lang='en'"),
        _atom(f"<entry><id>urn:1</id><title>T</title><author><name>N</name></author>{_BBC_LINK}</entry>"),
    ],
)
def test_atom_takes_the_fast_path_with_identical_results(body):
    _assert_fast_and_identical(body)


@pytest.mark.parametrize(
    "body",
    [
        _atom(
            "<entry><id>urn:1</id><content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>c</div></content></entry>"
        ),
        _atom("<entry><id>urn:1</id><content src='http://a.example/c'/></entry>"),
        _atom("<entry><id>urn:1</id><author><email>j@example.org</email></author></entry>"),
        _atom("<entry><id>urn:1</id><source><title>other</title></source></entry>"),
        _atom("<entry xml:base='http://a.example/'><id>urn:1</id><link href='x'/></entry>"),
        _atom("<entry><id>urn:1</id><title>a</title><title>b</title></entry>"),
        _atom("<entry><id>urn:1</id><summary>a</summary><summary>b</summary></entry>"),
        _atom("<entry><id>urn:1</id><link href='a' REL='self'/></entry>"),  # feedparser lower-cases REL
        _atom("<entry><id>urn:1</id><link href='a/../b' base='http://b.example/x/'/></entry>"),
        # a dc:title before the title, or after an empty one, is kept or gives the title's language
        _atom(f"<entry><id>urn:1</id>{_BBC_LINK}<title>T</title></entry>"),
        _atom(f"<entry><id>urn:1</id><title xml:lang='zh'></title>{_BBC_LINK}</entry>", attrs=" xml:lang='en'"),
    ],
)
def test_unusual_atom_goes_to_feedparser(body):
    assert fast_parse(body) is None


def _rdf(items: str, channel: str = "", after_channel: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<channel rdf:about="http://a.example/"><title>Feed</title><link>http://a.example/</link>{channel}'
        '<items><rdf:Seq><rdf:li rdf:resource="http://a.example/1"/></rdf:Seq></items></channel>'
        f"{after_channel}{items}</rdf:RDF>"
    ).encode()


# An RSS 1.0 item as dw-chinese, science-twis and orf-at write them.
_RDF_ITEM = (
    '<item rdf:about=" http://a.example/1 "><title>T</title><link>http://a.example/1</link>'
    "<description><![CDATA[]]></description><dc:creator>Roe, J.</dc:creator><dc:date>2017-06-15T10:29:47-07:00</dc:date>"
    "<dc:subject>A, B</dc:subject><dc:language>de</dc:language><dc:identifier>info:doi/1</dc:identifier>"
    "<dc:title>D</dc:title><dc:publisher>P</dc:publisher><o:substories xmlns:o='http://rss.orf.at/1.0/'><rdf:Bag>"
    "<rdf:li rdf:resource='urn:x'/></rdf:Bag></o:substories></item>"
)


@pytest.mark.parametrize(
    "body",
    [
        # rdf:about is the id, as it is (not stripped); dc:language ends with its element
        _rdf(
            _RDF_ITEM,
            channel="<dc:language>de</dc:language><image rdf:resource='http://a.example/i.png'/>",
            after_channel="<image rdf:about='http://a.example/i.png'><title>I</title><link>http://a.example/</link>"
            "<url>http://a.example/i.png</url><description>x</description></image>",
        ),
        _rdf('<item rdf:about="http://a.example/2"><title>no link</title></item>'),
    ],
)
def test_rdf_takes_the_fast_path_with_identical_results(body):
    _assert_fast_and_identical(body)


@pytest.mark.parametrize(
    "body",
    [
        # an image's title before the channel's hides it (title_depth)
        _rdf(_RDF_ITEM).replace(b"<channel", b"<image rdf:about='x'><title>I</title></image><channel"),
        _rdf(_RDF_ITEM, after_channel="<textinput rdf:about='x'><title>S</title></textinput>"),
        _rdf(_RDF_ITEM.replace("<item ", "<item rdf:resource='x' ")),
        # the prefix rdf declared for Dublin Core: feedparser no longer finds rdf:about
        _rdf(_RDF_ITEM)
        .replace(b"xmlns:rdf=", b"xmlns:r=")
        .replace(b"rdf:", b"r:")
        .replace(b"xmlns:dc=", b"xmlns:rdf='http://purl.org/dc/elements/1.1/' xmlns:dc="),
    ],
)
def test_unusual_rdf_goes_to_feedparser(body):
    assert fast_parse(body) is None
