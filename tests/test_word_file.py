"""The postings file of a SQLite catalogue (provcat.reuse.word_file): look-ups through it
answer exactly as the postings table does, before and after images are stored since it was
made, and a file that is damaged, half-written or another catalogue's is never read."""

from __future__ import annotations

import dataclasses
import errno
import gc
import hashlib
import io
import itertools
import json
import logging
import multiprocessing
import shutil
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, create_engine, select, update
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.reuse import compiled, postings, word_file
from provcat.reuse.features import Features
from provcat.reuse.postings import (
    POSTED_THROUGH,
    STOP_MAX,
    Posted,
    StopWords,
    post,
    post_all_pending,
    post_pending,
    post_words,
    posted_through,
    posting_state,
    votes,
)
from provcat.reuse.word_file import WordFile, keep_up, location, refresh

from .postings_state import expected_postings, image_words, posting_killed_at, stored_postings
from .reuse_fixtures import scene
from .threads import at_once, slowed

#: Descriptors images draw from: a few are drawn by nearly every image (their words become
#: stop words, past KEPT_POSTINGS images for the commonest), most by a handful.
_POOL = np.random.default_rng(7).integers(0, 256, size=(3000, 32), dtype=np.uint8)


def _descriptors(image_id: int) -> np.ndarray:
    rng = np.random.default_rng(1000 + image_id)
    common = _POOL[:20] if image_id % 5 else _POOL[:8]
    chosen = _POOL[rng.choice(np.arange(20, 3000), size=260, replace=False)]
    # A few bits flipped, as a copy's corners differ from its original's.
    flips = rng.random(chosen.shape) < 0.01
    chosen = chosen ^ (flips * rng.integers(1, 256, size=chosen.shape)).astype(np.uint8)
    return np.vstack([common, chosen])


def _store(session: Session, ids: range, *, posting: bool = True) -> None:
    """Store these images (features, PDQ hashes) and, with ``posting``, post their words."""
    for image_id in ids:
        descriptors = _descriptors(image_id)
        session.add(
            m.Image(
                id=image_id,
                sha256=hashlib.sha256(str(image_id).encode()).hexdigest(),
                format="JPEG",
                width=800,
                height=600,
                file_size=1,
                pixel_digest=f"{image_id:064x}",
            )
        )
        features = Features(
            keypoints=np.zeros((descriptors.shape[0], 2), dtype=np.float32),
            descriptors=descriptors,
            width=800,
            height=600,
        )
        session.add(
            m.Feature(
                image_id=image_id, algorithm="orb", count=len(features), data=features.to_bytes()
            )
        )
        if image_id % 7:  # some images have no PDQ hash
            session.add(m.Fingerprint(image_id=image_id, algorithm="pdq", value=_pdq(image_id)))
        if posting:
            post(session, [(image_id, descriptors)])
    session.commit()


def _pdq(image_id: int) -> str:
    return hashlib.sha256(f"pdq {image_id}".encode()).hexdigest()


def _pdq_hashes(file: WordFile) -> dict[int, str]:
    assert file.pdq is not None
    ids, hashes = file.pdq
    assert hashes.shape == (ids.size, word_file.PDQ_BYTES)
    return {int(i): bytes(h).hex() for i, h in zip(ids, hashes, strict=True)}


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite catalogue file of 260 images (the schema only, no alembic), made once."""
    path = tmp_path_factory.mktemp("filled") / "catalogue.db"
    engine = create_engine(f"sqlite:///{path}")
    m.Base.metadata.create_all(engine)
    with Session(engine) as session:
        _store(session, range(1, 261))
    engine.dispose()
    return path


def _copied(made: Path, path: Path) -> Iterator[tuple[Path, Session]]:
    """A copy of the catalogue file ``made`` at ``path``, and a session on it."""
    shutil.copyfile(made, path)
    engine = create_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        yield path, session
    engine.dispose()


@pytest.fixture
def database(filled: Path, tmp_path: Path) -> Iterator[tuple[Path, Session]]:
    """A copy of the filled catalogue, and a session on it."""
    yield from _copied(filled, tmp_path / "catalogue.db")


def _queries() -> list[list[np.ndarray]]:
    rng = np.random.default_rng(3)
    found = []
    for image_id in (3, 100, 255, 275):
        stored = _descriptors(image_id)
        own = stored[rng.permutation(len(stored))[:200]]
        found.append([own, _descriptors(image_id + 1)[:50]])
    found.append([rng.integers(0, 256, size=(300, 32), dtype=np.uint8)])
    return found


def _answers(
    session: Session, file: WordFile | None, images: int, pending: word_file.Delta | None = None
) -> list[object]:
    return [
        votes(
            session,
            iter(query),
            limit=20,
            images=images,
            stop_words=StopWords(),
            word_file=file,
            pending=pending,
        )
        for query in _queries()
    ]


def _opened(path: Path, session: Session) -> WordFile:
    folder = location(session.connection())
    assert folder == path.with_name(path.name + word_file.SUFFIX)
    file = WordFile.open(folder, session.connection())
    assert file is not None
    assert file.delta.catch_up(session.connection())
    return file


@pytest.mark.parametrize("fence_bits", [0, 2, word_file.FENCE_BITS])
def test_answers_as_the_table_does(
    database: tuple[Path, Session], fence_bits: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the file the look-up finds what it finds in the table, whatever the fence's
    spacing (a page of one word, of four, or as shipped)."""
    monkeypatch.setattr(word_file, "FENCE_BITS", fence_bits)
    monkeypatch.setattr(word_file, "FENCE", 1 << fence_bits)
    path, session = database
    made = refresh(path)
    assert made.how == "made"
    assert (made.cover.images, made.cover.last_id) == (260, 260)
    file = _opened(path, session)
    table = _answers(session, None, 260)
    assert _answers(session, file, 260) == table
    # The compiled passes and their NumPy reference agree, through the file and the table.
    monkeypatch.setattr(compiled, "active", not compiled.active)
    assert _answers(session, file, 260) == table
    assert _answers(session, None, 260) == table
    # The answers are not trivial: the stored images are found, and some words are stop
    # words (posted by more images than a look-up reads, and past those the table keeps).
    assert [vote.image_id for vote in table[0][:1]] == [3]  # type: ignore[index]
    assert np.any(np.asarray(file.counts) > 200)


