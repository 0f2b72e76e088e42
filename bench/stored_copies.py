"""Look-ups and ingest when a photo is stored several times, on real photographs.

Run from the repository root (not part of the unit tests), with the ``bench`` extra:

    .venv/bin/python bench/stored_copies.py [--work DIR] [--passes 3]

What it does, and what is made by code:

- The 21 real photographs of ``bench/reuse_robustness.py`` (the pictures scikit-image,
  scikit-learn and matplotlib ship) are saved as PNG files, each with five edited copies made
  by that bench's edits: resized to half, JPEG quality 30, a banner over the bottom fifth,
  brightness +30%, grey. The 126 files are ingested into an empty SQLite catalogue with
  ``provcat ingest``'s code; the time and a digest of the recorded matches are printed.
- Each photograph is then looked up by a sixth copy (contrast +40%, JPEG quality 85) with
  ``Catalogue.similar``, ``--passes`` times over: its original and its five copies are the
  answers, so each look-up has several likely pairs to judge with pixels. Prints the look-up
  time p50 and mean, the answers a look-up, and a digest of the first pass's answers, so
  that two versions of the code can be shown to answer alike.

A photo desk's catalogue holds many copies of one photo (every article that ran it): this is
the look-up of a photo that has been reused, where ``bench/similar_recall.py`` looks up
photos stored once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import aliased

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reuse_robustness import families, photos

from provcat import models as m
from provcat.catalogue import Catalogue

# exifread warns that each PNG has no EXIF data; nothing here is about EXIF.
logging.getLogger("exifread").setLevel(logging.ERROR)

STORED_EDITS = ("resize 50%", "JPEG q30", "banner bottom 20%", "brightness +30%", "grayscale")
QUERY_EDIT = "contrast +40%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="where the files and the catalogue go")
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work) as folder:
        run(Path(folder), args.passes)


def run(work: Path, passes: int) -> None:
    images, _stereo = photos()
    edits = families(list(images.values()))
    stored, queries = work / "stored", work / "queries"
    stored.mkdir()
    queries.mkdir()
    looked: list[Path] = []
    for name, picture in images.items():
        picture.save(stored / f"{name}.png")
        for number, edit in enumerate(STORED_EDITS):
            edits[edit][0](picture).save(stored / f"{name}-copy{number}.png")
        looked.append(queries / f"{name}.jpg")
        edits[QUERY_EDIT][0](picture).save(looked[-1], quality=85)

    catalogue = Catalogue(f"sqlite:///{work / 'catalogue.db'}")
    start = time.perf_counter()
    catalogue.ingest([stored])
    ingest_s = time.perf_counter() - start
    recorded = _matches(catalogue)

    catalogue.similar(looked[0])  # loads the PDQ hashes once, as a loop of look-ups does
    times: list[float] = []
    answers: list[list[dict[str, object]]] = []
    for number in range(passes):
        for path in looked:
            start = time.perf_counter()
            found = catalogue.similar(path)
            times.append(1000 * (time.perf_counter() - start))
            if number == 0:
                answers.append([match.to_dict() for match in found])
    catalogue.close()

    digest = hashlib.sha256(json.dumps(answers, sort_keys=True, default=str).encode())
    print(
        f"# {len(images)} real photographs stored with {len(STORED_EDITS)} edited copies each, "
        f"looked up by a copy made with '{QUERY_EDIT}'\n"
    )
    print(
        f"- ingest of {len(images) * (1 + len(STORED_EDITS))} files into an empty catalogue: "
        f"{ingest_s:.1f} s, {len(recorded)} matches recorded, digest "
        f"`{hashlib.sha256(repr(recorded).encode()).hexdigest()[:16]}`"
    )
    print(
        f"- `similar`, {passes} passes: p50 {statistics.median(times):.1f} ms, mean "
        f"{statistics.mean(times):.1f} ms, "
        f"{statistics.mean(len(a) for a in answers):.1f} answers a look-up, digest "
        f"`{digest.hexdigest()[:16]}`"
    )


def _matches(catalogue: Catalogue) -> list[tuple[str, ...]]:
    """Every recorded match as text, by the two images' SHA-256, sorted."""
    reference, copy = aliased(m.Image), aliased(m.Image)
    with catalogue.session() as session:
        rows = session.execute(
            select(
                reference.sha256,
                copy.sha256,
                m.PhotoMatch.kinds,
                m.PhotoMatch.inliers,
                m.PhotoMatch.score,
                m.PhotoMatch.pdq_distance,
            )
            .join(reference, reference.id == m.PhotoMatch.reference_id)
            .join(copy, copy.id == m.PhotoMatch.copy_id)
        ).all()
    return sorted(tuple(str(value) for value in row) for row in rows)


if __name__ == "__main__":
    main()
