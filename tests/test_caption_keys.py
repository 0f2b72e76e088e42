"""Printed captions' stored keys: kept in step with the caption, made for a catalogue from
before them, and read by the report and look-ups with the same answers as parsing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, update

from provcat import caption_keys, duplicates
from provcat import models as m
from provcat.captions import KEY_RULES, match_keys
from provcat.catalogue import Catalogue
from provcat.db import alembic_config
from provcat.reports import captions as captions_report
from provcat.reports import spill

from .data.caption_pairs import labelled_pairs

# Captions whose key and body key differ in every way the rules can make them differ: a
# label, a trailing credit, a label whose case alone differs (one key, two bodies),
# typography, invisible characters, a caption that is all label.
AWKWARD = [
    "'Plotters':Shishmakov, left, is pictured meeting Serbian agent Aleksandar Sindjelic",
    "Plotters: Shishmakov , left, is pictured meeting Serbian agent Aleksandar Sindjelic",
    "plotters: Shishmakov, left, is pictured meeting Serbian agent Aleksandar Sindjelic",
    "Shishmakov, left, is pictured meeting Serbian agent Aleksandar Sindjelich (Photo: Reuters)",
    "Deadly plans: The plot to kill then-Prime Minister Milo Djukanovic \u2014 Sky News",
    "\u2018Plotters\u2019: Shishmakov, left, is pictured meeting Serbian agent Aleksandar"
    " Sindjelic",
    "Deadly\u00a0plans: the plot to kill then\u2013Prime Minister Milo\u200b Djukanovic.",
    "Pictured:",
    "  ",
    "\ufb01le photo of the parliament in Podgorica",
]


def _texts() -> list[str]:
    texts = list(AWKWARD)
    for a, b, _near, _family in labelled_pairs():
        texts += [a, b]
    return texts


def test_the_key_rules_number_moves_with_the_rules() -> None:
    """Stored keys are trusted while the catalogue's rules number is the code's: a change to
    what match_keys returns must take a new KEY_RULES and a migration that calls
    provcat.caption_keys.rekey. This digest of the keys of a few hundred captions changes
    with the rules; when it does, do both, then record the new digest here."""
    digest = hashlib.sha256(json.dumps([match_keys(t) for t in _texts()]).encode()).hexdigest()
    assert (KEY_RULES, digest) == (
        1,
        "92b4e06329f093be22c9500537b2f25689568efc5840e79c85ccce1e349e73bf",
    )


def _printed(session: Any, texts: list[str], *, per_article: int = 7) -> None:
    """Articles printing ``texts`` in order, ``per_article`` to an article."""
    for start in range(0, len(texts), per_article):
        article = m.Article(
            key=f"https://example.org/{start}",
            title=f"Article {start}",
            source_kind="manifest",
            source=f"/stand-in/{start}.toml",
            publisher=("Stand-in Daily", "Stand-in Post")[start % 2],
        )
        session.add(article)
        for position, text in enumerate(texts[start : start + per_article], 1):
            session.add(
                m.Appearance(
                    article=article,
                    position=position,
                    occurrence=position,
                    caption=text,
                    caption_origin="manifest",
                )
            )
    session.commit()


def _stored(session: Any) -> list[tuple[str | None, str | None, str | None]]:
    a = m.Appearance
    rows = session.execute(select(a.caption, a.caption_key, a.caption_body_key).order_by(a.id))
    return [tuple(row) for row in rows]


def _expected(caption: str | None) -> tuple[str | None, str | None, str | None]:
    if caption is None:
        return None, None, None
    key, body = match_keys(caption)
    return caption, key, None if body == key else body


def test_setting_a_caption_sets_its_keys(catalogue: Catalogue) -> None:
    with catalogue.session() as session:
        _printed(session, AWKWARD)
        assert _stored(session) == [_expected(t) for t in AWKWARD]
        first = session.scalars(select(m.Appearance).order_by(m.Appearance.id)).first()
        assert first is not None
        first.caption = None
        session.commit()
        assert _stored(session)[0] == (None, None, None)
        first.caption = AWKWARD[3]
        session.commit()
        assert _stored(session)[0] == _expected(AWKWARD[3])
        # A label whose case alone differs: one match key, two body keys.
        assert _stored(session)[1][1] == _stored(session)[2][1]
        assert _stored(session)[1][2] != _stored(session)[2][2]


def test_an_ingest_stores_every_printed_caption_s_keys(montenegro: Catalogue) -> None:
    with montenegro.session() as session:
        stored = _stored(session)
        assert caption_keys.rules_current(session.connection())
    assert sum(caption is not None for caption, *_ in stored) == 5
    assert stored == [_expected(caption) for caption, *_ in stored]


def test_0012_keys_the_captions_stored_before_it(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalogue from before the stored keys gets them for every printed caption (read a
    few at a time here, keyed in worker processes), and its rules recorded; downgrading
    drops both columns and the record."""
    texts = _texts()[:200]
    with Catalogue(empty_db_url) as catalogue:
        with catalogue.session() as session:
            _printed(session, [*texts, None])  # type: ignore[list-item]
        with catalogue.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0011")
            columns = {c["name"] for c in inspect(connection).get_columns("appearance")}
            assert "caption_key" not in columns
            assert not caption_keys.rules_current(connection)
    monkeypatch.setattr(caption_keys, "_PAGE", 30)
    monkeypatch.setattr(caption_keys, "_PARALLEL_FROM", 10)
    with Catalogue(empty_db_url) as catalogue, catalogue.session() as session:  # upgrades
        assert _stored(session) == [_expected(t) for t in [*texts, None]]
        assert caption_keys.rules_current(session.connection())