def test_look_ups_through_the_file_learn_its_stop_words(
    database: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop words' record given to look-ups through the file is not read from the table: it
    learns the words they meet that more than STOP_MAX images post, and the next look-ups
    do not ask for those. Every answer is the table's. Watched through the NumPy passes,
    which read the file by word (WordFile.rows); the compiled stage reads the same words
    and learns the same record (test_compiled compares them)."""
    monkeypatch.setattr(compiled, "active", False)
    path, session = database
    refresh(path)
    file = _opened(path, session)
    table = _answers(session, None, 260)
    stops = set(np.asarray(file.words)[np.asarray(file.counts) > STOP_MAX].tolist())
    asked: list[set[int]] = []
    real = WordFile.rows

    def spy(self: WordFile, wanted: np.ndarray) -> Any:
        asked.append(set(wanted.tolist()))
        return real(self, wanted)

    def not_read(self: StopWords, connection: Any) -> None:
        raise AssertionError("the record was read from the table")

    monkeypatch.setattr(WordFile, "rows", spy)
    monkeypatch.setattr(StopWords, "read", not_read)
    record = StopWords()

    def look_up(query: list[np.ndarray]) -> object:
        return votes(session, iter(query), limit=20, images=260, stop_words=record, word_file=file)

    assert [look_up(query) for query in _queries()] == table
    met = set().union(*asked) & stops
    assert met  # the look-ups met stop words, and learnt each of them once
    assert len(record) == len(met)
    assert record.known(np.array(sorted(met))).all()
    asked.clear()
    assert [look_up(query) for query in _queries()] == table
    assert not set().union(*asked) & stops


def test_threads_share_a_learning_record(
    database: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Look-ups in several threads through the file, sharing one record that learns while
    they run (its learning slowed, so that they meet), answer as the table does; the record
    holds each word once, sorted, and only stop words; a word two threads learnt at once,
    one of them losing it, is learnt again at a later look-up, so that one more pass leaves
    the record one look-up at a time would have."""
    path, session = database
    refresh(path)
    file = _opened(path, session)
    table = _answers(session, None, 260)
    stops = set(np.asarray(file.words)[np.asarray(file.counts) > STOP_MAX].tolist())
    slowed(monkeypatch, StopWords, "learn", 0.01)
    engine = create_engine(f"sqlite:///{path}")
    answers: list[object] = []

    def look_ups(record: StopWords) -> None:
        with Session(engine) as own:
            answers.append(
                [
                    votes(own, iter(q), limit=20, images=260, stop_words=record, word_file=file)
                    for q in _queries()
                ]
            )

    shared = StopWords()
    assert at_once(lambda: look_ups(shared), 6) == []
    assert answers == [table] * 6
    learnt = shared._met
    assert learnt.size
    assert np.all(np.diff(learnt) > 0)
    assert set(learnt.tolist()) <= stops
    look_ups(shared)
    alone = StopWords()
    look_ups(alone)
    engine.dispose()
    assert answers[-2:] == [table] * 2
    assert np.array_equal(shared._met, alone._met)


def test_images_stored_since_the_file_are_found(database: tuple[Path, Session]) -> None:
    path, session = database
    refresh(path)
    file = _opened(path, session)
    _store(session, range(261, 300))
    assert file.delta.catch_up(session.connection())
    assert file.delta.images == 39
    assert _answers(session, file, 299) == _answers(session, None, 299)
    assert any(v.image_id == 276 for v in _answers(session, file, 299)[3])  # type: ignore[attr-defined]


def test_a_catch_up_reads_the_new_features_a_page_at_a_time(
    database: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The images stored since the file are read a page of features at a time, each page's
    words computed before the next is read, and found as the table finds them."""
    path, session = database
    refresh(path)
    file = _opened(path, session)
    _store(session, range(261, 300))
    monkeypatch.setattr(word_file, "_CATCH_UP_PAGE", 7)
    pages = word_file.driver_pages
    read = [0]
    held: list[int] = []  # at each image's words, the rows read and not yet computed

    def counted(*args: Any, **kwargs: Any) -> Iterator[list[tuple[Any, ...]]]:
        for page in pages(*args, **kwargs):
            read[0] += len(page)
            yield page

    computed = word_file.stored_words

    def words_of(image_id: int, data: bytes) -> np.ndarray:
        held.append(read[0] - len(held))
        return computed(image_id, data)

    monkeypatch.setattr(word_file, "driver_pages", counted)
    monkeypatch.setattr(word_file, "stored_words", words_of)
    assert file.delta.catch_up(session.connection())
    assert (file.delta.images, file.delta.last_id, read[0]) == (39, 299, 39)
    assert max(held) == 7
    monkeypatch.undo()
    assert _answers(session, file, 299) == _answers(session, None, 299)


def test_threads_catch_up_with_the_images_stored_since_once(
    database: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Look-ups in several threads catching up at once (each on its own connection) add the
    images stored since the file once: two at once each added them, and their words were
    counted twice. Each catch-up is slowed, so that the threads do meet."""
    path, session = database
    refresh(path)
    file = _opened(path, session)
    _store(session, range(261, 300))
    session.commit()
    slowed(monkeypatch, word_file, "_posted_run", 0.05)
    engine = create_engine(f"sqlite:///{path}")
    caught: list[bool] = []

    def catch_up() -> None:
        with engine.connect() as connection:
            caught.append(file.delta.catch_up(connection))

    assert at_once(catch_up, 6) == []
    engine.dispose()
    assert caught == [True] * 6
    assert (file.delta.images, len(file.delta.runs)) == (39, 1)
    assert _answers(session, file, 299) == _answers(session, None, 299)


def _arrays(path: Path, made: word_file.Made) -> dict[str, bytes]:
    folder = path.with_name(path.name + word_file.SUFFIX)
    return {
        name: (folder / made.cover.generation / name).read_bytes() for name in word_file._ALL_ARRAYS
    }


def test_a_merge_writes_what_a_full_make_does(database: tuple[Path, Session]) -> None:
    path, session = database
    refresh(path)
    _store(session, range(261, 330))
    assert refresh(path, at_least=100).how == "current"
    merged = refresh(path)
    assert (merged.how, merged.added, merged.cover.last_id) == ("merged", 69, 329)
    folder = path.with_name(path.name + word_file.SUFFIX)
    merged_bytes = _arrays(path, merged)
    full = refresh(path, full=True)
    assert full.how == "made"
    assert _arrays(path, full) == merged_bytes
    # Only the current generation is left.
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [full.cover.generation]


def test_a_merge_in_rounds_writes_what_one_does(
    database: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More than MERGE_MOST images are merged in rounds, a generation each (the pairs a
    merge holds are a round's); the file they end with is byte for byte a full make's, and
    a round that fails leaves the rounds before it current, the next refresh going on."""
    path, session = database
    refresh(path)
    _store(session, range(261, 330))
    monkeypatch.setattr(word_file, "MERGE_MOST", 20)
    merge = word_file._merge
    rounds: list[int] = []
    failing = [True]

    def counted(old: WordFile, delta: word_file.Run, writer: word_file._Writer) -> None:
        rounds.append(int(np.unique(delta.ids).size))  # the images this round merges
        if failing[0] and len(rounds) == 3:
            raise OSError("the disk went away")
        merge(old, delta, writer)

    monkeypatch.setattr(word_file, "_merge", counted)
    with pytest.raises(OSError, match="the disk went away"):
        refresh(path)
    assert rounds == [20, 20, 20]
    folder = path.with_name(path.name + word_file.SUFFIX)
    kept = _opened(path, session)
    assert (kept.cover.last_id, kept.cover.images) == (300, 300)
    assert _answers(session, kept, 329) == _answers(session, None, 329)
    failing[0] = False
    told: list[tuple[str, int]] = []
    merged = refresh(path, writing=lambda how, added: told.append((how, added)))
    assert told == [("merged", 29)]
    assert rounds[3:] == [20, 9]
    assert (merged.how, merged.added, merged.cover.last_id, merged.cover.images) == (
        "merged", 29, 329, 329
    )  # fmt: skip
    merged_bytes = _arrays(path, merged)
    full = refresh(path, full=True)
    assert full.cover == dataclasses.replace(
        merged.cover, generation=full.cover.generation, made_at=full.cover.made_at
    )
    assert _arrays(path, full) == merged_bytes
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [full.cover.generation]


@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(-(2**31), 2**31 - 1), max_size=12),
            st.integers(1, 2**31 - 1),
            st.booleans(),
        ),
        max_size=8,
    )
)
def test_a_run_is_its_pairs_sorted_by_word_then_image(
    parts: list[tuple[list[int], int, bool]],
) -> None:
    """Pairs held as one int64 key each (the word above the image) sort as (word, image) do,
    negative words and the largest ids included, whether an owner is given for each word or
    once for all of a part's."""
    words = [np.array(w, dtype=np.int64) for w, _owner, _each in parts]
    owners: list[np.ndarray | int] = [
        np.full(len(w), owner, dtype=np.int32) if each else owner for w, owner, each in parts
    ]
    expected = sorted((word, owner) for w, owner, _each in parts for word in w)
    run = word_file._sorted_run(words, owners)
    assert (run.words.dtype, run.ids.dtype) == (np.int32, np.int32)
    assert list(zip(run.words.tolist(), run.ids.tolist(), strict=True)) == expected
    assert words == []  # taken as they were read
    assert owners == []


def test_a_merge_drops_the_images_of_words_it_makes_common(tmp_path: Path) -> None:
    """Words that pass KEPT_POSTINGS images in a merge lose their kept images, as in the
    table: the 8 words every image posts reach 235 images here, from 195."""
    path = tmp_path / "small.db"
    engine = create_engine(f"sqlite:///{path}")
    m.Base.metadata.create_all(engine)
    with Session(engine) as session:
        _store(session, range(1, 196))
        refresh(path)
        before = _opened(path, session)
        kept_before = set(np.asarray(before.words)[np.asarray(before.counts) <= 200].tolist())
        _store(session, range(261, 301))
        merged = refresh(path)
        assert merged.how == "merged"
        file = _opened(path, session)
        common_now = set(np.asarray(file.words)[np.asarray(file.counts) > 200].tolist())
        assert len(kept_before & common_now) >= 8
        assert _answers(session, file, 235) == _answers(session, None, 235)
        folder = path.with_name(path.name + word_file.SUFFIX)
        data = {n: (folder / merged.cover.generation / n).read_bytes() for n in word_file._ARRAYS}
        full = refresh(path, full=True)
        for name, value in data.items():
            assert (folder / full.cover.generation / name).read_bytes() == value, name
    engine.dispose()


def test_past_the_delta_limit_the_table_is_read(
    database: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, session = database
    refresh(path)
    file = _opened(path, session)
    monkeypatch.setattr(word_file, "DELTA_MAX", 10)
    _store(session, range(261, 280))
    assert not file.delta.catch_up(session.connection())
    assert file.delta.images == 0


def test_unreadable_stored_features_send_look_ups_to_the_table(
    database: tuple[Path, Session], caplog: pytest.LogCaptureFixture
) -> None:
    path, session = database
    refresh(path)
    file = _opened(path, session)
    _store(session, range(261, 263))
    session.execute(update(m.Feature).where(m.Feature.image_id == 262).values(data=b"PVCF broken"))
    session.commit()
    with caplog.at_level(logging.WARNING):
        assert not file.delta.catch_up(session.connection())
    assert "image 262 cannot be read" in caplog.text
    assert file.delta.images == 0


def test_another_catalogues_file_is_not_read(
    database: tuple[Path, Session], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, _session = database
    refresh(path)
    other = tmp_path / "other.db"
    engine = create_engine(f"sqlite:///{other}")
    m.Base.metadata.create_all(engine)
    with Session(engine) as other_session:
        _store(other_session, range(1, 10))
        _store(other_session, range(300, 560))  # ids up to the file's and past, other files
        folder = path.with_name(path.name + word_file.SUFFIX)
        moved = other.with_name(other.name + word_file.SUFFIX)
        folder.rename(moved)
        with caplog.at_level(logging.WARNING):
            assert WordFile.open(moved, other_session.connection()) is None
        assert "another catalogue" in caplog.text
        # Refreshing makes the other catalogue's own file, from its own table.
        assert refresh(other).how == "made"
        assert WordFile.open(moved, other_session.connection()) is not None
    engine.dispose()


@pytest.mark.parametrize("array", ["ids", "pdq"])
def test_a_damaged_file_is_not_read_and_is_made_again(
    database: tuple[Path, Session], caplog: pytest.LogCaptureFixture, array: str
) -> None:
    path, session = database
    made = refresh(path)
    folder = path.with_name(path.name + word_file.SUFFIX)
    ids = folder / made.cover.generation / array
    with ids.open("r+b") as handle:
        handle.truncate(ids.stat().st_size - 4)
    with caplog.at_level(logging.WARNING):
        assert WordFile.open(folder, session.connection()) is None
    assert "expected" in caplog.text
    assert refresh(path).how == "made"
    assert WordFile.open(folder, session.connection()) is not None
    # A CURRENT that is not JSON, or names a path rather than a generation.
    (folder / "CURRENT").write_text("{", encoding="utf-8")
    assert WordFile.open(folder, session.connection()) is None
    cover = {**made.cover.to_dict(), "generation": "../elsewhere"}
    (folder / "CURRENT").write_text(json.dumps(cover), encoding="utf-8")
    assert WordFile.open(folder, session.connection()) is None
    assert refresh(path).how == "made"


def test_a_generation_holds_the_pdq_hashes_of_the_images_it_covers(
    database: tuple[Path, Session],
) -> None:
    """Made and merged alike, a generation holds the PDQ hash of every image it covers that
    has one (a matcher maps them instead of reading them); one written before they were kept
    is still read, without them."""
    path, session = database
    refresh(path)
    file = _opened(path, session)
    assert _pdq_hashes(file) == {i: _pdq(i) for i in range(1, 261) if i % 7}
    _store(session, range(261, 300))
    merged = refresh(path)
    assert merged.how == "merged"
    file = _opened(path, session)
    assert _pdq_hashes(file) == {i: _pdq(i) for i in range(1, 300) if i % 7}
    # A generation written by an earlier version: no PDQ arrays.
    for name in word_file._PDQ_ARRAYS:
        (path.with_name(path.name + word_file.SUFFIX) / merged.cover.generation / name).unlink()
    older = _opened(path, session)
    assert older.pdq is None
    assert _answers(session, older, 299) == _answers(session, None, 299)


def test_a_malformed_stored_pdq_hash_leaves_the_old_file(database: tuple[Path, Session]) -> None:
    path, session = database
    made = refresh(path)
    _store(session, range(261, 270))
    session.execute(
        update(m.Fingerprint).where(m.Fingerprint.image_id == 265).values(value="not hex")
    )
    session.commit()
    with pytest.raises(ValueError, match=r"image 265: its stored PDQ hash .not hex. is not 64"):
        refresh(path)
    folder = path.with_name(path.name + word_file.SUFFIX)
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [made.cover.generation]
    assert _opened(path, session).cover == made.cover


def test_a_half_written_generation_is_never_read(database: tuple[Path, Session]) -> None:
    """What a refresh killed mid-write leaves (a generation folder CURRENT does not name) is
    not read, and the next refresh removes it."""
    path, session = database
    made = refresh(path)
    folder = path.with_name(path.name + word_file.SUFFIX)
    half = folder / "g0-1"
    half.mkdir()
    (half / "words").write_bytes(b"\0" * 10)
    file = _opened(path, session)
    assert file.cover.generation == made.cover.generation
    assert refresh(path).how == "current"  # nothing new, but the leftover is removed
    assert not half.exists()
    assert (folder / made.cover.generation).is_dir()


class _FullDisk(io.FileIO):
    """A file on a disk with ``room`` bytes left (shared by all such files): a write that
    does not fit fails as on a full disk, and so does every write after it."""

    room = 0

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if size > _FullDisk.room:
            _FullDisk.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        _FullDisk.room -= size
        return super().write(data)


@pytest.mark.parametrize("merging", [False, True])
def test_a_full_disk_leaves_no_half_file(
    database: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch, merging: bool
) -> None:
    """The disk fills up while a generation is written (made anew, or merged into the old
    one): the error says so, the half generation is removed (found on a real full disk: it
    was left there, keeping the disk full), the old generation stays in use, and look-ups
    answer as the table does."""
    path, session = database
    folder = path.with_name(path.name + word_file.SUFFIX)
    old = refresh(path).cover.generation if merging else None
    _store(session, range(261, 300))
    opened = Path.open

    def opening(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode == "wb" and self.parent.parent == folder:
            return io.BufferedWriter(_FullDisk(self, "wb"))
        return opened(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", opening)
    monkeypatch.setattr(_FullDisk, "room", 50_000)
    with pytest.raises(OSError, match="No space left on device"):
        refresh(path)
    monkeypatch.undo()
    left = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert left == ([old] if old else [])
    if merging:
        file = _opened(path, session)
        assert file.cover.last_id == 260
        assert _answers(session, file, 299) == _answers(session, None, 299)
    assert refresh(path).how == ("merged" if merging else "made")


def _refresh_in_process(path: str) -> str:
    return refresh(Path(path)).how


def test_refreshes_at_once_wait_for_each_other(database: tuple[Path, Session]) -> None:
    path, session = database
    refresh(path)
    _store(session, range(261, 300))
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        done = pool.map(_refresh_in_process, [str(path)] * 2)
    assert sorted(done) == ["current", "merged"]
    file = _opened(path, session)
    assert file.cover.last_id == 299
    assert _answers(session, file, 299) == _answers(session, None, 299)


def test_a_writer_says_when_it_waits_and_what_it_writes(database: tuple[Path, Session]) -> None:
    """A writer is told that another process holds the file's lock before it waits for it,
    and what it is about to write once it has the lock (`provcat index` shows both: making
    the file of 10^5 images takes minutes, and a second writer waits all that time)."""
    path, session = database
    told: list[object] = []
    asked = threading.Event()
    done: list[word_file.Made] = []

    def wait() -> None:
        told.append("waiting")
        asked.set()

    def write(how: str, images: int) -> None:
        told.append((how, images))

    folder = path.with_name(path.name + word_file.SUFFIX)
    folder.mkdir()
    with word_file._locked(folder):
        writer = threading.Thread(
            target=lambda: done.append(refresh(path, waiting=wait, writing=write))
        )
        writer.start()
        assert asked.wait(30)
        assert told == ["waiting"]  # and nothing written while the other holds the lock
    writer.join(60)
    assert told == ["waiting", ("made", 260)]
    assert [made.how for made in done] == ["made"]
    told.clear()
    assert refresh(path, waiting=wait, writing=write).how == "current"
    _store(session, range(261, 300))
    assert refresh(path, waiting=wait, writing=write).how == "merged"
    assert told == [("merged", 39)]  # nobody else held the lock: no waiting


def test_an_ingest_keeps_it_up_to_date(
    database: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    _path, session = database
    monkeypatch.setattr(word_file, "MAKE_FROM", 300)
    assert keep_up(session.connection()) is None  # 260 images: not worth a file yet
    _store(session, range(261, 301))
    made = keep_up(session.connection())
    assert made is not None
    assert made.how == "made"
    monkeypatch.setattr(word_file, "REFRESH_AFTER", 5)
    _store(session, range(301, 305))
    announced: list[bool] = []
    # 4 new images: the delta carries them, and nothing is announced.
    assert keep_up(session.connection(), announce=lambda: announced.append(True)) is None
    assert announced == []
    _store(session, range(305, 310))
    made = keep_up(session.connection(), announce=lambda: announced.append(True))
    assert announced == [True]
    assert made is not None
    assert (made.how, made.cover.last_id) == ("merged", 309)


def test_an_ingest_does_not_wait_for_another_writer(
    database: tuple[Path, Session],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While another process writes the file (making a large catalogue's anew takes
    minutes), an ingest leaves it as it is and goes on; once the writer is done, it brings
    the file up to date again."""
    path, session = database
    monkeypatch.setattr(word_file, "MAKE_FROM", 100)
    folder = path.with_name(path.name + word_file.SUFFIX)
    folder.mkdir()
    done: list[word_file.Made | None] = []

    def ingest_keeps_up() -> None:
        with Session(create_engine(f"sqlite:///{path}")) as other:
            done.append(keep_up(other.connection()))

    with word_file._locked(folder), caplog.at_level(logging.INFO):
        ingest = threading.Thread(target=ingest_keeps_up, daemon=True)
        ingest.start()
        ingest.join(30)  # it would wait as long as the lock is held
        assert done == [None]
    assert "not waiting for it" in caplog.text
    assert word_file.stamp_of(folder) is None
    made = keep_up(session.connection())
    assert made is not None
    assert (made.how, made.cover.last_id) == ("made", 260)


def test_only_a_sqlite_file_has_one() -> None:
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        assert location(connection) is None


@pytest.mark.parametrize("fence_bits", [0, 1, 2, 10])
@pytest.mark.parametrize("stored", [1, 3, 4, 5, 17, 64])
def test_each_word_is_found_where_it_is(
    tmp_path: Path, fence_bits: int, stored: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Words below the first, past the last, on a fence and between words: each is found
    exactly when it is stored, at its place."""
    monkeypatch.setattr(word_file, "FENCE_BITS", fence_bits)
    monkeypatch.setattr(word_file, "FENCE", 1 << fence_bits)
    words = np.arange(stored, dtype=np.int64) * 3 + 5
    writer = word_file._Writer(tmp_path / "g1")
    # Written in two parts, as pages of the table are, so the fence spans both.
    half = stored // 2
    for part in (slice(0, half), slice(half, stored)):
        size = words[part].size
        writer.add(words[part], np.ones(size, np.int64), np.ones(size, np.int64), words[part])
    writer.finish()
    cover = word_file.Cover("g1", 0, 0, None, stored, stored, "now")
    file = WordFile(tmp_path, cover)
    keys = np.arange(0, int(words[-1]) + 8, dtype=np.int64)
    at, hit = file._locate(keys)
    assert np.array_equal(hit, np.isin(keys, words))
    assert np.array_equal(file.words[at[hit]], keys[hit])


def test_a_writer_keeps_none_of_the_pages_it_was_given(tmp_path: Path) -> None:
    """What a generation keeps of each page until it is finished (every FENCE-th word) is
    its own: a view of the page would keep every page's words in memory (at 10^5, 895 MB
    for a file made anew, and as much for each merge of a thousand images)."""
    writer = word_file._Writer(tmp_path / "g1")
    pages = []
    for page in range(3):
        words = np.arange(5_000, dtype=np.int64) + page * 5_000
        ones = np.ones(words.size, np.int64)
        writer.add(words, ones, ones, words.astype(np.int32))
        pages.append(weakref.ref(words))
        del words, ones
    gc.collect()
    assert [page() for page in pages] == [None, None, None]
    writer.finish()
    fence = np.fromfile(tmp_path / "g1" / "fence", dtype=np.int32)
    assert np.array_equal(fence, np.arange(0, 15_000, word_file.FENCE))


def test_a_file_that_cannot_be_written_is_one_line_and_costs_nothing(tmp_path: Path) -> None:
    """Something else where the folder goes: `provcat index` says so in one line, and
    look-ups read the table."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Catalogue(url) as catalogue:
        (tmp_path / "c.db.words").write_text("not a folder", encoding="utf-8")
        result = CliRunner().invoke(cli, ["--db", url, "index"])
        assert result.exit_code == 1
        assert "cannot write the postings file" in result.output
        assert "c.db.words" in result.output
        assert "Traceback" not in result.output
        scene_path = tmp_path / "query.jpg"
        scene(3).save(scene_path)
        assert catalogue.similar(scene_path) == []


class _Recorded(io.RawIOBase):
    """A file that keeps what is written to it; it takes at most ``most`` bytes a call, as
    a raw file may."""

    def __init__(self, most: int) -> None:
        self.data = bytearray()
        self.most = most

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        taken = bytes(data[: self.most])
        self.data += taken
        return len(taken)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=30), st.sampled_from([1, 7, 64, 10_000]))
def test_an_array_is_written_in_whole_aligned_blocks(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], most: int
) -> None:
    """Whatever the sizes written, the file holds them in order; every write before the
    last is of whole blocks at a multiple of the block, and less than a block waits in
    memory (a raw file's partial writes are carried on from where they stopped)."""
    block = 64
    saved = word_file._BLOCK
    word_file._BLOCK = block
    try:
        blocks = word_file._Blocks(tmp_path_factory.mktemp("blocks") / "array")
        blocks.file.close()
        recorded = blocks.file = _Recorded(most)  # type: ignore[assignment]
        requests: list[tuple[int, int]] = []
        out = blocks._out

        def spied(data: Any) -> None:
            requests.append((len(recorded.data), len(data)))
            out(data)

        blocks._out = spied  # type: ignore[method-assign]
        expected = bytearray()
        for number, size in enumerate(sizes):
            chunk = bytes((number + k) % 251 for k in range(size))
            blocks.write(chunk)
            expected += chunk
            assert len(blocks.pending) < block
            assert len(recorded.data) == len(expected) - len(blocks.pending)
        assert all(begin % block == 0 and length % block == 0 for begin, length in requests)
        blocks._out(blocks.pending)
    finally:
        word_file._BLOCK = saved
    assert recorded.data == expected


def test_a_generation_written_in_many_blocks_answers_as_the_table(
    database: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arrays of many blocks (a block of 64 bytes here), made and then merged into, read
    back as the table holds them."""
    path, session = database
    monkeypatch.setattr(word_file, "_BLOCK", 64)
    refresh(path)
    _store(session, range(261, 300))
    assert refresh(path).how == "merged"
    file = _opened(path, session)
    assert file.cover.last_id == 299
    assert _answers(session, file, 299) == _answers(session, None, 299)


# -- images stored and their words posted later (provcat.reuse.postings.post_pending) --------


@pytest.fixture(scope="module")
def half_posted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 260 images of ``filled``, the words of the first 200 posted and the mark at 200:
    what a SQLite ingest leaves before it posts the words of the images it stored."""
    path = tmp_path_factory.mktemp("half") / "catalogue.db"
    engine = create_engine(f"sqlite:///{path}")
    m.Base.metadata.create_all(engine)
    with Session(engine) as session:
        _store(session, range(1, 201))
        _store(session, range(201, 261), posting=False)
        session.add(m.CatalogueState(key=POSTED_THROUGH, value=200))
        session.commit()
    engine.dispose()
    return path


@pytest.fixture
def half(half_posted: Path, tmp_path: Path) -> Iterator[tuple[Path, Session]]:
    """A copy of the half-posted catalogue, and a session on it."""
    yield from _copied(half_posted, tmp_path / "half.db")


def _pending(session: Session, *, allowed: bool = True) -> word_file.Delta:
    """The words the table does not hold, as a matcher computes them; without ``allowed``,
    of every image after the mark, as if no posting were under way."""
    mark = posting_state(session.connection())
    assert mark is not None
    pending = word_file.Delta(
        mark.through, posted=mark if allowed else None, limited=False, skip_unreadable=True
    )
    assert pending.catch_up(session.connection())
    return pending


@pytest.mark.parametrize("numpy_passes", [False, True])
def test_a_look_up_counts_the_images_after_the_mark(
    half: tuple[Path, Session],
    database: tuple[Path, Session],
    numpy_passes: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading the table, a look-up counts the words of the images after the mark from their
    stored features, and answers as it does with every image's words in the table; after
    they are posted, it answers the same without them."""
    if numpy_passes:
        monkeypatch.setattr(compiled, "active", False)
    _path, session = half
    _full_path, full_session = database
    expected = _answers(full_session, None, 260)
    pending = _pending(session)
    assert pending.images == 60
    assert _answers(session, None, 260, pending) == expected
    # Without them, the images after the mark are not found (the test can fail).
    assert _answers(session, None, 260) != expected
    assert post_pending(session.connection()) == 60
    session.commit()
    assert posted_through(session.connection()) == 260
    assert _answers(session, None, 260) == expected
    assert stored_postings(session) == stored_postings(full_session)


def test_posting_the_images_after_the_mark_a_part_at_a_time(half: tuple[Path, Session]) -> None:
    """post_pending posts the oldest images first, up to ``most``, and moves the mark past
    them; what is posted is what storing and posting each image would have (the words of
    every stored image, each word's images in id order)."""
    _path, session = half
    assert post_pending(session.connection(), most=25) == 25
    session.commit()
    assert posted_through(session.connection()) == 225
    assert post_pending(session.connection(), most=None) == 35
    session.commit()
    assert posted_through(session.connection()) == 260
    assert post_pending(session.connection()) == 0
    session.commit()
    assert stored_postings(session) == expected_postings(session)


def test_posting_many_images_a_range_of_words_at_a_time_posts_the_same(
    half: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the words cut into ranges (here of about 5,000 postings: some twenty of them for
    the 60 images waiting), what is posted is what posting them at once would have."""
    monkeypatch.setattr(postings, "_POST_RANGE", 5_000)
    cut: list[int] = []
    post_range = postings._post_range

    def counted(connection: Connection, each: list[tuple[int, np.ndarray]]) -> None:
        cut.append(len(each))
        post_range(connection, each)

    monkeypatch.setattr(postings, "_post_range", counted)
    _path, session = half
    assert post_pending(session.connection(), most=None) == 60
    session.commit()
    assert len(cut) >= 15
    assert stored_postings(session) == expected_postings(session)


def _poster(path: Path) -> Callable[[], Session]:
    """Sessions on the catalogue at ``path``, as another process's (provcat's busy timeout)."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})
    return lambda: Session(engine)


def test_a_posting_commits_its_words_a_range_at_a_time(
    half: tuple[Path, Session], database: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """post_all_pending commits the words of the images waiting a range of words at a time
    (here 5,000 words: about ten ranges for the 60 images). Between two ranges no lock is
    held (a writer that does not wait takes the write lock), and a look-up that allows for
    the posting under way (Posted) finds what it finds with every word posted, where one
    that does not finds otherwise; at the end the table is what one posting gives."""
    monkeypatch.setattr(postings, "RANGE_WORDS", 5_000)
    monkeypatch.setattr(postings, "_SPILL_BYTES", 0)  # as if the file were large
    path, session = half
    _full_path, full_session = database
    expected = _answers(full_session, None, 260)
    seen: list[Posted | None] = []
    answers: dict[str, list[object] | str] = {}

    def between(done: int, ranges: int) -> None:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if a range held it
            other.execute("ROLLBACK")
        finally:
            other.close()
        seen.append(posting_state(session.connection()))
        if len(seen) == 3:
            answers["allowed"] = _answers(session, None, 260, _pending(session))
            answers["not"] = _answers_or_why(session, _pending(session, allowed=False))
        session.commit()  # the read transaction ended, as a look-up's is

    assert post_all_pending(_poster(path), told=between) == 60
    assert len(seen) >= 8
    assert all(state is not None and state.upto == 260 for state in seen[:-1])
    belows = [state.below for state in seen[:-1] if state is not None]
    assert belows == sorted(set(belows))
    assert seen[-1] == Posted(260, 260)
    assert answers["allowed"] == expected
    assert answers["not"] != expected  # the test can fail: those words counted twice
    assert stored_postings(session) == expected_postings(session)
    keys = session.scalars(select(m.CatalogueState.key)).all()
    assert keys == [POSTED_THROUGH]


def _pairs(delta: word_file.Delta) -> tuple[list[int], list[int]]:
    """A delta's (word, image) pairs, sorted."""
    words = np.concatenate([run.words for run in delta.runs] or [np.zeros(0, np.int32)])
    ids = np.concatenate([run.ids for run in delta.runs] or [np.zeros(0, np.int32)])
    order = np.lexsort((ids, words))
    return words[order].tolist(), ids[order].tolist()


def test_a_delta_follows_a_posting_by_dropping_what_it_posted(
    half: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A look-up's words of the images the table does not hold, made before a posting,
    advanced at each range (Delta.advance) holds what one made then from the stored
    features holds; it refuses a state that holds less than it left out."""
    monkeypatch.setattr(postings, "RANGE_WORDS", 5_000)
    monkeypatch.setattr(postings, "_SPILL_BYTES", 0)  # as if the file were large
    path, session = half
    followed = _pending(session)
    assert not followed.advance(Posted(100, 100))
    session.commit()
    compared: list[int] = []

    def between(done: int, ranges: int) -> None:
        state = posting_state(session.connection())
        assert state is not None
        assert followed.advance(state)
        assert _pairs(followed) == _pairs(_pending(session))
        compared.append(len(_pairs(followed)[0]))
        session.commit()

    assert post_all_pending(_poster(path), told=between) == 60
    assert len(compared) >= 8
    assert compared == sorted(compared, reverse=True)
    assert compared[-1] == 0


def _answers_or_why(session: Session, pending: word_file.Delta) -> list[object] | str:
    """The look-ups' answers, or why they failed (words counted twice may count an image's
    shared words past the words read)."""
    try:
        return _answers(session, None, 260, pending)
    except ValueError as error:
        return str(error)


def test_a_posting_into_a_catalogue_the_page_cache_holds_commits_once(
    half: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalogue file smaller than half the page cache cannot spill: its posting commits
    every word at once, as before ranges."""
    monkeypatch.setattr(postings, "RANGE_WORDS", 5_000)
    path, session = half
    assert path.stat().st_size < postings._SPILL_BYTES
    told: list[tuple[int, int]] = []
    assert post_all_pending(_poster(path), told=lambda *step: told.append(step)) == 60
    assert len(told) == 1
    assert stored_postings(session) == expected_postings(session)


@pytest.mark.parametrize("taken_up_by", ["post_all_pending", "post_pending"])
def test_a_posting_killed_between_ranges_is_allowed_for_and_taken_up(
    half: tuple[Path, Session],
    database: tuple[Path, Session],
    taken_up_by: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A posting killed after three ranges leaves the table holding the lower words of its
    images, and says so (Posted): a look-up through the table answers as with every word
    posted, a postings file made anew from it is byte for byte the one made from the whole
    table, and the next posting (in ranges, or in one transaction) posts the rest."""
    path, session = half
    full_path, full_session = database
    expected = _answers(full_session, None, 260)
    expected_arrays = _arrays(full_path, refresh(full_path, full=True))
    with posting_killed_at(monkeypatch, 4, range_words=5_000):
        post_all_pending(_poster(path))
    state = posting_state(session.connection())
    assert state is not None
    assert (state.through, state.upto) == (200, 260)
    assert state.below > 0
    assert _answers(session, None, 260, _pending(session)) == expected
    assert _answers_or_why(session, _pending(session, allowed=False)) != expected
    session.commit()
    assert _arrays(path, refresh(path, full=True)) == expected_arrays
    if taken_up_by == "post_all_pending":
        assert post_all_pending(_poster(path)) == 60
    else:
        assert post_pending(session.connection(), most=None) == 60
        session.commit()
    assert posting_state(session.connection()) == Posted(260, 260)
    assert stored_postings(session) == expected_postings(session)
    assert _answers(session, None, 260) == expected


def test_words_posted_out_of_order_or_32_bit_post_what_sorted_ones_do(
    db_url: str, other_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``post_words`` takes each image's words in any order and as 32-bit integers (what a
    manifest's transaction holds), in ranges or not, and posts what sorted 64-bit words do,
    the lowest and highest words included; each range's words all come after the last
    range's (row locks taken in word order: writers never deadlock)."""
    spans: list[tuple[int, int]] = []
    post_range = postings._post_range

    def seen(connection: Connection, each: list[tuple[int, np.ndarray]]) -> None:
        found = np.concatenate([w for _, w in each])
        spans.append((int(found.min()), int(found.max())))
        post_range(connection, each)

    monkeypatch.setattr(postings, "_post_range", seen)
    rng = np.random.default_rng(35)
    pool = np.unique(np.concatenate([rng.integers(0, 2**31 - 1, 300), [0, 2**30, 2**31 - 1]]))
    each = [(image_id, np.unique(rng.choice(pool, 120))) for image_id in range(1, 41)]
    stored = []
    for url, words, span in [
        (db_url, each, 10**6),
        (other_db_url, [(i, rng.permutation(w).astype(np.int32)) for i, w in each], 500),
    ]:
        monkeypatch.setattr(postings, "_POST_RANGE", span)
        with Catalogue(url) as catalogue, catalogue.session() as session:
            post_words(session.connection(), words)
            session.commit()
            stored.append(stored_postings(session))
    assert stored[0] == stored[1]
    assert len(spans) >= 1 + 5
    assert all(low > before for (_, before), (low, _) in itertools.pairwise(spans[1:]))
    assert stored[0][2**31 - 1][0] == sum(int(w[-1] == 2**31 - 1) for _, w in each) > 0


def test_unreadable_features_after_the_mark_post_nothing_and_hold_up_nothing(
    half: tuple[Path, Session], caplog: pytest.LogCaptureFixture
) -> None:
    _path, session = half
    session.execute(update(m.Feature).where(m.Feature.image_id == 230).values(data=b"PVCF broken"))
    session.commit()
    with caplog.at_level(logging.WARNING):
        pending = _pending(session)
        assert pending.last_id == 260
        held = set(np.concatenate([run.ids for run in pending.runs]).tolist())
        assert held == set(range(201, 261)) - {230}
        assert post_pending(session.connection()) == 60
    session.commit()
    assert "image 230 cannot be read" in caplog.text
    assert posted_through(session.connection()) == 260
    assert 230 not in {image for image, _word in image_words(session)}
    assert {image for image, _word in image_words(session)} >= {229, 231}


def test_a_file_made_from_the_table_holds_the_images_after_the_mark(
    half: tuple[Path, Session], database: tuple[Path, Session]
) -> None:
    """Made anew (``provcat index --full``) while images wait for their words, the file
    holds theirs too: byte for byte the file of the catalogue with every image posted."""
    path, session = half
    full_path, _full_session = database
    made = refresh(path, full=True)
    expected = refresh(full_path, full=True)
    assert (made.cover.images, made.cover.last_id) == (260, 260)
    assert _arrays(path, made) == _arrays(full_path, expected)
    assert _answers(session, _opened(path, session), 260) == _answers(
        session, None, 260, _pending(session)
    )


def _between_pages(
    monkeypatch: pytest.MonkeyPatch, page: int | None, work: Callable[[], None]
) -> list[int]:
    """Read the table 2,000 rows a page while the file is made, and do ``work`` while the
    ``page``-th page is written (every page: None); the pages written, counted (a list of
    one)."""
    monkeypatch.setattr(word_file, "_PAGE", 2_000)
    merge_rows = word_file._merge_rows
    pages = [0]

    def written(*args: Any) -> None:
        pages[0] += 1
        if page is None or pages[0] == page:
            work()
        merge_rows(*args)

    monkeypatch.setattr(word_file, "_merge_rows", written)
    return pages


def _other_writer(path: Path) -> Session:
    """A session on the catalogue at ``path`` that never waits for a lock (busy timeout 0):
    held up by a reader, it fails at once."""
    return Session(create_engine(f"sqlite:///{path}", connect_args={"timeout": 0}))


def test_a_make_lets_writers_commit_between_its_pages(
    half: tuple[Path, Session],
    database: tuple[Path, Session],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Made anew, the file reads the postings table a page at a time, each page in a read
    transaction of its own: between pages another writer stores images and commits without
    waiting, and posting waits (the table stands still), so the file is byte for byte the
    one a single read transaction makes; the images stored meanwhile are its delta."""
    path, session = half
    full_path, _full_session = database
    expected = _arrays(full_path, refresh(full_path, full=True))

    def store_and_post() -> None:
        with _other_writer(path) as other:
            _store(other, range(261, 264), posting=False)  # fails with a reader holding on
            assert post_pending(other.connection()) == 0
            other.commit()
            assert posted_through(other.connection()) == 200

    pages = _between_pages(monkeypatch, 2, store_and_post)
    with caplog.at_level(logging.INFO):
        made = refresh(path, full=True)
    assert pages[0] >= 5
    assert "posting waits" in caplog.text
    assert "made again in one read transaction" not in caplog.text
    assert (made.how, made.cover.last_id, made.cover.images) == ("made", 260, 260)
    assert _arrays(path, made) == expected
    file = _opened(path, session)
    assert file.delta.images == 3
    assert _answers(session, file, 263) == _answers(session, None, 263, _pending(session))
    # Once it is made, posting goes on.
    assert post_pending(session.connection()) == 63
    session.commit()


def test_a_merge_lets_writers_commit_while_it_reads_and_writes(
    database: tuple[Path, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge reads the new images' features a page to a read transaction and holds none
    while it reads the old file and writes the new one: another writer, with no busy
    timeout, stores and posts images and commits at once meanwhile; the file covers the
    images up to the last one when the merge began, and the others are its delta."""
    path, session = database
    refresh(path)
    _store(session, range(261, 330))
    monkeypatch.setattr(word_file, "_FEATURE_PAGE", 7)
    computed = word_file.stored_words
    calls = [0]

    def store(ids: range) -> None:
        with _other_writer(path) as other:
            _store(other, ids)  # fails with a reader holding on

    def words_of(image_id: int, data: bytes) -> np.ndarray:
        calls[0] += 1
        if calls[0] == 10:  # the second page's third image
            store(range(400, 402))
        return computed(image_id, data)

    merge = word_file._merge

    def merging(old: WordFile, delta: word_file.Run, writer: word_file._Writer) -> None:
        store(range(402, 404))
        merge(old, delta, writer)

    finish = word_file._Writer.finish

    def syncing(writer: word_file._Writer) -> None:
        store(range(404, 406))  # the hashes read, the generation not yet synced
        finish(writer)

    monkeypatch.setattr(word_file, "stored_words", words_of)
    monkeypatch.setattr(word_file, "_merge", merging)
    monkeypatch.setattr(word_file._Writer, "finish", syncing)
    merged = refresh(path)
    assert calls[0] == 69
    assert (merged.how, merged.added, merged.cover.last_id, merged.cover.images) == (
        "merged", 69, 329, 329
    )  # fmt: skip
    monkeypatch.undo()
    file = _opened(path, session)
    assert file.delta.images == 6
    assert _answers(session, file, 335) == _answers(session, None, 335)


def test_a_table_changed_under_a_make_is_read_again_in_one_transaction(
    half: tuple[Path, Session],
    database: tuple[Path, Session],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A process that posts without waiting for the make (an older provcat) moves the mark
    between two pages: the make sees it at the next page, says so and begins again in one
    read transaction, and the file is that of the table as it is now."""
    path, session = half
    full_path, _full_session = database
    expected = _arrays(full_path, refresh(full_path, full=True))

    def post_regardless() -> None:
        with monkeypatch.context() as patch, _other_writer(path) as other:
            patch.setattr(word_file, "being_made", lambda connection: False)
            assert post_pending(other.connection()) == 60
            other.commit()

    _between_pages(monkeypatch, 2, post_regardless)
    with caplog.at_level(logging.WARNING):
        made = refresh(path, full=True)
    assert "made again in one read transaction" in caplog.text
    assert posted_through(session.connection()) == 260
    assert (made.cover.last_id, made.cover.images) == (260, 260)
    assert _arrays(path, made) == expected
    folder = path.with_name(path.name + word_file.SUFFIX)
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [made.cover.generation]


def test_a_make_waits_for_the_posting_under_way(
    half: tuple[Path, Session],
    database: tuple[Path, Session],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A posting that began before the make held posting back is waited for before the
    table's first page is read: the make reads the table as it is after that posting, in
    pages, and need not begin again."""
    path, session = half
    full_path, _full_session = database
    expected = _arrays(full_path, refresh(full_path, full=True))
    posting = threading.Event()
    errors: list[BaseException] = []

    def post_slowly() -> None:
        try:
            with Session(create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})) as other:
                # Their rows fit the page cache (provcat's size), so the posting holds the
                # write lock only, which lets readers read until it commits.
                other.connection().exec_driver_sql("PRAGMA cache_size = -65536")
                assert post_pending(other.connection(), most=5) == 5
                posting.set()
                threading.Event().wait(0.5)  # the make starts meanwhile
                other.commit()
        except BaseException as error:  # handed to the test, which reports it
            errors.append(error)
            posting.set()

    # Pages written slowly: the make lasts longer than the posting's transaction.
    pages = _between_pages(monkeypatch, None, lambda: threading.Event().wait(0.2))
    poster = threading.Thread(target=post_slowly)
    poster.start()
    assert posting.wait(30)
    with caplog.at_level(logging.WARNING):
        made = refresh(path, full=True)
    poster.join(30)
    assert not errors
    assert pages[0] >= 5
    assert "made again" not in caplog.text
    assert posted_through(session.connection()) == 205
    assert _arrays(path, made) == expected


def test_words_past_the_last_row_of_the_table_are_made_rows(tmp_path: Path) -> None:
    """A file made from an empty table and images after the mark only (every word of theirs
    past the table's last row) holds their words."""
    path = tmp_path / "new.db"
    engine = create_engine(f"sqlite:///{path}")
    m.Base.metadata.create_all(engine)
    with Session(engine) as session:
        _store(session, range(1, 31), posting=False)
        session.add(m.CatalogueState(key=POSTED_THROUGH, value=0))
        session.commit()
        made = refresh(path, full=True)
        assert made.cover.words > 0
        assert _answers(session, _opened(path, session), 30) == _answers(
            session, None, 30, _pending(session)
        )
    engine.dispose()
