"""The boilerplate rules (monitor/parsing/boilerplate.py) on trafilatura's XML, one class at a
time: each removes its furniture and keeps the article lines that look most like it."""

from __future__ import annotations

import pytest
from lxml import etree

from monitor.parsing.boilerplate import remove_boilerplate

PROSE = "<p>" + "The minister said the talks would resume next week in Cairo, after a pause of a month. " * 2 + "</p>"


def kept(xml: str) -> list[str]:
    """The lines of `<body>xml</body>` that remove_boilerplate leaves, as text."""
    body = etree.fromstring(f"<body>{xml}</body>")
    remove_boilerplate(body)
    return [" ".join("".join(el.itertext()).split()) for el in body]


@pytest.mark.parametrize(
    ("furniture", "article"),
    [
        # A label alone; a label that opens a sentence is the article's.
        (
            "<p><hi rend='#b'>Weitere Informationen:</hi></p>",
            "<p>Hinweis: Diesen Beitrag habe ich 2017 erstmals veröffentlicht.</p>",
        ),
        ("<p>Lire aussi :</p>", "<p>Il a dit : « Nous reviendrons. »</p>"),
        # "Read also: <link>"; a link that holds the label, or a list item, is not a teaser.
        (
            "<p>Auch lesen: <ref target='/x'>Diese 3 Sternzeichen verschenken ihr Herz</ref></p>",
            "<p><ref target='/y'>Was meinen Sie: haben sie?</ref> Haben sich die Eltern je Sorgen gemacht?</p>",
        ),
        (
            "<p>Read more: <ref target='/x'>Gaza ceasefire talks stall</ref></p>",
            "<list><item>Presse: <ref target='/y'>Studie zweifelt an Stütze vom Staat</ref></item></list>",
        ),
        # A run of links; one linked sentence is the article's.
        (
            "<p><ref target='/a'>-Escándalo en Cartagena</ref><ref target='/b'>-La historia de la mujer</ref></p>",
            "<p><ref target='/c'>One of the most asked questions is this: what does the professor say?</ref></p>",
        ),
        # A short line in italics (a credit, a note); a longer one is the article's (a lead).
        (
            "<p><hi rend='#i'>Quelle: Landesregierung</hi></p>",
            "<p><hi rend='#i'>The talks resume in Cairo next week, a month after they stalled over the hostages.</hi></p>",
        ),
        ("<p><hi rend='#i'>(Alle Angaben ohne Gewähr)</hi></p>", "<p>Alle Angaben ohne Gewähr, sagte er.</p>"),
        (
            "<p><hi rend='#i'>Titelbild: Geyres Christophe/ABACA</hi></p>",
            "<p>Foto: die Grenze bei Frankfurt (Oder), wo 26 Personen aufgegriffen wurden, am Montag.</p>",
        ),
    ],
)
def test_each_class_of_furniture_goes_and_the_article_line_most_like_it_stays(furniture, article):
    assert kept(PROSE + article + furniture + PROSE) == kept(PROSE + article + PROSE)
    assert len(kept(PROSE + article + PROSE)) == 3


def test_after_the_last_paragraph_headings_links_and_non_sentences_go():
    tail = (
        "<head>Olympia 2022 - Nordische Kombination: Zeitplan</head>"
        "<p>Top-Themen bei FIT FOR FUN</p>"
        "<p><ref target='/t'>Our Standards: The Thomson Reuters Trust Principles.</ref></p>"
    )
    assert kept(PROSE + tail) == kept(PROSE)


def test_after_the_last_paragraph_sentences_figures_lists_and_lead_ins_stay():
    tail = (
        "<p>Christian Drosten: Gerne. Bis morgen.</p>"
        "<p>1 Stück ca.: 390 kcal 8 g Eiweiß</p>"
        "<list><item>Tandoori roti and naan</item></list>"
        "<p>Lesen Sie dazu auch die Pressemitteilungen:</p>"
        "<p>正是有了英勇的你们，才有这座英雄的城！（评论员 罗博）</p>"
    )
    assert len(kept(PROSE + tail)) == 1 + 5


def test_before_the_last_paragraph_headings_and_non_sentences_stay():
    middle = "<head>The talks</head><p>A pause of a month</p>"
    assert len(kept(PROSE + middle + PROSE)) == 4


def test_a_body_that_is_all_furniture_loses_it_and_the_text_after_a_removed_line_stays():
    body = etree.fromstring("<body><p>Weitere Informationen:</p>tail words<p>Kontakt:</p></body>")
    remove_boilerplate(body)
    assert [el.tag for el in body] == [] and " ".join("".join(body.itertext()).split()) == "tail words"