def test_rekey_makes_keys_again_and_records_the_rules(catalogue: Catalogue) -> None:
    with catalogue.session() as session:
        _printed(session, AWKWARD)
        session.execute(update(m.Appearance).values(caption_key="stale", caption_body_key=None))
        session.execute(
            update(m.CatalogueState)
            .where(m.CatalogueState.key == caption_keys.RULES_ROW)
            .values(value=KEY_RULES + 1)
        )
        assert not caption_keys.rules_current(session.connection())
        assert caption_keys.rekey(session.connection(), workers=1) == len(AWKWARD)
        session.commit()
        assert _stored(session) == [_expected(t) for t in AWKWARD]
        assert caption_keys.rules_current(session.connection())


def _corpus(seed: int) -> list[str]:
    """Printings with exact and near reprints, labels, credits and case-only differences."""
    rng = random.Random(seed)
    pairs = labelled_pairs(seed)
    texts = []
    for a, b, _near, _family in rng.sample(pairs, 60):
        texts += [a, b]
    texts += AWKWARD * 2
    texts += rng.sample(texts, 40)  # exact reprints
    rng.shuffle(texts)
    return texts


@pytest.fixture
def printed(catalogue: Catalogue) -> tuple[Catalogue, list[str]]:
    texts = _corpus(5)
    with catalogue.session() as session:
        _printed(session, texts)
        # A row written without keys (by code that does not know them): readers make its key.
        session.execute(
            update(m.Appearance)
            .where(m.Appearance.id == 3)
            .values(caption_key=None, caption_body_key=None)
        )
        session.commit()
    return catalogue, texts


def _parsed_report(catalogue: Catalogue) -> dict[str, Any]:
    """The report made by parsing every caption (the printings' keys taken away)."""
    with catalogue.session() as session:
        occurrences = [
            dataclasses.replace(o, key="", body_key=None)
            for o in captions_report.load_occurrences(session=session)
        ]
    return _plain(captions_report.build_report(occurrences).to_dict())


def _plain(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "generated_at"}


