"""Looking up many files at once: `Catalogue.similar_files` and `provcat similar` over folders."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps
from sqlalchemy.exc import OperationalError

from provcat import cli as cli_module
from provcat import matching
from provcat.catalogue import Catalogue
from provcat.cli import EXIT_REJECTED, cli
from provcat.decode import DecodedImage
from provcat.files import Walked, walk

from .imagegen import photo
from .paths import MONTENEGRO, REPO

SCHEMA = json.loads((REPO / "docs" / "schemas" / "similar.schema.json").read_text("utf-8"))
#: What each line of `provcat similar --json-lines` holds.
LINE = {"$ref": "#/$defs/lookup", "$defs": SCHEMA["$defs"]}
IMAGES = MONTENEGRO / "images"


def sha_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def queries(tmp_path: Path) -> tuple[Path, dict[str, str | None]]:
    """A messy folder of files to look up, and the stored image each should find (None: none;
    "skipped"/"rejected" for files that are not looked up)."""
    folder = tmp_path / "inbox"
    (folder / "nested").mkdir(parents=True)
    (folder / ".cache").mkdir()
    expected: dict[str, str | None] = {}
    portrait = IMAGES / "03-portrait-djukanovic.jpg"
    with Image.open(portrait) as image:
        image.resize((320, 213)).save(folder / "a-small.jpg", quality=60)
        image.save(folder / ".hidden.jpg")
        image.save(folder / ".cache" / "thumb.jpg")
    expected["a-small.jpg"] = sha_of(portrait)
    still = IMAGES / "02-surveillance-belgrade-meeting.jpg"
    with Image.open(still) as image:
        ImageOps.mirror(image.crop((40, 20, 600, 400))).save(folder / "nested" / "flip.png")
    expected["nested/flip.png"] = sha_of(still)
    photo(77, (640, 480)).save(folder / "unrelated.jpg", quality=85)
    expected["unrelated.jpg"] = None
    whole = (IMAGES / "04-surveillance-bench.jpg").read_bytes()
    (folder / "broken.jpg").write_bytes(whole[: len(whole) // 3])
    expected["broken.jpg"] = "rejected"
    (folder / "notes.txt").write_text("caption notes", encoding="utf-8")
    expected["notes.txt"] = "skipped"
    (folder / "empty.jpg").write_bytes(b"")
    expected["empty.jpg"] = "rejected"
    os.mkfifo(folder / "pipe.jpg")  # a walk that read it would wait forever
    expected["pipe.jpg"] = "skipped"
    # A Latin-1 name (not UTF-8) is answered, and shown with the byte escaped.
    latin = os.fsdecode(bytes(folder) + b"/caf\xe9.jpg")
    shutil.copyfile(IMAGES / "01-portraits-shishmakov-popov.jpg", latin)
    expected["caf\\xe9.jpg"] = sha_of(IMAGES / "01-portraits-shishmakov-popov.jpg")
    return folder, expected


def test_similar_files_answers_each_file_and_rejects_only_the_bad_ones(
    montenegro: Catalogue, queries: tuple[Path, dict[str, str | None]], tmp_path: Path
) -> None:
    folder, expected = queries
    missing = tmp_path / "gone.jpg"
    lookups = list(montenegro.similar_files([folder, missing]))
    seen = {Path(x.path).relative_to(folder).as_posix(): x for x in lookups[:-1]}
    # Hidden files and folders are passed over with their reason; the walk is sorted.
    assert [Path(x.path).name for x in lookups[:-1]] == sorted(
        [Path(name).name for name in (*expected, ".cache", ".hidden.jpg")],
        key=lambda name: (name == "flip.png", name),
    )
    assert seen[".cache"].status == "skipped"
    assert seen[".cache"].reason == "hidden folder"
    assert seen[".hidden.jpg"].reason == "hidden file"
    for name, want in expected.items():
        lookup = seen[name]
        if want in ("skipped", "rejected"):
            assert lookup.status == want, name
            assert lookup.reason
            assert lookup.matches == ()
        else:
            assert lookup.status == "answered", (name, lookup.reason)
            assert [match.sha256 for match in lookup.matches] == ([want] if want else [])
    assert "truncated" in seen["broken.jpg"].reason or "corrupt" in seen["broken.jpg"].reason
    assert seen["notes.txt"].reason == "not an image file name (.txt)"
    assert seen["pipe.jpg"].reason == "not a regular file: it is a FIFO (named pipe)"
    assert lookups[-1].path == str(missing)
    assert lookups[-1].status == "rejected"
    assert "No such file" in (lookups[-1].reason or "")
    assert "mirrored" in seen["nested/flip.png"].matches[0].relation


def test_similar_files_loads_the_look_up_index_once(
    montenegro: Catalogue,
    queries: tuple[Path, dict[str, str | None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, _ = queries
    made = []
    real = matching.Matcher.__init__

    def counted(self: matching.Matcher, *args: object, **kwargs: object) -> None:
        made.append(self)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(matching.Matcher, "__init__", counted)
    answered = [x for x in montenegro.similar_files([folder]) if x.status == "answered"]
    assert len(answered) == 4
    assert len(made) == 1


def test_similar_command_over_a_folder(
    montenegro: Catalogue, queries: tuple[Path, dict[str, str | None]]
) -> None:
    folder, expected = queries
    runner = CliRunner()
    done = runner.invoke(cli, ["--db", montenegro.url, "similar", "--json", str(folder)])
    assert done.exit_code == EXIT_REJECTED, done.output
    printed = json.loads(done.stdout)
    jsonschema.validate(printed, SCHEMA)
    found = {
        Path(x["path"]).relative_to(folder).as_posix(): [m["sha256"] for m in x["matches"]]
        for x in printed["answered"]
    }
    assert found == {
        name: [want] if want else []
        for name, want in expected.items()
        if want not in ("skipped", "rejected")
    }
    assert sorted(Path(x["path"]).name for x in printed["rejected"]) == ["broken.jpg", "empty.jpg"]
    assert {Path(x["path"]).name for x in printed["skipped"]} == {
        "notes.txt",
        "pipe.jpg",
        ".hidden.jpg",
        ".cache",
    }

    text = runner.invoke(cli, ["--db", montenegro.url, "similar", str(folder)])
    assert text.exit_code == EXIT_REJECTED
    lines = text.stdout.splitlines()
    assert f"{folder / 'a-small.jpg'}: 1 match" in lines
    assert f"{folder / 'unrelated.jpg'}: no stored image is the same photo" in lines
    at = lines.index(f"{folder / 'nested' / 'flip.png'}: 1 match")
    assert lines[at + 1].startswith(f"  {expected['nested/flip.png'][:12]}: ")  # type: ignore[index]
    assert "mirrored" in lines[at + 1]
    assert f"rejected {folder / 'broken.jpg'}: " in text.stderr
    assert "4 file(s) skipped; -v lists them" in text.stderr


def test_similar_command_on_good_files_exits_zero(montenegro: Catalogue, tmp_path: Path) -> None:
    paths = []
    for number, name in enumerate(
        ("01-portraits-shishmakov-popov.jpg", "04-surveillance-bench.jpg")
    ):
        with Image.open(IMAGES / name) as image:
            image.save(tmp_path / f"{number}.png")
        paths.append(str(tmp_path / f"{number}.png"))
    done = CliRunner().invoke(cli, ["--db", montenegro.url, "similar", "--json", *paths])
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout)
    jsonschema.validate(printed, SCHEMA)
    assert printed["rejected"] == []
    assert printed["skipped"] == []
    assert [len(x["matches"]) for x in printed["answered"]] == [1, 1]
    # One image file keeps the single answer's shape.
    one = CliRunner().invoke(cli, ["--db", montenegro.url, "similar", "--json", paths[0]])
    jsonschema.validate(json.loads(one.stdout), SCHEMA)
    assert set(json.loads(one.stdout)) == {"matches"}


def test_similar_reads_paths_from_standard_input_and_answers_a_line_each(
    montenegro: Catalogue, queries: tuple[Path, dict[str, str | None]], tmp_path: Path
) -> None:
    """`provcat similar --json-lines -` is a look-up process for a pipe: paths in, one JSON
    line out per file; a folder named on a line is walked; a bad line costs only itself."""
    folder, expected = queries
    given = "\n".join(
        [str(folder / "a-small.jpg"), "", str(tmp_path / "gone.jpg"), str(folder / "nested")]
    )
    done = CliRunner().invoke(
        cli, ["--db", montenegro.url, "similar", "--json-lines", "-"], input=given + "\n"
    )
    assert done.exit_code == EXIT_REJECTED, done.output
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    for line in lines:
        jsonschema.validate(line, LINE)
    assert [(Path(x["path"]).name, x["status"]) for x in lines] == [
        ("a-small.jpg", "answered"),
        ("gone.jpg", "rejected"),
        ("flip.png", "answered"),
    ]
    assert [m["sha256"] for m in lines[0]["matches"]] == [expected["a-small.jpg"]]
    assert [m["sha256"] for m in lines[2]["matches"]] == [expected["nested/flip.png"]]
    both = CliRunner().invoke(
        cli, ["--db", montenegro.url, "similar", "--json", "--json-lines", "-"]
    )
    assert both.exit_code == 2
    assert "choose one" in both.stderr


def test_a_long_running_look_up_sees_what_another_catalogue_stored_meanwhile(
    db_url: str, tmp_path: Path
) -> None:
    """A `similar -` process is fed paths for hours while ingests run: each look-up answers
    against the catalogue as it is then, not as it was when the index was loaded."""
    reader, writer = Catalogue(db_url), Catalogue(db_url)
    try:
        writer.ingest([IMAGES / "01-portraits-shishmakov-popov.jpg"])
        with Image.open(IMAGES / "04-surveillance-bench.jpg") as image:
            image.resize((400, 300)).save(tmp_path / "bench-small.jpg", quality=70)

        def fed() -> Iterator[Path]:
            yield tmp_path / "bench-small.jpg"
            writer.ingest([IMAGES / "04-surveillance-bench.jpg"])  # while the reader waits
            yield tmp_path / "bench-small.jpg"

        before, after = reader.similar_files(fed())
        assert before.status == after.status == "answered"
        assert before.matches == ()
        assert [m.sha256 for m in after.matches] == [sha_of(IMAGES / "04-surveillance-bench.jpg")]
    finally:
        reader.close()
        writer.close()


def test_a_folder_walk_goes_a_folder_at_a_time(tmp_path: Path) -> None:
    """Looking up a tree of a million files answers its first file without listing the
    tree first: what the walk has not reached yet, it has not read."""
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "later").mkdir()
    walking = walk(tmp_path)
    assert next(walking) == Walked("image", tmp_path / "a.jpg")
    (tmp_path / "later" / "b.jpg").write_bytes(b"")
    assert list(walking) == [Walked("image", tmp_path / "later" / "b.jpg")]


def test_a_json_look_up_on_a_terminal_shows_how_far_it_has_got(
    montenegro: Catalogue,
    queries: tuple[Path, dict[str, str | None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--json` prints nothing until every file is done: on a terminal a progress bar counts
    the files looked up meanwhile (a folder walked as it goes: no total)."""
    folder, _ = queries
    shown: list[tuple[str, int, int | None, str]] = []

    @contextmanager
    def recording(enabled: bool, _console: object, doing: str = "") -> Iterator[object]:
        assert enabled
        yield lambda done, total, path: shown.append((doing, done, total, Path(path).name))

    monkeypatch.setattr(cli_module, "_on_terminal", lambda: True)
    monkeypatch.setattr(cli_module, "_progress", recording)
    done = CliRunner().invoke(cli, ["--db", montenegro.url, "similar", "--json", str(folder)])
    printed = json.loads(done.stdout)
    looked = {Path(x["path"]).name for x in printed["answered"] + printed["rejected"]}
    passed_over = {Path(x["path"]).name for x in printed["skipped"]}
    assert {doing for doing, _, _, _ in shown} == {"looking up"}
    assert {name for _, _, _, name in shown} == looked | passed_over
    # The count is of files looked up (answered or rejected), as each comes.
    counts = [done for _, done, _, name in shown if name in looked]
    assert counts == list(range(1, len(looked) + 1))
    assert {total for _, _, total, _ in shown} == {None}


