"""Scraped articles through ingest: caption occurrences become appearances, images are found."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from sqlalchemy import select

from provcat import models as m
from provcat.articles import read_article
from provcat.captions import parse_caption
from provcat.catalogue import Catalogue
from provcat.manifest import load_manifest
from provcat.scraped import local_file

from .imagegen import photo
from .paths import REPO

ARTICLES = REPO / "tests" / "data" / "articles"


def expected(name: str) -> dict:  # type: ignore[type-arg]
    """The labelled answer of a fixture article."""
    return json.loads((ARTICLES / f"{name}.expected.json").read_text("utf-8"))


def appearances(catalogue: Catalogue) -> list[m.Appearance]:
    """Every appearance, in article and position order, with its image loaded."""
    with catalogue.session() as session:
        rows = session.scalars(
            select(m.Appearance).order_by(m.Appearance.article_id, m.Appearance.position)
        ).all()
        for row in rows:
            _ = row.image, row.article, row.chain
        return list(rows)


def test_plain_text_article_yields_its_caption_occurrences(catalogue: Catalogue) -> None:
    answer = expected("harbour-plot")
    result = catalogue.ingest([ARTICLES / "harbour-plot.txt"])
    assert result.rejected == []
    assert result.articles_added == 1
    rows = appearances(catalogue)
    printed = [(r.occurrence, r.caption, r.caption_origin) for r in rows]
    assert printed == [(c["position"], c["text"], c["origin"]) for c in answer["captions"]]
    assert all(r.image_id is None for r in rows)
    [article] = catalogue.articles()
    assert article.title == answer["title"]
    assert article.published_precision == answer["published_precision"]


def test_html_article_links_local_images_and_keeps_groups(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    answer = expected("courier-tortoise")
    page = tmp_path / "courier-tortoise.html"
    shutil.copy(ARTICLES / "courier-tortoise.html", page)
    folder = tmp_path / "courier-tortoise_files"
    folder.mkdir()
    refs = [image["ref"] for image in answer["images"]]
    for seed, ref in enumerate(refs):
        photo(seed + 40).save(folder / PurePosixPath(urlsplit(ref).path).name)
    result = catalogue.ingest([page])
    assert result.rejected == []
    assert result.images_added == len(refs)
    rows = appearances(catalogue)
    captioned = [r for r in rows if r.caption is not None]
    expected_rows = [
        (c["position"], c["text"], c["origin"], ref)
        for c in answer["captions"]
        for ref in (c["image_refs"] or [None])
    ]
    assert [(r.occurrence, r.caption, r.caption_origin, r.image_ref) for r in captioned] == (
        expected_rows
    )
    assert all(r.image is not None for r in captioned if r.image_ref)
    gallery = [
        r for r in captioned if r.caption_origin != "alt" and "field-a" in (r.image_ref or "")
    ]
    assert gallery
    group = [r for r in captioned if r.occurrence == gallery[0].occurrence]
    assert len(group) == 2
    assert len({r.image_id for r in group}) == 2
    with_credit = [r for r in captioned if r.credit]
    assert with_credit
    assert all(r.chain is not None for r in with_credit)
    before = len(rows)
    again = catalogue.ingest([page])
    assert (again.appearances_added, again.images_added, again.articles_added) == (0, 0, 0)
    assert len(appearances(catalogue)) == before


def test_missing_images_keep_their_captions(catalogue: Catalogue, tmp_path: Path) -> None:
    page = tmp_path / "fenland-seal.html"
    shutil.copy(ARTICLES / "fenland-seal.html", page)
    result = catalogue.ingest([page])
    assert result.rejected == []
    rows = appearances(catalogue)
    assert rows
    assert all(r.image_id is None for r in rows)
    # What the extractor found (its accuracy on this held-out fixture is tested elsewhere).
    found = read_article(page).captions
    assert [r.caption for r in rows if r.caption] == [
        c.text for c in found for _ in (c.image_refs or (None,))
    ]


def test_local_file_takes_only_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert local_file("https://cdn.example/x/y/a.jpg?w=300", [tmp_path]) == tmp_path / "a.jpg"
    assert local_file("../../a.jpg", [tmp_path / "sub"]) is None
    assert local_file("data:image/png;base64,AAAA", [tmp_path]) is None
    assert local_file("https://cdn.example/dir/", [tmp_path]) is None
    assert local_file("https://cdn.example/a%2Ejpg", [tmp_path]) == tmp_path / "a.jpg"


def test_unreadable_article_is_rejected(catalogue: Catalogue, tmp_path: Path) -> None:
    page = tmp_path / "empty.html"
    page.write_bytes(b"")
    result = catalogue.ingest([page])
    assert [Path(r.path).name for r in result.rejected] == ["empty.html"]
    assert catalogue.articles() == []


def test_montenegro_scrape_and_manifest_agree() -> None:
    """The stand-in scrape (tests/data/montenegro/README.md) and the manifest print the same
    captions the same number of times: Plotters 2 (straight and curly quotes), Deadly plans 2,
    Accusations 1."""
    scraped = read_article(REPO / "tests" / "data" / "montenegro" / "coup-article.txt")
    assert scraped.warnings == ()
    from_scrape = Counter(parse_caption(c.text).key for c in scraped.captions)
    manifest = load_manifest(REPO / "catalogue" / "montenegro-coup-2017" / "manifest.toml")
    from_manifest = Counter(
        parse_caption(p.caption).key for i in manifest.images for p in i.printings if p.caption
    )
    assert from_scrape == from_manifest
    assert sorted(from_scrape.values()) == [1, 2, 2]
