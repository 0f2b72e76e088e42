"""Matching does not depend on which image of a pair was stored first (issue 7, item 5).

Two ingesters running at once store images in an order set by timing; each pair must still
be judged, oriented and measured the same. Each test catalogue is built twice, the originals
first in one and the copies first in the other, and the recorded matches must be equal row
for row; the reference must also be the original wherever the pictures can tell.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps
from sqlalchemy import select
from sqlalchemy.orm import aliased

from provcat import db, ingest, matching, prepare
from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.decode import open_image
from provcat.fingerprints import dihedral_bytes, pdq_dihedral
from provcat.matching import SimilarMatch
from provcat.reuse import word_file
from provcat.reuse.features import extract
from provcat.reuse.postings import Vote
from provcat.reuse.verify import verify
from tests.imagegen import sky
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
from tests.threads import at_once, slowed


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
    # Copies larger than their original, judged from the copy's side first (more pixels):
    # the colour original, and the one without the banner, are still the reference.
    original = scene(711)
    larger = (original.width * 3 // 2, original.height * 3 // 2)
    grey = ImageOps.grayscale(original).convert("RGB").resize(larger)
    pairs["grey_larger"] = (original, jpeg(grey, 90), True)
    original = scene(712)
    pairs["banner_larger"] = (original, jpeg(banner(original).resize(larger), 85), True)
    return pairs


def _edits_in_one_folder(folder: Path) -> Path:
    """Every pair of :func:`_edits` saved in one folder, each copy beside its original."""
    folder.mkdir()
    for name, (original, copy, _tells) in _edits().items():
        original.save(folder / f"{name}-original.jpg", quality=92)
        copy.save(folder / f"{name}-copy.jpg", quality=88)
    return folder


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
    # What the larger copies are is named (it was not, told from their side).
    grey_larger, banner_larger = (
        found[frozenset(truth[n][:2])] for n in ("grey_larger", "banner_larger")
    )
    assert {"resized", "grayscale"} <= set(grey_larger[2].split()), grey_larger[2]
    assert {"resized", "overlaid"} <= set(banner_larger[2].split()), banner_larger[2]


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
    folder = _edits_in_one_folder(tmp_path / "all")
    ahead: list[str] = []
    query_side = matching._query_side

    def counted(sha: str, paths: list[Path], variants: Any) -> object:
        if threading.current_thread().name.startswith("provcat-ahead"):
            ahead.append(sha)
        return query_side(sha, paths, variants)

    monkeypatch.setattr(matching, "_query_side", counted)
    # Turns decode their images (as for images another process stored), not what the
    # workers that prepared them computed (next test).
    monkeypatch.setattr(ingest, "MIRRORS_KEPT", 0)
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


def test_mirror_features_from_the_workers_spare_decoding_and_change_no_match(
    db_url: str, other_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest's turns take each new image's mirror features from the worker that
    prepared it: the matches are those of turns decoding every image again; no turn
    decodes its image to extract them, and only turns with a pair that needs the pixels
    (a likely copy, weak evidence) decode it at all, once."""
    folder = _edits_in_one_folder(tmp_path / "all")
    decoded: list[int] = []
    decode_query, query_side = matching._decode_query, matching._query_side

    def counted(image_id: int, sha: str, paths: list[Path]) -> object:
        decoded.append(image_id)
        return decode_query(image_id, sha, paths)

    def refused(*_args: object) -> object:
        raise AssertionError("a turn decoded its image for its mirror features")

    # Every picture carries them here (only large ones do by default: provcat.prepare), each
    # prepared in this process, where the threshold is set.
    monkeypatch.setattr(prepare, "MIRROR_FROM", 0)
    carried, itself = Catalogue(db_url), Catalogue(other_db_url)
    try:
        monkeypatch.setattr(matching, "_decode_query", counted)
        monkeypatch.setattr(matching, "_query_side", refused)
        carried.ingest([folder], workers=1)
        monkeypatch.setattr(matching, "_query_side", query_side)
        monkeypatch.setattr(ingest, "MIRRORS_KEPT", 0)
        itself.ingest([folder], workers=1)
        assert _matches(carried) == _matches(itself)
        assert len(_matches(carried)) >= len(_edits())
        # Each pair is judged in the turn of the first of its images (the other is stored
        # and waiting, so a candidate) and not again in the second's: one image of each
        # pair decoded, once (the catalogue's pairs are the edits').
        assert len(decoded) == len(set(decoded))
        assert len(decoded) == len(_edits())
    finally:
        carried.close()
        itself.close()


