"""Photo grouping (provcat.photos): identical pixels, or PDQ hashes within Meta's threshold of
each other (directly or through other images), make one photo; low-quality and missing hashes
never match."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, delete, select, update
from sqlalchemy.orm import Session

from provcat import models as m
from provcat import photos
from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.errors import DamagedCatalogue
from provcat.fingerprints import BitHash
from provcat.matching import Matcher
from provcat.photos import PDQ_MIN_QUALITY, PDQ_SAME_PHOTO, StoredPrint, group_photos

from .reuse_fixtures import scene


def _flipped(bits: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    out = bits.copy()
    out[rng.choice(bits.size, count, replace=False)] ^= 1
    return out


def _prints(rng: np.random.Generator) -> list[StoredPrint]:
    """Random hashes, with copies planted at the threshold, one bit past it, in chains, with
    low quality, without a hash, and with the same pixels."""
    bits = [rng.integers(0, 2, 256, dtype=np.uint8) for _ in range(300)]
    base = len(bits)
    for number in range(0, 60, 3):
        original = bits[number]
        bits.append(_flipped(original, PDQ_SAME_PHOTO, rng))  # joins
        bits.append(_flipped(original, PDQ_SAME_PHOTO + 1, rng))  # does not (unless by chance)
        # A chain: 20 bits from the original's copy, so it may be further from the original.
        bits.append(_flipped(bits[-2], 20, rng))
    prints = []
    for image_id, hashed in enumerate(bits, start=1000):
        quality = 30 if image_id % 37 == 0 else 90
        digest = f"{image_id:064x}"
        pdq: BitHash | None = BitHash(hashed)
        if image_id % 41 == 0:
            pdq = None
        if image_id % 53 == 0:
            digest = f"{1000:064x}"  # the same pixels as the first image
        prints.append(StoredPrint(image_id, digest, pdq, quality))
    assert len(prints) > base
    return prints


def _reference(prints: list[StoredPrint]) -> dict[int, int]:
    """The grouping by its definition: every pair compared, components by flood fill."""
    edges: dict[int, set[int]] = {p.image_id: set() for p in prints}
    for i, a in enumerate(prints):
        for b in prints[i + 1 :]:
            same = a.pixel_digest == b.pixel_digest
            if not same and a.pdq is not None and b.pdq is not None:
                good = min(a.pdq_quality or 0, b.pdq_quality or 0) >= PDQ_MIN_QUALITY
                same = good and a.pdq - b.pdq <= PDQ_SAME_PHOTO
            if same:
                edges[a.image_id].add(b.image_id)
                edges[b.image_id].add(a.image_id)
    photo: dict[int, int] = {}
    for start in edges:
        if start in photo:
            continue
        seen, todo = {start}, [start]
        while todo:
            for other in edges[todo.pop()] - seen:
                seen.add(other)
                todo.append(other)
        for member in seen:
            photo[member] = min(seen)
    return photo


@pytest.mark.parametrize(
    ("block", "pieces"), [(7, False), (64, False), (photos._BLOCK, False), (7, True)]
)
def test_grouping_is_every_pair_within_the_threshold(
    block: int, pieces: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(photos, "_BLOCK", block)
    monkeypatch.setattr(photos, "_by_pieces", lambda codes, limit: pieces)
    prints = _prints(np.random.default_rng(5))
    found = group_photos(prints)
    assert found == _reference(prints)
    # The planted cases are there: a copy at the threshold joins its original, a chain
    # joins through its middle, the same pixels join whatever the hashes.
    assert found[1300] == 1000
    assert found[1302] == 1000
    assert found[1007] == 1000
    assert len(set(found.values())) < len(prints)


def test_one_or_no_usable_hash() -> None:
    one = [StoredPrint(1, "a", BitHash(np.zeros(256, dtype=np.uint8)), 90)]
    assert group_photos(one) == {1: 1}
    low = [StoredPrint(i, str(i), BitHash(np.zeros(256, dtype=np.uint8)), 10) for i in (1, 2)]
    assert group_photos(low) == {1: 1, 2: 2}
    assert group_photos([]) == {}


def _all_pairs(codes: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Every pair within ``limit`` bits, by the definition (each pair's bits compared)."""
    bits = np.unpackbits(codes, axis=1).astype(np.int32)
    distance = bits @ (1 - bits).T + (1 - bits) @ bits.T
    first, second = np.nonzero(np.triu(distance <= limit, k=1))
    return list(zip(first.tolist(), second.tolist(), strict=True))


def _flip_per_piece(row: np.ndarray, per_piece: list[int], rng: np.random.Generator) -> np.ndarray:
    """``row`` with ``per_piece[k]`` bits flipped in its k-th 16-bit piece (two bytes)."""
    bits = np.unpackbits(row)
    for piece, count in enumerate(per_piece):
        chosen = rng.choice(16, count, replace=False) + 16 * piece
        bits[chosen] ^= 1
    return np.packbits(bits)


