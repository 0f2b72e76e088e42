"""Tests for provcat.articles: labelled fixtures, caption rules, HTML markups, hostile input."""

from __future__ import annotations

import dataclasses
import datetime
import json
import random
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from bs4.element import Tag
from hypothesis import given, settings
from hypothesis import strategies as st

import provcat.articles as articles
from provcat.articles import (
    ORIGINS,
    CaptionOccurrence,
    ScrapedArticle,
    article_to_dict,
    caption_to_dict,
    parse_html,
    parse_text,
    read_article,
)
from provcat.articles.dates import parse_machine_date, parse_text_date
from provcat.articles.markup import image_ref, is_decorative, largest_in_srcset
from provcat.articles.text import (
    classify_paragraphs,
    credit_tail,
    has_position_cue,
    is_speech,
    label_of,
    pictured_near_name,
    split_paragraphs,
)
from provcat.errors import ArticleError

FIXTURES = Path(__file__).parent / "data" / "articles"
FIXTURE_FILES = sorted(
    p for p in FIXTURES.iterdir() if p.is_file() and not p.name.endswith(".expected.json")
)
SOURCE = Path("test.html")


def _expected(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        path.with_name(path.stem + ".expected.json").read_text("utf-8")
    )
    return loaded


def _captions(article: ScrapedArticle) -> list[tuple[str, str]]:
    return [(c.origin, c.text) for c in article.captions]


def _html(body: str, head: str = "") -> ScrapedArticle:
    return parse_html(f"<html><head>{head}</head><body>{body}</body></html>", source_path=SOURCE)


def _text(text: str) -> ScrapedArticle:
    return parse_text(text, source_path=Path("test.txt"))


# --- labelled fixtures ---------------------------------------------------------------------


def test_fixture_set_is_complete() -> None:
    """At least 4 plain-text and 5 HTML fixtures, each with an expected-answer file."""
    suffixes = [p.suffix for p in FIXTURE_FILES]
    assert suffixes.count(".txt") >= 4
    assert suffixes.count(".html") >= 5
    for path in FIXTURE_FILES:
        assert path.with_name(path.stem + ".expected.json").is_file(), path.name


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_matches_expected(path: Path) -> None:
    """Every fixture reads exactly as labelled, apart from the errors its file declares known.

    The expected file holds the true captions. ``known_errors`` lists labelled captions the
    rules miss, captions they find that are not true ones, and fields they get wrong; the
    reader must produce exactly truth - missed + spurious, with those fields, so both a
    regression and an unannounced improvement fail here (and the labels must be updated).
    """
    expected = _expected(path)
    article = read_article(path)
    got = article_to_dict(article)
    for field in ("kind", "title", "url", "publisher", "published", "published_precision"):
        assert got[field] == expected[field], field
    assert got["images"] == expected["images"]
    assert article.source_path == path

    known = expected["known_errors"]
    missed = {item["position"] for item in known["missed"]}
    spurious = {item["position"]: item for item in known["spurious"]}
    different = {(item["position"], item["field"]): item["got"] for item in known["different"]}
    truth = []
    for caption in expected["captions"]:
        if caption["position"] in missed:
            continue
        adjusted = dict(caption)
        for (position, field), value in different.items():
            if position == caption["position"]:
                adjusted[field] = value
        truth.append({k: v for k, v in adjusted.items() if k != "position"})
    found = got["captions"]
    assert [c["position"] for c in found] == list(range(1, len(found) + 1))
    for position, item in spurious.items():
        assert {k: found[position - 1][k] for k in ("text", "origin")} == {
            k: item[k] for k in ("text", "origin")
        }
    real = [
        {k: v for k, v in c.items() if k != "position"}
        for c in found
        if c["position"] not in spurious
    ]
    assert real == truth


def test_known_errors_are_only_on_held_out_fixtures() -> None:
    """Fixtures used while writing the rules carry no known errors; held-out ones may."""
    for path in FIXTURE_FILES:
        expected = _expected(path)
        if not expected.get("held_out"):
            assert expected["known_errors"] == {"missed": [], "spurious": [], "different": []}


