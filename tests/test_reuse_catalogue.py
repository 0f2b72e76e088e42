"""Reused photos in the catalogue: matches found at ingest, clusters, the report, `similar`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import faiss
import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps
from sqlalchemy import func, select

from provcat import ingest, matching
from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.fingerprints import BitHash
from provcat.reuse import word_file
from provcat.reuse.postings import Vote, posted_through

from .imagegen import photo
from .paths import CATALOGUE_DIR, MONTENEGRO, REPO
from .postings_state import expected_postings, stored_postings

DEMO = CATALOGUE_DIR / "montenegro-reuse-demo"
SCHEMA = json.loads((REPO / "docs" / "schemas" / "reuse.schema.json").read_text("utf-8"))
#: Relation kinds the matcher reports (re-encoding is implied by any other edit, and a banner
#: drawn inside a padded border is no overlay of the picture).
REPORTED = {"resized", "cropped", "mirrored", "rotated", "overlaid", "padded"}


@pytest.fixture
def demo(catalogue: Catalogue) -> Catalogue:
    """A catalogue holding the Montenegro record and its synthetic republished copies."""
    result = catalogue.ingest([CATALOGUE_DIR])
    assert result.rejected == []
    return catalogue


def truth() -> list[dict]:  # type: ignore[type-arg]
    """What scripts/derive_copies.py did to each copy."""
    return json.loads((DEMO / "expected.json").read_text("utf-8"))["copies"]


def sha_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_derived_copy_is_found_with_its_relation(demo: Catalogue) -> None:
    clusters = demo.reused_photos()
    member_of = {x.sha256: (c, x) for c in clusters for x in c.members}
    for copy in truth():
        source = sha_of(MONTENEGRO / "images" / copy["source"])
        derived = sha_of(DEMO / copy["file"])
        cluster, member = member_of[derived]
        assert cluster.root == source, copy["file"]
        assert member.via is None
        assert set(member.relation) == set(copy["kinds"]) & REPORTED, copy["file"]
        if copy["crop_box"] is None:
            assert member.crop_box is None
        else:
            assert member.crop_box is not None
            for got, want in zip(member.crop_box, copy["crop_box"], strict=True):
                assert abs(got - want) <= 8, (copy["file"], member.crop_box, copy["crop_box"])
    # The four originals are four different photos; nothing else is joined.
    assert len(clusters) == 4
    assert sum(len(c.members) for c in clusters) == 4 + len(truth())


def test_cluster_gathers_captions_credits_and_earliest(demo: Catalogue) -> None:
    plotters = sha_of(MONTENEGRO / "images" / "02-surveillance-belgrade-meeting.jpg")
    [cluster] = [c for c in demo.reused_photos() if c.root == plotters]
    texts = {c["text"] for c in cluster.captions}
    assert any(t.startswith("'Plotters':") for t in texts)
    assert any(t.startswith("Synthetic demo caption") for t in texts)
    assert "different_captions" in cluster.flags
    assert "different_publishers" in cluster.flags
    assert "edited_copies" in cluster.flags
    observed = cluster.earliest["observed"]
    assert observed["publisher"] == "DailyMail.co.uk"
    assert observed["published"] == "2017-04"
    assert observed["evidence"] == "publication date"
    assert "not necessarily" in cluster.earliest["note"]


def test_reuse_report_formats(demo: Catalogue) -> None:
    out = io.StringIO()
    demo.write_reuse_report(out, fmt="json")
    data = json.loads(out.getvalue())
    jsonschema.validate(data, SCHEMA)
    assert len(data["clusters"]) == 4
    for fmt, start in (("md", "# Reused photos\n"), ("csv", "cluster,root,sha256,relation")):
        out = io.StringIO()
        demo.write_reuse_report(out, fmt=fmt)
        assert out.getvalue().startswith(start)
    out = io.StringIO()
    demo.write_reuse_report(out, fmt="html")
    page = out.getvalue()
    assert page.count('class="member root"') == 4
    assert page.count('src="data:image/jpeg;base64,') == 9


def test_matching_is_incremental(catalogue: Catalogue) -> None:
    first = catalogue.ingest([MONTENEGRO])
    assert first.matches_added == 0
    second = catalogue.ingest([DEMO])
    # Each copy matches its original; copies of one photo may also match each other.
    assert second.matches_added >= len(truth())
    with catalogue.session() as session:
        before = session.scalar(select(func.count()).select_from(m.PhotoMatch))
    again = catalogue.ingest([CATALOGUE_DIR])
    assert again.matches_added == 0
    with catalogue.session() as session:
        assert session.scalar(select(func.count()).select_from(m.PhotoMatch)) == before


def test_similar_answers_for_an_outside_image(demo: Catalogue, tmp_path: Path) -> None:
    source = MONTENEGRO / "images" / "04-surveillance-bench.jpg"
    with Image.open(source) as image:
        ImageOps.mirror(image.crop((100, 40, 600, 400))).save(tmp_path / "q.jpg", quality=70)
    matches = demo.similar(tmp_path / "q.jpg")
    assert matches
    best = matches[0]
    assert best.sha256 in {sha_of(source), sha_of(DEMO / "images" / "cropped-banner-reencoded.jpg")}
    top = next(x for x in matches if x.sha256 == sha_of(source))
    assert {"cropped", "mirrored"} <= set(top.relation)
    assert top.crop_box is not None
    photo(5).save(tmp_path / "unrelated.jpg")
    assert demo.similar(tmp_path / "unrelated.jpg") == []


def test_a_look_up_keeps_more_candidates_than_the_feature_cache(
    demo: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The matcher keeps a bounded cache of features; a look-up with more candidates than it
    holds still verifies every one of them."""
    source = MONTENEGRO / "images" / "04-surveillance-bench.jpg"
    with Image.open(source) as image:
        image.save(tmp_path / "q.jpg", quality=60)
    expected = {m_.sha256 for m_ in demo.similar(tmp_path / "q.jpg")}
    assert len(expected) >= 2  # the original and a republished copy
    monkeypatch.setattr(matching, "RECENT_FEATURES", 1)
    demo._matcher = None  # a new matcher, with an empty cache
    assert {m_.sha256 for m_ in demo.similar(tmp_path / "q.jpg")} == expected


