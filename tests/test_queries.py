"""Python queries: filters, one image by prefix, articles, agents, Hamming look-ups."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import delete, select

from provcat import models as m
from provcat import queries
from provcat.catalogue import Catalogue
from provcat.errors import AmbiguousPrefix, CatalogueError, NotFound
from provcat.queries import ImageQuery
from tests.test_reuse_report import _fill


def names(found: list) -> list[str]:  # type: ignore[type-arg]
    """The file names of a listing, sorted."""
    return sorted(p.rsplit("/", 1)[-1] for image in found for p in image.paths)


def test_every_image_without_filters(montenegro: Catalogue) -> None:
    assert len(montenegro.images()) == 4


def test_filter_by_article(montenegro: Catalogue) -> None:
    assert len(montenegro.images(article="montenegro-coup-2017")) == 4
    assert len(montenegro.images(article="spies conspiring")) == 4
    assert montenegro.images(article="no such article") == []


def test_filter_by_agent(montenegro: Catalogue) -> None:
    assert names(montenegro.images(agent="Sky News")) == [
        "02-surveillance-belgrade-meeting.jpg",
        "04-surveillance-bench.jpg",
    ]
    assert len(montenegro.images(agent="dailymail")) == 4


def test_filter_by_person_and_alias(montenegro: Catalogue) -> None:
    assert names(montenegro.images(person="Aleksandar Sindjelic")) == [
        "02-surveillance-belgrade-meeting.jpg"
    ]
    assert names(montenegro.images(person="alexsandar sindjelic")) == [
        "02-surveillance-belgrade-meeting.jpg"
    ]
    assert len(montenegro.images(person="Eduard Shishmakov")) == 3


def test_filter_by_date_range_overlaps_the_month(montenegro: Catalogue) -> None:
    assert len(montenegro.images(date_from=dt.date(2017, 4, 20))) == 4
    assert len(montenegro.images(date_to=dt.date(2017, 4, 1))) == 4
    assert montenegro.images(date_from=dt.date(2017, 5, 1)) == []
    assert montenegro.images(date_to=dt.date(2017, 3, 31)) == []


def test_filter_by_caption_printed_or_embedded(montenegro: Catalogue) -> None:
    assert names(montenegro.images(caption="deadly PLANS")) == ["03-portrait-djukanovic.jpg"]
    # "CCTV still" is only in the stand-ins' EXIF ImageDescription, which is a caption too.
    assert len(montenegro.images(caption="cctv still")) == 2
    # LIKE wildcards in the text are literal.
    assert montenegro.images(caption="%") == []


def test_filters_combine_and_limit(montenegro: Catalogue) -> None:
    query = ImageQuery(agent="Sky News", person="Vladimir Popov")
    assert names(montenegro.images(query)) == ["04-surveillance-bench.jpg"]
    assert len(montenegro.images(limit=2)) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"caption": "  "},
        {"date_from": dt.date(2020, 1, 2), "date_to": dt.date(2020, 1, 1)},
        {"limit": 0},
    ],
)
def test_query_options_are_validated_once(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(CatalogueError):
        ImageQuery(**kwargs)


def test_image_by_prefix_errors(montenegro: Catalogue) -> None:
    with pytest.raises(CatalogueError, match="not a SHA-256 prefix"):
        montenegro.image("xyz!")
    with pytest.raises(NotFound):
        montenegro.image("ffffffffffffffffffff")
    shas = [image.sha256 for image in montenegro.images()]
    common = next(
        (a[:i] for a in shas for b in shas if a != b for i in (4, 3, 2, 1) if a[:i] == b[:i]),
        None,
    )
    if common is not None and len(common) >= 4:
        with pytest.raises(AmbiguousPrefix):
            montenegro.image(common)


def test_ambiguous_prefix_names_the_candidates() -> None:
    error = AmbiguousPrefix("abcd", ["abcd" + "0" * 60, "abcd" + "1" * 60])
    assert "matches 2 images" in str(error)


def test_articles(montenegro: Catalogue) -> None:
    [article] = montenegro.articles()
    assert article.publisher == "DailyMail.co.uk"
    assert article.published == "2017-04"
    assert article.published_precision == "month"
    assert article.url is None
    assert article.appearances == 6


def test_agents(montenegro: Catalogue) -> None:
    agents = {a.name: a for a in montenegro.agents()}
    assert set(agents) == {"unnamed European security service", "Sky News", "DailyMail.co.uk"}
    assert agents["unnamed European security service"].anonymous
    assert agents["unnamed European security service"].roles == {"originator": 2}
    assert agents["Sky News"].roles == {"supplier": 2}
    assert agents["DailyMail.co.uk"].roles == {"publisher": 4}


def test_nearest_finds_the_image_itself(montenegro: Catalogue) -> None:
    image = montenegro.images()[0]
    record = montenegro.image(image.sha256)
    found = montenegro.nearest(record.fingerprints["pdq"], algorithm="pdq", max_distance=31)
    assert found[0] == (image.sha256, 0)
    assert all(distance <= 31 for _sha, distance in found)
    with pytest.raises(ValueError, match="unknown fingerprint"):
        montenegro.nearest("00", algorithm="md5")


def test_custom_query_through_the_models(montenegro: Catalogue) -> None:
    from sqlalchemy import func, select

    from provcat import models as m

    with montenegro.session() as session:
        rows = session.execute(
            select(m.Appearance.caption_origin, func.count()).group_by(m.Appearance.caption_origin)
        ).all()
    counts = {row[0]: row[1] for row in rows}
    assert counts == {"manifest": 6}


def test_a_listing_read_a_page_at_a_time_is_the_whole_listing(
    montenegro: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Images are listed a page of them at a time (flat memory for 10^6): in pages of one
    the listing is what one page gives, filters and limit included."""
    whole = montenegro.images()
    limited = montenegro.images(limit=3)
    sky = montenegro.images(agent="Sky News")
    monkeypatch.setattr(queries, "_LISTED_AT_ONCE", 1)
    assert montenegro.images() == whole
    assert list(montenegro.iter_images()) == whole
    assert montenegro.images(limit=3) == limited == whole[:3]
    assert montenegro.images(ImageQuery(agent="Sky News")) == sky


