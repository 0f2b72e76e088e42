"""Why the scale bench misses a planted copy: its original's words, and how many are stop words.

Run from the repository root (not part of the unit tests) on a catalogue that
``bench/scale.py --work DIR`` built, after a run that timed it (which writes the query files):

    .venv/bin/python bench/stop_words.py --work DIR --size 100000

For each of the 20 planted originals and its edited copy (``query-SIZE-N.jpg``), prints
whether ``Matcher.find`` finds the original, its rank among the candidate stage's top 20
(``provcat.reuse.postings.votes``), how many of the short words it posted are now stop words
(posted by more images than ``stop_limit``), and how many short words the copy (with its
mirror image) shares with it, of which how many are stop words; then the same for the long
words (a catalogue built before them has none). docs/scale.md ("toward 10^6", "Session 10") has
what it showed at 10^5 and at 546,520 images. The distractors are SYNTHETIC (see
``bench/scale.py``).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.decode import open_image
from provcat.matching import Matcher, extract_features
from provcat.reuse import postings
from provcat.reuse.features import Features, mirrored

EDITS = ("crop to 70%", "mirror at half size", "banner, JPEG 40", "5 degree turn")
PLANTED = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="bench/scale.py's --work")
    parser.add_argument("--size", type=int, required=True, help="the catalogue's size name")
    args = parser.parse_args()
    catalogue = Catalogue(f"sqlite:///{args.work / f'provcat_scale_{args.size}.db'}")
    matcher = Matcher(catalogue._sessions)
    with catalogue.session() as session:
        images = session.scalar(select(func.count()).select_from(m.Image)) or 0
        limit = postings.stop_limit(images)
        print(f"{images:,} images; stop words are posted by more than {limit}\n")
        print(
            "| copy | edit | found | rank | posted words | of them stop | shared | of them stop "
            "| posted long words | of them stop | shared | of them stop |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for number in range(PLANTED):
            original = args.work / "files" / f"scene-{number:05d}.jpg"
            sha = hashlib.sha256(original.read_bytes()).hexdigest()
            image_id = session.scalar(select(m.Image.id).where(m.Image.sha256 == sha))
            data = session.scalar(select(m.Feature.data).where(m.Feature.image_id == image_id))
            if image_id is None or data is None:
                print(f"| {number} | {EDITS[number % 4]} | original not stored |" + " |" * 9)
                continue
            stored = postings.sample(
                Features.from_bytes(data).descriptors, postings.POSTED_DESCRIPTORS
            )
            posted = postings.posted(stored)
            counts = dict(
                session.execute(
                    select(m.WordPosting.word, m.WordPosting.images).where(
                        m.WordPosting.word.in_([int(w) for w in posted])
                    )
                ).all()
            )
            decoded = open_image(args.work / f"query-{args.size}-{number}.jpg")
            features, flipped = extract_features(decoded), mirrored(decoded.pixels)
            voted = postings.votes(
                session, [features.descriptors, flipped.descriptors], limit=20, images=images
            )
            ranked = [vote.image_id for vote in voted]
            sides = (features.descriptors, flipped.descriptors)
            columns = []
            for kind in (postings.words, postings.long_words):
                own = kind(stored)
                shared = np.intersect1d(np.union1d(*(kind(side) for side in sides)), own)
                columns += [
                    own.size,
                    sum(counts.get(int(w), 0) > limit for w in own),
                    shared.size,
                    sum(counts.get(int(w), 0) > limit for w in shared),
                ]
            found = image_id in {
                f.image_id
                for f in matcher.find(
                    decoded.pixels,
                    features,
                    sha256=decoded.sha256,
                    pixel_digest=decoded.pixel_digest,
                )
            }
            rank = ranked.index(image_id) + 1 if image_id in ranked else "-"
            print(
                f"| {number} | {EDITS[number % 4]} | {'yes' if found else 'no'} | {rank} | "
                + " | ".join(str(value) for value in columns)
                + " |"
            )
    catalogue.close()


if __name__ == "__main__":
    main()