def test_different_stand_ins_are_not_the_same_photo(catalogue: Catalogue) -> None:
    """The four stand-ins share drawn labels and a face: a hard negative among themselves."""
    catalogue.ingest([MONTENEGRO])
    assert catalogue.reused_photos() == []
    for path in sorted((MONTENEGRO / "images").glob("*.jpg")):
        found = catalogue.similar(path)
        assert [x.sha256 for x in found] == [sha_of(path)]
        assert found[0].relation == ("identical_file", "same_pixels")


PORTRAIT = "03-portrait-djukanovic.jpg"


def test_similar_cli(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["--db", db_url, "ingest", str(MONTENEGRO)], catch_exceptions=False)
    with Image.open(MONTENEGRO / "images" / PORTRAIT) as image:
        image.resize((320, 213)).save(tmp_path / "small.jpg", quality=60)
    result = runner.invoke(
        cli,
        ["--db", db_url, "similar", "--json", str(tmp_path / "small.jpg")],
        catch_exceptions=False,
    )
    [match] = json.loads(result.stdout)["matches"]
    assert set(match) >= {"sha256", "relation", "distance", "crop_box", "score", "reference"}
    # The file is the smaller copy: the stored image is the reference.
    assert match["reference"] == "stored"
    assert "resized" in match["relation"]
    assert isinstance(match["distance"], int)
    assert match["distance"] <= 31
    # The stored file itself: its distance is the PDQ look-up's, a count of bits too.
    result = runner.invoke(
        cli,
        ["--db", db_url, "similar", "--json", str(MONTENEGRO / "images" / PORTRAIT)],
        catch_exceptions=False,
    )
    [match] = json.loads(result.stdout)["matches"]
    assert "identical_file" in match["relation"]
    assert match["distance"] == 0
    assert isinstance(match["distance"], int)
    result = runner.invoke(cli, ["--db", db_url, "similar", str(tmp_path / "nope.jpg")])
    assert result.exit_code == 1
    assert "nope.jpg" in result.stderr


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2016:10:20 12:00:00", "2016-10-20"),
        ("20161020", "2016-10-20"),
        ("2016-10-20T12:00:00+01:00", "2016-10-20"),
        ("2016:02:30 00:00:00", None),
        ("0000:00:00 00:00:00", None),
        ("last Tuesday", None),
    ],
)
def test_claimed_dates_compare_as_days(value: str, day: str | None) -> None:
    from provcat.reports.reuse import claimed_day

    assert claimed_day(value) == day


