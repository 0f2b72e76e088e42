"""Caption display form, match keys, label and credit split, and position cues."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provcat.captions import ParsedCaption, PersonCue, normalise, parse_caption, tokens

# Three captions as printed in one scraped article (Montenegro coup plot), the first one twice:
# straight quotes in one copy, curly quotes in the other, no space after the colon in either.
PLOTTERS_STRAIGHT = (
    "'Plotters':Shishmakov, left, is pictured meeting Serbian agent Aleksandar Sindjelic in "
    "Belgrade at the time of the foiled assassination attempt"
)
PLOTTERS_CURLY = PLOTTERS_STRAIGHT.replace("'Plotters'", "‘Plotters’")
ACCUSATIONS = (
    "Accusations: Eduard Shishmakov , left, and Vladimir Popov, right, are two Russian "
    "nationals accused of plotting the coup"
)
DEADLY_PLANS = (
    "Deadly plans: The plot to kill then-Prime Minister Milo Djukanovic, pictured, was meant "
    "to take place on election day"
)


@pytest.fixture
def plotters() -> tuple[ParsedCaption, ParsedCaption]:
    """The 'Plotters' caption parsed from its straight-quote and curly-quote copies."""
    return parse_caption(PLOTTERS_STRAIGHT), parse_caption(PLOTTERS_CURLY)


def test_plotters_copies_share_keys(plotters: tuple[ParsedCaption, ParsedCaption]) -> None:
    straight, curly = plotters
    assert straight.key == curly.key
    assert straight.body_key == curly.body_key
    assert straight.label == curly.label == "Plotters"
    assert straight.body.startswith("Shishmakov, left, is pictured meeting")
    assert straight.body_key == (
        "shishmakov, left, is pictured meeting serbian agent aleksandar sindjelic in belgrade "
        "at the time of the foiled assassination attempt"
    )


def test_plotters_keeps_raw_and_printed_quotes(
    plotters: tuple[ParsedCaption, ParsedCaption],
) -> None:
    straight, curly = plotters
    assert straight.raw == PLOTTERS_STRAIGHT
    assert curly.raw == PLOTTERS_CURLY
    assert curly.display.startswith("‘Plotters’:Shishmakov")
    assert straight.display != curly.display


def test_plotters_cue_ignores_verb_pictured(
    plotters: tuple[ParsedCaption, ParsedCaption],
) -> None:
    # "is pictured meeting" is a verb, not a cue tied to a name.
    for caption in plotters:
        assert caption.people == (PersonCue("Shishmakov", "left"),)
        assert caption.credit is None


def test_accusations() -> None:
    caption = parse_caption(ACCUSATIONS)
    assert caption.label == "Accusations"
    assert caption.people == (
        PersonCue("Eduard Shishmakov", "left"),
        PersonCue("Vladimir Popov", "right"),
    )
    assert caption.display == (
        "Accusations: Eduard Shishmakov, left, and Vladimir Popov, right, are two Russian "
        "nationals accused of plotting the coup"
    )
    assert caption.body.startswith("Eduard Shishmakov, left, and")
    assert caption.key.startswith("accusations: eduard shishmakov, left,")


def test_deadly_plans() -> None:
    caption = parse_caption(DEADLY_PLANS)
    assert caption.label == "Deadly plans"
    assert caption.people == (PersonCue("Milo Djukanovic", "pictured"),)
    assert caption.body.startswith("The plot to kill then-Prime Minister")
    assert caption.credit is None


def test_deadly_plans_dash_variant_same_key() -> None:
    variant = DEADLY_PLANS.replace("then-Prime", "then–Prime").replace("plans: ", "plans:  ")
    assert parse_caption(variant).key == parse_caption(DEADLY_PLANS).key
    assert parse_caption(variant).body_key == parse_caption(DEADLY_PLANS).body_key


def test_label_variants_share_body_key() -> None:
    keys = {
        parse_caption(text).body_key
        for text in (
            "Plotters: Shishmakov, left, in Belgrade.",
            '"Plotters": Shishmakov , left, in Belgrade',
            "“Plotters”:Shishmakov, left, in  Belgrade.",
            "Shishmakov, left, in Belgrade",
        )
    }
    assert keys == {"shishmakov, left, in belgrade"}


# raw -> (label, body, credit)
SPLITS: list[tuple[str, str | None, str, str | None]] = [
    ("Shishmakov in Belgrade (Photo: Sky News)", None, "Shishmakov in Belgrade", "Sky News"),
    ("Shishmakov in Belgrade (Photo: Sky News).", None, "Shishmakov in Belgrade", "Sky News"),
    ("Shishmakov in Belgrade. Credit: Reuters", None, "Shishmakov in Belgrade.", "Reuters"),
    ("Shishmakov in Belgrade Picture: Reuters", None, "Shishmakov in Belgrade", "Reuters"),
    (
        "Shishmakov in Belgrade. unnamed European security service via Sky News",
        None,
        "Shishmakov in Belgrade.",
        "unnamed European security service via Sky News",
    ),
    (
        "Plotters: Shishmakov in Belgrade (Handout via Reuters)",
        "Plotters",
        "Shishmakov in Belgrade",
        "Handout via Reuters",
    ),
    (
        "Soldiers march in Kyiv - REUTERS/Marko Djurica",
        None,
        "Soldiers march in Kyiv",
        "REUTERS/Marko Djurica",
    ),
    ("Soldiers march in Kyiv. © Reuters 2017", None, "Soldiers march in Kyiv.", "© Reuters 2017"),
    ("Soldiers march in Kyiv (Reuters)", None, "Soldiers march in Kyiv", "Reuters"),
    ("(Photo: Sky News)", None, "", "Sky News"),
    ("Picture: Sky News", None, "", "Sky News"),
    # Not credits: body text must not be eaten.
    (
        "He sent the message. He sent it via WhatsApp",
        None,
        "He sent the message. He sent it via WhatsApp",
        None,
    ),
    ("Aid arrived. Aid arrived via Poland.", None, "Aid arrived. Aid arrived via Poland.", None),
    ("Milo Djukanovic (pictured)", None, "Milo Djukanovic (pictured)", None),
    (
        "The talks - which failed - began in Sochi",
        None,
        "The talks - which failed - began in Sochi",
        None,
    ),
    # Colons in speech or later in the text are not labels.
    ("He said: 'We will not stop'", None, "He said: 'We will not stop'", None),
    (
        "Officials told reporters: nothing was found",
        None,
        "Officials told reporters: nothing was found",
        None,
    ),
    (
        "Police found the plotters in Belgrade at 10:30: nobody was hurt",
        None,
        "Police found the plotters in Belgrade at 10:30: nobody was hurt",
        None,
    ),
    ("EXCLUSIVE: The plotters met twice", "EXCLUSIVE", "The plotters met twice", None),
    ("Caption:", None, "Caption:", None),
    ("Photo: Shishmakov meets an agent", "Photo", "Shishmakov meets an agent", None),
    ("Credit: Jane Doe", None, "", "Jane Doe"),
    ("Picture: Jane Doe", None, "", "Jane Doe"),
]


@pytest.mark.parametrize(("raw", "label", "body", "credit"), SPLITS, ids=[s[0] for s in SPLITS])
def test_label_body_credit(raw: str, label: str | None, body: str, credit: str | None) -> None:
    caption = parse_caption(raw)
    assert (caption.label, caption.body, caption.credit) == (label, body, credit)
    assert caption.raw == raw
    assert caption.body_key == normalise(body)


# raw -> people
CUES: list[tuple[str, list[tuple[str, str]]]] = [
    ("Milo Djukanovic (pictured) led Montenegro", [("Milo Djukanovic", "pictured")]),
    ("Milo Djukanovic, pictured in 2016, led Montenegro", [("Milo Djukanovic", "pictured")]),
    (
        "Shishmakov (left) and Popov (right) in Belgrade",
        [("Shishmakov", "left"), ("Popov", "right")],
    ),
    (
        "Ursula von der Leyen (centre) meets Bashar al-Assad (far right)",
        [("Ursula von der Leyen", "centre"), ("Bashar al-Assad", "far right")],
    ),
    (
        "Jane Doe, second from left, and John Roe, top left, pose",
        [("Jane Doe", "second left"), ("John Roe", "top left")],
    ),
    (
        "Jean-Claude Juncker, center, and Donald Tusk, second right, arrive",
        [("Jean-Claude Juncker", "centre"), ("Donald Tusk", "second right")],
    ),
    (
        "Russian President Vladimir Putin (L) and Serbian President Aleksandar Vucic (R)",
        [("Vladimir Putin", "left"), ("Aleksandar Vucic", "right")],
    ),
    (
        "John Major, left, and Martin Luther King Jr., right",
        [("John Major", "left"), ("Martin Luther King Jr.", "right")],
    ),
    ("Sir Keir Starmer, pictured left, spoke", [("Keir Starmer", "left")]),
    (
        "Eduard Shishmakov, top, and Vladimir Popov, bottom.",
        [("Eduard Shishmakov", "top"), ("Vladimir Popov", "bottom")],
    ),
    # Not names before the cue: no cue at all.
    ("The building, left, was demolished", []),
    ("He, right, was arrested", []),
    ("Shishmakov is pictured meeting Sindjelic", []),
    ("Sindjelic left Belgrade, right after the meeting", []),
    ("Shishmakov, right wing activist, spoke", []),
    ("The agents (left to right: Popov, Shishmakov) met", []),
]


@pytest.mark.parametrize(("raw", "people"), CUES, ids=[c[0] for c in CUES])
def test_person_cues(raw: str, people: list[tuple[str, str]]) -> None:
    assert parse_caption(raw).people == tuple(PersonCue(n, c) for n, c in people)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("  Shishmakov ,  left .  ", "shishmakov, left"),
        ("‘Plotters’ — “coup”…", "'plotters' - \"coup\""),
        ("Zero\u200bwidth\u00adhyphen", "zerowidthhyphen"),
        ("Calibre .45 rifle.", "calibre .45 rifle"),
        ("STRASSE Straße", "strasse strasse"),
        ("ＦＵＬＬＷＩＤＴＨ", "fullwidth"),
        ("", ""),
    ],
)
def test_normalise(text: str, key: str) -> None:
    assert normalise(text) == key


def test_tokens() -> None:
    assert tokens(normalise(DEADLY_PLANS))[:8] == [
        "deadly",
        "plans",
        "the",
        "plot",
        "to",
        "kill",
        "then-prime",
        "minister",
    ]
    assert tokens("o'neil's, plot") == ["o'neil's", "plot"]
    assert tokens("") == []


@given(st.text())
def test_normalise_idempotent(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)


@given(st.text())
def test_parse_caption_never_raises_and_keeps_raw(raw: str) -> None:
    caption = parse_caption(raw)
    assert caption.raw == raw
    assert caption.key == normalise(raw)
    assert caption.body_key == normalise(caption.body)
    for person in caption.people:
        assert person.name
        assert person.cue


_WORDS = st.lists(
    st.sampled_from(
        [
            "Plotters",
            "Shishmakov",
            "left",
            "then",
            "Prime",
            "it's",
            "coup",
            "a-b",
            "Milo",
            ",",
            ".",
            ":",
            "'",
            '"',
            "-",
            "pictured",
        ]
    ),
    min_size=1,
)
_QUOTE_VARIANTS = {"'": ["'", "‘", "’"], '"': ['"', "“", "”", "«", "»"], "-": ["-", "–", "—", "‐"]}


@given(_WORDS, st.data())
def test_quote_dash_whitespace_variants_share_key(words: list[str], data: st.DataObject) -> None:
    plain = " ".join(words)
    spaces = st.sampled_from([" ", "  ", "\t", "\u00a0", "\n", " \u2009"])
    varied = ""
    for i, word in enumerate(words):
        if i:
            varied += data.draw(spaces)
        varied += "".join(
            data.draw(st.sampled_from(_QUOTE_VARIANTS[ch])) if ch in _QUOTE_VARIANTS else ch
            for ch in word
        )
    assert normalise(varied) == normalise(plain)
    assert parse_caption(varied).key == parse_caption(plain).key
