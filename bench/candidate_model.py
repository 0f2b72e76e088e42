"""The candidate stage at catalogue sizes too large to build here: a model of the scale bench's
catalogue, answered by provcat's own ranking.

Run from the repository root (not part of the unit tests):

    .venv/bin/python bench/candidate_model.py [--sizes 10000,100000,1000000] [--work DIR]
        [--check SIZE=URL ...] [--photos [--scenes 1500] [--limits 20,40] [--budgets 200000]]

Why: a scale-bench catalogue of 10^6 images with its features and postings would take about
90 GB and most of five hours to build here (docs/scale.md). A look-up, though, reads only the
rows of its own words (their counts of images, and the images of those posted by at most
``KEPT_POSTINGS``): given those rows, ``provcat.reuse.postings.votes`` answers exactly as it
would on the catalogue. This bench computes those rows without building anything.

What it does, and what is synthetic:

- The files, the 20 planted originals, the pool of descriptors the distractors are drawn from
  and the 20 edited queries are those of ``bench/scale.py`` (generated scenes: SYNTHETIC,
  labelled so there). The originals are ingested for real into a small catalogue of their own
  (``DIR/model-originals.db``), and their stored features are what they post.
- At each size, the distractors ``bench/scale.py`` would store (STORED DESCRIPTORS ONLY, drawn
  with its random stream, its seed the size, in its order, so the same descriptors and the
  same image ids) are generated a thousand at a time; each one's posted words
  (``postings.posted``) are computed and only those some query could ask for are kept: for
  each such word its count of images, and its images while it keeps them. Nothing else is
  held: 10^6 took 6 minutes and 1.9 GB here (13 minutes and 7.2 GB with ``--photos``, whose
  777 copies ask for 3.7 million words), most of it a flag for every possible word.
- Each query (the edited copy and its mirror image, as ``Matcher.find`` asks) is then ranked
  by ``postings.votes`` reading those rows (through its NumPy passes: the compiled stage reads
  only a real postings file), with 20 candidates and the size as the catalogue's count.
  Recall is the share of queries whose original is among the candidates; the original is
  then verified on its own merits (the same pair at every size: ``bench/scale.py`` finds all
  20 at 10^3 to 10^5), so this is the recall ``similar`` would have, as far as the candidate
  stage decides it.
- ``--check SIZE=URL`` compares the model with a real catalogue of that size built by
  ``bench/scale.py --one-size SIZE --build-only --work DIR`` (the same DIR): every query's
  votes (images, shared words, per-query counts, ranked flags) read from the catalogue's
  postings table, and through its postings file if it has one, must equal the model's. The
  bench stops with an error if any differs.
- ``--photos`` looks up ``bench/candidate_recall.py``'s 777 copies of 21 real photographs (the
  ones scikit-image, scikit-learn and matplotlib ship; the ``bench`` extra) instead, with the
  photographs and ``--scenes`` generated scenes (SYNTHETIC hard distractors) stored after the
  distractors, as that bench posts them into a real catalogue: at the same size both give the
  same recall, family by family. ``--limits`` asks for more candidates than the matcher's 20,
  and ``--budgets`` sets the postings a look-up takes (``postings.POSTINGS_BUDGET``), to see
  what either would win back; ``--stop-max`` models words that keep more images.

Prints Markdown: per size, recall, the originals' ranks, what a look-up reads (words asked,
rows found, postings taken against the budget) and how long the model took; with
``--photos``, recall and the weakest families.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import (
    DESCRIPTORS,
    FLIPPED_BITS,
    PLANTED,
    distractor_descriptors,
    make_files,
    planted,
    write_query,
)

from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.decode import open_image
from provcat.matching import CANDIDATES, extract_features
from provcat.reuse import compiled, postings
from provcat.reuse.features import Features, mirrored
from provcat.reuse.word_file import WordFile, location

Ids = npt.NDArray[np.int64]
#: Distractors generated and posted at a time.
CHUNK = 1000


class ModelRows:
    """The rows of the query words ``wanted`` in a modelled catalogue, read as a postings
    file's (``WordFile.rows``): counts of images and, while kept, the images."""

    def __init__(self, wanted: Ids, counts: Ids, words: Ids, images: Ids) -> None:
        self.wanted = wanted  # every word a query may ask for, sorted, distinct
        self.counts = counts  # images posting each of them
        order = np.lexsort((images, words))  # each word's images in id order, as posted
        self.kept_words, self.kept_images = words[order], images[order].astype(np.int32)
        self.asked = self.found = self.taken = 0

    def rows(self, asked: Ids) -> tuple[Ids, Ids, postings.Gather]:
        self.asked += asked.size
        at = np.searchsorted(self.wanted, asked)
        if not np.array_equal(self.wanted[np.minimum(at, self.wanted.size - 1)], asked):
            raise AssertionError("a look-up asked for a word the model did not keep")
        counts = self.counts[at]
        hit = counts > 0
        rows_at = at[hit]
        self.found += int(hit.sum())
        starts = np.searchsorted(self.kept_words, rows_at, side="left")
        lengths = np.searchsorted(self.kept_words, rows_at, side="right") - starts
        # A row keeps its images while at most KEPT_POSTINGS images post it (the table's rule).
        lengths[counts[hit] > postings.KEPT_POSTINGS] = 0

        def gather(chosen: npt.NDArray[np.intp]) -> list[postings.Postings]:
            self.taken += int(lengths[chosen].sum())
            return [postings.Postings(self.kept_images, starts[chosen], lengths[chosen])]

        return asked[hit], counts[hit], gather