def test_earliest_claimed_date_across_copies(catalogue: Catalogue, tmp_path: Path) -> None:
    picture = photo(21, (640, 480))
    for name, size, stamp in (
        ("big.jpg", (640, 480), "2019:05:02 10:00:00"),
        ("small.jpg", (320, 240), "2018:12:31 23:00:00"),
    ):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = stamp  # DateTimeOriginal
        picture.resize(size).save(tmp_path / name, quality=90, exif=exif)
    catalogue.ingest([tmp_path])
    [cluster] = catalogue.reused_photos()
    claimed = cluster.earliest["claimed"]
    assert claimed["value"] == "2018-12-31"
    assert claimed["as_written"] == "2018:12:31 23:00:00"
    assert claimed["image"] == sha_of(tmp_path / "small.jpg")
    assert cluster.earliest["observed"] is None
    assert cluster.root == sha_of(tmp_path / "big.jpg")


def test_show_names_the_other_images_of_the_photo(demo: Catalogue) -> None:
    source = sha_of(MONTENEGRO / "images" / "04-surveillance-bench.jpg")
    copy = sha_of(DEMO / "images" / "cropped-banner-reencoded.jpg")
    [twin] = demo.image(source).same_photo
    assert (twin.sha256, twin.role) == (copy, "copy")
    assert set(twin.relation) == {"cropped", "overlaid"}
    assert twin.crop_box is not None
    [back] = demo.image(copy).same_photo
    assert (back.sha256, back.role) == (source, "reference")
    result = CliRunner().invoke(cli, ["--db", demo.url, "show", copy[:10]])
    assert f"same photo: this is a copy of {source[:12]} (cropped, overlaid, crop box" in (
        result.stdout
    )


def test_similar_sees_images_stored_after_its_first_call(
    montenegro: Catalogue, db_url: str, tmp_path: Path
) -> None:
    """similar() keeps its index between calls; what any writer stores later is looked up too."""
    new = tmp_path / "new"
    new.mkdir()
    photo(41, (640, 480)).save(new / "fresh.jpg", quality=90)
    with Image.open(new / "fresh.jpg") as image:
        image.crop((60, 40, 560, 420)).save(tmp_path / "query.jpg", quality=80)
    assert montenegro.similar(tmp_path / "query.jpg") == []
    other = Catalogue(db_url)  # another writer, as a second process would be
    try:
        assert other.ingest([new]).images_added == 1
    finally:
        other.close()
    [found] = montenegro.similar(tmp_path / "query.jpg")
    assert found.sha256 == sha_of(new / "fresh.jpg")
    assert "cropped" in found.relation


def test_pdq_table_finds_every_hash_within_the_limit() -> None:
    """The matcher's PDQ scan: every stored hash within the limit of any query (the limit
    itself included), each with its least distance; none beyond."""
    rng = np.random.default_rng(4)
    stored = rng.integers(0, 2, (300, 256), dtype=np.uint8)
    table = matching._PdqTable()
    table.extend([(1000 + n, str(BitHash(bits))) for n, bits in enumerate(stored)])
    first, second = stored[7].copy(), stored[9].copy()
    first[:31] ^= 1  # 31 bits from image 1007: within 31
    second[:32] ^= 1  # 32 bits from image 1009: beyond 31
    queries = [BitHash(first), BitHash(second), BitHash(stored[7])]
    expected = {
        1000 + n: distance
        for n, bits in enumerate(stored)
        if (distance := min(int((bits != q).sum()) for q in (first, second, stored[7]))) <= 31
    }
    assert table.within(queries, 31) == expected
    assert expected[1007] == 0
    assert 1009 not in expected
    assert table.within([BitHash(first)], 31)[1007] == 31
    assert matching._PdqTable().within(queries, 31) == {}