def _piece_codes(rng: np.random.Generator) -> np.ndarray:
    """Random hashes with copies at the edge of what the pieces must find: 31 bits as two in
    each piece but one (only that piece is within a bit), 32 as two in every piece (no piece
    is, and none should be found), one bit in every piece; and a crowd of hashes that share
    most pieces, so that buckets hold many rows."""
    rows = [rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(400)]
    for number in range(0, 40, 4):
        original = rows[number]
        lone = int(rng.integers(16))
        rows.append(_flip_per_piece(original, [1 if k == lone else 2 for k in range(16)], rng))
        rows.append(_flip_per_piece(original, [2] * 16, rng))
        rows.append(_flip_per_piece(original, [1] * 16, rng))
    crowd = rng.integers(0, 256, 32, dtype=np.uint8)
    for _ in range(60):
        rows.append(_flip_per_piece(crowd, [int(k) for k in rng.integers(0, 3, 16)], rng))
    return np.stack(rows)


def test_the_pieces_find_every_pair_within_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    codes = _piece_codes(np.random.default_rng(11))
    expected = _all_pairs(codes, PDQ_SAME_PHOTO)
    for chunk in (photos._CHUNK, 5):
        monkeypatch.setattr(photos, "_CHUNK", chunk)
        first, second = photos._piece_pairs(codes, PDQ_SAME_PHOTO)
        assert list(zip(first.tolist(), second.tolist(), strict=True)) == expected
    assert sorted(photos._every_pair(codes, PDQ_SAME_PHOTO)) == expected
    # The planted copies: 31 bits found through its one close piece, 32 bits not found.
    assert (0, 400) in expected
    assert (0, 401) not in expected
    assert (0, 402) in expected
    assert len(expected) > 500  # the crowd's pairs


def test_pieces_are_taken_only_where_they_are_exact_and_cheaper() -> None:
    rng = np.random.default_rng(3)
    spread = rng.integers(0, 256, (40_000, 32), dtype=np.uint8)
    assert photos._by_pieces(spread, PDQ_SAME_PHOTO)
    # Two bits a piece could hide a pair 32 bits apart: pieces of 16 are not exact there.
    assert not photos._by_pieces(spread, 2 * 16)
    # Too few hashes to pay for the buckets' bookkeeping.
    assert not photos._by_pieces(spread[:5_000], PDQ_SAME_PHOTO)
    # Near copies of a few photos crowd a few buckets: every pair is compared instead.
    crowded = np.repeat(spread[:8], 5_000, axis=0)
    assert not photos._by_pieces(crowded, PDQ_SAME_PHOTO)
    # And the answer is the same either way.
    found = sorted(photos._near_pairs(crowded[:600], PDQ_SAME_PHOTO))
    assert found == _all_pairs(crowded[:600], PDQ_SAME_PHOTO)


def _image(session: Session, image_id: int, digest: str, pdq: str | None, quality: int) -> None:
    session.add(
        m.Image(
            id=image_id,
            sha256=f"{image_id:064x}",
            format="JPEG",
            width=800,
            height=600,
            file_size=1,
            pixel_digest=digest,
        )
    )
    if pdq is not None:
        session.add(m.Fingerprint(image_id=image_id, algorithm="pdq", value=pdq, quality=quality))


def test_the_catalogue_s_photos(catalogue: Catalogue) -> None:
    """photo_ids reads every image's digest and hash from the database and adds the recorded
    matches: the same grouping as group_photos on the same images, plus the matches."""
    prints = _prints(np.random.default_rng(7))
    with catalogue.session() as session:
        for p in prints:
            _image(
                session,
                p.image_id,
                p.pixel_digest,
                str(p.pdq) if p.pdq else None,
                p.pdq_quality or 0,
            )
        # A crop the matcher recorded joins two photos no hash joins.
        session.add(
            m.PhotoMatch(
                reference_id=1001,
                copy_id=1250,
                kinds="crop",
                inliers=40,
                score=0.9,
                rotation_degrees=0.0,
                scale=1.0,
            )
        )
        session.commit()
        found = photos.photo_ids(session=session)
    expected = group_photos(prints)
    assert expected[1250] == 1250
    assert expected[1001] == 1001
    joined = {expected[1001], expected[1250]}
    expected = {i: (1001 if p in joined else p) for i, p in expected.items()}
    assert found == expected