#: The rows of a distractor's descriptors whose words it posts (``postings.sample``).
SAMPLED = np.linspace(0, DESCRIPTORS - 1, postings.POSTED_DESCRIPTORS).round().astype(np.int64)


def scale_distractors(pool: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """The sampled descriptors (those whose words are posted) of ``bench/scale.py``'s next
    ``count`` distractors, ``(count, POSTED_DESCRIPTORS, 32)``: drawn from ``rng`` exactly as
    its ``add_distractors`` draws (descriptors, keypoints, then three hashes' bytes for each),
    the bit flips then applied to the sampled rows of all of them at once."""
    picks, flips = [], []
    for _ in range(count):
        picks.append(rng.integers(0, pool.shape[0], DESCRIPTORS)[SAMPLED])
        flips.append(rng.integers(0, 256, (DESCRIPTORS, FLIPPED_BITS))[SAMPLED])
        rng.uniform(0, 600, (DESCRIPTORS, 2))  # keypoints
        rng.bytes(32), rng.bytes(8), rng.bytes(8)  # PDQ, pHash, dHash
    # A bit drawn twice for one descriptor is flipped once (scale.py sets it to the opposite
    # of its original value): a mask of the distinct bits drawn.
    described = count * SAMPLED.size
    mask = np.zeros((described, 256), dtype=bool)
    mask[np.repeat(np.arange(described), FLIPPED_BITS), np.concatenate(flips).ravel()] = True
    flipped = pool[np.concatenate(picks)] ^ np.packbits(mask, axis=1)
    return flipped.reshape(count, SAMPLED.size, 32)


def _same_stream(pool: np.ndarray) -> None:
    """The batched draws above give scale.py's distractors' sampled descriptors."""
    ours = scale_distractors(pool, np.random.default_rng(7), 30)
    theirs_rng = np.random.default_rng(7)
    for mine in ours:
        theirs = distractor_descriptors(pool, theirs_rng)
        theirs_rng.uniform(0, 600, (DESCRIPTORS, 2))
        theirs_rng.bytes(32), theirs_rng.bytes(8), theirs_rng.bytes(8)
        sampled = postings.sample(theirs, postings.POSTED_DESCRIPTORS)
        if not np.array_equal(mine, sampled):
            raise AssertionError("the model's distractors differ from bench/scale.py's")


class WordSpace:
    """Which of all possible words are in ``wanted`` (sorted, distinct), at a glance: a flag
    for each short word and each long word (about 1.1 GB), so that an image's words are
    looked up in it rather than searched for."""

    def __init__(self, wanted: Ids) -> None:
        self.wanted = wanted
        self.flags = np.zeros(self._slot(np.array([postings.LONG_BASE * 2 - 1]))[0] + 1, bool)
        self.flags[self._slot(wanted)] = True

    @staticmethod
    def _slot(words: Ids) -> Ids:
        # Short words lie below TABLES << BITS, long ones from LONG_BASE: close the gap.
        short_end = postings.TABLES << postings.BITS
        return np.where(words >= postings.LONG_BASE, words - postings.LONG_BASE + short_end, words)

    def pairs(self, first_id: int, sampled: np.ndarray) -> tuple[Ids, Ids]:
        """The ``(index in wanted, image id)`` pairs of the words these images post (their
        sampled descriptors, ``(images, POSTED_DESCRIPTORS, 32)``; numbered from
        ``first_id``), kept only for words in ``wanted``."""
        count, per_image = sampled.shape[:2]
        short, long = postings.word_pairs(sampled.reshape(-1, 32))
        both = np.concatenate([short, long], axis=1).reshape(count, per_image * 2 * postings.TABLES)
        inside = self.flags[self._slot(both)]
        image = np.broadcast_to(
            np.arange(first_id, first_id + count, dtype=np.int64)[:, None], both.shape
        )
        keys = np.unique(image[inside] << 32 | both[inside])  # each distinct word posted once
        return np.searchsorted(self.wanted, keys & 0xFFFFFFFF), keys >> 32


def model(
    size: int,
    pool: np.ndarray,
    originals: list[tuple[int, np.ndarray]],
    wanted: Ids,
    extra: list[np.ndarray] | None = None,
) -> tuple[ModelRows, float]:
    """The rows of ``wanted`` in the scale bench's catalogue of ``size`` images, with the
    ``extra`` images' descriptors stored after them (ids from ``size + 1``, as
    ``bench/candidate_recall.py`` posts its photographs and scenes)."""
    start = time.perf_counter()
    counts = np.zeros(wanted.size, dtype=np.int64)
    words: list[Ids] = []
    images: list[Ids] = []

    def kept(at: Ids, ids: Ids) -> tuple[Ids, Ids]:
        """The pairs of words that keep their images (posted by at most KEPT_POSTINGS)."""
        keep = counts[at] <= postings.KEPT_POSTINGS
        return at[keep], ids[keep]

    def add(at: Ids, ids: Ids) -> None:
        counts[:] += np.bincount(at, minlength=wanted.size)
        at, ids = kept(at, ids)
        words.append(at)
        images.append(ids)

    space = WordSpace(wanted)
    first = max(image_id for image_id, _ in originals) + 1
    for image_id, descriptors in originals:
        sampled = postings.sample(descriptors, postings.POSTED_DESCRIPTORS)
        add(*space.pairs(image_id, sampled[None]))
    rng = np.random.default_rng(size)  # scale.py's seed for this size
    total = size - len(originals)
    for done in range(0, total, CHUNK):
        count = min(CHUNK, total - done)
        add(*space.pairs(first + done, scale_distractors(pool, rng, count)))
        if len(words) > 64:  # drop the images of words no longer kept, now and then
            joined = kept(np.concatenate(words), np.concatenate(images))
            words, images = [joined[0]], [joined[1]]
    for number, descriptors in enumerate(extra or []):
        sampled = postings.sample(descriptors, postings.POSTED_DESCRIPTORS)
        add(*space.pairs(size + 1 + number, sampled[None]))
    rows = ModelRows(wanted, counts, *kept(np.concatenate(words), np.concatenate(images)))
    return rows, time.perf_counter() - start


def look_up(
    rows: ModelRows | WordFile | None,
    queries: list[np.ndarray],
    size: int,
    session: Any = None,
    limit: int = CANDIDATES,
) -> list[postings.Vote]:
    """``votes`` as a matcher asks (20 candidates, the query and its mirror), through the
    model, a postings file, or (``rows`` None) the catalogue's table."""
    active = compiled.active
    compiled.active = active and isinstance(rows, WordFile)
    try:
        return postings.votes(
            session,
            queries,
            limit=limit,
            images=size,
            word_file=rows,  # type: ignore[arg-type]  # the model reads as a file does
        )
    finally:
        compiled.active = active


def stored_originals(
    work: Path, files: list[Path]
) -> tuple[list[tuple[int, np.ndarray]], dict[str, int]]:
    """The planted originals ingested for real (as scale.py does, first into an empty
    catalogue): their ids and stored descriptors, and their ids by SHA-256."""
    path = work / "model-originals.db"
    path.unlink(missing_ok=True)
    catalogue = Catalogue(f"sqlite:///{path}")
    catalogue.ingest([planted(work / "model-originals", files)])
    with catalogue.session() as session:
        found = session.execute(
            select(m.Image.id, m.Image.sha256, m.Feature.data).join(
                m.Feature, m.Feature.image_id == m.Image.id
            )
        ).all()
    catalogue.close()
    stored = [(int(i), Features.from_bytes(bytes(data)).descriptors) for i, _, data in found]
    return sorted(stored, key=lambda pair: pair[0]), {sha: int(i) for i, sha, _ in found}


def check(size: int, url: str, looked: list[tuple[list[np.ndarray], int]], rows: ModelRows) -> str:
    """Every query's votes through the real catalogue at ``url`` against the model's."""
    catalogue = Catalogue(url)
    with catalogue.session() as session:
        connection = session.connection()
        folder = location(connection)
        file = None if folder is None else WordFile.open(folder, connection)
        if file is not None and not file.delta.catch_up(connection):
            file = None
        for queries, _original in looked:
            expected = look_up(rows, queries, size)
            for source in (None, file) if file is not None else (None,):
                if look_up(source, queries, size, session) != expected:
                    raise AssertionError(
                        f"at {size}, {url}: a query's votes differ from the model's"
                    )
    catalogue.close()
    through = (
        "its postings table and its postings file" if file is not None else "its postings table"
    )
    return f"{len(looked)} queries' votes through {through} equal to the model's"


def photo_copies(scenes: int) -> tuple[list[np.ndarray], list[tuple[str, int, list[np.ndarray]]]]:
    """``bench/candidate_recall.py``'s stored pictures (its 21 real photographs, then
    ``scenes`` generated scenes: SYNTHETIC) and its copies of the photographs (family, which
    photograph, the copy's descriptors and its mirror's)."""
    from reuse_robustness import families, photos
    from tests.reuse_fixtures import scene

    from provcat.reuse.features import extract

    images, _stereo = photos()
    stored = [extract(picture).descriptors for picture in images.values()]
    copies = []
    for family, edits in families(list(images.values())).items():
        for number, picture in enumerate(images.values()):
            for edit in edits:
                copy = edit(picture)
                copies.append(
                    (family, number, [extract(copy).descriptors, mirrored(copy).descriptors])
                )
    stored += [extract(scene(5000 + n)).descriptors for n in range(scenes)]
    return stored, copies


def scale_queries(
    work: Path, files: list[Path], ids: dict[str, int]
) -> list[tuple[list[np.ndarray], int]]:
    """``bench/scale.py``'s 20 edited copies of its planted originals: the copy's descriptors
    and its mirror's, and the original's id."""
    looked = []
    for number, path in enumerate(files[:PLANTED]):
        (work / "model-queries").mkdir(exist_ok=True)
        decoded = open_image(write_query(path, number, work / "model-queries" / f"{number}.jpg"))
        features = extract_features(decoded).descriptors
        mirror = mirrored(decoded.pixels).descriptors
        looked.append(([features, mirror], ids[hashlib.sha256(path.read_bytes()).hexdigest()]))
    return looked


def query_words(queries: list[list[np.ndarray]]) -> Ids:
    """Every word the queries may ask for (each descriptor's short and long words), sorted."""
    return np.unique(
        np.concatenate(
            [np.concatenate(postings.word_pairs(q)).ravel() for qs in queries for q in qs]
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--work", type=Path, default=Path("bench-model"))
    parser.add_argument("--check", action="append", default=[], metavar="SIZE=URL")
    parser.add_argument(
        "--photos",
        action="store_true",
        help="look up bench/candidate_recall.py's copies of real photographs instead, with "
        "its photographs and scenes stored after the distractors",
    )
    parser.add_argument("--scenes", type=int, default=1500, help="with --photos")
    parser.add_argument(
        "--limits",
        default=str(CANDIDATES),
        help="with --photos: candidates asked for (the matcher asks for 20), e.g. 20,30,40",
    )
    parser.add_argument(
        "--budgets",
        default=str(postings.POSTINGS_BUDGET),
        help="with --photos: postings a look-up takes at most, a row each (e.g. 200000,1000000)",
    )
    parser.add_argument(
        "--stop-max",
        type=int,
        help="model a catalogue whose words keep their images up to this many (postings."
        "STOP_MAX and KEPT_POSTINGS, 200 in provcat), to see what a larger cap would win back",
    )
    args = parser.parse_args()
    if args.stop_max:
        postings.STOP_MAX = postings.KEPT_POSTINGS = args.stop_max  # type: ignore[misc]
    args.work.mkdir(parents=True, exist_ok=True)
    checks = {int(k): v for k, v in (item.split("=", 1) for item in args.check)}
    if checks and args.photos:
        parser.error("--check compares the scale bench's own queries: not with --photos")
    sizes = sorted({*(int(s) for s in args.sizes.split(",") if s), *checks})

    files = make_files(args.work / "files", args.files)
    pool = np.concatenate(
        [extract_features(open_image(path)).descriptors for path in files[PLANTED:]]
    )
    _same_stream(pool)
    originals, ids = stored_originals(args.work, files)
    if len(originals) != PLANTED:
        raise SystemExit(f"{len(originals)} of {PLANTED} originals stored")
    if args.photos:
        extra, copies = photo_copies(args.scenes)
        wanted = query_words([sides for _, _, sides in copies])
        print(
            f"# Candidate recall of {len(copies)} copies of real photographs on a model of the "
            f"scale bench's catalogue, with the photographs and {args.scenes:,} generated "
            f"scenes stored after it ({len(wanted):,} query words)\n"
        )
        limits = [int(k) for k in args.limits.split(",")]
        budgets = [int(b) for b in args.budgets.split(",")]
        print(
            "| scale-bench catalogue | stored with the photographs and scenes | budget | "
            + " | ".join(f"original in the {k} candidates" for k in limits)
            + " | families with copies missed (of the first) | model built s |"
        )
        print("|---" * (len(limits) + 5) + "|")
        for size, budget in ((size, budget) for size in sizes for budget in budgets):
            if budget == budgets[0]:
                rows, built = model(size, pool, originals, wanted, extra)
            postings.POSTINGS_BUDGET = budget  # read by votes at each call
            total = size + len(extra)
            shares = []
            for number, limit in enumerate(limits):
                found: dict[str, list[bool]] = {}
                for family, photo, sides in copies:
                    voted = look_up(rows, sides, total, limit=limit)
                    found.setdefault(family, []).append(
                        size + 1 + photo in {v.image_id for v in voted}
                    )
                hits = sum(map(sum, found.values()))
                shares.append(f"{hits / len(copies):.3f} ({hits})")
                if number == 0:
                    missed = sorted(
                        (item for item in found.items() if not all(item[1])),
                        key=lambda item: sum(item[1]) / len(item[1]),
                    )
                    names = ", ".join(f"{f} {sum(h)} of {len(h)}" for f, h in missed)
            print(
                f"| {size:,} | {total:,} | {budget:,} | {' | '.join(shares)} | {names} "
                f"| {built:.0f} |",
                flush=True,
            )
        return

    looked = scale_queries(args.work, files, ids)
    wanted = query_words([queries for queries, _ in looked])
    print(
        "# The candidate stage on a model of the scale bench's catalogue "
        f"({len(wanted):,} query words)\n"
    )
    print(
        "| stored | recall (original among the 20 candidates) | originals' ranks: median, worst "
        "| words asked a look-up (median) | rows found | postings taken (budget "
        f"{postings.POSTINGS_BUDGET:,}) | model built s | check |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in sizes:
        rows, built = model(size, pool, originals, wanted)
        ranks, asked, found, taken = [], [], [], []
        for queries, original in looked:
            rows.asked = rows.found = rows.taken = 0
            voted = look_up(rows, queries, size)
            order = [vote.image_id for vote in voted]
            ranks.append(order.index(original) + 1 if original in order else None)
            asked.append(rows.asked)
            found.append(rows.found)
            taken.append(rows.taken)
        hits = [rank for rank in ranks if rank is not None]
        checked = check(size, checks[size], looked, rows) if size in checks else ""
        print(
            f"| {size:,} | {len(hits) / len(looked):.2f} ({len(hits)} of {len(looked)}) "
            f"| {statistics.median(hits) if hits else '-'}, {max(hits) if hits else '-'} "
            f"| {statistics.median(asked):,.0f} | {statistics.median(found):,.0f} "
            f"| {statistics.median(taken):,.0f} (max {max(taken):,}) | {built:.0f} | {checked} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