# --- plain text: the caption rule ----------------------------------------------------------


@pytest.mark.parametrize(
    "paragraph",
    [
        "Plotters: Velikov, left, and Dunaev in Salisbury",
        "'Plotters': Velikov, left, and Dunaev in Salisbury",
        "‘Plotters’: Velikov, left, and Dunaev in Salisbury",
        "‘Plotters’:Velikov, left, and Dunaev in Salisbury",
        '"Plotters" : Velikov, left, and Dunaev in Salisbury',
    ],
)
def test_label_variants(paragraph: str) -> None:
    """Plain, straight-quoted and curly-quoted labels, with or without a space, are labels."""
    assert label_of(paragraph) == "Plotters"


@pytest.mark.parametrize(
    "paragraph",
    [
        "He said: 'We will not be intimidated.'",
        "Mr Velikov told the court: 'I was a tourist.'",
        "Mr Velikov: 'I was a tourist.'",
        "Published: 10:15, 14 April 2017",
        "Read more: Ferry strike talks collapse",
        "At 10:15 the alarm sounded",
        "The council's message to residents was simple: stay away from the river.",
        "The ministry said the plan had one aim: to cut costs.",
    ],
)
def test_not_labels(paragraph: str) -> None:
    """Speech, datelines, navigation, times and long clauses before a colon are not labels."""
    assert label_of(paragraph) is None


@pytest.mark.parametrize(
    ("paragraph", "credit"),
    [
        ("Velikov in Salisbury (Photo: Sky News)", "(Photo: Sky News)"),
        ("Velikov in Salisbury. Credit: Reuters", "Credit: Reuters"),
        ("Velikov in Salisbury Picture: AFP", "Picture: AFP"),
        ("The painting in 2021 Photograph: Politie Gent/AFP", "Photograph: Politie Gent/AFP"),
        ("The team lifts the trophy (Image: Carrow Vale NC)", "(Image: Carrow Vale NC)"),
        ("The owl on a post. Photo by Iona Baptiste", "Photo by Iona Baptiste"),
        ("He took the photo on Monday.", None),
        ("The photograph: a mystery that has puzzled historians for years.", None),
    ],
)
def test_credit_tails(paragraph: str, credit: str | None) -> None:
    """Credit tails are found at the end of a paragraph only."""
    assert credit_tail(paragraph) == credit


@pytest.mark.parametrize(
    ("paragraph", "cue"),
    [
        ("Shishmakov, left, and Petrov at the station", True),
        ("Shishmakov , left , and Petrov at the station", True),
        ("Petrov, right", True),
        ("Birder Callum Rae (pictured left) with his telescope", True),
        ("Velikov (pictured) was arrested on 9 March", True),
        ("Alf Dyson, front row, second left", True),
        ("Mr Velikov, left the country in 2015 and never returned.", False),
        ("The owl, pictured above on Saturday, flew south.", False),
    ],
)
def test_position_cues(paragraph: str, cue: bool) -> None:
    """A position cue counts only when it is tied to a (capitalised) name."""
    assert has_position_cue(paragraph) is cue


def test_pictured_near_name_ignores_weekdays_and_sentence_starts() -> None:
    """'pictured' next to a weekday or 'The' is not 'pictured' next to a name."""
    assert pictured_near_name("Marsh-Ellery, pictured in the club's first season")
    assert not pictured_near_name("The owl, pictured above on Saturday, flew south.")
    assert not pictured_near_name("Its frame, pictured in the museum's catalogue, is lost.")


@pytest.mark.parametrize(
    "paragraph",
    [
        "He said: 'We will fight this.'",
        '"It was like watching the town drown," said Glenda Morris.',
        "'We had almost stopped hoping,' she said.",
        "“Nobody gave them a chance.”",
    ],
)
def test_speech(paragraph: str) -> None:
    """Quoted speech is recognised, with straight or curly quotes."""
    assert is_speech(paragraph)