@pytest.mark.parametrize(("at_once", "held"), [(None, None), (3, 0)])
def test_the_report_from_stored_keys_is_the_report_from_parsing(
    printed: tuple[Catalogue, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    at_once: int | None,
    held: int | None,
) -> None:
    """The same report, whether its groups' printings are made in one round or a few at a
    time, and its groups wait in memory or in the spill's file."""
    catalogue, _texts = printed
    expected = _parsed_report(catalogue)
    assert len(expected["groups"]) > 20
    if at_once is not None:
        monkeypatch.setattr(captions_report, "_PRINTINGS_AT_ONCE", at_once)
    if held is not None:
        monkeypatch.setattr(spill, "IN_MEMORY", held)
    made: list[str] = []

    def counted(text: str) -> tuple[str, str]:
        made.append(text)
        return match_keys(text)

    monkeypatch.setattr(duplicates, "match_keys", counted)
    monkeypatch.setattr(captions_report, "match_keys", counted)
    assert _plain(catalogue.caption_report().to_dict()) == expected
    # Only the caption stored without keys was parsed for them.
    with catalogue.session() as session:
        third = session.get(m.Appearance, 3)
        assert third is not None
        assert made == [third.caption]


def _parsed_matches(catalogue: Catalogue, text: str) -> list[dict[str, Any]]:
    with catalogue.session() as session:
        occurrences = [
            dataclasses.replace(o, key="", body_key=None)
            for o in captions_report.load_occurrences(session=session)
        ]
    return [found.to_dict() for found in captions_report.match_caption(text, occurrences)]


def test_a_look_up_from_stored_keys_finds_what_parsing_finds(
    printed: tuple[Catalogue, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the printings found are read whole; the answers are those of parsing every
    caption, for exact and near matches, a caption stored without keys, and a text found
    nowhere."""
    catalogue, texts = printed
    with catalogue.session() as session:
        third = session.get(m.Appearance, 3)
        assert third is not None
        unkeyed = third.caption
    assert unkeyed is not None
    queries = [texts[0], texts[10].upper(), unkeyed, AWKWARD[0], AWKWARD[3], "Nothing like it"]
    loaded: list[int] = []
    load = captions_report.load_occurrences

    def counted(**given: Any) -> Any:
        found = load(**given)
        loaded.append(len(found))
        return found

    for text in queries:
        expected = _parsed_matches(catalogue, text)
        loaded.clear()
        monkeypatch.setattr(captions_report, "load_occurrences", counted)
        got = [found.to_dict() for found in catalogue.match_caption(text)]
        monkeypatch.undo()
        assert got == expected, text
        assert loaded == [sum(len(found["occurrences"]) for found in expected)]
    assert any(found["match"] == "near" for found in _parsed_matches(catalogue, AWKWARD[3]))


def test_keys_made_under_other_rules_are_not_read(printed: tuple[Catalogue, list[str]]) -> None:
    """Where the catalogue's keys were made under other rules, readers parse every caption:
    the answers are the same however wrong the stored keys are."""
    catalogue, texts = printed
    expected = _parsed_report(catalogue)
    matches = _parsed_matches(catalogue, texts[0])
    with catalogue.session() as session:
        session.execute(update(m.Appearance).values(caption_key="stale", caption_body_key="x"))
        session.execute(
            update(m.CatalogueState)
            .where(m.CatalogueState.key == caption_keys.RULES_ROW)
            .values(value=KEY_RULES + 1)
        )
        session.commit()
    assert _plain(catalogue.caption_report().to_dict()) == expected
    assert [found.to_dict() for found in catalogue.match_caption(texts[0])] == matches


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_catalogue_report_is_the_report_of_every_printing(
    catalogue: Catalogue, seed: int
) -> None:
    """The report made from the stored keys, holding a few numbers a printing, is the one
    build_report makes of every printing: with images printed under several captions,
    stand-ins, alt text echoing a caption printed with its image, galleries (printings
    sharing one caption occurrence) and a printing stored without keys."""
    rng = random.Random(seed)
    texts = _corpus(seed)
    with catalogue.session() as session:
        images = [
            m.Image(
                sha256=f"{seed:02d}{n:062d}",
                format="JPEG",
                width=10,
                height=10,
                file_size=100,
                pixel_digest=f"{n:064d}",
                stand_in=n % 4 == 0,
            )
            for n in range(15)
        ]
        session.add_all(images)
        at = 0
        for number in range(len(texts) // 5):
            article = m.Article(
                key=f"https://example.org/{seed}/{number}",
                title=f"Article {number}",
                source_kind="html",
                source=f"/stand-in/{number}.html",
                publisher=("Stand-in Daily", "Stand-in Post", None)[number % 3],
            )
            session.add(article)
            occurrence = 0
            for position in range(1, 7):
                if rng.random() > 0.2:
                    occurrence += 1  # else a gallery: the same caption occurrence
                text = texts[at % len(texts)]
                at += 1
                image = rng.choice([*images, None])
                origin = rng.choice(["figcaption", "alt", "caption-paragraph"])
                session.add(
                    m.Appearance(
                        article=article,
                        image=image,
                        position=position,
                        occurrence=occurrence,
                        caption=text,
                        caption_origin=origin,
                        credit=rng.choice([None, "Reuters", "AP", "Sky News via Reuters"]),
                    )
                )
                if image is not None and origin != "alt" and rng.random() < 0.3:
                    session.add(  # the image's alt text repeating its caption
                        m.Appearance(
                            article=article,
                            image=image,
                            position=position + 100,
                            occurrence=occurrence + 100,
                            caption=text.upper(),
                            caption_origin="alt",
                        )
                    )
        session.flush()
        session.execute(
            update(m.Appearance)
            .where(m.Appearance.id == 5)
            .values(caption_key=None, caption_body_key=None)
        )
        session.commit()
    expected = _parsed_report(catalogue)
    assert expected["photos"]
    assert expected["groups"]
    assert expected["contains_stand_ins"]
    with catalogue.session() as session:
        printings = session.scalar(select(func.count()).select_from(m.Appearance))
    assert expected["captions_considered"] < printings  # the echoes left out
    assert _plain(catalogue.caption_report().to_dict()) == expected


def test_a_printing_changed_while_the_report_reads_is_not_shown_in_its_old_group(
    printed: tuple[Catalogue, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report groups what it scanned, then reads the reported groups' printings: one
    whose caption another process changed in between (a re-ingested article) is left out
    of the group it was scanned in, and one deleted in between is left out."""
    catalogue, _texts = printed
    before = catalogue.caption_report()
    group = max(before.groups, key=lambda g: len(g.occurrences))
    assert len(group.occurrences) >= 3
    changed, deleted = group.occurrences[0], group.occurrences[1]
    other_text = "An entirely different caption about the harbour in Kotor at dawn"
    read = captions_report._printed_ids

    def changed_first(*given: Any) -> Any:
        with catalogue.session() as other:
            for o, change in ((changed, other_text), (deleted, None)):
                row = other.scalars(
                    select(m.Appearance)
                    .join(m.Article)
                    .where(m.Article.key == o.article.key, m.Appearance.position == o.position)
                ).one()
                if change is None:
                    other.delete(row)
                else:
                    row.caption = change
            other.commit()
        return read(*given)

    monkeypatch.setattr(captions_report, "_printed_ids", changed_first)
    after = catalogue.caption_report()
    shown = [o for g in after.groups for o in g.occurrences]
    assert other_text not in {o.caption for o in shown}
    assert (deleted.article.key, deleted.position) not in {
        (o.article.key, o.position) for o in shown
    }
    regrouped = next(g for g in after.groups if g.key == group.key)
    assert len(regrouped.occurrences) == len(group.occurrences) - 2
