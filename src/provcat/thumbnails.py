"""Small pictures of stored images, kept in the catalogue for the reports' pages.

A report's HTML page shows every image it names. Made from the image's file as the page is
written, each took a decode of the file (a camera-size JPEG tens of milliseconds, a large
PNG hundreds) and the file still where it was seen: a page of a catalogue whose files have
moved showed none, and the caption page of 10^6 printed captions names about 340,000 images.
So ingest stores a thumbnail of each new image (table ``thumbnail``, since revision 0013),
made in the worker that prepares the file, from the working copy its hashes and features are
resized from (provcat.working): a JPEG :data:`SIDE` pixels on the longer side, about 7 kB.
A page then reads the stored bytes and puts them in as they are.

Images stored before revision 0013 have none until :func:`fill` makes them from their files
(``provcat index``); until then a page makes theirs from the files, as before.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.decode import open_stored
from provcat.working import WorkingCopy

log = logging.getLogger(__name__)

#: Longest side of a stored thumbnail, in pixels (the reused-photo page shows them at this
#: size, the caption page at most 160).
SIDE: Final = 240
#: JPEG quality of a stored thumbnail: about 7 kB at 240 x 160 (the demo's pictures:
#: 5.3-8.3 kB; 4.3 as WebP, whose encoder took 1.6-4.0 ms a picture against JPEG's 0.4).
QUALITY: Final = 75
#: Images read (SHA-256s asked for, or thumbnails made and stored) in one statement.
ROUND: Final = 500


def make(working: WorkingCopy) -> bytes:
    """The thumbnail of a decoded picture (RGB, upright) as JPEG bytes: :data:`SIDE` pixels
    on its longer side, never enlarged, at least one pixel on the other."""
    width, height = working.width, working.height
    scale = min(1.0, SIDE / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # The part of the copy that covers the picture (a last row or column of blocks may be
    # partial); where it is twice the thumbnail or more, first reduced by whole blocks
    # (Pillow's reducing_gap=1.0: 2.8 ms at 800 x 600 against 6.1 resampling it whole,
    # within about a level of that; docs/scale.md, session 40).
    box = (0.0, 0.0, width / working.factor[0], height / working.factor[1])
    small = working.pixels.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=1.0)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()


@dataclass(frozen=True)
class Stored:
    """A stored thumbnail and the upright width of the picture it was made from (boxes in
    the picture's pixels are scaled by ``width`` of the thumbnail over ``image_width``)."""

    data: bytes
    image_width: int


def read(session: Session, sha256s: Iterable[str]) -> dict[str, Stored]:
    """The stored thumbnails of the given images, by SHA-256 (those stored without one are
    left out)."""
    wanted = sorted(set(sha256s))
    found: dict[str, Stored] = {}
    for start in range(0, len(wanted), ROUND):
        rows = session.execute(
            select(m.Image.sha256, m.Image.width, m.Thumbnail.data)
            .join(m.Thumbnail, m.Thumbnail.image_id == m.Image.id)
            .where(m.Image.sha256.in_(wanted[start : start + ROUND]))
        )
        for sha, width, data in rows:
            found[sha] = Stored(data=data, image_width=width)
    return found


# -- thumbnails of images stored before revision 0013 ---------------------------------------


@dataclass(frozen=True)
class Filled:
    """What :func:`fill` did: thumbnails made, and images left without one because none of
    their paths still holds their file."""

    made: int
    unreadable: int


def _from_files(sha256: str, paths: list[Path]) -> bytes | None:
    """A thumbnail from the first of ``paths`` that still holds the image, or None."""
    decoded = open_stored(sha256, paths)
    return None if decoded is None else make(WorkingCopy.of(decoded.pixels))


def _waiting(session: Session, after: int) -> list[tuple[int, str, list[Path]]]:
    """The next images without a thumbnail after id ``after``, with their paths."""
    rows = session.execute(
        select(m.Image.id, m.Image.sha256)
        .outerjoin(m.Thumbnail, m.Thumbnail.image_id == m.Image.id)
        .where(m.Image.id > after, m.Thumbnail.image_id.is_(None))
        .order_by(m.Image.id)
        .limit(ROUND)
    ).all()
    paths: dict[int, list[tuple[int, Path]]] = {image_id: [] for image_id, _ in rows}
    if rows:
        for path_id, image_id, path in session.execute(
            select(m.ImagePath.id, m.ImagePath.image_id, m.ImagePath.path).where(
                m.ImagePath.image_id.in_(list(paths))
            )
        ):
            paths[image_id].append((path_id, Path(path)))
    return [(i, sha, [p for _, p in sorted(paths[i])]) for i, sha in rows]


def fill(
    sessions: Callable[[], Session],
    *,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Filled:
    """Make and store the thumbnails of the images stored without one, from their files.

    Images are taken :data:`ROUND` at a time by id, their files decoded safely
    (:func:`provcat.decode.open_stored`: size and pixel limits, and only a file that still
    holds the image's bytes) in ``workers`` threads, and each round committed on its own:
    stopped part way, a later run goes on from what is stored. An image none of whose
    paths holds its file is passed over (logged at INFO) and counted. Another process
    storing the same thumbnails at once is harmless: what was stored first is kept.

    Args:
        sessions: Makes sessions on the catalogue.
        progress: Called with (images done, images to do) after each round.
    """
    with sessions() as session:
        total = waiting_count(session)
    made = unreadable = done = after = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        while True:
            with sessions() as session:
                waiting = _waiting(session, after)
            if not waiting:
                return Filled(made, unreadable)
            after = waiting[-1][0]
            thumbnails = pool.map(lambda row: _from_files(row[1], row[2]), waiting)
            rows: list[m.Thumbnail] = []
            for (image_id, _sha, _paths), data in zip(waiting, thumbnails, strict=True):
                if data is None:
                    log.info("image %d: no path holds its file as stored; no thumbnail", image_id)
                    unreadable += 1
                else:
                    rows.append(m.Thumbnail(image_id=image_id, data=data))
            made += _store(sessions, rows)
            done += len(waiting)
            if progress is not None:
                progress(done, max(done, total))


def _store(sessions: Callable[[], Session], rows: list[m.Thumbnail]) -> int:
    """Store a round's thumbnails; one another process stored first, or of an image deleted
    since it was read, is passed over. Returns how many were stored."""
    with sessions() as session:
        try:
            session.add_all(rows)
            session.commit()
            return len(rows)
        except IntegrityError:
            session.rollback()
    stored = 0
    for row in rows:
        with sessions() as session:
            try:
                session.add(m.Thumbnail(image_id=row.image_id, data=row.data))
                session.commit()
                stored += 1
            except IntegrityError:
                session.rollback()
    return stored


def waiting_count(session: Session) -> int:
    """How many stored images have no thumbnail."""
    count = session.scalar(
        select(func.count())
        .select_from(m.Image)
        .outerjoin(m.Thumbnail, m.Thumbnail.image_id == m.Image.id)
        .where(m.Thumbnail.image_id.is_(None))
    )
    return int(count or 0)