def test_quoted_label_is_not_speech() -> None:
    """A quoted label opens with a quote mark but is not speech."""
    assert not is_speech("‘Plotters’: Velikov, left, and Dunaev in Salisbury")


def test_speech_and_pictured_body_sentences_are_not_captions() -> None:
    """Speech with a colon and body sentences that say 'pictured' in passing stay body text."""
    text = "\n".join(
        [
            "Ferry terminal sabotage trial opens",
            "Prosecutor Janet Oduya told jurors: 'These men were not tourists.'",
            "The car, pictured in CCTV footage from a petrol station, was found abandoned.",
            "Mr Velikov (pictured) was jailed for six years in 2016.",
            "Background: the terminal was built in 1974 and handles 40 sailings a day.",
        ]
    )
    assert _text(text).captions == ()


def test_speech_outweighs_caption_features() -> None:
    """Speech that also has a position cue and no full stop is still not a caption."""
    paragraph = "Velikov, left, told the court: 'I was only ever a tourist'"
    evidence = classify_paragraphs(["Headline", paragraph])[1]
    assert {"position-cue", "no-final-stop", "speech"} <= set(evidence.features)
    assert evidence.role == "body"


def test_repeated_captions_are_each_kept_with_their_position() -> None:
    """A caption printed three times, quotes varying, is three occurrences in order."""
    lines = [
        "Plotters: Velikov and Dunaev on the harbour wall.",
        "The court heard evidence for three days.",
        "'Plotters': Velikov and Dunaev on the harbour wall.",
        "The men deny the charges.",
        "‘Plotters’:Velikov and Dunaev on the harbour wall.",
    ]
    article = _text("\n".join(lines))
    assert [(c.position, c.text) for c in article.captions] == [
        (1, lines[0]),
        (2, lines[2]),
        (3, lines[4]),
    ]
    assert all(c.origin == "caption-paragraph" and c.image_refs == () for c in article.captions)


def test_repeat_alone_is_enough_for_a_short_paragraph_but_not_a_long_one() -> None:
    """A repeated short paragraph is a caption; a repeated long one (a lede copy) is not."""
    short = "A kayaker paddles past the war memorial on Lune Road."
    long = " ".join(["The council has said the flood defences will be rebuilt."] * 4)
    article = _text("\n".join([short, "Body text follows here.", short, long, "More.", long]))
    assert [c.text for c in article.captions] == [short, short]


def test_evidence_explains_the_decision() -> None:
    """classify_paragraphs reports the features that fired and the score."""
    evidence = classify_paragraphs(
        ["Title of the piece", "Velikov (pictured) was arrested at the station on 9 March"]
    )
    assert evidence[0].role == "title"
    assert evidence[1].role == "caption"
    assert evidence[1].features == ("position-cue", "no-final-stop")
    assert evidence[1].score == 3


def test_split_paragraphs_line_and_wrapped_modes() -> None:
    """One paragraph per line, unless the file is hard-wrapped with blank lines."""
    assert split_paragraphs("Headline\nFirst para.\n\nSecond para.\n") == [
        "Headline",
        "First para.",
        "Second para.",
    ]
    wrapped = (
        "A snowy owl has been photographed on Cairnford moor, the first confirmed\n"
        "sighting in the county since 1981.\n"
        "\n"
        "Birder Callum Rae (pictured left) with his telescope at the car park on\n"
        "Sunday\n"
    )
    assert split_paragraphs(wrapped) == [
        "A snowy owl has been photographed on Cairnford moor, the first confirmed "
        "sighting in the county since 1981.",
        "Birder Callum Rae (pictured left) with his telescope at the car park on Sunday",
    ]