def test_look_ups_through_the_postings_file_answer_the_same(
    demo: Catalogue, db_url: str, tmp_path: Path
) -> None:
    """`provcat index` writes the file a SQLite catalogue's look-ups then read (PostgreSQL's
    read the database); the answers, for images stored before and after it, do not change."""
    source = MONTENEGRO / "images" / "02-surveillance-belgrade-meeting.jpg"
    queries = []
    with Image.open(source) as image:
        ImageOps.mirror(image.crop((40, 20, 600, 400))).save(tmp_path / "q1.jpg", quality=70)
        queries.append(tmp_path / "q1.jpg")
    new = tmp_path / "new"
    new.mkdir()
    photo(43, (640, 480)).save(new / "fresh.jpg", quality=90)
    with Image.open(new / "fresh.jpg") as image:
        image.crop((60, 40, 560, 420)).save(tmp_path / "q2.jpg", quality=80)
        queries.append(tmp_path / "q2.jpg")

    on_sqlite = demo.engine.dialect.name == "sqlite"

    def answers(*, file: bool) -> list[list[object]]:
        with Catalogue(db_url) as fresh:
            found = [fresh.similar(q) for q in queries]
            assert fresh._matcher is not None
            assert (fresh._matcher._word_file is not None) == (file and on_sqlite)
        return [[(x.sha256, x.relation, x.inliers) for x in one] for one in found]

    before = answers(file=False)
    with demo.session() as session:
        stored = session.scalar(select(func.count()).select_from(m.Image))
    result = CliRunner().invoke(cli, ["--db", db_url, "index"])
    assert result.exit_code == 0, result.output
    if on_sqlite:
        assert "postings file made anew" in result.output
        # Said before it starts (at 10^5 the file takes minutes), on standard error.
        assert f"making the postings file from {stored} images" in result.stderr
    else:
        assert "no file to make" in result.output
    assert answers(file=True) == before
    assert before[1] == []
    assert demo.ingest([new]).images_added == 1  # after the file: found through its delta
    after = answers(file=True)
    assert after[0] == before[0]
    assert [x[0] for x in after[1]] == [sha_of(new / "fresh.jpg")]
    result = CliRunner().invoke(cli, ["--db", db_url, "index"])
    assert result.exit_code == 0, result.output
    if on_sqlite:
        assert "postings file brought up to date" in result.output
        assert "merging 1 image into the postings file" in result.stderr
    assert answers(file=True) == after


def _recorded_matches(catalogue: Catalogue) -> set[tuple[str, str, str, int]]:
    """Every recorded match: the two images' SHA-256, the kinds and the inliers."""
    reference, copy = m.Image.__table__.alias(), m.Image.__table__.alias()
    with catalogue.session() as session:
        rows = session.execute(
            select(reference.c.sha256, copy.c.sha256, m.PhotoMatch.kinds, m.PhotoMatch.inliers)
            .join(reference, reference.c.id == m.PhotoMatch.reference_id)
            .join(copy, copy.c.id == m.PhotoMatch.copy_id)
        )
        return {(str(a), str(b), str(kinds), int(inliers)) for a, b, kinds, inliers in rows}


