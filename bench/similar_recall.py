"""End-to-end recall of ``similar()`` at scale, on edited copies of real photographs.

Run from the repository root (not part of the unit tests), on a SQLite catalogue that already
holds the distractors, for example the one ``bench/scale.py --work DIR`` leaves behind:

    .venv/bin/python bench/similar_recall.py --catalogue DIR/provcat_scale_100000.db \
        [--work DIR2] [--scenes 300]

What it does, and what is synthetic:

- The catalogue file is copied into ``--work`` (a temporary folder by default) and only the
  copy is written to; the copy is deleted at the end.
- The 21 real photographs of ``bench/reuse_robustness.py`` (the pictures scikit-image,
  scikit-learn and matplotlib ship; the ``bench`` extra) are saved as PNG files and ingested
  with ``provcat ingest``'s code, together with ``--scenes`` pictures from the test suite's
  scene generator (SYNTHETIC hard distractors: one generator, shared textures).
- Every edited copy the robustness bench makes (its 33 edits in 24 families: crops down to
  25%, collage tiles, photos of a screen, social-media cards...) is saved as a PNG file and
  looked up with ``Catalogue.similar``, the call behind ``provcat similar``: the candidate
  stage, the features-only first looks, the pixel checks. A copy counts when its original is
  among the answers.
- Prints the share of copies found, per family, the look-up time p50 / p95, and a digest of
  every answer (ids, kinds, inliers, scores), so that two versions of the code can be shown
  to answer alike.
- Then looks every copy up again through the command line, as a pipe would feed it: one
  ``provcat similar --json-lines -`` process given all the paths on its standard input, and
  prints its time a file (its start and the index's load included) and whether its answers
  are the library's, answer for answer.

The distractors the scale bench stores are descriptors drawn from generated scenes with 24 of
256 bits flipped: SYNTHETIC, labelled so in its own docstring.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reuse_robustness import families, photos
from tests.reuse_fixtures import scene

from provcat.catalogue import Catalogue

# exifread warns that each PNG has no EXIF data; nothing here is about EXIF.
logging.getLogger("exifread").setLevel(logging.ERROR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", required=True, type=Path, help="a SQLite catalogue file")
    parser.add_argument("--work", type=Path, help="where the copy and the files go")
    parser.add_argument("--scenes", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work) as folder:
        run(args.catalogue, Path(folder), args.scenes)


def run(source: Path, work: Path, scenes: int) -> None:
    images, _stereo = photos()
    stored = work / "stored"
    stored.mkdir()
    for name, picture in images.items():
        picture.save(stored / f"{name}.png")
    for number in range(scenes):
        scene(5000 + number).save(stored / f"scene-{number:04d}.png")
    copies = work / "copies"
    copies.mkdir()
    queries: list[tuple[str, str, Path]] = []
    for family, edits in families(list(images.values())).items():
        for name, picture in images.items():
            for edit in edits:
                path = copies / f"{len(queries):04d}.png"
                edit(picture).save(path)
                queries.append((family, name, path))
    print(f"{len(queries)} copies of {len(images)} real photographs", file=sys.stderr)

    target = work / "catalogue.db"
    shutil.copyfile(source, target)
    catalogue = Catalogue(f"sqlite:///{target}")
    start = time.perf_counter()
    catalogue.ingest([stored])
    ingest_s = time.perf_counter() - start
    originals = {
        name: hashlib.sha256((stored / f"{name}.png").read_bytes()).hexdigest() for name in images
    }
    found: defaultdict[str, list[bool]] = defaultdict(list)
    times, answers = [], []
    catalogue.similar(queries[0][2])  # loads the PDQ hashes once, as a loop of look-ups does
    for family, name, path in queries:
        start = time.perf_counter()
        matches = catalogue.similar(path)
        times.append(1000 * (time.perf_counter() - start))
        found[family].append(originals[name] in {match.sha256 for match in matches})
        answers.append([match.to_dict() for match in matches])
    catalogue.close()

    total = sum(sum(hits) for hits in found.values())
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    digest = hashlib.sha256(json.dumps(answers, sort_keys=True, default=str).encode()).hexdigest()
    print(
        f"# similar() recall: {source.name}, plus {len(images)} real photographs and {scenes} "
        f"generated scenes (ingested in {ingest_s:.1f} s)\n"
    )
    print(
        f"- copies found: **{total} of {len(queries)} ({total / len(queries):.3f})**; look-up "
        f"p50 / p95 {statistics.median(times):.0f} / {p95:.0f} ms; answers digest "
        f"`{digest[:16]}`\n"
    )
    by_command, command_s = command_answers(target, [path for _family, _name, path in queries])
    same = "yes" if by_command == answers else "NO"
    print(
        f"- one `provcat similar --json-lines -` process fed the {len(queries)} paths: "
        f"{command_s:.1f} s, {1000 * command_s / len(queries):.0f} ms a file; answers the same as "
        f"the library's: **{same}**\n"
    )
    print("| family | found |")
    print("|---|---|")
    for family, hits in found.items():
        print(f"| {family} | {sum(hits)} / {len(hits)} |")


def command_answers(catalogue: Path, paths: list[Path]) -> tuple[list[object], float]:
    """Each file's matches from one ``provcat similar --json-lines -`` process, in order, and
    the seconds the process took, start to exit."""
    command = [sys.executable, "-c", "from provcat.cli import main; main()"]
    given = "".join(f"{path}\n" for path in paths)
    start = time.perf_counter()
    done = subprocess.run(
        [*command, "--db", str(catalogue), "similar", "--json-lines", "-"],
        input=given, capture_output=True, text=True, check=True,
    )  # fmt: skip
    took = time.perf_counter() - start
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    if [line["path"] for line in lines] != [str(path) for path in paths]:
        raise SystemExit("the command answered other files than it was given")
    return [line.get("matches") for line in lines], took


if __name__ == "__main__":
    main()