def test_title_only_when_first_line_reads_as_a_headline() -> None:
    """A first line that is a sentence with a full stop is not taken as the title."""
    assert _text("Ferry strike called off\nBody.").title == "Ferry strike called off"
    assert _text("The strike was called off on Monday, the union said.\nBody.").title is None
    assert _text("By Helen Marsh\nBody.").title is None


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "date", "precision"),
    [
        (
            "Headline\nPublished: 10:15, 14 April 2017 | Updated: 12:00, 15 April 2017",
            "2017-04-14",
            "day",
        ),
        ("Headline\nPosted April 2019", "2019-04-01", "month"),
        ("Headline\nPublished: 2016", "2016-01-01", "year"),
        ("Headline\nBy Dana Reyes | April 14, 2021", "2021-04-14", "day"),
        ("Headline\nMon 3 Jun 2024 18.05 BST", "2024-06-03", "day"),
        ("Headline\nUpdated: 12:00, 15 April 2017", None, "unknown"),
        (
            "Headline\nIn April 2017 the council voted to close the library, despite protests.",
            None,
            "unknown",
        ),
        ("Headline\nPublished: 31 February 2017", None, "unknown"),
        ("Headline\nThe report runs to 2017 pages.", None, "unknown"),
    ],
)
def test_text_dates_are_never_guessed(text: str, date: str | None, precision: str) -> None:
    """Dates come only from a by/dateline near the top; precision follows what is written."""
    article = _text(text)
    assert (article.published.isoformat() if article.published else None) == date
    assert article.published_precision == precision


@pytest.mark.parametrize(
    ("value", "date", "precision"),
    [
        ("2017-04-14T23:30:00-05:00", datetime.date(2017, 4, 14), "day"),
        ("2017-04", datetime.date(2017, 4, 1), "month"),
        ("2017", datetime.date(2017, 1, 1), "year"),
        ("Fri, 14 Apr 2017 10:15:00 +0100", datetime.date(2017, 4, 14), "day"),
        ("2017-13-40", None, "unknown"),
        ("yesterday", None, "unknown"),
    ],
)
def test_machine_dates(value: str, date: datetime.date | None, precision: str) -> None:
    """Machine dates keep the publisher's calendar day (no conversion to UTC)."""
    assert parse_machine_date(value) == (date, precision)


def test_text_date_year_only_needs_permission() -> None:
    """A bare year is a date only on a line known to be a dateline."""
    assert parse_text_date("2017") == (None, "unknown")
    assert parse_text_date("2017", allow_year_only=True) == (datetime.date(2017, 1, 1), "year")


# --- HTML ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alt", "decorative"),
    [
        ("", True),
        ("   ", True),
        ("image", True),
        ("Photo", True),
        ("photo.", True),
        ("IMG_1234", True),
        ("quayle-marrow", True),
        ("tortoise-2.jpg", True),
        ("Shelly the tortoise", False),
        ("Marsh-Ellery", False),
        ("A photo of the harbour wall", False),
    ],
)
def test_decorative_alts(alt: str, decorative: bool) -> None:
    """Empty, generic, file-name and slug alts are decorative; real descriptions are not."""
    assert is_decorative(alt) is decorative


def test_decorative_alt_is_not_a_caption_but_the_image_is_kept() -> None:
    """A decorative alt yields no occurrence; the image keeps its raw alt."""
    article = _html('<img src="a.jpg" alt="photo"><img src="b.jpg" alt="Harbour wall at dusk">')
    assert _captions(article) == [("alt", "Harbour wall at dusk")]
    assert [(i.ref, i.position, i.alt) for i in article.images] == [
        ("a.jpg", 1, "photo"),
        ("b.jpg", 2, "Harbour wall at dusk"),
    ]


def test_srcset_largest() -> None:
    """The widest candidate wins, whatever its place in the list; densities as a fallback."""
    assert largest_in_srcset("a.jpg 460w, b.jpg 1300w, c.jpg 880w") == "b.jpg"
    assert largest_in_srcset("a.jpg, b.jpg 2x, c.jpg 1.5x") == "b.jpg"
    assert largest_in_srcset("data:image/gif;base64,AAAA 1x") is None
    assert largest_in_srcset("") is None