def _as_manifest(folder: Path) -> Path:
    """A manifest.toml in ``folder`` listing each of its pictures, one printing each."""
    lines = ["[article]", 'id = "edits"', 'title = "Every edit, as a manifest"', ""]
    for number, path in enumerate(sorted(folder.glob("*.jpg")), start=1):
        lines += ["[[images]]", f'file = "{path.name}"', "", "  [[images.printings]]"]
        lines += [f"  position = {number}", f'  caption = "{path.stem}"', ""]
    manifest = folder / "manifest.toml"
    manifest.write_text("\n".join(lines), encoding="utf-8")
    return manifest


def test_a_manifests_pictures_carry_their_mirror_features_to_their_turns(
    db_url: str, other_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest's pictures are prepared as loose files are, mirror features included: no
    turn decodes its image to extract them, and the matches are those of loose files."""
    manifest = _as_manifest(_edits_in_one_folder(tmp_path / "record"))
    loose = _edits_in_one_folder(tmp_path / "loose")

    def refused(*_args: object) -> object:
        raise AssertionError("a turn decoded its image for its mirror features")

    monkeypatch.setattr(prepare, "MIRROR_FROM", 0)  # every picture carries them here
    monkeypatch.setattr(matching, "_query_side", refused)
    with Catalogue(db_url) as listed, Catalogue(other_db_url) as walked:
        done = listed.ingest([manifest], workers=1)
        assert (done.images_added, done.appearances_added) == (2 * len(_edits()),) * 2
        walked.ingest([loose], workers=1)
        assert _matches(listed) == _matches(walked)
        assert len(_matches(listed)) >= len(_edits())


def test_candidates_prepared_in_threads_are_what_judging_computes(
    db_url: str, other_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Likely candidates decoded (with their mirror features when judged as the copy) and
    judged with pixels in the verification threads while other pairs are looked at give the
    matches and `similar` answers that judging each pair in turn on the calling thread
    gives; and the threads did that work. Stored PDQ variants are read, not computed."""
    folder = _edits_in_one_folder(tmp_path / "all")
    roles: list[bool] = []
    hashed: list[str] = []
    judged: list[str] = []
    prepare, dihedral = matching._prepare_stored, matching.pdq_dihedral
    judge = matching._judge_likely

    def preparing(stored: Any, query: Any, paths: list[Path]) -> None:
        assert threading.current_thread().name.startswith("provcat-verify")
        prepare(stored, query, paths)
        roles.append(stored.mirror is not None)

    def hashing(pixels: Image.Image, **options: Any) -> Any:
        hashed.append(threading.current_thread().name.split("_")[0])
        return dihedral(pixels, **options)

    def judging(query: Any, stored: Any, pdq: int | None) -> Any:
        judged.append(threading.current_thread().name.split("_")[0])
        return judge(query, stored, pdq)

    monkeypatch.setattr(matching, "_prepare_stored", preparing)
    monkeypatch.setattr(matching, "pdq_dihedral", hashing)
    monkeypatch.setattr(matching, "_judge_likely", judging)
    prepared, itself = Catalogue(db_url), Catalogue(other_db_url)
    try:
        prepared.ingest([folder])
        # Prepared as the pair's copy and as its reference; stored variants read as stored.
        assert {True, False} <= set(roles)
        assert "provcat-verify" not in hashed
        assert judged
        assert set(judged) == {"provcat-verify"}
        threaded = len(roles)
        monkeypatch.setattr(matching, "PREPARE_STORED", False)
        hashed.clear()
        judged.clear()
        itself.ingest([folder])
        assert len(roles) == threaded
        assert "provcat-verify" not in hashed
        assert judged
        assert "provcat-verify" not in judged
        assert _matches(prepared) == _matches(itself)
        assert len(_matches(prepared)) >= len(_edits())
        # Looked up, not stored: a mirrored enlargement (a stored image is the pair's copy),
        # a mirrored crop (the stored original is the reference, and the pair is told again
        # from the crop's side), and a small mirrored whole picture, which holds more of it
        # than the larger stored crop (the pair is told from the query's side), besides a
        # stored collage.
        original = _edits()["crop"][0]
        enlarged, cut, small = (tmp_path / f"{name}.jpg" for name in ("enlarged", "cut", "small"))
        jpeg(mirror(original).resize((1000, 750)), 90).save(enlarged, quality=90)
        jpeg(mirror(crop_area(original, 0.5, 0.6, 0.4)[0]), 90).save(cut, quality=90)
        jpeg(mirror(original).resize((320, 240)), 90).save(small, quality=90)
        queries = [enlarged, cut, small, folder / "collage-copy.jpg"]
        alone = [itself.similar(path) for path in queries]
        monkeypatch.setattr(matching, "PREPARE_STORED", True)
        assert [prepared.similar(path) for path in queries] == alone
        assert all(alone)
    finally:
        prepared.close()
        itself.close()


def _count_pdq_dihedral(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time matching computes PDQ variants from pixels."""
    computed: list[int] = []
    dihedral = matching.pdq_dihedral

    def counting(pixels: Image.Image, **options: Any) -> Any:
        computed.append(1)
        return dihedral(pixels, **options)

    monkeypatch.setattr(matching, "pdq_dihedral", counting)
    return computed


def test_stored_pdq_variants_give_what_computing_them_gives(
    db_url: str, other_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored picture's PDQ hashes over its rotations and flips are stored with it, and a
    look-up or a matching turn that finds it reads them instead of decoding and hashing it
    again; a catalogue whose images have none stored (stored before revision 0009) computes
    them from the pixels, with the same matches and answers (PDQ distances included)."""
    folder = _edits_in_one_folder(tmp_path / "all")
    computed = _count_pdq_dihedral(monkeypatch)
    stored, older = Catalogue(db_url), Catalogue(other_db_url)
    try:
        stored.ingest([folder])
        assert not computed  # every image's turn and every stored side read them
        with stored.session() as session:
            rows = session.execute(
                select(m.Image.sha256, m.Fingerprint.variants)
                .join(m.Fingerprint)
                .where(m.Fingerprint.algorithm == "pdq")
            ).all()
        files = {_sha(path): path for path in folder.iterdir()}
        assert {sha for sha, _ in rows} == set(files)
        for sha, variants in rows:
            assert variants == dihedral_bytes(pdq_dihedral(open_image(files[sha]).pixels))

        monkeypatch.setattr(ingest, "dihedral_bytes", lambda variants: None)
        older.ingest([folder])
        assert computed
        with older.session() as session:
            assert session.scalars(select(m.Fingerprint.variants)).all() == [None] * 3 * len(files)
        assert _matches(stored) == _matches(older)
        assert all(pdq is not None for *_, pdq in _matches(stored))

        original = _edits()["crop"][0]
        queries = [tmp_path / "mirrored.jpg", folder / "banner-copy.jpg"]
        jpeg(mirror(original).resize((500, 375)), 90).save(queries[0], quality=90)
        computed.clear()
        answers = [stored.similar(path) for path in queries]
        assert len(computed) == len(queries)  # the queries' own, nothing stored
        computed.clear()
        assert [older.similar(path) for path in queries] == answers
        assert len(computed) > len(queries)
        assert all(answers)
    finally:
        stored.close()
        older.close()


def test_index_stores_the_pdq_variants_of_images_stored_without_them(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`provcat index` decodes the images stored before revision 0009 again and stores their
    PDQ variants (what ingest stores now); an image whose file is gone, or whose file no
    longer holds its pixels, is left without them and counted; look-ups then read them, and
    answer as before; a second run stores nothing more."""
    folder = _edits_in_one_folder(tmp_path / "all")
    catalogue = Catalogue(db_url)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(ingest, "dihedral_bytes", lambda variants: None)
            catalogue.ingest([folder])
        gone, changed = folder / "banner-copy.jpg", folder / "crop-copy.jpg"
        gone_sha, changed_sha = _sha(gone), _sha(changed)
        gone.unlink()
        _edits()["banner"][0].save(changed, quality=50)  # the same path, other pixels
        queries = [folder / "crop-original.jpg", folder / "mirror-copy.jpg"]
        computed = _count_pdq_dihedral(monkeypatch)
        before = [catalogue.similar(path) for path in queries]
        assert len(computed) > len(queries)  # the stored pictures were hashed again

        result = CliRunner().invoke(cli, ["--db", db_url, "index"])
        assert result.exit_code == 0, result.output
        files = {_sha(path): path for path in folder.iterdir()}
        stored = len(files) - 1 + 2  # every file but the changed one, and the two lost
        assert f"PDQ variants stored for {stored - 2} images" in result.output
        assert "2 left (file gone or changed)" in result.output
        with catalogue.session() as session:
            rows = dict(
                session.execute(
                    select(m.Image.sha256, m.Fingerprint.variants)
                    .join(m.Fingerprint)
                    .where(m.Fingerprint.algorithm == "pdq")
                ).all()
            )
        assert len(rows) == stored
        assert rows[gone_sha] is None
        assert rows[changed_sha] is None
        for sha, variants in rows.items():
            if sha not in (gone_sha, changed_sha):
                assert variants == dihedral_bytes(pdq_dihedral(open_image(files[sha]).pixels))

        computed.clear()
        fresh = Catalogue(db_url)
        try:
            assert [fresh.similar(path) for path in queries] == before
        finally:
            fresh.close()
        assert len(computed) == len(queries)  # the queries' own only
        again = CliRunner().invoke(cli, ["--db", db_url, "index"])
        assert again.exit_code == 0, again.output
        assert "PDQ variants stored for 0 images" in again.output  # the two are tried again
        assert catalogue.fill_pdq_variants() == matching.Filled(0, 2)
    finally:
        catalogue.close()


def test_candidates_are_looked_at_in_the_orientations_that_ranked_them(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A candidate that only the query's own words (or only its mirror image's) ranked among
    the best is given the features-only first look in that orientation only, and PDQ's
    candidates both ways; the answers are those of looking at every candidate both ways.

    In a catalogue this small every candidate is among the best of both orientations, so the
    candidates that are not the query's picture (the crop pair's two images) are made
    one-sided here, as many are in a large catalogue."""
    folder = _edits_in_one_folder(tmp_path / "all")
    original = _edits()["crop"][0]
    queries = {
        "enlarged": mirror(original).resize((1000, 750)),
        "cut": mirror(crop_area(original, 0.5, 0.6, 0.4)[0]),
        "small": mirror(original).resize((320, 240)),
        "plain cut": crop_area(original, 0.6, 0.3, 0.5)[0],
    }
    paths = []
    for name, picture in queries.items():
        paths.append(tmp_path / f"{name}.jpg")
        jpeg(picture, 90).save(paths[-1], quality=90)
    votes, pdq_near, first_look = matching.votes, matching.Matcher._pdq_near, matching._first_look
    given: dict[int, tuple[bool, ...]] = {}
    near: set[int] = set()
    looks: list[tuple[int, bool, bool]] = []
    kept: set[int] = set()

    def one_sided(*args: Any, **kwargs: Any) -> list[Vote]:
        found = [
            v
            if v.image_id in kept
            else Vote(
                v.image_id, v.shared, v.by_query, (True, False) if v.image_id % 2 else (False, True)
            )
            for v in votes(*args, **kwargs)
        ]
        given.update((v.image_id, v.ranked) for v in found)
        return found

    def recording_near(*args: Any, **kwargs: Any) -> tuple[dict[int, int], bool]:
        found = pdq_near(*args, **kwargs)
        near.update(found[0])
        return found

    def recording(query: Any, stored: Any, *, plain: bool = True, mirror: bool = True) -> bool:
        looks.append((stored.image_id, plain, mirror))
        return first_look(query, stored, plain=plain, mirror=mirror)

    def both_ways(query: Any, stored: Any, *, plain: bool = True, mirror: bool = True) -> bool:
        return first_look(query, stored)

    catalogue = Catalogue(db_url)
    try:
        catalogue.ingest([folder])
        with catalogue.session() as session:
            kept.update(
                session.scalars(
                    select(m.ImagePath.image_id).where(m.ImagePath.path.like("%/crop-%.jpg"))
                )
            )
        monkeypatch.setattr(matching, "votes", one_sided)
        monkeypatch.setattr(matching.Matcher, "_pdq_near", recording_near)
        monkeypatch.setattr(matching, "_first_look", recording)
        gated = [catalogue.similar(path) for path in paths]
        assert {(True, False), (False, True)} <= {(plain, flip) for _, plain, flip in looks}
        for image_id, plain, flip in looks:
            if image_id in near or image_id not in given:
                assert (plain, flip) == (True, True)
            else:
                assert (plain, flip) == given[image_id]
        monkeypatch.setattr(matching, "_first_look", both_ways)
        assert [catalogue.similar(path) for path in paths] == gated
        expected = _sha(folder / "crop-original.jpg")
        assert all(expected in {found.sha256 for found in answers} for answers in gated)
    finally:
        catalogue.close()


def test_a_mirrored_copy_is_found_when_the_stored_file_is_gone(db_url: str, tmp_path: Path) -> None:
    """A stored image whose file was deleted, or replaced by another picture, after it was
    catalogued has no pixels and so no mirror image's features. A larger mirrored copy
    (the pair's reference, so the stored image is the copy) is then looked for from the
    query's side, with the query's mirror features: found by features alone."""
    folder = tmp_path / "stored"
    folder.mkdir()
    original = _edits()["crop"][0]
    original.save(folder / "original.jpg", quality=92)
    query = tmp_path / "query.jpg"
    jpeg(mirror(original).resize((1000, 750)), 85).save(query, quality=85)
    catalogue = Catalogue(db_url)
    try:
        catalogue.ingest([folder])
        (present,) = catalogue.similar(query)
        assert "mirrored" in present.relation
        (folder / "original.jpg").unlink()
        (gone,) = catalogue.similar(query)
        _edits()["grey"][0].save(folder / "original.jpg", quality=92)
        (replaced,) = catalogue.similar(query)
        for found in (gone, replaced):
            assert found.sha256 == present.sha256
            assert "mirrored" in found.relation
            assert found.evidence == "features"
    finally:
        catalogue.close()


def test_an_in_memory_catalogue_matches_with_its_threads(db_url: str, tmp_path: Path) -> None:
    """An in-memory catalogue has one database per thread: the threads that decode query
    sides and candidates read no database, and a turn reads through its own session only
    (a second session in the same thread would share, and roll back, its connection). It
    records and answers what a catalogue in a database file (or server) does."""
    folder = _edits_in_one_folder(tmp_path / "all")
    original = _edits()["crop"][0]
    query = tmp_path / "mirrored.jpg"
    jpeg(mirror(original).resize((400, 300)), 90).save(query, quality=90)
    with Catalogue("sqlite://") as in_memory, Catalogue(db_url) as stored:
        result = in_memory.ingest([folder])
        stored.ingest([folder])
        assert result.matches_added >= len(_edits())
        assert _matches(in_memory) == _matches(stored)
        with in_memory.session() as session:
            turns = session.scalars(select(m.Image.match_seq).order_by(m.Image.id)).all()
        # Each image matched in a turn of its own, numbered in order.
        assert turns == list(range(1, 2 * len(_edits()) + 1))
        answers = in_memory.similar(query)
        assert ("resized", "mirrored") in {found.relation for found in answers}
        assert answers == stored.similar(query)


def test_a_smaller_copy_of_the_whole_picture_is_not_told_again_from_its_side(
    db_url: str, other_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verified pair is told again from the other side only when that could describe it
    better (the second picture holds more, or the first one's extra frame may be a border or
    a rotation's corners). A smaller copy showing all of the picture never is: the ten
    edit pairs record what they record when every pair not at the same extent is told from
    both sides, and the resized copy is never the reference of a verification."""
    folder = _edits_in_one_folder(tmp_path / "all")
    told: list[tuple[str, str]] = []
    real = matching._verify

    def recording(reference: Any, copy: Any, **options: Any) -> Any:
        told.append((reference.sha, copy.sha))
        return real(reference, copy, **options)

    monkeypatch.setattr(matching, "_verify", recording)
    with Catalogue(db_url) as catalogue:
        catalogue.ingest([folder])
        recorded = _matches(catalogue)
    skipping = told[:]
    told.clear()

    def every_extent(relation: Any, a: Any, b: Any) -> bool:
        """The rule before: every pair not at the same extent, and a fuller second."""
        return relation.direction != "same_extent" or matching._second_is_fuller(relation, a, b)

    monkeypatch.setattr(matching, "_swap_may_win", every_extent)
    with Catalogue(other_db_url) as catalogue:
        catalogue.ingest([folder])
        assert _matches(catalogue) == recorded
    resized, crop = _sha(folder / "resized-copy.jpg"), _sha(folder / "crop-copy.jpg")
    assert resized in {reference for reference, _copy in told}
    assert resized not in {reference for reference, _copy in skipping}
    # A crop is still told from its side (its original's extra frame may be a border).
    assert crop in {reference for reference, _copy in skipping}
    assert len(skipping) < len(told)


def test_a_look_up_computing_its_query_in_threads_finds_what_find_does(
    db_url: str, tmp_path: Path
) -> None:
    """``Matcher.look_up`` (behind ``similar``) extracts the query's features while its mirror
    image's features and PDQ variants are computed in threads, and hands those to ``find``
    still computing: the answers are those of ``find`` computing everything itself."""
    folder = _edits_in_one_folder(tmp_path / "all")
    queries = tmp_path / "queries"
    queries.mkdir()
    mirror(_edits()["crop"][0]).resize((400, 300)).save(queries / "mirrored.jpg", quality=90)
    _edits()["rotated"][1].save(queries / "rotated.jpg", quality=90)
    with Catalogue(db_url) as catalogue:
        catalogue.ingest([folder])
        matcher = matching.Matcher(catalogue._sessions)
        for path in sorted(queries.iterdir()):
            decoded = open_image(path)
            threaded = matcher.look_up(decoded)
            assert threaded, path.name
            assert threaded == matcher.find(
                decoded.pixels,
                matching.extract_features(decoded),
                sha256=decoded.sha256,
                pixel_digest=decoded.pixel_digest,
            )


def test_pdq_candidates_are_looked_at_while_the_words_are_read(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PDQ's candidates need no votes: their first looks (and a likely one's judging) are
    started before the candidate stage has read every word, whether the query's PDQ variants
    were computed before ``find`` (``similar``) or by it (between the reads of the query's
    words and of its mirror image's); no candidate is looked at twice."""
    folder = _edits_in_one_folder(tmp_path / "all")
    query = tmp_path / "smaller.jpg"
    original = folder / "resized-original.jpg"
    with Image.open(original) as image:
        jpeg(image.convert("RGB").resize((480, 360)), 85).save(query, quality=85)
    started: list[tuple[int, bool]] = []  # (image id, before the votes were in)
    voted = threading.Event()
    votes, look_at = matching.votes, matching.Matcher._look_at

    def counting(*args: Any, **options: Any) -> Any:
        found = votes(*args, **options)
        voted.set()
        return found

    def looking(self: Any, query: Any, sides: Any, *args: Any, **options: Any) -> Any:
        started.extend((side.image_id, not voted.is_set()) for side in sides)
        return look_at(self, query, sides, *args, **options)

    monkeypatch.setattr(matching, "votes", counting)
    monkeypatch.setattr(matching.Matcher, "_look_at", looking)
    with Catalogue(db_url) as catalogue:
        catalogue.ingest([folder])
        with catalogue.session() as session:
            wanted = session.scalar(select(m.Image.id).where(m.Image.sha256 == _sha(original)))
        matcher = matching.Matcher(catalogue._sessions)
        decoded = open_image(query)
        answers = []
        for look in (
            lambda: matcher.look_up(decoded),
            lambda: matcher.find(decoded.pixels, matching.extract_features(decoded)),
        ):
            started.clear()
            voted.clear()
            answers.append(look())
            ids = [image_id for image_id, _during in started]
            assert len(ids) == len(set(ids))
            assert (wanted, True) in started
            assert wanted in {found.image_id for found in answers[-1]}
        assert answers[0] == answers[1]


def test_look_ups_in_several_threads_at_once_answer_as_one_thread(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads calling ``Catalogue.similar`` at once on one catalogue object, its first
    look-ups among them, share one index: each answers as a look-up alone does, every image
    is loaded once, and (SQLite) the images stored since the postings file was made are
    caught up once. Loading images, catching up and refreshing are slowed here, so that the
    threads meet, and the catalogue has fewer connections than threads."""
    pairs = _edits()
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    for number, (name, (original, copy, _tells)) in enumerate(pairs.items()):
        original.save((first if number % 2 else second) / f"{name}-original.jpg", quality=92)
        copy.save(tmp_path / f"{name}-copy.jpg", quality=88)
    writer = Catalogue(db_url)
    try:
        writer.ingest([first])
        made = writer.index_postings(full=True)  # None on PostgreSQL: no file there
        writer.ingest([second])
    finally:
        writer.close()
    queries = sorted(tmp_path.glob("*-copy.jpg"))
    alone = Catalogue(db_url)
    try:
        expected = [alone.similar(q) for q in queries]
    finally:
        alone.close()
    assert all(expected)

    slowed(monkeypatch, matching.Matcher, "_load", 0.05)
    slowed(monkeypatch, word_file, "_posted_run", 0.05)
    slowed(monkeypatch, matching.Matcher, "_refresh", 0.02)
    # Fewer connections than threads: a thread holding the index's lock must never wait for
    # a connection that threads waiting for the lock hold.
    real_engine = db.create_engine
    monkeypatch.setattr(
        db,
        "create_engine",
        lambda url, **options: real_engine(
            url, **options, pool_size=3, max_overflow=0, pool_timeout=30
        ),
    )
    shared = Catalogue(db_url)
    answers: list[list[list[SimilarMatch]]] = []
    try:
        assert at_once(lambda: answers.append([shared.similar(q) for q in queries]), 6) == []
        assert answers == [expected] * 6
        matcher = shared._matcher
        assert matcher is not None
        ids = matcher._pdq.ids.tolist()
        assert len(ids) == len(set(ids)) == len(list(first.iterdir())) + len(list(second.iterdir()))
        if made is not None:
            assert matcher._word_file is not None
            assert matcher._word_file.delta.images == len(list(second.iterdir()))
    finally:
        shared.close()


def test_a_turn_whose_file_changed_since_it_was_stored_judges_without_its_pixels(
    catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A turn given its image's mirror features decodes the file only when a pair needs it;
    a file changed (or gone) by then leaves its pairs judged as those of a stored file that
    is gone: no pixel checks, no weak evidence (low-information skies), every image still
    matched, and a warning naming the image."""
    monkeypatch.setattr(prepare, "MIRROR_FROM", 0)
    decode_query = matching._decode_query

    def changed(image_id: int, sha: str, _paths: list[Path]) -> object:
        return decode_query(image_id, sha, [])  # none of its paths holds its file any more

    monkeypatch.setattr(matching, "_decode_query", changed)
    original = scene(741)
    original.save(tmp_path / "photo.jpg", quality=92)
    jpeg(banner(original), 85).save(tmp_path / "photo-banner.jpg", quality=88)
    picture = sky(3)
    picture.save(tmp_path / "sky.png")
    picture.rotate(90, expand=True).save(tmp_path / "sky-turned.png")
    with caplog.at_level(logging.WARNING, logger="provcat.matching"):
        result = catalogue.ingest([tmp_path], workers=1)
    assert result.images_added == 4
    with catalogue.session() as session:
        assert matching.pending_count(session=session) == 0
    assert "cannot be read again from its paths; judged without pixels" in caplog.text
    # The skies' pair needs the query's pixels from either side: not recorded.
    assert all("weak_global_hash" not in row[2] for row in _matches(catalogue))
