"""Ingest: the Montenegro record, idempotence, known images, and batches with bad files in them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from provcat import ingest
from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.errors import InputError
from provcat.reuse import postings
from provcat.reuse.postings import posted_through

from .imagegen import photo
from .paths import MONTENEGRO
from .postings_state import expected_postings, posting_killed_at, stored_postings

PLOTTERS_FILE = MONTENEGRO / "images" / "02-surveillance-belgrade-meeting.jpg"
CHAIN = ["unnamed European security service", "Sky News", "DailyMail.co.uk"]


def row_counts(catalogue: Catalogue) -> dict[str, int]:
    """How many rows each table holds."""
    with catalogue.session() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in m.Base.metadata.sorted_tables
        }


def sha_of(catalogue: Catalogue, path: Path) -> str:
    """The SHA-256 the catalogue stored for a file."""
    with catalogue.session() as session:
        sha = session.scalar(
            select(m.Image.sha256).join(m.ImagePath).where(m.ImagePath.path == str(path.resolve()))
        )
    assert sha is not None
    return sha


def test_montenegro_record_counts(catalogue: Catalogue) -> None:
    result = catalogue.ingest([MONTENEGRO])
    assert result.rejected == []
    assert (result.articles_added, result.images_added, result.appearances_added) == (1, 4, 6)


def test_plotters_record(montenegro: Catalogue) -> None:
    record = montenegro.image(sha_of(montenegro, PLOTTERS_FILE)[:8])
    assert record.stand_in
    printed = [a.caption for a in record.appearances]
    assert len(printed) == 2  # once with straight quotes, once with curly ones
    assert printed[0] is not None
    assert printed[0].startswith("'Plotters':Shishmakov, left,")
    assert printed[1] is not None
    assert printed[1].startswith("\u2018Plotters\u2019:Shishmakov, left,")
    assert printed[1] == printed[0].replace("'Plotters'", "\u2018Plotters\u2019")
    assert {a.article.publisher for a in record.appearances} == {"DailyMail.co.uk"}
    printed_chain = [link for link in record.provenance if link.origin == "printed"]
    assert [link.agent for link in printed_chain] == CHAIN
    assert [link.role for link in printed_chain] == ["originator", "supplier", "publisher"]
    embedded = {c.origin: c.text for c in record.captions if not c.origin.startswith("printed")}
    assert len(embedded) == 3
    assert any(origin.startswith("EXIF") for origin in embedded)
    assert any(origin.startswith("IPTC-IIM") for origin in embedded)
    assert any(origin.startswith("XMP") for origin in embedded)
    truncated = [f for f in record.metadata if f.truncated]
    assert [(f.standard, f.key, f.value) for f in truncated] == [
        ("IPTC-IIM", "2:110", "unnamed European security servic")
    ]
    assert {(p.name, p.cue) for p in record.people if p.source.startswith("manifest")} == {
        ("Eduard Shishmakov", "left"),
        ("Aleksandar Sindjelic", None),
    }
    assert set(record.fingerprints) == {"phash", "dhash", "pdq"}
    assert len(record.fingerprints["pdq"]) == 64


def test_missing_credit_is_unknown_not_guessed(montenegro: Catalogue) -> None:
    portrait = MONTENEGRO / "images" / "01-portraits-shishmakov-popov.jpg"
    record = montenegro.image(sha_of(montenegro, portrait))
    printed = [link for link in record.provenance if link.origin == "printed"]
    assert [(link.agent, link.role) for link in printed] == [
        (None, "credited"),
        ("DailyMail.co.uk", "publisher"),
    ]
    assert all(link.credit is None for link in printed)
    assert record.appearances[0].credit is None


def test_ingest_twice_changes_nothing(catalogue: Catalogue) -> None:
    catalogue.ingest([MONTENEGRO])
    before = row_counts(catalogue)
    again = catalogue.ingest([MONTENEGRO])
    assert (again.images_added, again.appearances_added, again.articles_added) == (0, 0, 0)
    assert (again.images_known, again.appearances_known, again.articles_known) == (4, 6, 1)
    assert row_counts(catalogue) == before


def test_second_article_adds_an_appearance_not_an_image(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    catalogue.ingest([MONTENEGRO])
    folder = tmp_path / "sky"
    folder.mkdir()
    shutil.copy(PLOTTERS_FILE, folder / "still.jpg")
    (folder / "manifest.toml").write_text(
        '[article]\nid = "second"\ntitle = "Another story"\npublisher = "Sky News"\n'
        'url = "https://example.org/second"\npublished = "2017-02-20"\n\n'
        '[[images]]\nfile = "still.jpg"\n  [[images.printings]]\n  position = 1\n'
        '  caption = "A different caption"\n  credit = "Sky News"\n',
        encoding="utf-8",
    )
    result = catalogue.ingest([folder])
    assert (result.images_added, result.images_known, result.appearances_added) == (0, 1, 1)
    record = catalogue.image(sha_of(catalogue, PLOTTERS_FILE))
    assert len(record.appearances) == 3
    assert len(record.paths) == 2
    assert {a.article.publisher for a in record.appearances} == {"DailyMail.co.uk", "Sky News"}


def test_batch_with_broken_files_keeps_the_rest(catalogue: Catalogue, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for seed in range(5):
        photo(seed).save(folder / f"good{seed}.jpg", quality=90)
    (folder / "notes.jpg").write_text("this is not a picture", encoding="utf-8")
    whole = (folder / "good0.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(whole[: len(whole) // 3])
    (folder / "readme.txt").write_text("skipped by a folder walk", encoding="utf-8")
    result = catalogue.ingest([folder])
    assert result.images_added == 5
    assert sorted(Path(r.path).name for r in result.rejected) == ["cut.jpg", "notes.jpg"]
    assert [(Path(s.path).name, s.reason) for s in result.skipped] == [
        ("readme.txt", "scraped article: name it on the command line to ingest it")
    ]
    stored = {Path(r.path).name: r.reason for r in catalogue.rejections()}
    assert set(stored) == {"cut.jpg", "notes.jpg"}
    assert "not an image" in stored["notes.jpg"]
    assert "truncated" in stored["cut.jpg"]
    assert row_counts(catalogue)["image"] == 5


def test_a_file_failing_while_stored_is_rolled_back_alone(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Image files are stored several to a transaction. One whose storing fails half-way
    (its image row and features written, then an error on its input) is rolled back alone
    and rejected: the files before and after it in the same transaction are catalogued,
    and the postings hold the words of exactly the images stored."""
    folder = tmp_path / "batch"
    folder.mkdir()
    for seed in range(6):
        photo(seed).save(folder / f"{seed}.jpg", quality=90)
    real = ingest.embedded_provenance

    def failing(image: m.Image, fields: Any, *, session: Any) -> None:
        real(image, fields, session=session)
        if any(Path(p.path).name == "2.jpg" for p in image.paths):
            raise InputError(Path(image.paths[0].path), "refused half-way, for this test")

    monkeypatch.setattr(ingest, "embedded_provenance", failing)
    assert ingest.STORE_BATCH > 6  # all six in one transaction
    result = catalogue.ingest([folder])
    assert result.images_added == 5
    assert [(Path(r.path).name, r.reason) for r in result.rejected] == [
        ("2.jpg", "refused half-way, for this test")
    ]
    with catalogue.session() as session:
        names = {Path(p).name for p in session.scalars(select(m.ImagePath.path))}
        assert names == {f"{seed}.jpg" for seed in (0, 1, 3, 4, 5)}
        assert session.scalar(select(func.count()).select_from(m.Feature)) == 5
        assert stored_postings(session) == expected_postings(session)


