"""Stored thumbnails: made by ingest, read by the reports' pages, made later for old images."""

from __future__ import annotations

import base64
import io
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic import command
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import delete, func, inspect, select

from provcat import models as m
from provcat import thumbnails
from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.db import alembic_config
from provcat.reports import writers
from provcat.working import WorkingCopy

from .paths import CATALOGUE_DIR
from .reuse_fixtures import scene


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image.convert("RGB")


def _difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two pictures of one size, in levels."""
    assert a.size == b.size
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


def _stored(catalogue: Catalogue) -> dict[str, bytes]:
    with catalogue.session() as session:
        shas = session.scalars(select(m.Image.sha256)).all()
    return catalogue.thumbnails(shas)


def _page_uris(html: str) -> list[bytes]:
    return [base64.b64decode(u) for u in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', html)]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((640, 480), (240, 180)),
        ((300, 900), (80, 240)),
        ((200, 100), (200, 100)),  # never enlarged
        ((3000, 2), (240, 1)),  # a banner keeps a row
        ((4099, 2051), (240, 120)),  # reduced by blocks first, the last ones partial
    ],
)
def test_a_thumbnail_is_the_picture_small(size: tuple[int, int], expected: tuple[int, int]) -> None:
    picture = scene(7, size) if min(size) > 16 else Image.new("RGB", size, (200, 30, 60))
    data = thumbnails.make(WorkingCopy.of(picture))
    small = _decoded(data)
    assert small.size == expected
    # What resizing the whole picture gives, within what JPEG at that quality loses of it
    # (the scenes are busy: 6-12 levels; another scene is about 60 away).
    whole = picture.resize(expected, Image.Resampling.LANCZOS)
    encoded = io.BytesIO()
    whole.save(encoded, "JPEG", quality=thumbnails.QUALITY)
    assert _difference(small, whole) <= _difference(_decoded(encoded.getvalue()), whole) + 0.5


def test_ingest_stores_an_upright_thumbnail_of_each_new_image(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    picture = scene(3, (640, 400))
    picture.save(tmp_path / "plain.jpg", quality=92)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: shown turned a quarter clockwise
    picture.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "turned.jpg", exif=exif)
    scene(4, (500, 500)).save(tmp_path / "other.png")
    catalogue.ingest([tmp_path])
    shutil.copy(tmp_path / "plain.jpg", tmp_path / "again.jpg")  # the same bytes: no new row
    catalogue.ingest([tmp_path])
    with catalogue.session() as session:
        rows = session.execute(
            select(m.Image.sha256, m.Image.width, m.Image.height, m.Thumbnail.data).join(
                m.Thumbnail, m.Thumbnail.image_id == m.Image.id
            )
        ).all()
        images = session.scalar(select(func.count()).select_from(m.Image))
    assert images == len(rows) == 3
    for _sha, width, height, data in rows:
        small = _decoded(data)
        assert max(small.size) == 240
        assert abs(small.width / small.height - width / height) < 0.02
    upright = picture.resize((240, 150), Image.Resampling.LANCZOS)
    alike = [_difference(_decoded(d), upright) for *_, d in rows if _decoded(d).size == (240, 150)]
    assert len(alike) == 2
    assert max(alike) < 8  # the turned file's thumbnail stands upright


def test_the_pages_show_stored_thumbnails_when_the_files_are_gone(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    copy = tmp_path / "record"
    shutil.copytree(CATALOGUE_DIR, copy)
    catalogue.ingest([copy])
    stored = _stored(catalogue)
    shutil.rmtree(copy)
    captions, reuse = io.StringIO(), io.StringIO()
    report = catalogue.write_caption_report(captions, fmt="html")
    catalogue.write_reuse_report(reuse, fmt="html")
    assert "file not available" not in captions.getvalue() + reuse.getvalue()
    shown = _page_uris(captions.getvalue())
    images = [i for g in report.groups for i in {o.image for o in g.occurrences if o.image}]
    assert len(shown) == len(images) + sum(len(p.images) for p in report.photos)
    assert set(shown) <= set(stored.values())  # put in as stored
    members = _page_uris(reuse.getvalue())
    assert len(members) == 9
    boxed = [data for data in members if data not in set(stored.values())]
    # The two roots that crops were cut from, with the crops' boxes drawn on: red pixels.
    assert len(boxed) == 2
    for data in boxed:
        pixels = np.asarray(_decoded(data), np.int16)
        red = (pixels[..., 0] > 200) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
        assert red.sum() > 50


def test_an_image_without_a_stored_thumbnail_gets_one_from_its_file_if_it_holds_it(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    scene(11, (640, 480)).save(tmp_path / "a.jpg", quality=90)
    scene(11, (640, 480)).save(tmp_path / "b.jpg", quality=60)  # the same photo, re-encoded
    catalogue.ingest([tmp_path])
    with catalogue.session() as session:
        session.execute(delete(m.Thumbnail))
        session.commit()
    page = io.StringIO()
    catalogue.write_reuse_report(page, fmt="html")
    assert len(_page_uris(page.getvalue())) == 2  # from the files
    scene(12, (640, 480)).save(tmp_path / "b.jpg", quality=60)  # another picture there now
    page = io.StringIO()
    catalogue.write_reuse_report(page, fmt="html")
    assert len(_page_uris(page.getvalue())) == 1
    assert page.getvalue().count("file not available") == 1


def test_thumbnails_are_read_in_rounds_in_the_order_the_page_shows_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writers.Thumbnails, "ROUND", 2)
    shas = [f"{i:064x}" for i in range(72)]
    # The first image shown again after more than the 64 URIs kept, then two more.
    order = [*shas[:70], shas[0], *shas[70:]]
    asked: list[list[str]] = []

    def stored(wanted: Any) -> dict[str, thumbnails.Stored]:
        asked.append(list(wanted))
        return {sha: thumbnails.Stored(sha.encode(), 100) for sha in wanted if sha != shas[5]}

    files: list[str] = []
    monkeypatch.setattr(writers, "thumbnail_uri", lambda paths, **_: files.append(paths[0]))
    made = writers.Thumbnails({sha: [f"/x/{sha}"] for sha in shas}, stored=stored, order=order)
    got = [made.get(sha) for sha in order]
    assert [g and base64.b64decode(g.split(",")[1]) for g in got] == [
        None if sha == shas[5] else sha.encode() for sha in order
    ]
    assert files == [f"/x/{shas[5]}"]  # stored without one: made from its file
    # A round at a time in the page's order, the image shown again read where it is again.
    assert asked == [order[i : i + 2] for i in range(0, 70, 2)] + [order[70:72], order[72:]]
    assert made.get("f" * 64) is None  # not in the report


def test_index_makes_the_thumbnails_of_images_stored_without_one(
    db_url: str, tmp_path: Path
) -> None:
    for seed in range(5):
        scene(20 + seed, (480, 360)).save(tmp_path / f"p{seed}.jpg", quality=90)
    with Catalogue(db_url) as catalogue:
        catalogue.ingest([tmp_path])
        made_by_ingest = _stored(catalogue)
        with catalogue.session() as session:
            session.execute(delete(m.Thumbnail))
            session.commit()
    (tmp_path / "p1.jpg").unlink()
    scene(40, (480, 360)).save(tmp_path / "p2.jpg", quality=90)  # other bytes now
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", db_url, "index"])
    assert result.exit_code == 0, result.output
    assert "thumbnails stored for 3 images stored before revision 0013; 2 left" in result.output
    with Catalogue(db_url) as catalogue:
        made = _stored(catalogue)
    assert len(made) == 3
    assert all(made_by_ingest[sha] == data for sha, data in made.items())  # the same bytes
    again = runner.invoke(cli, ["--db", db_url, "index"])
    assert "thumbnails stored for 0 images stored before revision 0013; 2 left" in again.output


def test_a_thumbnail_stored_meanwhile_by_another_process_is_kept(catalogue: Catalogue) -> None:
    with catalogue.session() as session:
        for name in "ab":
            session.add(
                m.Image(
                    sha256=name * 64,
                    format="JPEG",
                    width=10,
                    height=10,
                    file_size=1,
                    pixel_digest=name * 64,
                )
            )
        session.commit()
        first, second = session.scalars(select(m.Image.id).order_by(m.Image.id)).all()
        session.add(m.Thumbnail(image_id=first, data=b"theirs"))
        session.commit()
    rows = [
        m.Thumbnail(image_id=first, data=b"ours"),
        m.Thumbnail(image_id=second, data=b"ours"),
        m.Thumbnail(image_id=second + 100, data=b"of an image deleted since"),
    ]
    assert thumbnails._store(catalogue.session, rows) == 1
    with catalogue.session() as session:
        kept = dict(session.execute(select(m.Thumbnail.image_id, m.Thumbnail.data)).all())
    assert kept == {first: b"theirs", second: b"ours"}


def test_0013_adds_the_table_and_its_downgrade_drops_it(empty_db_url: str, tmp_path: Path) -> None:
    scene(50, (320, 240)).save(tmp_path / "one.jpg")
    with Catalogue(empty_db_url) as catalogue:
        catalogue.ingest([tmp_path])
        with catalogue.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0012")
            assert "thumbnail" not in inspect(connection).get_table_names()
    with Catalogue(empty_db_url) as catalogue, catalogue.session() as session:  # upgrades
        assert session.scalar(select(func.count()).select_from(m.Thumbnail)) == 0
        assert thumbnails.waiting_count(session) == 1


def test_a_deleted_image_takes_its_thumbnail_with_it(catalogue: Catalogue, tmp_path: Path) -> None:
    scene(60, (320, 240)).save(tmp_path / "one.jpg")
    catalogue.ingest([tmp_path])
    with catalogue.session() as session:
        session.execute(delete(m.Image))
        session.commit()
        assert session.scalar(select(func.count()).select_from(m.Thumbnail)) == 0