def test_lazy_and_picture_image_refs() -> None:
    """data-src beats a placeholder src; a bare <picture> falls back to its sources."""
    article = _html(
        '<img src="data:image/gif;base64,R0lGOD" data-src="real.jpg" alt="Real">'
        '<img data-srcset="s.jpg 320w, l.jpg 1024w" alt="Lazy srcset">'
        '<picture><source srcset="p-small.webp 400w, p-big.webp 1600w">'
        '<img alt="The pier"></picture>'
        '<img src="data:image/gif;base64,R0lGOD" alt="Inline only">'
    )
    assert [i.ref for i in article.images] == ["real.jpg", "l.jpg", "p-big.webp"]
    assert [c.image_refs for c in article.captions] == [("real.jpg",), ("l.jpg",), ("p-big.webp",)]


def test_image_ref_prefers_src_over_srcset() -> None:
    """An <img> with src and srcset is referred to by its src, as written."""
    article = _html('<img src="/img/480/x.jpg" srcset="/img/976/x.jpg 976w" alt="X">')
    assert article.images[0].ref == "/img/480/x.jpg"


def test_image_ref_on_a_lone_element() -> None:
    """image_ref works on an element outside a parsed page (finds its <picture> itself)."""
    soup = BeautifulSoup("<picture><source srcset='a.webp 2x'><img></picture>", "lxml")
    img = soup.find("img")
    assert isinstance(img, Tag)
    assert image_ref(img) == "a.webp"


def test_figcaption_with_credit_and_hidden_prefix() -> None:
    """Visually hidden labels are stripped; a credit span is separated from the caption."""
    article = _html(
        "<figure><img src='a.jpg' alt=''>"
        "<span class='image-copyright'>"
        "<span class='visually-hidden'>Image source, </span>Reuters</span>"
        "<figcaption><span class='visually-hidden'>Image caption, </span>Rescuers at   the\n"
        "<em>scene</em></figcaption></figure>"
        "<figure><img src='b.jpg'><figcaption>Flood <span class='credit'>Photograph: AP</span>"
        "</figcaption></figure>"
    )
    assert [(c.origin, c.text, c.image_refs, c.credit) for c in article.captions] == [
        ("figcaption", "Rescuers at the scene", ("a.jpg",), "Reuters"),
        ("figcaption", "Flood", ("b.jpg",), "Photograph: AP"),
    ]


def test_gallery_group_and_adjacent_captions() -> None:
    """One caption under several images belongs to all of them; shared parents split by order."""
    article = _html(
        "<div class='gallery'><img src='1.jpg'><img src='2.jpg'><img src='3.jpg'>"
        "<p class='gallery-caption'>All three</p></div>"
        "<div class='row'><img src='a.jpg'><p class='imageCaption'>A only</p>"
        "<img src='b.jpg'><p class='imageCaption'>B only</p></div>"
        "<p class='image-caption'>Under a video, no image</p>"
    )
    assert [(c.text, c.image_refs) for c in article.captions] == [
        ("All three", ("1.jpg", "2.jpg", "3.jpg")),
        ("A only", ("a.jpg",)),
        ("B only", ("b.jpg",)),
        ("Under a video, no image", ()),
    ]


def test_caption_containers_are_not_captions() -> None:
    """A wp-caption div holds an image, so only its wp-caption-text child is a caption."""
    article = _html(
        "<div class='wp-caption'><img src='a.jpg' alt=''>"
        "<p class='wp-caption-text'>Allotments <span>at dusk</span></p></div>"
    )
    assert _captions(article) == [("caption-paragraph", "Allotments at dusk")]