def _table_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the candidate stages that read the postings table (one entry each)."""
    reads: list[int] = []
    through_table = matching.Matcher._votes_from_table

    def counted(self: matching.Matcher, *args: Any, **kwargs: Any) -> list[Vote]:
        reads.append(1)
        return through_table(self, *args, **kwargs)

    monkeypatch.setattr(matching.Matcher, "_votes_from_table", counted)
    return reads


def test_an_ingest_that_makes_the_postings_file_matches_through_it(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest that brings a SQLite catalogue to MAKE_FROM images makes the postings file
    before its matching turns, which then read the file, not the table (through the table
    a turn's candidate stage took several times as long), and record what the table gives."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the postings file is SQLite's")
    with Catalogue(f"sqlite:///{tmp_path / 'through-table.db'}") as reference:
        assert reference.ingest([CATALOGUE_DIR]).rejected == []
        expected = _recorded_matches(reference)
    assert expected  # the demo's copies
    monkeypatch.setattr(word_file, "MAKE_FROM", 5)  # the demo holds 9 images
    reads = _table_reads(monkeypatch)
    with Catalogue(db_url) as catalogue:
        steps: list[str] = []
        result = catalogue.ingest([CATALOGUE_DIR], progress=lambda _d, _t, what: steps.append(what))
        assert result.rejected == []
        assert _recorded_matches(catalogue) == expected
    assert reads == []
    step = "writing the postings file for look-ups"
    assert step in steps
    assert steps.index(step) < steps.index("matching reused photos")


def test_an_ingest_merges_what_the_file_cannot_carry_before_matching(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New images past what a file's delta carries (DELTA_MAX) are merged into the file
    before they are matched: their turns read the file, where they would read the table."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the postings file is SQLite's")
    with Catalogue(db_url) as catalogue:
        assert catalogue.ingest([MONTENEGRO]).rejected == []
        assert catalogue.index_postings(full=True) is not None
        monkeypatch.setattr(word_file, "DELTA_MAX", 1)
        monkeypatch.setattr(word_file, "REFRESH_AFTER", 1)
        reads = _table_reads(monkeypatch)
        result = catalogue.ingest([CATALOGUE_DIR / "montenegro-reuse-demo"])
        assert result.rejected == []
        assert result.images_added > word_file.DELTA_MAX
        assert result.matches_added > 0
    assert reads == []


def _pdq_loaded(matcher: matching.Matcher) -> dict[int, str]:
    """The PDQ hashes a matcher holds, by image id."""
    table = matcher._pdq
    codes = faiss.vector_to_array(table._index.xb).reshape(-1, 32)
    return {int(i): bytes(c).hex() for i, c in zip(table.ids, codes, strict=True)}


def test_a_matcher_takes_the_pdq_hashes_of_the_postings_file(
    demo: Catalogue, tmp_path: Path
) -> None:
    """A SQLite catalogue's matcher takes the PDQ hashes of the images its postings file
    covers from the file, not the database (at 10^6 images reading them took seconds), and
    reads only those stored since; it holds what reading them all gives, and counts every
    image. A file written before it kept them, or a PostgreSQL catalogue, is read as before."""
    on_sqlite = demo.engine.dialect.name == "sqlite"

    def expected() -> tuple[dict[int, str], int]:
        with demo.session() as session:
            hashes = dict(
                session.execute(
                    select(m.Fingerprint.image_id, m.Fingerprint.value).where(
                        m.Fingerprint.algorithm == "pdq"
                    )
                ).all()
            )
            return hashes, int(session.scalar(select(func.count()).select_from(m.Image)) or 0)

    def matcher() -> matching.Matcher:
        found = matching.Matcher(demo._sessions)
        hashes, images = expected()
        assert _pdq_loaded(found) == hashes
        assert len(found) == images
        return found

    before = matcher()
    assert before._covered_id == 0
    made = demo.index_postings()
    with_file = matcher()
    if on_sqlite:
        assert made is not None
        assert with_file._covered_id == made.cover.last_id
        assert with_file._known == set()  # nothing read from the database
    else:
        assert with_file._covered_id == 0
    new = tmp_path / "new"
    new.mkdir()
    photo(44, (640, 480)).save(new / "fresh.jpg", quality=90)
    assert demo.ingest([new]).images_added == 1
    after = matcher()
    with demo.session() as session:
        newest = int(session.scalar(select(func.max(m.Image.id))) or 0)
    assert newest in after._known
    if on_sqlite:
        assert after._known == {newest}
        # The look-ups answer as they did: the new image's copy is found through its hash.
        with Image.open(new / "fresh.jpg") as image:
            image.resize((320, 240)).save(tmp_path / "small.jpg", quality=85)
        assert [x.sha256 for x in demo.similar(tmp_path / "small.jpg")] == [
            sha_of(new / "fresh.jpg")
        ]
        # A generation written before the file kept PDQ hashes: read from the database.
        with demo.session() as session:
            folder = word_file.location(session.connection())
        assert folder is not None
        assert made is not None
        for name in word_file._PDQ_ARRAYS:
            (folder / made.cover.generation / name).unlink()
        older = matcher()
        assert older._covered_id == 0


@pytest.mark.parametrize("passes", ["compiled", "numpy"])
def test_a_postings_file_damaged_inside_is_put_aside_and_the_table_read(
    demo: Catalogue, tmp_path: Path, caplog: pytest.LogCaptureFixture, passes: str
) -> None:
    """A file whose sizes are right but whose rows point past its images (a disk that lied,
    a hand that edited it) cannot be read; the look-up answers from the table, as the file
    would have, and says why once."""
    if not demo.url.startswith("sqlite"):
        pytest.skip("the postings file is SQLite's")
    from provcat.reuse import compiled

    query = tmp_path / "query.jpg"
    source = sorted((MONTENEGRO / "images").iterdir())[0]
    with Image.open(source) as image:
        image.convert("RGB").resize((image.width // 2, image.height // 2)).save(query)
    made = demo.index_postings(full=True)
    assert made is not None
    expected = [(x.sha256, x.score) for x in demo.similar(query)]
    assert expected
    folder = Path(demo.url.removeprefix("sqlite:///") + word_file.SUFFIX)
    generation = folder / made.cover.generation
    starts = np.memmap(generation / "starts", dtype="<i8", mode="r+")
    starts[1:-1] = made.cover.postings + 5  # the first row runs past the end, the rest lie there
    starts.flush()
    del starts
    demo._matcher = None  # a process that opens the damaged file
    old = compiled.active
    compiled.active = passes == "compiled" and compiled.built()
    try:
        with caplog.at_level("WARNING"):
            assert [(x.sha256, x.score) for x in demo.similar(query)] == expected
            assert [(x.sha256, x.score) for x in demo.similar(query)] == expected
    finally:
        compiled.active = old
    assert caplog.text.count(f"the postings file {folder} is damaged") == 1


def _stored_not_posted(catalogue: Catalogue, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest ``folder`` as an ingest stopped before it posts its images' words would leave
    it (SQLite: the images stored and matched, their words waiting after the mark)."""
    monkeypatch.setattr(ingest.Ingester, "_post_pending", lambda *_args, **_kwargs: None)
    catalogue.ingest([folder])
    monkeypatch.undo()