def test_a_malformed_stored_hash_is_named(catalogue: Catalogue) -> None:
    with catalogue.session() as session:
        _image(session, 1, "a" * 64, "ab" * 32, 90)
        _image(session, 2, "b" * 64, "zz" * 32, 90)
        _image(session, 3, "c" * 64, "ab" * 31, 90)
        _image(session, 4, "d" * 64, "ab " * 21 + "a", 90)
        session.commit()
        with pytest.raises(DamagedCatalogue, match="image 2: its stored PDQ hash 'zz"):
            photos.photo_ids(session=session)
        session.execute(delete(m.Fingerprint).where(m.Fingerprint.image_id == 2))
        session.commit()
        with pytest.raises(DamagedCatalogue, match=r"image 3: .* is not 64 hexadecimal digits"):
            photos.photo_ids(session=session)
        session.execute(delete(m.Fingerprint).where(m.Fingerprint.image_id == 3))
        session.commit()
        with pytest.raises(DamagedCatalogue, match="image 4: its stored PDQ hash 'ab ab"):
            photos.photo_ids(session=session)
        session.execute(delete(m.Fingerprint).where(m.Fingerprint.image_id == 4))
        _image(session, 5, "e" * 64, "ab" * 31, 90)
        session.commit()
    # A matcher reading the hashes from the database names it too.
    with pytest.raises(DamagedCatalogue, match="image 5: its stored PDQ hash"):
        Matcher(catalogue._sessions)
    # The command line says so in one line.
    result = CliRunner().invoke(cli, ["--db", catalogue.url, "report", "captions"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: image 5: its stored PDQ hash 'abab")
    assert result.stderr.count("\n") == 1


def _store_prints(session: Session, prints: list[StoredPrint]) -> None:
    for p in prints:
        _image(
            session, p.image_id, p.pixel_digest, str(p.pdq) if p.pdq else None, p.pdq_quality or 0
        )


def _crowd(rng: np.random.Generator, first_id: int, count: int) -> list[StoredPrint]:
    """``count`` copies of one photo, each a few bits from the first: all within the
    threshold of one another, as a photo stored many times is."""
    original = rng.integers(0, 2, 256, dtype=np.uint8)
    return [
        StoredPrint(first_id + k, f"{first_id + k:064x}", BitHash(_flipped(original, 6, rng)), 90)
        for k in range(count)
    ]


def _scan(prints: list[StoredPrint]) -> Callable[[BitHash], dict[int, int]]:
    """What a matcher's scan of every stored hash gives: every image (whatever its quality)
    whose hash is within the threshold of the one asked for."""

    def near_of(hashed: BitHash) -> dict[int, int]:
        return {
            p.image_id: hashed - p.pdq
            for p in prints
            if p.pdq is not None and hashed - p.pdq <= PDQ_SAME_PHOTO
        }

    return near_of


def _recorded(session: Session) -> list[tuple[int, int, int]]:
    return [
        tuple(row)
        for row in session.execute(
            select(m.PdqPair.first_id, m.PdqPair.second_id, m.PdqPair.distance)
        )
    ]


@pytest.mark.parametrize("waiting", [0, 4, 60])
def test_pairs_recorded_in_turns_in_any_order_group_as_every_pair_does(
    catalogue: Catalogue, waiting: int
) -> None:
    """Images matched one turn at a time in a shuffled order, each recording its pairs
    (link_matched), some left waiting: the catalogue's photos are those of every pair
    compared. A photo stored 40 times gets under 40 pairs, not 780; waiting images are
    compared when grouping runs (a few against every other, many by every pair)."""
    rng = np.random.default_rng(17)
    prints = _prints(rng) + _crowd(rng, 5000, 40)
    order = [p.image_id for p in prints]
    rng.shuffle(order)
    matched, left = order[: len(order) - waiting], set(order[len(order) - waiting :])
    near_of = _scan(prints)
    with catalogue.session() as session:
        _store_prints(session, prints)
        session.commit()
        for turn, image_id in enumerate(matched, start=1):
            photos.link_matched(session.connection(), image_id, near_of)
            session.execute(update(m.Image).where(m.Image.id == image_id).values(match_seq=turn))
        session.commit()
        recorded = _recorded(session)
        found = photos.photo_ids(session=session)
    assert found == _reference(prints)
    crowd = [pair for pair in recorded if pair[0] >= 5000]
    assert 0 < len(crowd) < 40
    for first, second, distance in recorded:
        assert first < second
        assert first not in left
        assert second not in left
        one, two = (next(p for p in prints if p.image_id == i) for i in (first, second))
        assert one.pdq is not None
        assert two.pdq is not None
        assert one.pdq - two.pdq == distance <= PDQ_SAME_PHOTO
        assert min(one.pdq_quality or 0, two.pdq_quality or 0) >= PDQ_MIN_QUALITY
    # Grouping does not take the recorded pairs for the whole answer: without them, the
    # matched images' photos fall apart.
    with catalogue.session() as session:
        session.execute(delete(m.PdqPair))
        session.commit()
        if waiting < len(order) // photos._PENDING_SHARE:
            assert photos.photo_ids(session=session) != found


def test_a_catalogue_s_pairs_filled_at_once_group_as_every_pair_does(catalogue: Catalogue) -> None:
    """fill_pairs (revision 0011's, for images stored before it) records a spanning forest:
    every image matched, the photos are every pair's, with fewer pairs than images."""
    rng = np.random.default_rng(23)
    prints = _prints(rng) + _crowd(rng, 5000, 40)
    with catalogue.session() as session:
        _store_prints(session, prints)
        session.execute(update(m.Image).values(match_seq=1))
        session.commit()
        count = photos.fill_pairs(session.connection())
        session.commit()
        recorded = _recorded(session)
        found = photos.photo_ids(session=session)
    expected = _reference(prints)
    assert found == expected
    assert count == len(recorded)
    # One pair fewer than the images of each photo its hashes make (the same pixels aside).
    assert len(recorded) <= len(prints) - len(set(expected.values()))
    assert len([pair for pair in recorded if pair[0] >= 5000]) == 39


def test_an_ingest_records_the_pairs_its_turns_find(catalogue: Catalogue, tmp_path: Path) -> None:
    """Re-encodes and a resize of one picture, ingested in one run and then one more in a
    second: the pairs recorded join every pair of them within the threshold, and grouping
    without the recorded matches (PhotoMatch) still finds the photo."""
    picture = scene(81, (640, 480))
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    picture.save(first / "a.jpg", quality=95)
    picture.save(first / "b.jpg", quality=55)
    picture.resize((480, 360)).save(first / "c.jpg", quality=85)
    scene(82, (640, 480)).save(first / "other.jpg", quality=90)
    catalogue.ingest([first])
    picture.resize((560, 420)).save(second / "d.png")
    catalogue.ingest([second])
    with catalogue.session() as session:
        recorded = _recorded(session)
        session.execute(delete(m.PhotoMatch))
        session.commit()
        found = photos.photo_ids(session=session)
        paths = session.execute(select(m.ImagePath.path, m.ImagePath.image_id)).all()
    ids = {Path(path).name: image_id for path, image_id in paths}
    assert len({found[ids[name]] for name in ("a.jpg", "b.jpg", "c.jpg", "d.png")}) == 1
    assert found[ids["other.jpg"]] != found[ids["a.jpg"]]
    assert 3 <= len(recorded) <= 6


def test_sets_joined_in_batches_are_those_a_union_find_makes() -> None:
    """Random pairs, a long chain given from its far end, and a crowd, in batches: each
    row's root is its set's smallest row, as one pair at a time gives."""
    rng = np.random.default_rng(29)
    size = 3_000
    batches = [
        (rng.integers(0, 1_000, 400), rng.integers(0, 1_000, 400)),
        (np.arange(2_999, 2_000, -1), np.arange(2_998, 1_999, -1)),  # a chain
        (np.full(300, 1_500), rng.integers(1_000, 1_300, 300)),  # a crowd
        (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)),
    ]
    sets = photos._Sets(size)
    one_by_one = photos._UnionFind(size)
    for first, second in batches:
        sets.join(first.astype(np.int64), second.astype(np.int64))
        for a, b in zip(first.tolist(), second.tolist(), strict=True):
            one_by_one.union(a, b)
    assert sets.roots().tolist() == [one_by_one.find(row) for row in range(size)]
    assert int(sets.roots()[2_999]) == 2_000


def test_an_image_matched_while_the_catalogue_is_grouped_is_not_lost(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL each statement of a grouping sees what was committed before it: an
    image matched by another process between the grouping's reads is either compared as
    waiting or read with its recorded pairs (the waiting images are read first), never
    neither. SQLite's reader keeps one snapshot (and a writer waits for it to end)."""
    if not catalogue.url.startswith("postgresql"):
        pytest.skip("SQLite reads the whole grouping from one snapshot")
    rng = np.random.default_rng(31)
    prints = _crowd(rng, 100, 2) + _crowd(rng, 200, 3)
    with catalogue.session() as session:
        _store_prints(session, prints)
        session.execute(update(m.Image).where(m.Image.id != 101).values(match_seq=1))
        session.commit()
        photos.fill_pairs(session.connection())
        session.execute(delete(m.PdqPair).where(m.PdqPair.second_id == 101))
        session.commit()
    waiting = photos._waiting_pairs

    def matched_first(connection: Connection) -> Iterator[photos.Pairs]:
        # Another process's turn matches image 101 and commits, before this read.
        with catalogue.session() as other:
            photos.link_matched(other.connection(), 101, _scan(prints))
            other.execute(update(m.Image).where(m.Image.id == 101).values(match_seq=2))
            other.commit()
        yield from waiting(connection)

    monkeypatch.setattr(photos, "_waiting_pairs", matched_first)
    with catalogue.session() as session:
        found = photos.photo_ids(session=session)
    assert found[101] == found[100] == 100