def test_a_folder_with_no_image_says_so(montenegro: Catalogue, tmp_path: Path) -> None:
    folder = tmp_path / "empty-handed"
    folder.mkdir()
    (folder / "notes.txt").write_text("no pictures here", encoding="utf-8")
    done = CliRunner().invoke(cli, ["--db", montenegro.url, "similar", str(folder)])
    assert done.exit_code == 0
    assert done.stdout == ""
    assert "1 file(s) skipped; -v lists them" in done.stderr
    assert "no image file to look up in the paths given" in done.stderr


def test_a_fault_no_rule_foresaw_costs_only_its_file(
    montenegro: Catalogue,
    queries: tuple[Path, dict[str, str | None]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A library failing on one odd picture (as OpenCV did on a 20,000 x 3 banner) rejects
    that file with the error's name and logs its traceback; the batch goes on. A database
    error is the catalogue's, not the file's: it ends the batch."""
    folder, expected = queries
    real = matching.Matcher.look_up

    def failing(self: matching.Matcher, decoded: DecodedImage) -> list[matching.Found]:
        if decoded.path.name == "unrelated.jpg":
            raise RuntimeError("OpenCV(5.1.0) resize.cpp: (-215:Assertion failed)")
        return real(self, decoded)

    monkeypatch.setattr(matching.Matcher, "look_up", failing)
    seen = {Path(x.path).name: x for x in montenegro.similar_files([folder])}
    assert seen["unrelated.jpg"].status == "rejected"
    assert seen["unrelated.jpg"].reason.startswith(
        "could not be handled: RuntimeError: OpenCV(5.1.0) resize.cpp"
    )
    assert "Traceback" in caplog.text
    assert "unrelated.jpg" in caplog.text
    assert [m.sha256 for m in seen["a-small.jpg"].matches] == [expected["a-small.jpg"]]

    def unavailable(self: matching.Matcher, decoded: DecodedImage) -> list[matching.Found]:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(matching.Matcher, "look_up", unavailable)
    with pytest.raises(OperationalError):
        list(montenegro.similar_files([folder]))
