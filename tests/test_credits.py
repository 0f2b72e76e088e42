"""Credit lines parsed into provenance chains, agent keys, publishers and conflicts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provcat.credits import (
    PROV_TERMS,
    ROLES,
    AgentRef,
    ChainLink,
    CreditChain,
    agent_key,
    credits_conflict,
    is_known_organisation,
    parse_credit,
    with_publisher,
)

# (name, role, kind, anonymous) for each link, originator first.
Link = tuple[str, str, str, bool]

CHAINS: list[tuple[str, list[Link]]] = [
    (
        "unnamed European security service via Sky News",
        [
            ("unnamed European security service", "originator", "anonymous", True),
            ("Sky News", "supplier", "organisation", False),
        ],
    ),
    (
        "X via Y via Z",
        [
            ("X", "originator", "unknown", False),
            ("Y", "supplier", "unknown", False),
            ("Z", "supplier", "unknown", False),
        ],
    ),
    (
        "John Smith/Reuters",
        [
            ("John Smith", "originator", "person", False),
            ("Reuters", "supplier", "organisation", False),
        ],
    ),
    (
        "AP Photo/Jane Doe",
        [("Jane Doe", "originator", "person", False), ("AP", "supplier", "organisation", False)],
    ),
    (
        "(AP Photo/Jane Doe, File)",
        [("Jane Doe", "originator", "person", False), ("AP", "supplier", "organisation", False)],
    ),
    (
        "REUTERS/Marko Djurica",
        [
            ("Marko Djurica", "originator", "person", False),
            ("REUTERS", "supplier", "organisation", False),
        ],
    ),
    (
        "REUTERS/Kevin Lamarque/Pool",
        [
            ("Kevin Lamarque", "originator", "person", False),
            ("REUTERS", "supplier", "organisation", False),
        ],
    ),
    (
        "Jane Doe for The New York Times",
        [
            ("Jane Doe", "originator", "person", False),
            ("The New York Times", "supplier", "organisation", False),
        ],
    ),
    (
        "Jane Doe / AFP / Getty Images",
        [
            ("Jane Doe", "originator", "person", False),
            ("AFP", "supplier", "organisation", False),
            ("Getty Images", "supplier", "organisation", False),
        ],
    ),
    (
        "AFP/Getty Images",
        [
            ("AFP", "originator", "organisation", False),
            ("Getty Images", "supplier", "organisation", False),
        ],
    ),
    ("Getty Images", [("Getty Images", "credited", "organisation", False)]),
    ("Picture: Sky News", [("Sky News", "credited", "organisation", False)]),
    ("(Photo: Sky News)", [("Sky News", "credited", "organisation", False)]),
    ("Photograph: Reuters", [("Reuters", "credited", "organisation", False)]),
    ("Credit: Jane Doe", [("Jane Doe", "credited", "unknown", False)]),
    ("Photographer: Jane Doe", [("Jane Doe", "credited", "person", False)]),
    ("© Reuters 2017", [("Reuters", "credited", "organisation", False)]),
    ("(c) 2015-2017 BBC", [("BBC", "credited", "organisation", False)]),
    (
        "Copyright 2017 The Associated Press. All rights reserved.",
        [("The Associated Press", "credited", "organisation", False)],
    ),
    (
        "Handout via Reuters",
        [
            ("Handout", "originator", "unknown", False),
            ("Reuters", "supplier", "organisation", False),
        ],
    ),
    (
        "Ukrainian Presidential Press Service/Handout via REUTERS",
        [
            ("Ukrainian Presidential Press Service", "originator", "organisation", False),
            ("REUTERS", "supplier", "organisation", False),
        ],
    ),
    ("Photo via Reuters", [("Reuters", "supplier", "organisation", False)]),
    ("Supplied", [("Supplied", "credited", "unknown", False)]),
    ("Social media", [("Social media", "credited", "unknown", False)]),
    ("Facebook", [("Facebook", "credited", "organisation", False)]),
    ("Twitter/X", [("Twitter/X", "credited", "organisation", False)]),
    ("AC/DC", [("AC/DC", "credited", "unknown", False)]),
    (
        "REUTERS/Stringer",
        [
            ("Stringer", "originator", "anonymous", True),
            ("REUTERS", "supplier", "organisation", False),
        ],
    ),
    (
        "an anonymous source via Telegram",
        [
            ("an anonymous source", "originator", "anonymous", True),
            ("Telegram", "supplier", "organisation", False),
        ],
    ),
    (
        "Centers for Disease Control",
        [("Centers for Disease Control", "credited", "organisation", False)],
    ),
    ("  Sky   News  ", [("Sky News", "credited", "organisation", False)]),
]


@pytest.mark.parametrize(("raw", "expected"), CHAINS, ids=[raw for raw, _ in CHAINS])
def test_parse_credit_chains(raw: str, expected: list[Link]) -> None:
    chain = parse_credit(raw)
    got = [(ln.agent.name, ln.role, ln.agent.kind, ln.agent.anonymous) for ln in chain.links]
    assert got == expected
    assert chain.raw == raw
    assert chain.known


def test_parse_credit_keys() -> None:
    chain = parse_credit("unnamed European security service via Sky News")
    assert [ln.agent.key for ln in chain.links] == ["unnamed european security service", "sky news"]
    assert parse_credit("The Associated Press").links[0].agent.key == "ap"


@pytest.mark.parametrize("raw", ["", "   ", "\n\t", "Photo:", "File photo", "()"])
def test_parse_credit_names_no_one(raw: str) -> None:
    chain = parse_credit(raw)
    assert chain == CreditChain(raw=raw, links=())
    assert not chain.known


def test_parse_credit_none_is_unknown_not_guessed() -> None:
    assert parse_credit(None) == CreditChain(raw=None, links=())
    assert not parse_credit(None).known


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("The Associated Press", "ap"),
        ("ASSOCIATED  PRESS", "ap"),
        ("A.P.", "ap"),
        ("Agence France-Presse", "afp"),
        ("Agence France–Presse", "afp"),
        ("REUTERS", "reuters"),
        ("Sky News", "sky news"),
        ("“Sky News”", "sky news"),
        ("Twitter/X", "twitter"),
        ("Barcroft & Co", "barcroft and co"),
        ("O’Neil", "oneil"),
        ("the the Band", "band"),
        ("ＲＥＵＴＥＲＳ", "reuters"),
        ("...", ""),
    ],
)
def test_agent_key(name: str, key: str) -> None:
    assert agent_key(name) == key


def test_is_known_organisation() -> None:
    assert is_known_organisation("REUTERS")
    assert is_known_organisation("The Associated Press")
    assert not is_known_organisation("Jane Doe")


def test_roles_have_prov_terms() -> None:
    assert set(PROV_TERMS) == set(ROLES)
    assert PROV_TERMS["originator"] == "prov:hadPrimarySource"
    assert PROV_TERMS["supplier"] == "prov:wasQuotedFrom"


def test_with_publisher_appends() -> None:
    chain = with_publisher(
        parse_credit("unnamed European security service via Sky News"), "Daily Mail"
    )
    assert [ln.role for ln in chain.links] == ["originator", "supplier", "publisher"]
    assert chain.links[-1].agent == AgentRef("Daily Mail", "daily mail", "organisation", False)
    assert chain.raw == "unnamed European security service via Sky News"


def test_with_publisher_not_repeated() -> None:
    chain = parse_credit("Handout via Sky News")
    assert with_publisher(chain, "SKY NEWS") is chain
    assert with_publisher(chain, None) is chain
    assert with_publisher(chain, "  ") is chain


def test_with_publisher_on_unknown_credit_stays_unknown() -> None:
    chain = with_publisher(parse_credit(None), "Daily Mail")
    assert chain.raw is None
    assert chain.links == (
        ChainLink(AgentRef("Daily Mail", "daily mail", "organisation", False), "publisher"),
    )
    assert not chain.known


CONFLICTS: list[tuple[str | None, str | None, bool]] = [
    (None, "Reuters", False),
    ("Reuters", None, False),
    (None, None, False),
    ("Reuters", "AP", True),
    ("Reuters", "REUTERS", False),
    ("Photo: Reuters", "© Reuters 2017", False),
    ("The Associated Press", "AP", False),
    ("AP Photo/Jane Doe", "Jane Doe/AP", False),
    # IIM 2:110 keeps 32 bytes of the 46-byte credit that XMP photoshop:Credit holds in full.
    ("Unnamed European security servic", "unnamed European security service via Sky News", False),
    ("unnamed European security service via Sky News", "Unnamed European security servic", False),
    ("Unnamed European securi…", "unnamed European security service via Sky News", False),
    ("Sky News", "unnamed European security service via Sky News", False),
    ("unnamed European security service", "unnamed European security service via Sky News", False),
    ("Reuters", "John Smith/Reuters", False),
    ("Getty Images", "AFP/Getty Images", False),
    ("X via Y via Z", "Y via Z", False),
    ("X via Y via Z", "X via Z", True),
    ("AFP/Getty Images", "Getty Images/AFP", True),
    ("AP", "APA Images", True),  # a prefix, but not one cut at a field limit
    ("Sky News", "BBC", True),
    ("Unnamed European security servic", "BBC", True),
    ("", "Reuters", False),
]


@pytest.mark.parametrize(("a", "b", "expected"), CONFLICTS)
def test_credits_conflict(a: str | None, b: str | None, expected: bool) -> None:
    assert credits_conflict(a, b) is expected
    assert credits_conflict(b, a) is expected


@given(st.text())
def test_parse_credit_never_raises_and_keeps_raw(raw: str) -> None:
    chain = parse_credit(raw)
    assert chain.raw == raw
    for link in chain.links:
        assert link.role in ROLES
        assert link.agent.kind in ("organisation", "person", "anonymous", "unknown")
        assert link.agent.anonymous == (link.agent.kind == "anonymous")
        assert link.agent.name.strip() == link.agent.name


@given(
    st.lists(
        st.sampled_from(
            [
                "via",
                "/",
                "Photo:",
                "Reuters",
                "AP",
                "Jane",
                "Doe",
                "for",
                "(",
                ")",
                "©",
                "2017",
                "Handout",
                "unnamed",
                ",",
                "File",
            ]
        )
    ).map(" ".join)
)
def test_parse_credit_never_raises_on_credit_like_text(raw: str) -> None:
    chain = parse_credit(raw)
    assert chain.raw == raw
    assert all(link.agent.key == agent_key(link.agent.name) for link in chain.links)


@given(st.text())
def test_agent_key_idempotent(name: str) -> None:
    key = agent_key(name)
    assert agent_key(key) == key


@given(st.text(), st.text())
def test_credits_conflict_symmetric_and_total(a: str, b: str) -> None:
    assert credits_conflict(a, b) == credits_conflict(b, a)
    assert not credits_conflict(a, a)