def test_an_image_deleted_while_listed_is_left_out(
    montenegro: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing reads the images' ids first, then the images a page at a time: one
    deleted in between (another process) is left out, not an error."""
    monkeypatch.setattr(queries, "_LISTED_AT_ONCE", 1)
    whole = montenegro.images()
    listing = montenegro.iter_images()
    first = next(listing)
    with montenegro.session() as session:
        session.execute(delete(m.Image).where(m.Image.sha256 == whole[2].sha256))
        session.commit()
    assert [first, *listing] == [whole[0], whole[1], whole[3]]


def _id(row: Any) -> int:
    return int(row.id)


def _listed_through_the_orm(catalogue: Catalogue) -> list[dict[str, Any]]:
    """Every image's summary read through the ORM's relationships, as the listing read it
    before it read plain rows."""
    out = []
    with catalogue.session() as session:
        for image in session.scalars(select(m.Image).order_by(m.Image.id)):
            printed = sorted(image.appearances, key=lambda a: (a.article_id, a.position))
            captions = [a.caption for a in printed if a.caption]
            captions += [
                f.value
                for f in sorted(image.metadata_fields, key=_id)
                if f.property == "description"
            ]
            named = [a.article.title or a.article.key for a in sorted(image.appearances, key=_id)]
            out.append(
                {
                    "sha256": image.sha256,
                    "format": image.format,
                    "width": image.width,
                    "height": image.height,
                    "stand_in": image.stand_in,
                    "paths": [p.path for p in sorted(image.paths, key=_id)],
                    "captions": list(dict.fromkeys(captions)),
                    "articles": list(dict.fromkeys(named)),
                }
            )
    return out


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("at_once", [3, 1_000])
def test_the_listing_reads_what_the_records_say(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch, seed: int, at_once: int
) -> None:
    """The listing's plain rows (four statements a page) give each image's paths, printed
    then embedded captions and articles as its records do: empty and missing captions left
    out, an embedded field other than a description left out, titles or else keys."""
    monkeypatch.setattr(queries, "_LISTED_AT_ONCE", at_once)
    _fill(catalogue, seed)
    listed = catalogue.images()
    assert [x.to_dict() for x in listed] == _listed_through_the_orm(catalogue)
    assert [x.to_dict() for x in listed] == [dataclasses.asdict(x) for x in listed]
    assert any(len(x.captions) > 1 for x in listed)
    assert any(len(x.articles) > 1 for x in listed)