def test_an_ingest_killed_while_posting_words_loses_none(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Words are posted in one transaction with what says they are. On PostgreSQL a batch's
    images, features and words are committed together: an ingest that dies while posting the
    words (as a kill -9 would) leaves none of the batch's images behind without their words.
    (A savepoint per file, the first taken before SQLite's transaction began, committed that
    file on its own: the fault bench found images without postings after a kill.) On SQLite
    the images are stored first and their words posted after them with the mark that says
    how far the table goes (provcat.models.CatalogueState): a death while posting leaves
    the images stored, the table and the mark as they were, and the next ingest posts them."""
    folder = tmp_path / "batch"
    folder.mkdir()
    for seed in range(4):
        photo(seed).save(folder / f"{seed}.jpg", quality=90)

    def dying(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("killed while posting, for this test")

    monkeypatch.setattr(postings, "post_words", dying)
    with pytest.raises(RuntimeError, match="killed while posting"):
        catalogue.ingest([folder])
    with catalogue.session() as session:
        mark = posted_through(session.connection())
        if mark is None:
            assert row_counts(catalogue)["image"] == 0
            assert row_counts(catalogue)["feature"] == 0
        else:
            assert mark == 0
            assert row_counts(catalogue)["feature"] == 4
            assert stored_postings(session) == {}
    monkeypatch.undo()
    result = catalogue.ingest([folder])
    assert result.images_added + result.images_known == 4
    with catalogue.session() as session:
        assert stored_postings(session) == expected_postings(session)
        if mark is not None:
            last = session.scalar(select(func.max(m.Image.id)))
            assert posted_through(session.connection()) == last


def test_an_ingest_killed_between_ranges_of_words_is_taken_up(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the words of many images are committed a range of words at a time
    (provcat.reuse.postings.post_all_pending). An ingest that dies after two ranges leaves
    its images stored and the table holding their lower words, which it records: a look-up
    meanwhile answers as it does once every word is posted, and the next ingest posts the
    rest, after which the same look-ups answer the same."""
    if catalogue.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL posts a batch's words in the batch's own transaction")
    folder = tmp_path / "batch"
    folder.mkdir()
    for seed in range(4):
        photo(seed).save(folder / f"{seed}.jpg", quality=90)
    with posting_killed_at(monkeypatch, 3, range_words=1_000):
        catalogue.ingest([folder])
    with catalogue.session() as session:
        state = postings.posting_state(session.connection())
        assert state is not None
        assert state.under_way
        last = session.scalar(select(func.max(m.Image.id)))
        assert (state.through, state.upto) == (0, last)
    meanwhile = [catalogue.similar(folder / f"{seed}.jpg") for seed in range(4)]
    assert all(found for found in meanwhile)
    result = catalogue.ingest([folder])
    assert result.images_known == 4
    with catalogue.session() as session:
        assert postings.posting_state(session.connection()) == postings.Posted(last, last)
        assert stored_postings(session) == expected_postings(session)
    # The same look-ups, their pending words advanced past the posting (Delta.advance), and
    # in a process that never saw it half done.
    assert [catalogue.similar(folder / f"{seed}.jpg") for seed in range(4)] == meanwhile
    with Catalogue(catalogue.url) as again:
        assert [again.similar(folder / f"{seed}.jpg") for seed in range(4)] == meanwhile


def test_image_files_are_stored_a_batch_to_a_transaction(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The storing phase commits once per STORE_BATCH image files (a commit rewrites every
    page the postings changed), and stores what storing them one at a time stores."""
    monkeypatch.setattr(ingest, "STORE_BATCH", 3)
    folder = tmp_path / "batch"
    folder.mkdir()
    for seed in range(7):
        photo(seed).save(folder / f"{seed}.jpg", quality=90)
    commits: list[int] = []
    stored: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> list[Any]:
        parts = store_images(*args, **kwargs)
        commits.append(len(parts))
        return parts

    store_images = ingest.Ingester._store_images
    monkeypatch.setattr(ingest.Ingester, "_store_images", counting)
    result = catalogue.ingest([folder], progress=lambda done, _total, _path: stored.append(done))
    assert result.images_added == 7
    assert [n for n in commits if n] == [3, 3, 1]
    assert stored[:7] == list(range(1, 8))
    with catalogue.session() as session:
        assert stored_postings(session) == expected_postings(session)


def test_rejection_recorded_once_per_reason(catalogue: Catalogue, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    catalogue.ingest([bad])
    catalogue.ingest([bad])
    rows = catalogue.rejections()
    assert len(rows) == 1
    assert rows[0].attempts == 2


def test_missing_path_is_rejected(catalogue: Catalogue, tmp_path: Path) -> None:
    result = catalogue.ingest([tmp_path / "nowhere.jpg"])
    assert [(Path(r.path).name, r.reason) for r in result.rejected] == [
        ("nowhere.jpg", "no such file or folder")
    ]


def test_manifest_with_a_broken_image_keeps_its_captions(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    photo(1).save(tmp_path / "ok.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"GIF89a" + b"\x00" * 10)
    (tmp_path / "manifest.toml").write_text(
        '[article]\nid = "half"\npublisher = "Paper"\n\n'
        '[[images]]\nfile = "ok.jpg"\n  [[images.printings]]\n  position = 1\n'
        '  caption = "fine"\n\n'
        '[[images]]\nfile = "broken.jpg"\n  [[images.printings]]\n  position = 2\n'
        '  caption = "its caption survives"\n',
        encoding="utf-8",
    )
    result = catalogue.ingest([tmp_path])
    assert result.images_added == 1
    assert result.appearances_added == 2
    assert [Path(r.path).name for r in result.rejected] == ["broken.jpg"]
    with catalogue.session() as session:
        orphan = session.scalar(select(m.Appearance).where(m.Appearance.position == 2))
        assert orphan is not None
        assert orphan.image_id is None
        assert orphan.caption == "its caption survives"


def test_bad_manifest_is_rejected_with_its_line(catalogue: Catalogue, tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    photo(2).save(good / "a.png")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.toml").write_text('[article]\nid = "x"\nwho = 1\n', encoding="utf-8")
    result = catalogue.ingest([tmp_path])
    assert result.images_added == 1
    assert len(result.rejected) == 1
    assert result.rejected[0].line == 3
    assert "unknown key 'who'" in result.rejected[0].reason


def test_same_pixels_new_metadata_is_known_as_the_same_picture(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    from PIL.PngImagePlugin import PngInfo

    picture = photo(3)
    first, second = PngInfo(), PngInfo()
    first.add_text("Description", "first caption")
    second.add_text("Description", "second caption")
    picture.save(tmp_path / "a.png", pnginfo=first)
    picture.save(tmp_path / "b.png", pnginfo=second)
    result = catalogue.ingest([tmp_path])
    assert result.images_added == 2
    record = catalogue.image(sha_of(catalogue, tmp_path / "a.png"))
    assert record.same_pixels == [sha_of(catalogue, tmp_path / "b.png")]


def test_progress_callback_sees_every_item(catalogue: Catalogue, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for seed in range(3):
        photo(seed).save(folder / f"{seed}.png")
    seen: list[tuple[int, int, str]] = []
    catalogue.ingest([folder], progress=lambda done, total, path: seen.append((done, total, path)))
    stored = [(done, total) for done, total, path in seen[:3]]
    assert stored == [(1, 3), (2, 3), (3, 3)]
    assert [Path(path).name for *_, path in seen[:3]] == ["0.png", "1.png", "2.png"]
    # Then each image's reuse matching, once all are stored.
    assert seen[3:] == [(n, 3, "matching reused photos") for n in (1, 2, 3)]


def test_progress_counts_the_manifests_read_before_the_items_stored(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    """Manifests and articles are read before anything is stored (their image files are
    prepared with the rest): the callback is told, then sees the manifest's files prepared
    and every item stored."""
    folder = tmp_path / "loose"
    folder.mkdir()
    photo(1).save(folder / "1.png")
    seen: list[tuple[int, int, str]] = []
    catalogue.ingest(
        [MONTENEGRO, folder], progress=lambda done, total, path: seen.append((done, total, path))
    )
    assert seen[0] == (1, 1, "reading manifests and articles")
    # Then the manifest's image files as they are prepared, before it is stored.
    files = sorted((MONTENEGRO / "images").iterdir())
    prepared = seen[1 : 1 + len(files)]
    assert sorted(Path(path).name for *_, path in prepared) == [f.name for f in files]
    assert {(done, total) for done, total, _path in prepared} == {(0, 2)}
    stored = seen[1 + len(files) : 3 + len(files)]
    assert [(done, total, Path(path).name) for done, total, path in stored] == [
        (1, 2, "manifest.toml"),
        (2, 2, "1.png"),
    ]
    assert all(path == "matching reused photos" for *_, path in seen[3 + len(files) :])


def test_a_manifest_image_failing_after_its_words_are_listed_posts_none(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest's new images post their words in one upsert before its commit; an image
    whose storing fails on its input after its words were listed (its savepoint rolled back)
    posts none, and the others post theirs once."""
    record = tmp_path / "record"
    record.mkdir()
    lines = ['[article]\nid = "three"\n']
    for number in range(3):
        photo(60 + number).save(record / f"{number}.png")
        lines.append(f'[[images]]\nfile = "{number}.png"\n  [[images.printings]]\n')
        lines.append(f'  position = {number + 1}\n  caption = "Picture {number}"\n')
    (record / "manifest.toml").write_text("".join(lines), encoding="utf-8")
    real = ingest.embedded_provenance

    def failing(image: m.Image, *args: Any, **kwargs: Any) -> None:
        if image.paths[0].path.endswith("1.png"):
            raise InputError(image.paths[0].path, "a provenance record that cannot be read")
        real(image, *args, **kwargs)

    monkeypatch.setattr(ingest, "embedded_provenance", failing)
    result = catalogue.ingest([record], workers=1)
    assert (result.images_added, result.appearances_added) == (2, 3)
    assert [Path(r.path).name for r in result.rejected] == ["1.png"]
    with catalogue.session() as session:
        assert session.scalar(select(func.count()).select_from(m.Image)) == 2
        assert stored_postings(session) == expected_postings(session)


def test_hostile_files_are_rejected_and_the_rest_catalogued(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    from .test_decode import png_declaring

    for seed in range(3):
        photo(seed).save(tmp_path / f"fine{seed}.jpg")
    (tmp_path / "bomb.png").write_bytes(png_declaring(50_000, 50_000))
    billion_laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&lol2;</x:xmpmeta>'
    )
    photo(9).save(tmp_path / "entities.jpg", xmp=billion_laughs)
    photo(10).save(tmp_path / "broken-xmp.jpg", xmp=b"<x:xmpmeta><unclosed>")
    result = catalogue.ingest([tmp_path])
    assert result.images_added == 3
    reasons = {Path(r.path).name: r.reason for r in result.rejected}
    assert set(reasons) == {"bomb.png", "entities.jpg", "broken-xmp.jpg"}
    assert reasons["bomb.png"].startswith("decompression bomb")
    assert "XMP" in reasons["entities.jpg"]
    assert "XMP" in reasons["broken-xmp.jpg"]
    assert row_counts(catalogue)["rejection"] == 3