def test_images_whose_words_wait_are_matched_and_looked_up(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A photo and its crop stored in one ingest whose words are not posted yet (SQLite) are
    still found the same photo at ingest, and by `similar`: the look-ups count the words of
    the images after the mark from their stored features. Once posted, the same answer."""
    folder = tmp_path / "new"
    folder.mkdir()
    photo(41, (640, 480)).save(folder / "fresh.jpg", quality=90)
    with Image.open(folder / "fresh.jpg") as image:
        image.crop((60, 40, 560, 420)).save(folder / "crop.jpg", quality=80)
        ImageOps.mirror(image.crop((80, 60, 600, 440))).save(tmp_path / "query.jpg", quality=75)
    _stored_not_posted(catalogue, folder, monkeypatch)
    with catalogue.session() as session:
        mark = posted_through(session.connection())
        assert mark in (0, None)  # PostgreSQL posts as it stores: no mark
        assert session.scalar(select(func.count()).select_from(m.PhotoMatch)) == 1
    waiting = [(x.sha256, x.relation) for x in catalogue.similar(tmp_path / "query.jpg")]
    assert {sha for sha, _ in waiting} == {
        sha_of(folder / "fresh.jpg"),
        sha_of(folder / "crop.jpg"),
    }
    assert catalogue.ingest([]).images_added == 0  # an ingest posts what waits
    with catalogue.session() as session:
        last = session.scalar(select(func.max(m.Image.id)))
        assert posted_through(session.connection()) == (None if mark is None else last)
    assert [(x.sha256, x.relation) for x in catalogue.similar(tmp_path / "query.jpg")] == waiting


def test_a_look_up_whose_mark_moves_is_made_again(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Words posted by another process while a look-up reads the table (the mark moves) would
    be counted twice, from the table and from the features: the look-up is made again."""
    if catalogue.engine.dialect.name != "sqlite":
        pytest.skip("only a SQLite catalogue posts its words after storing them")
    folder = tmp_path / "new"
    folder.mkdir()
    photo(41, (640, 480)).save(folder / "fresh.jpg", quality=90)
    with Image.open(folder / "fresh.jpg") as image:
        image.crop((60, 40, 560, 420)).save(tmp_path / "query.jpg", quality=80)
    _stored_not_posted(catalogue, folder, monkeypatch)
    calls: list[bool] = []
    real = matching.votes

    def posting_meanwhile(*args: object, **kwargs: object) -> list[Vote]:
        found = real(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(kwargs["pending"] is not None and bool(kwargs["pending"].runs))  # type: ignore[union-attr]
        if len(calls) == 1:
            other = Catalogue(catalogue.url)  # another process's ingest posts the words
            try:
                other.ingest([])
            finally:
                other.close()
        return found

    monkeypatch.setattr(matching, "votes", posting_meanwhile)
    [found] = catalogue.similar(tmp_path / "query.jpg")
    assert found.sha256 == sha_of(folder / "fresh.jpg")
    # Once with the waiting words, once more with none waiting (the mirror image's look-up
    # is in the same call).
    assert calls[:2] == [True, False]


def test_with_a_postings_file_words_wait_until_enough_do(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where look-ups read a postings file (its delta computes the words of the images stored
    since it), an ingest leaves its images' words waiting until POST_AFTER images' do, then
    posts them all; its copies are matched meanwhile."""
    if catalogue.engine.dialect.name != "sqlite":
        pytest.skip("only a SQLite catalogue has a postings file and a mark")
    monkeypatch.setattr(ingest, "POST_AFTER", 4)
    first = tmp_path / "first"
    first.mkdir()
    photo(41, (640, 480)).save(first / "fresh.jpg", quality=90)
    catalogue.ingest([first])
    assert word_file.refresh(Path(catalogue.engine.url.database or "")).how == "made"
    with catalogue.session() as session:
        assert posted_through(session.connection()) == 1
    more = [tmp_path / "second", tmp_path / "third"]
    for number, folder in enumerate(more):
        folder.mkdir()
        photo(42 + number, (640, 480)).save(folder / "other.jpg", quality=90)
        with Image.open(first / "fresh.jpg") as image:
            box = (60 + 10 * number, 40, 560, 420)
            image.crop(box).save(folder / "crop.jpg", quality=80 - number)
    catalogue.ingest([more[0]])
    with catalogue.session() as session:
        assert posted_through(session.connection()) == 1  # 2 wait, fewer than 4
        assert session.scalar(select(func.count()).select_from(m.PhotoMatch)) == 1
    catalogue.ingest([more[1]])
    with catalogue.session() as session:
        assert posted_through(session.connection()) == 5  # 4 waited: posted
        assert session.scalar(select(func.count()).select_from(m.PhotoMatch)) == 3
        assert stored_postings(session) == expected_postings(session)


def test_index_posts_the_words_that_wait(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`provcat index` posts the words of the images stored after the mark (and says so);
    run again, it has none to post."""
    folder = tmp_path / "new"
    folder.mkdir()
    for seed in (41, 42):
        photo(seed, (640, 480)).save(folder / f"{seed}.jpg", quality=90)
    _stored_not_posted(catalogue, folder, monkeypatch)
    sqlite = catalogue.engine.dialect.name == "sqlite"
    runner = CliRunner()
    first = runner.invoke(cli, ["--db", catalogue.url, "index"])
    assert first.exit_code == 0, first.output
    said = "posted the visual words of 2 images that were waiting for them"
    assert (said in first.output) == sqlite
    with catalogue.session() as session:
        assert stored_postings(session) == expected_postings(session)
        if sqlite:
            assert posted_through(session.connection()) == 2
    again = runner.invoke(cli, ["--db", catalogue.url, "index"])
    assert again.exit_code == 0, again.output
    assert "posted the visual words" not in again.output
