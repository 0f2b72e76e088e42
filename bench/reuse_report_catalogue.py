"""The whole reused-photo report of a large catalogue: time and peak memory of
``provcat report reuse``, against reading what it reports and writing it out.

Run from the repository root (not part of the unit tests):

    .venv/bin/python bench/reuse_report_catalogue.py --work DIR [--images 1000000] \
        [--postgres URL] [--keep] [--html] [--listing]

It builds a STAND-IN catalogue (nothing in it is real, no image file exists): ``--images``
image rows, each under a path with a stored thumbnail (one of 64 generated scenes', about
7 kB, as ingest stores one), in one article per ten images; a printed caption on nine in
ten (``bench/caption_report.py``'s synthetic captions), a credit and a provenance chain of
two links on one in three, an embedded description and creation date on one in five. A
share of the images (``--reused``, 0.3) are photos stored more than once: clusters of 2 to
50 images (2 plus a geometric count, mean about 3.5), and one photo stored 1,000 times, their
members drawn at random over the catalogue, joined by recorded matches as the matcher
records them (a tree from the first member, edits drawn from the kinds it records, a crop
box with a crop; one cluster in five with one more match closing a loop); a member of a
cluster in two carries its cluster's first caption again (a reprint), the others their own;
the captions are keyed as an ingest keys them (``provcat.caption_keys.rekey``), and a
PostgreSQL catalogue's tables analysed as an ingest has them analysed.

Then, each in a fresh process whose peak resident memory is read when it ends (``wait4``):

- **floor** (the baseline): every recorded match, then every matched image with its paths,
  printings (and their articles), embedded descriptions and dates, and credits with their
  chains, read a page at a time from the driver and written out as JSON lines: the rows the
  report is made of, read once;
- **report**: ``provcat --db URL report reuse --format json -o FILE``;
- **html** (with ``--html``): the same as an HTML page, every member's stored thumbnail in
  it (a root's with its crops' boxes drawn on: decoded and encoded again);
- **listing** (with ``--listing``): ``provcat --db URL images --json``, every image listed.

It prints each one's seconds and peak MB, the report's as a ratio of the floor's, and the
report's clusters and members. ``--keep`` keeps a catalogue built by an earlier run in the
same ``--work`` (or on the same server) rather than building it again.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from caption_report_catalogue import PER_ARTICLE, article_rows, measured
from thumbnails import stand_in_thumbnails

#: Edits a recorded match names, and how often the stand-in draws each.
KINDS = [
    ("reencoded", 30),
    ("resized reencoded", 25),
    ("cropped", 15),
    ("cropped resized", 8),
    ("mirrored", 5),
    ("overlaid", 6),
    ("padded", 3),
    ("same_pixels", 5),
    ("identical_file", 3),
]
AGENTS = [f"Stand-in agency {n}" for n in range(60)]
ROLES = ("originator", "supplier", "credited", "publisher")
CROWD = 1_000


def clusters(images: int, share: float, rng: random.Random) -> list[list[int]]:
    """Image ids (1-based) of the photos stored more than once: a crowd, then small ones."""
    ids = list(range(1, images + 1))
    rng.shuffle(ids)
    budget = int(images * share)
    out = [ids[:CROWD]] if budget >= 2 * CROWD else []
    taken = len(out[0]) if out else 0
    while taken + 2 <= budget:
        size = 2
        while size < 50 and rng.random() < 0.6:
            size += 1
        size = min(size, budget - taken)
        out.append(ids[taken : taken + size])
        taken += size
    return out


def _matches(members: list[int], rng: random.Random) -> list[dict[str, object]]:
    kinds = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    rows = []
    pairs = [(members[rng.randrange(i)], members[i]) for i in range(1, len(members))]
    if len(members) > 2 and rng.random() < 0.2:
        pairs.append((members[-1], members[0]))
    for reference, copy in pairs:
        kind = rng.choices(kinds, weights)[0]
        box = (40, 30, 700, 560) if kind.startswith("cropped") else (None,) * 4
        rows.append(
            {
                "reference_id": reference,
                "copy_id": copy,
                "kinds": kind,
                "crop_left": box[0],
                "crop_top": box[1],
                "crop_right": box[2],
                "crop_bottom": box[3],
                "inliers": rng.randrange(40, 400),
                "score": round(rng.uniform(0.5, 1.0), 4),
                "rotation_degrees": 0.0,
                "scale": 1.0,
                "pdq_distance": rng.randrange(0, 30),
            }
        )
    return rows


def build(url: str, images: int, share: float) -> None:
    """Store the stand-in catalogue at ``url``."""
    from caption_report import CREDITS, make_corpus
    from sqlalchemy import insert

    from provcat import Catalogue
    from provcat import models as m
    from provcat.caption_keys import rekey

    rng = random.Random(13)
    pictures = stand_in_thumbnails()
    photos = clusters(images, share, rng)
    captions, _origin = make_corpus(images)
    first_caption: dict[int, str] = {}
    for members in photos:
        if rng.random() < 0.5:
            for image_id in members[1:]:
                first_caption[image_id] = captions[members[0] - 1]
    step = 20_000
    with Catalogue(url) as catalogue, catalogue.session() as session:
        session.execute(
            insert(m.Agent),
            [
                {"id": n + 1, "key": a.lower(), "name": a, "kind": "organisation"}
                for n, a in enumerate(AGENTS)
            ],
        )
        chain_id = 0
        for first in range(1, images + 1, step):
            ids = range(first, min(images + 1, first + step))
            session.execute(
                insert(m.Image),
                [
                    {
                        "id": i,
                        "sha256": f"{i:064x}",
                        "format": "JPEG",
                        "width": 800 + i % 7 * 100,
                        "height": 600,
                        "file_size": 1,
                        "pixel_digest": f"{i:064x}",
                        "stand_in": True,
                        "match_seq": 1,
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(m.ImagePath),
                [{"image_id": i, "path": f"/stand-in/images/{i}.jpg"} for i in ids],
            )
            session.execute(
                insert(m.Thumbnail),
                [{"image_id": i, "data": pictures[i % len(pictures)]} for i in ids],
            )
            articles = range((first - 1) // PER_ARTICLE, (ids[-1] - 1) // PER_ARTICLE + 1)
            session.execute(insert(m.Article), article_rows(articles))
            session.execute(
                insert(m.Appearance),
                [
                    {
                        "article_id": (i - 1) // PER_ARTICLE + 1,
                        "image_id": i,
                        "position": (i - 1) % PER_ARTICLE,
                        "occurrence": (i - 1) % PER_ARTICLE,
                        "caption": first_caption.get(i, captions[i - 1]) if i % 10 else None,
                        "caption_origin": "caption",
                        "credit": CREDITS[i % len(CREDITS)] if i % 3 == 0 else None,
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(m.MetadataField),
                [
                    {
                        "image_id": i,
                        "standard": "IPTC-IIM",
                        "key": key,
                        "property": prop,
                        "value": value,
                    }
                    for i in ids
                    if i % 5 == 0
                    for key, prop, value in (
                        ("2:120", "description", f"Stand-in embedded description {i % 997}"),
                        ("2:55", "date_created", f"2016{1 + i % 12:02d}{1 + i % 28:02d}"),
                    )
                ],
            )
            chained = [i for i in ids if i % 3 == 0]
            session.execute(
                insert(m.ProvenanceChain),
                [
                    {
                        "id": chain_id + k + 1,
                        "signature": f"{i:064x}",
                        "image_id": i,
                        "article_id": (i - 1) // PER_ARTICLE + 1,
                        "credit_raw": CREDITS[i % len(CREDITS)],
                        "origin": "caption credit",
                    }
                    for k, i in enumerate(chained)
                ],
            )
            session.execute(
                insert(m.ProvenanceLink),
                [
                    {
                        "chain_id": chain_id + k + 1,
                        "ordinal": o,
                        "agent_id": 1 + (i + o) % len(AGENTS),
                        "role": ROLES[(i + o) % len(ROLES)],
                    }
                    for k, i in enumerate(chained)
                    for o in range(2)
                ],
            )
            chain_id += len(chained)
            session.commit()
        rows = [row for members in photos for row in _matches(members, rng)]
        for start in range(0, len(rows), step):
            session.execute(insert(m.PhotoMatch), rows[start : start + step])
        # The printings were written without the ORM, which keys a caption as it is set (an
        # ingest stores the keys): key them as revision 0012 keys a catalogue stored before.
        rekey(session.connection())
        session.commit()
        # Written without an ingest, which has a PostgreSQL server analyse what it stored.
        catalogue.refresh_statistics()


def floor(url: str, out: str) -> None:
    """Read the rows the report is made of, a page at a time, and write each as a JSON line."""
    from sqlalchemy import select, union

    from provcat import Catalogue
    from provcat import models as m
    from provcat.db import driver_pages

    match = m.PhotoMatch
    matched = union(select(match.reference_id), select(match.copy_id)).subquery()
    member = matched.c[0]
    a, article = m.Appearance, m.Article
    chain, link = m.ProvenanceChain, m.ProvenanceLink
    statements = [
        select(*match.__table__.c).order_by(match.id),
        select(m.Image.id, m.Image.sha256, m.Image.width, m.Image.height, m.Image.stand_in)
        .join(matched, member == m.Image.id)
        .order_by(m.Image.id),
        select(m.ImagePath.image_id, m.ImagePath.path).join(
            matched, member == m.ImagePath.image_id
        ),
        select(a.image_id, a.caption, a.caption_origin, a.position, article.title)
        .add_columns(article.publisher, article.published, article.url)
        .join(article, article.id == a.article_id)
        .join(matched, member == a.image_id),
        select(m.MetadataField.image_id, m.MetadataField.property, m.MetadataField.value)
        .join(matched, member == m.MetadataField.image_id)
        .where(m.MetadataField.property.in_(("description", "date_created"))),
        select(chain.image_id, chain.credit_raw, chain.origin, link.role, m.Agent.name)
        .join(matched, member == chain.image_id)
        .join(link, link.chain_id == chain.id)
        .outerjoin(m.Agent, m.Agent.id == link.agent_id),
    ]
    with Catalogue(url) as catalogue, catalogue.session() as session, open(out, "w") as file:
        for statement in statements:
            for page in driver_pages(session.connection(), statement, 50_000, on_server=True):
                for row in page:
                    file.write(json.dumps(list(row), default=str) + "\n")


def prepare(work: Path, postgres: str | None, images: int, share: float, keep: bool) -> None:
    """Build the catalogue (or find the one kept) and print a JSON line of its URL."""
    from scale import existing_url, fresh_url

    name = f"reuse_report_{images}"
    url = existing_url(work, postgres, name) if keep else None
    built = None
    if url is None:
        url = fresh_url(work, postgres, name)
        start = time.perf_counter()
        build(url, images, share)
        built = time.perf_counter() - start
    print(json.dumps({"url": url, "built_s": built}))


def main() -> None:
    """Build (or keep) the catalogue, then measure the floor and the report, and print both.

    Everything heavy runs in child processes, so that this one stays small (see measured).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--reused", type=float, default=0.3, help="share of images in clusters")
    parser.add_argument("--postgres", help="a PostgreSQL server URL to build the catalogue on")
    parser.add_argument("--keep", action="store_true", help="reuse the catalogue of a run before")
    parser.add_argument("--html", action="store_true", help="time the HTML page too")
    parser.add_argument(
        "--listing", action="store_true", help="time `provcat images --json` of every image too"
    )
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor", nargs=2, metavar=("URL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor(*args.floor)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    if args.prepare:
        prepare(args.work, args.postgres, args.images, args.reused, args.keep)
        return
    python = sys.executable
    given = [python, __file__, "--work", str(args.work), "--images", str(args.images)]
    given += ["--reused", str(args.reused)]
    given += ["--postgres", args.postgres] if args.postgres else []
    given += ["--keep"] if args.keep else []
    prepared = subprocess.run([*given, "--prepare"], check=True, capture_output=True, text=True)
    catalogue = json.loads(prepared.stdout.splitlines()[-1])
    url = catalogue["url"]
    if catalogue["built_s"] is not None:
        print(
            f"stand-in catalogue of {args.images:,} images built in {catalogue['built_s']:.0f} s",
            flush=True,
        )
    floor_s, floor_mb = measured([*given, "--floor", url, str(args.work / "floor.jsonl")])
    cli = "from provcat.cli import cli; cli(prog_name='provcat')"
    report = args.work / "reuse.json"
    command = [python, "-c", cli, "--db", url, "report", "reuse"]
    report_s, report_mb = measured([*command, "--format", "json", "-o", str(report)])
    timed = [("floor", floor_s, floor_mb), ("report", report_s, report_mb)]
    if args.html:
        page = args.work / "reuse.html"
        timed.append(("html", *measured([*command, "--format", "html", "-o", str(page)])))
    if args.listing:
        with (args.work / "images.json").open("w") as out:
            listing = [python, "-c", cli, "--db", url, "images", "--json"]
            timed.append(("listing", *measured(listing, stdout=out)))
    with report.open() as file:
        data = json.load(file)
    members = sum(len(c["members"]) for c in data["clusters"])
    print(
        f"STAND-IN catalogue: {args.images:,} images, {len(data['clusters']):,} reused photos, "
        f"{members:,} members, the largest {len(data['clusters'][0]['members']):,}"
    )
    print(f"{'':8} {'seconds':>8} {'peak MB':>8}")
    for name, seconds, peak in timed:
        print(f"{name:8} {seconds:8.1f} {peak:8.0f}")
    print(
        f"report / floor: {report_s / floor_s:.1f}x the time, {report_mb / floor_mb:.1f}x "
        f"the memory; the target is 2,000 MB at 10^6 stored"
    )


if __name__ == "__main__":
    main()