def test_json_ld_image_forms() -> None:
    """JSON-LD image as a string, a list, and ImageObjects with caption, creditText, creator."""
    ld = {
        "@context": "https://schema.org",
        "@type": ["NewsArticle"],
        "headline": "Ferry strike",
        "url": "https://example.test/ferry",
        "datePublished": "2020-05",
        "publisher": {"@type": "Organization", "name": "Example Post"},
        "image": [
            "https://example.test/a.jpg",
            {
                "@type": "ImageObject",
                "url": "https://example.test/b.jpg",
                "caption": "Pickets at dawn",
                "creditText": "Example Post",
            },
            {
                "@type": "ImageObject",
                "contentUrl": ["https://example.test/c.jpg"],
                "caption": "Ferry at berth",
                "creator": [{"name": "A. Jones"}, {"name": "B. Li"}],
            },
            {"@type": "ImageObject", "url": "https://example.test/d.jpg"},
            {"@type": "ImageObject", "caption": "No URL, so no image"},
        ],
    }
    article = _html("", head=f'<script type="application/ld+json">{json.dumps(ld)}</script>')
    assert [(c.origin, c.text, c.image_refs, c.credit) for c in article.captions] == [
        ("json-ld", "Pickets at dawn", ("https://example.test/b.jpg",), "Example Post"),
        ("json-ld", "Ferry at berth", ("https://example.test/c.jpg",), "A. Jones, B. Li"),
    ]
    assert [i.ref for i in article.images] == [
        f"https://example.test/{name}.jpg" for name in ("a", "b", "c", "d")
    ]
    assert (article.title, article.url, article.publisher) == (
        "Ferry strike",
        "https://example.test/ferry",
        "Example Post",
    )
    assert (article.published, article.published_precision) == (datetime.date(2020, 5, 1), "month")


@pytest.mark.parametrize(
    "payload",
    [
        '{"@type": "NewsArticle", "image": ["a.jpg",], }',
        "[" * 100_000,
        "alert('not json')",
        "",
        '{"@type": "NewsArticle", "image": {"@id": "#missing"}}',
        '{"@type": "NewsArticle", "image": [null, 3, {"url": 5, "caption": ["x"]}]}',
    ],
)
def test_broken_json_ld_is_ignored(payload: str) -> None:
    """Malformed, absurdly nested or oddly typed JSON-LD never raises and adds no captions."""
    article = _html("<p>Body</p>", head=f'<script type="application/ld+json">{payload}</script>')
    assert article.captions == ()


def test_og_image_alt_and_metadata_priorities() -> None:
    """og:image:alt pairs with the og:image before it; canonical beats og:url; og beats JSON-LD."""
    head = (
        '<meta property="og:image" content="one.jpg"><meta property="og:image:alt" content="One">'
        '<meta property="og:image" content="two.jpg"><meta property="og:image:alt" content="image">'
        '<meta property="og:url" content="https://x.test/a?share=1">'
        '<link rel="canonical" href="https://x.test/a">'
        '<meta property="og:site_name" content="X Times">'
        '<script type="application/ld+json">{"@type":"NewsArticle","publisher":{"name":"X Ltd"},'
        '"datePublished":"2019-01-02"}</script><title>Fallback | X</title>'
    )
    article = _html("<h1>Heading</h1>", head=head)
    assert [(c.origin, c.text, c.image_refs) for c in article.captions] == [
        ("og:image", "One", ("one.jpg",)),
    ]
    assert (article.url, article.publisher, article.title) == (
        "https://x.test/a",
        "X Times",
        "Heading",
    )
    assert article.published == datetime.date(2019, 1, 2)


def test_unread_elements_never_give_captions() -> None:
    """script, style, noscript, template, comments, nav, footer and table captions are skipped."""
    article = _html(
        "<nav><img src='logo.png' alt='Site logo text'></nav>"
        "<script>document.write('<p class=\"caption\">Injected</p>')</script>"
        "<style>.caption::after{content:'Styled caption'}</style>"
        "<noscript><img src='n.jpg' alt='Noscript copy'></noscript>"
        "<template><p class='caption'>Template caption</p></template>"
        "<!-- <p class='caption'>Commented caption</p> -->"
        "<table><caption>Results table</caption><tr><td>1</td></tr></table>"
        "<img src='px.gif' width='1' height='1' alt='Tracking pixel'>"
        "<footer><img src='f.png' alt='Footer badge'></footer>"
        "<p class='caption'>The only caption</p>"
    )
    assert _captions(article) == [("caption-paragraph", "The only caption")]
    assert article.images == ()


