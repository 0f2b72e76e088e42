"""Matching does not depend on which image of a pair was stored first (issue 7, item 5).

Two ingesters running at once store images in an order set by timing; each pair must still
be judged, oriented and measured the same. Each test catalogue is built twice, the originals
first in one and the copies first in the other, and the recorded matches must be equal row
for row; the reference must also be the original wherever the pictures can tell.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from sqlalchemy import select
from sqlalchemy.orm import aliased

from provcat import matching
from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.reuse.features import extract
from provcat.reuse.verify import verify
from tests.reuse_fixtures import (
    banner,
    collage,
    crop_area,
    jpeg,
    letterbox,
    mirror,
    rotate,
    scene,
    social_card,
    text_overlay,
)


def _edits() -> dict[str, tuple[Image.Image, Image.Image, bool]]:
    """name -> (original, copy, whether the pictures tell which one is the original)."""
    pairs: dict[str, tuple[Image.Image, Image.Image, bool]] = {}
    original = scene(701)
    pairs["crop"] = (original, crop_area(original, 0.5, 0.3, 0.6)[0], True)
    original = scene(702)
    pairs["banner"] = (original, jpeg(banner(original), 85), True)
    original = scene(703)
    pairs["letterbox"] = (original, letterbox(original), True)
    original = scene(704)
    pairs["mirror"] = (original, jpeg(mirror(original), 80), False)
    original = scene(705)
    pairs["resized"] = (original, jpeg(original.resize((400, 300)), 70), True)
    original = scene(706)
    grey = ImageOps.grayscale(original).convert("RGB")
    pairs["grey"] = (original, jpeg(grey, 90), True)
    original = scene(707)
    others = [scene(720 + k) for k in range(3)]
    pairs["collage"] = (original, collage(original, others, 1)[0], True)
    original = scene(708)
    pairs["card"] = (original, social_card(original)[0], True)
    original = scene(709)
    pairs["text"] = (original, jpeg(text_overlay(original), 85), True)
    original = scene(710)
    pairs["rotated"] = (original, jpeg(rotate(original, 12), 85), True)
    return pairs


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _matches(catalogue: Catalogue) -> set[tuple[object, ...]]:
    reference, copy = aliased(m.Image), aliased(m.Image)
    with catalogue.session() as session:
        rows = session.execute(
            select(
                reference.sha256,
                copy.sha256,
                m.PhotoMatch.kinds,
                m.PhotoMatch.crop_left,
                m.PhotoMatch.crop_top,
                m.PhotoMatch.crop_right,
                m.PhotoMatch.crop_bottom,
                m.PhotoMatch.inliers,
                m.PhotoMatch.score,
                m.PhotoMatch.rotation_degrees,
                m.PhotoMatch.scale,
                m.PhotoMatch.pdq_distance,
            )
            .join(reference, reference.id == m.PhotoMatch.reference_id)
            .join(copy, copy.id == m.PhotoMatch.copy_id)
        ).all()
    return {tuple(row) for row in rows}


def test_pairs_are_recorded_alike_whichever_image_came_first(
    db_url: str, other_db_url: str, tmp_path: Path
) -> None:
    originals, copies = tmp_path / "originals", tmp_path / "copies"
    originals.mkdir()
    copies.mkdir()
    truth: dict[str, tuple[str, str, bool]] = {}
    for name, (original, copy, tells) in _edits().items():
        original.save(originals / f"{name}.jpg", quality=92)
        copy.save(copies / f"{name}.jpg", quality=88)
        truth[name] = (_sha(originals / f"{name}.jpg"), _sha(copies / f"{name}.jpg"), tells)

    first = Catalogue(db_url)
    first.ingest([originals])
    first.ingest([copies])
    second = Catalogue(other_db_url)
    second.ingest([copies])
    second.ingest([originals])
    try:
        one, other = _matches(first), _matches(second)
    finally:
        first.close()
        second.close()

    assert one == other
    found = {frozenset(row[:2]): row for row in one}
    for name, (original, copy, tells) in truth.items():
        assert frozenset((original, copy)) in found, f"{name}: not matched"
        row = found[frozenset((original, copy))]
        if tells:
            assert row[:2] == (original, copy), f"{name}: {row[2]!r} told from the copy's side"
    # Only the pairs made here: no two different scenes joined.
    assert len(one) == len(truth)


def test_overlay_side_names_the_picture_carrying_the_banner() -> None:
    original = scene(731)
    copy = jpeg(banner(original), 85)
    a, b = extract(original), extract(copy)
    forward = verify(a, b, a_pixels=original, b_pixels=copy)
    backward = verify(b, a, a_pixels=copy, b_pixels=original)
    assert "overlaid" in forward.kinds
    assert "overlaid" in backward.kinds
    assert forward.overlay_on == "b"
    assert backward.overlay_on == "a"
    # A plain re-encode has no overlay to place.
    plain = jpeg(original, 60)
    assert verify(a, extract(plain), a_pixels=original, b_pixels=plain).overlay_on is None


def test_query_sides_prepared_ahead_are_what_a_turn_computes(
    db_url: str, other_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next images' pixels, mirror features and PDQ variants, prepared in a thread while
    the turn before runs, give the matches a turn computing them itself gives; and they are
    used (an image mixed up with another would lose or change its matches)."""
    folder = tmp_path / "all"
    folder.mkdir()
    for name, (original, copy, _tells) in _edits().items():
        original.save(folder / f"{name}-original.jpg", quality=92)
        copy.save(folder / f"{name}-copy.jpg", quality=88)
    ahead: list[int] = []
    query_side = matching.Matcher._query_side

    def counted(matcher: matching.Matcher, image_id: int) -> object:
        if threading.current_thread().name.startswith("provcat-ahead"):
            ahead.append(image_id)
        return query_side(matcher, image_id)

    monkeypatch.setattr(matching.Matcher, "_query_side", counted)
    prepared = Catalogue(db_url)
    monkeypatch.setattr(matching, "PREPARED_AHEAD", 0)
    itself = Catalogue(other_db_url)
    try:
        monkeypatch.setattr(matching, "PREPARED_AHEAD", 2)
        prepared.ingest([folder])
        assert len(ahead) == 2 * len(_edits()) - 1  # every image but the first
        monkeypatch.setattr(matching, "PREPARED_AHEAD", 0)
        itself.ingest([folder])
        assert len(ahead) == 2 * len(_edits()) - 1
        assert _matches(prepared) == _matches(itself)
        assert len(_matches(prepared)) >= len(_edits())
    finally:
        prepared.close()
        itself.close()
