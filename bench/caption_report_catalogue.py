"""The whole duplicate-caption report of a large catalogue: time and peak memory of
``provcat report captions``, against reading every printing and writing it out.

Run from the repository root (not part of the unit tests):

    .venv/bin/python bench/caption_report_catalogue.py --work DIR [--printings 1000000] \
        [--postgres URL] [--keep] [--html]

It builds a STAND-IN catalogue (nothing in it is real): ``--printings`` image rows with
``bench/photo_grouping.py``'s synthetic PDQ hashes (random, planted copies, one photo stored
1,000 times), their pairs recorded as matching would (``fill_pairs``), and one article per
ten printings, each printing one of ``bench/caption_report.py``'s synthetic captions (a fifth
of them reprinted exactly or nearly) under one image, with a credit on one in three; the
printings are written without the ORM, so their captions' keys are then made as revision 0012
makes them for a catalogue stored before it (``provcat.caption_keys.rekey``, timed apart).
Then, each in a fresh process whose peak resident memory is read when it ends (``wait4``:
the largest of the process and its parsing workers):

- **floor** (the baseline): every printing read a page at a time from the driver and
  written out as a JSON line, the least any report of every printing does;
- **look-up** and **respelt**: ``provcat --db URL match-caption --json TEXT`` for the first
  printed caption, and for it with its longest word respelt (two letters swapped);
- **report**: ``provcat --db URL report captions --format json -o FILE``;
- **html** (with ``--html``): the same as HTML pages (1,000 thumbnails a page), every image
  with a stored thumbnail (a stand-in: one of 64 generated scenes', about 7 kB, as ingest
  stores one).

It prints each one's seconds and peak MB, the report's as a ratio of the floor's, the
look-ups' answers and the report's groups. ``--keep`` keeps a catalogue built by an earlier
run in the same ``--work`` (or on the same server) rather than building it again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

PER_ARTICLE = 10
PUBLISHERS = ["Stand-in Daily", "Stand-in Post", "Stand-in Wire", "Stand-in Herald"]


def article_rows(numbers: Iterable[int]) -> list[dict[str, Any]]:
    """The stand-in articles ``numbers`` as rows (article n has id n + 1)."""
    return [
        {
            "id": n + 1,
            "key": f"https://stand-in.example/{n}",
            "url": f"https://stand-in.example/{n}",
            "title": f"Stand-in article {n}",
            "publisher": PUBLISHERS[n % len(PUBLISHERS)],
            "published": dt.date(2017, 1, 1) + dt.timedelta(days=n % 3000),
            # A day's period ends that day, as an ingest stores it (`--from` reads it).
            "published_until": dt.date(2017, 1, 1) + dt.timedelta(days=n % 3000),
            "published_precision": "day",
            "source_kind": "manifest",
            "source": f"stand-in/{n}.toml",
        }
        for n in numbers
    ]


def build(url: str, printings: int) -> float:
    """Store the stand-in catalogue at ``url``; the seconds its captions' keys took."""
    from caption_report import CREDITS, make_corpus
    from photo_grouping import _codes, _store
    from sqlalchemy import insert, update
    from thumbnails import stand_in_thumbnails

    from provcat import Catalogue
    from provcat import models as m
    from provcat.caption_keys import rekey
    from provcat.photos import fill_pairs

    _store(url, _codes(printings))
    captions, _origin = make_corpus(printings)
    rng = random.Random(11)
    pictures = stand_in_thumbnails()
    with Catalogue(url) as catalogue, catalogue.session() as session:
        session.execute(update(m.Image).values(match_seq=1))
        fill_pairs(session.connection())
        session.commit()
        for first in range(1, printings + 1, 20_000):
            ids = range(first, min(printings + 1, first + 20_000))
            session.execute(
                insert(m.Thumbnail),
                [{"image_id": i, "data": pictures[i % len(pictures)]} for i in ids],
            )
            session.commit()
        step = 2_000  # articles a statement
        for first in range(0, printings // PER_ARTICLE, step):
            numbers = range(first, min(printings // PER_ARTICLE, first + step))
            session.execute(insert(m.Article), article_rows(numbers))
            session.execute(
                insert(m.Appearance),
                [
                    {
                        "article_id": n + 1,
                        "image_id": n * PER_ARTICLE + k + 1,
                        "position": k,
                        "occurrence": k,
                        "caption": captions[n * PER_ARTICLE + k],
                        "caption_origin": "caption",
                        "credit": rng.choice(CREDITS) if rng.random() < 1 / 3 else None,
                    }
                    for n in numbers
                    for k in range(PER_ARTICLE)
                ],
            )
            session.commit()
        # The printings were written without the ORM, which keys a caption as it is set:
        # key them as revision 0012 keys a catalogue stored before it (timed apart).
        start = time.perf_counter()
        rekey(session.connection())
        session.commit()
    return time.perf_counter() - start


def floor(url: str, out: str) -> None:
    """Read every printing a page at a time and write each as a JSON line (the baseline)."""
    from sqlalchemy import select

    from provcat import Catalogue
    from provcat import models as m
    from provcat.db import driver_pages

    a, image = m.Appearance, m.Image
    printed = (
        select(a.article_id, image.sha256, a.position, a.caption, a.caption_origin, a.credit)
        .outerjoin(image, image.id == a.image_id)
        .where(a.caption.is_not(None))
        .order_by(a.article_id, a.position)
    )
    with Catalogue(url) as catalogue, catalogue.session() as session, open(out, "w") as file:
        for page in driver_pages(session.connection(), printed, 50_000, on_server=True):
            for row in page:
                file.write(json.dumps(list(row)) + "\n")


def measured(command: list[str], *, stdout: Any = subprocess.DEVNULL) -> tuple[float, float]:
    """Run ``command``; its seconds and the peak resident MB of it or of its largest child.

    The kernel counts in a child's peak the memory of the process that started it, as it was
    when it started it: this process imports nothing heavy, so that count is small.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command} failed: {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss / 1024


def prepare(work: Path, postgres: str | None, printings: int, keep: bool) -> None:
    """Build the catalogue (or find the one kept) and print a JSON line of its URL."""
    from scale import existing_url, fresh_url

    name = f"caption_report_{printings}"
    url = existing_url(work, postgres, name) if keep else None
    built = keyed = None
    if url is None:
        url = fresh_url(work, postgres, name)
        start = time.perf_counter()
        keyed = build(url, printings)
        built = time.perf_counter() - start
    print(json.dumps({"url": url, "built_s": built, "keyed_s": keyed}))


def main() -> None:
    """Build (or keep) the catalogue, then measure the floor and the report, and print both.

    Everything heavy runs in child processes, so that this one stays small (see measured).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--printings", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL to build the catalogue on")
    parser.add_argument("--keep", action="store_true", help="reuse the catalogue of a run before")
    parser.add_argument("--html", action="store_true", help="time the HTML pages too")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor", nargs=2, metavar=("URL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor(*args.floor)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    if args.prepare:
        prepare(args.work, args.postgres, args.printings, args.keep)
        return
    python = sys.executable
    given = [python, __file__, "--work", str(args.work), "--printings", str(args.printings)]
    given += ["--postgres", args.postgres] if args.postgres else []
    given += ["--keep"] if args.keep else []
    prepared = subprocess.run([*given, "--prepare"], check=True, capture_output=True, text=True)
    catalogue = json.loads(prepared.stdout.splitlines()[-1])
    url = catalogue["url"]
    if catalogue["built_s"] is not None:
        print(
            f"stand-in catalogue of {args.printings:,} printings built in "
            f"{catalogue['built_s']:.0f} s (their captions keyed in "
            f"{catalogue['keyed_s']:.0f} s of it)",
            flush=True,
        )
    floor_s, floor_mb = measured([*given, "--floor", url, str(args.work / "floor.jsonl")])
    cli = "from provcat.cli import cli; cli(prog_name='provcat')"
    # A look-up of the first printed caption, and of it with its longest word respelt.
    with (args.work / "floor.jsonl").open() as file:
        printed = json.loads(file.readline())[3]
    longest = max((word.strip(",.;:") for word in printed.split()), key=len)
    respelt = printed.replace(longest, longest[:-2] + longest[-1] + longest[-2], 1)
    looked_up = []
    for text in (printed, respelt):
        answer = args.work / "match.json"
        with answer.open("w") as out:
            command = [python, "-c", cli, "--db", url, "match-caption", "--json", "--", text]
            looked_up.append((*measured(command, stdout=out), json.loads(answer.read_text())))
    report = args.work / "captions.json"
    report_s, report_mb = measured(
        [
            python,
            "-c",
            cli,
            "--db",
            url,
            "report",
            "captions",
            "--format",
            "json",
            "-o",
            str(report),
        ]
    )
    timed = [("floor", floor_s, floor_mb), ("report", report_s, report_mb)]
    if args.html:
        page = args.work / "pages" / "captions.html"
        page.parent.mkdir(exist_ok=True)
        html = [python, "-c", cli, "--db", url, "report", "captions", "-o", str(page)]
        timed.append(("html", *measured(html)))
        pages = list(page.parent.glob("captions*.html"))
        size = sum(p.stat().st_size for p in pages) / 1e6
        largest = max(p.stat().st_size for p in pages) / 1e6
        print(f"HTML: {len(pages):,} pages, {size:,.0f} MB, the largest {largest:.1f} MB")
    with report.open() as file:
        data = json.load(file)
    print(
        f"STAND-IN catalogue: {args.printings:,} printings, "
        f"{data['captions_considered']:,} considered, {len(data['groups']):,} groups, "
        f"{len(data['photos']):,} photos under several captions"
    )
    print(f"{'':8} {'seconds':>8} {'peak MB':>8}")
    for name, seconds, peak in timed:
        print(f"{name:8} {seconds:8.1f} {peak:8.0f}")
    for (seconds, peak, answer), name in zip(looked_up, ("look-up", "respelt"), strict=True):
        found = answer["matches"]
        matches = ", ".join(f"{m['match']} {m['similarity']}" for m in found)
        print(f"{name:8} {seconds:8.1f} {peak:8.0f}   match-caption: {matches or 'none'}")
    print(
        f"report / floor: {report_s / floor_s:.1f}x the time, {report_mb / floor_mb:.1f}x "
        f"the memory; the target is 2,000 MB at 10^6 printed captions"
    )


if __name__ == "__main__":
    main()