# --- hostile input ---------------------------------------------------------------------------


def test_markup_and_entities_in_captions_are_just_text() -> None:
    """Escaped markup stays literal text; entities are decoded exactly once."""
    article = _html(
        "<figure><img src='a.jpg' alt='&lt;script&gt;alert(1)&lt;/script&gt;'>"
        "<figcaption>Fish &amp; chips &amp;amp; &lt;b&gt;more&lt;/b&gt; "
        "<script>alert('x')</script>end</figcaption></figure>",
        head='<script type="application/ld+json">{"@type":"NewsArticle","image":{"url":"j.jpg",'
        '"caption":"<script>alert(2)<\\/script> &amp; co"}}</script>',
    )
    assert _captions(article) == [
        ("json-ld", "<script>alert(2)</script> &amp; co"),
        ("alt", "<script>alert(1)</script>"),
        ("figcaption", "Fish & chips &amp; <b>more</b> end"),
    ]


def test_huge_garbage_html_does_not_crash(tmp_path: Path) -> None:
    """Megabytes of random tags and junk characters, then deep unclosed nesting, still parse.

    An unclosed comment or script would swallow the rest of the file, so those come last:
    everything before them must really be built into a tree and read.
    """
    rng = random.Random(20240611)
    pieces = [
        "<div>",
        "</div>",
        "<p class='caption'>",
        "<img src='x.jpg' alt='junk'>",
        "&#0;",
        "<figure>",
        "<figcaption>",
        "<<>>",
        "\x01",
        "&amp;&",
        "</p>",
        "]]>",
        "<b",
    ]
    junk = "".join(rng.choice(pieces) + chr(rng.randrange(32, 0x2FFF)) for _ in range(150_000))
    deep = "<div>" * 50_000 + "<p class='caption'>Deep caption</p>"
    tail = "<script>never closed <!-- nor this"
    path = tmp_path / "garbage.html"
    path.write_text(junk + deep + tail, encoding="utf-8")
    assert path.stat().st_size > 1_000_000
    article = read_article(path)
    assert article.kind == "html"
    assert [c.position for c in article.captions] == list(range(1, len(article.captions) + 1))
    assert ("alt", "junk") in _captions(article)
    assert [i.ref for i in article.images] == ["x.jpg"]


def test_nul_bytes_in_html_string_do_not_crash() -> None:
    """parse_html itself copes with NULs and control characters (read_article refuses them)."""
    article = _html("<figure><img src='a.jpg'><figcaption>A\x00B\x07C</figcaption></figure>")
    assert article.captions[0].origin == "figcaption"


def test_long_text_with_many_paragraphs_does_not_crash() -> None:
    """Beyond the fuzzy-repeat limit, exact repeats still count and parsing finishes."""
    lines = [f"Paragraph number {i} says something about the harbour." for i in range(3000)]
    lines[10] = lines[2000] = "Plotters: Velikov and Dunaev on the wall"
    article = _text("\n".join(lines))
    assert [c.text for c in article.captions] == [lines[10], lines[10]]


