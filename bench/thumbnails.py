"""What stored thumbnails cost an ingest, and what they save a report's page.

Run from the repository root (not part of the unit tests):

    .venv/bin/python bench/thumbnails.py --work DIR [--files 60] [--camera 20] [--folder DIR]

The pictures are generated (``tests.reuse_fixtures.scene``, nothing real): ``--files`` of
800 x 600 and ``--camera`` of 4000 x 3000, saved as JPEG (quality 88) in ``--work``; or, with
``--folder``, the image files of a folder of your own (real photographs, say) in their place.
In one run, on one core:

- **per-file work**: each file decoded once, then provcat's per-file work on it
  (``provcat.prepare.prepare_image``: metadata, the three hashes, ORB features and, since
  revision 0013, the thumbnail), against the thumbnail alone (``provcat.thumbnails.make``
  from the picture's working copy, which the hashes share): the thumbnail's share of what a
  worker does for a file;
- **the page's thumbnails**: the files ingested into a SQLite catalogue, then every image's
  data URI as a report's page asks for it (``provcat.reports.writers.Thumbnails``, the
  order of the catalogue): from the stored thumbnails (now), against the same made from the
  files (the baseline: what every page did before revision 0013, and what one does for an
  image stored before it);
- **bytes**: the stored thumbnails' mean and largest size, against the catalogue's size per
  image.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sqlalchemy import func, select
from tests.reuse_fixtures import scene

from provcat import models as m
from provcat import thumbnails
from provcat.catalogue import Catalogue
from provcat.decode import open_image
from provcat.files import walk
from provcat.prepare import prepare_image
from provcat.reports.writers import Thumbnails
from provcat.working import WorkingCopy


def make_files(folder: Path, count: int, side: tuple[int, int], first: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"scene-{side[0]}-{number:04d}.jpg"
        if not path.exists():
            scene(first + number, side).save(path, quality=88)
        paths.append(path)
    return paths


def stand_in_thumbnails(count: int = 64) -> list[bytes]:
    """Thumbnails for the benches' stand-in image rows, which have no pixels: ``count``
    generated scenes' own, made as ingest makes one (about 7 kB each)."""
    return [thumbnails.make(WorkingCopy.of(scene(90_000 + n, (800, 600)))) for n in range(count)]


def per_file(paths: list[Path]) -> tuple[float, float]:
    """Seconds of the per-file work and of the thumbnail alone, summed over ``paths``."""
    work = alone = 0.0
    for path in paths:
        decoded = open_image(path)
        started = time.perf_counter()
        prepare_image(decoded)
        work += time.perf_counter() - started
        working = WorkingCopy.of(decoded.pixels)  # made once, for the hashes too
        started = time.perf_counter()
        thumbnails.make(working)
        alone += time.perf_counter() - started
    return work, alone


def page(catalogue: Catalogue, *, stored: bool) -> tuple[float, int]:
    """Seconds to get every image's data URI as a page does, and how many it got."""
    with catalogue.session() as session:
        shas = list(session.scalars(select(m.Image.sha256).order_by(m.Image.id)))
    started = time.perf_counter()
    made = Thumbnails(
        catalogue.image_paths(shas),
        stored=catalogue._stored_thumbnails if stored else None,
        order=shas,
        side=thumbnails.SIDE,
    )
    got = sum(1 for sha in shas if made.get(sha))
    return time.perf_counter() - started, got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--files", type=int, default=60, help="800 x 600 pictures")
    parser.add_argument("--camera", type=int, default=20, help="4000 x 3000 pictures")
    parser.add_argument("--folder", type=Path, help="your own image files in their place")
    args = parser.parse_args()
    if args.folder:
        groups = {"your files": [p for kind, p, _ in walk(args.folder) if kind == "image"]}
    else:
        groups = {
            "800 x 600": make_files(args.work / "files", args.files, (800, 600), 70_000),
            "4000 x 3000": make_files(args.work / "files", args.camera, (4000, 3000), 80_000),
        }
    print("STAND-IN pictures (generated scenes)" if not args.folder else f"files of {args.folder}")
    print(f"{'per-file work':24} {'files':>6} {'work ms':>8} {'thumb ms':>8} {'share':>6}")
    for name, paths in groups.items():
        if not paths:
            continue
        work, alone = per_file(paths)
        count = len(paths)
        print(
            f"{name:24} {count:6} {1000 * work / count:8.1f} {1000 * alone / count:8.2f} "
            f"{alone / work:6.1%}"
        )
    every = [p for paths in groups.values() for p in paths]
    with tempfile.TemporaryDirectory(dir=args.work) as where:
        database = Path(where) / "catalogue.db"
        with Catalogue(f"sqlite:///{database}") as catalogue:
            catalogue.ingest(every)
            with catalogue.session() as session:
                images = session.scalar(select(func.count()).select_from(m.Image)) or 0
                sizes = list(session.scalars(select(func.length(m.Thumbnail.data))))
            from_store, shown = page(catalogue, stored=True)
            from_files, shown_files = page(catalogue, stored=False)
            database_bytes = database.stat().st_size
    print(f"{'page thumbnails':24} {'images':>6} {'seconds':>8} {'ms each':>8}")
    print(
        f"{'from the files (before)':24} {shown_files:6} {from_files:8.2f} "
        f"{1000 * from_files / max(1, shown_files):8.2f}"
    )
    print(
        f"{'stored (now)':24} {shown:6} {from_store:8.3f} {1000 * from_store / max(1, shown):8.3f}"
    )
    print(f"stored / from the files: {from_store / from_files:.3f}x the time")
    print(
        f"bytes: thumbnails {statistics.mean(sizes) / 1000:.1f} kB mean, {max(sizes) / 1000:.1f} "
        f"largest; the catalogue {database_bytes / max(1, images) / 1000:.1f} kB an image "
        f"({images} images)"
    )


if __name__ == "__main__":
    main()