def test_oversized_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files over MAX_ARTICLE_BYTES are refused with the size in the reason."""
    monkeypatch.setattr(articles, "MAX_ARTICLE_BYTES", 100)
    path = tmp_path / "big.txt"
    path.write_text("x " * 200, encoding="utf-8")
    with pytest.raises(ArticleError, match="larger than"):
        read_article(path)


# --- errors and decoding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.pdf", b"%PDF-1.4", "unsupported suffix"),
        ("a.txt", b"", "empty file"),
        ("a.html", b"  \n\t ", "empty article"),
        ("a.txt", b"GIF89a\x00\x01\x00", "binary"),
        ("a.txt", "Caf\u00e9 caption".encode("cp1252"), "not UTF-8"),
        ("a.html", "<p>Caf\u00e9</p>".encode("cp1252"), "no charset declared"),
        ("a.html", b'<meta charset="x-no-such">\xe9', "is unknown"),
        ("a.html", b'<meta charset="ascii"><p>\xe9</p>', "declared charset"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    """Unreadable articles raise ArticleError naming the file and the reason."""
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ArticleError, match=reason) as caught:
        read_article(path)
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    """A file that does not exist is an ArticleError, chained to the OSError."""
    with pytest.raises(ArticleError, match="cannot read") as caught:
        read_article(tmp_path / "gone.html")
    assert isinstance(caught.value.__cause__, OSError)


def test_declared_charset_and_boms(tmp_path: Path) -> None:
    """A declared windows-1252 page and a UTF-16 text with a BOM both decode."""
    html = tmp_path / "a.HTM"
    html.write_bytes(
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
        "<figure><img src='a.jpg'><figcaption>René’s £4,000 tuba</figcaption></figure>".encode(
            "cp1252"
        )
    )
    assert _captions(read_article(html)) == [("figcaption", "René’s £4,000 tuba")]
    text = tmp_path / "a.text"
    text.write_bytes("Headline\nPublished: 1 May 2020\nBody.".encode("utf-16"))
    assert read_article(text).published == datetime.date(2020, 5, 1)


# --- model and invariants --------------------------------------------------------------------


def test_records_are_frozen() -> None:
    """Caption occurrences cannot be changed after reading."""
    caption = CaptionOccurrence(1, "Text", "alt", ("a.jpg",), None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        caption.text = "Other"  # type: ignore[misc]
    assert caption_to_dict(caption) == {
        "position": 1,
        "text": "Text",
        "origin": "alt",
        "image_refs": ["a.jpg"],
        "credit": None,
    }


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=30))
def test_text_invariants(lines: list[str]) -> None:
    """Any text parses; positions run 1..n; every caption is text of the input, unchanged
    apart from the line break between a lone label and its caption (joined by a space)."""
    text = "\n".join(lines)
    article = _text(text)
    flat = " ".join(text.split())
    assert [c.position for c in article.captions] == list(range(1, len(article.captions) + 1))
    for caption in article.captions:
        assert caption.text.strip()
        assert " ".join(caption.text.split()) in flat
        assert caption.origin == "caption-paragraph"


_FRAGMENTS = st.sampled_from(
    [
        "<figure>",
        "</figure>",
        "<figcaption>",
        "</figcaption>",
        "<div class='gallery'>",
        "</div>",
        "<p class='imageCaption'>",
        "</p>",
        "<img src='a.jpg' alt='Alpha'>",
        "<img data-src='b.jpg'>",
        "<img srcset='c.jpg 10w, d.jpg 20w' title='Tee'>",
        "<span class='credit'>",
        "</span>",
        "<meta property='og:image' content='o.jpg'>",
        "<meta property='og:image:alt' content='Oh'>",
        '<script type=\'application/ld+json\'>{"@type":"Article","image":{"url":"j.jpg",'
        '"caption":"Jay"}}</script>',
        "<picture><source srcset='p.jpg 5w'><img></picture>",
        "Words &amp; more ",
        "<br>",
        "<nav>",
        "</nav>",
        "<noscript>",
        "</noscript>",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_FRAGMENTS, st.text(max_size=20)), max_size=40))
def test_html_invariants(fragments: list[str]) -> None:
    """Any mix of markup parses; positions run 1..n; caption refs are recorded images."""
    article = parse_html("".join(fragments), source_path=SOURCE)
    assert [c.position for c in article.captions] == list(range(1, len(article.captions) + 1))
    assert [i.position for i in article.images] == list(range(1, len(article.images) + 1))
    refs = {i.ref for i in article.images}
    for caption in article.captions:
        assert caption.origin in ORIGINS
        assert caption.text
        assert caption.text == caption.text.strip()
        assert set(caption.image_refs) <= refs
