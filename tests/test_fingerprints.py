"""Tests for provcat.fingerprints: BitHash values, known hashes, robustness, numpy scans."""

from __future__ import annotations

import io
import pickle

import imagehash
import numpy as np
import pdqhash
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from provcat.errors import DamagedCatalogue
from provcat.fingerprints import (
    PDQ_DIHEDRAL,
    BitHash,
    compute,
    dihedral_bytes,
    dihedral_from_bytes,
    hamming_many,
    pack,
    pdq_dihedral,
    popcount64,
    stored_pdq,
)

from .imagegen import synthetic_photo

#: PDQ's usual match threshold: hashes within this many of 256 bits are "the same picture".
PDQ_MATCH = 31


@pytest.fixture
def photo() -> Image.Image:
    """The 640 x 480 synthetic photo (seed 7) whose hashes are pinned below."""
    return synthetic_photo(7)


def random_hash(data: bytes) -> BitHash:
    return BitHash.from_bytes(data)


hash8 = st.binary(min_size=8, max_size=8).map(random_hash)
hash32 = st.binary(min_size=32, max_size=32).map(random_hash)
same_size_triples = st.one_of(st.tuples(hash8, hash8, hash8), st.tuples(hash32, hash32, hash32))


# -- known answers ---------------------------------------------------------------------------


def test_hashes_of_the_fixture_are_constant(photo: Image.Image) -> None:
    """Pinned once; a change means imagehash, pdqhash, Pillow or our pipeline changed hashes."""
    prints = compute(photo)
    assert str(prints.phash) == "cb66d51e2e91549c"
    assert str(prints.dhash) == "4041d1d341989892"
    assert str(prints.pdq) == "5a89be628b8c2495ae758f0c5ee3551a53ee7d1c9d95e844a1ba227cb95514b3"
    assert prints.pdq_quality == 100


def test_hex_is_imagehash_hex(photo: Image.Image) -> None:
    prints = compute(photo)
    assert str(prints.phash) == str(imagehash.phash(photo, hash_size=8))
    assert str(prints.dhash) == str(imagehash.dhash(photo, hash_size=8))


def test_pdq_bits_keep_pdqhash_order() -> None:
    small = np.asarray(synthetic_photo(3, (300, 200)))
    bits, quality = pdqhash.compute(small)
    prints = compute(Image.fromarray(small))
    assert np.array_equal(prints.pdq.bits, bits.astype(bool))
    assert prints.pdq_quality == quality
    assert prints.pdq.nbits == 256


def test_pdq_is_computed_at_most_512_pixels(photo: Image.Image) -> None:
    """A large image and its 512 px copy give the same PDQ input, so nearly the same hash."""
    big = photo.resize((1280, 960), Image.Resampling.LANCZOS)
    at_512 = big.resize((512, 384), Image.Resampling.BILINEAR)
    assert compute(big).pdq - compute(at_512).pdq <= 2


def test_flat_image_has_low_pdq_quality(photo: Image.Image) -> None:
    flat = Image.new("RGB", (300, 200), (90, 120, 200))
    assert compute(flat).pdq_quality < 50
    assert compute(photo).pdq_quality >= 50


def test_tiny_image_hashes() -> None:
    prints = compute(Image.new("RGB", (1, 1), (10, 20, 30)))
    assert (prints.phash.nbits, prints.dhash.nbits, prints.pdq.nbits) == (64, 64, 256)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK"])
def test_compute_refuses_other_modes(mode: str) -> None:
    with pytest.raises(ValueError, match="RGB"):
        compute(Image.new(mode, (16, 16)))


# -- robustness on the fixture ---------------------------------------------------------------


def test_resize_to_half_keeps_hashes_close(photo: Image.Image) -> None:
    original = compute(photo)
    half = compute(photo.resize((320, 240), Image.Resampling.LANCZOS))
    assert original.phash - half.phash <= 4
    assert original.dhash - half.dhash <= 4
    assert original.pdq - half.pdq <= 30


def test_jpeg_recompression_keeps_hashes_close(photo: Image.Image) -> None:
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=30)
    with Image.open(buffer) as reopened:
        recompressed = compute(reopened.convert("RGB"))
    original = compute(photo)
    assert original.phash - recompressed.phash <= 4
    assert original.pdq - recompressed.pdq <= PDQ_MATCH


def test_different_photos_are_far_apart(photo: Image.Image) -> None:
    one, other = compute(photo), compute(synthetic_photo(8))
    assert one.phash - other.phash > 10
    assert one.pdq - other.pdq > 64


def test_mirror_breaks_global_hashes(photo: Image.Image) -> None:
    """Why pdq_dihedral exists: the plain hashes of a mirrored copy are unrelated."""
    original = compute(photo)
    mirrored = compute(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    assert original.phash - mirrored.phash > 20
    assert original.pdq - mirrored.pdq > 64


# -- PDQ dihedral ----------------------------------------------------------------------------


def test_dihedral_names_in_pdqhash_order(photo: Image.Image) -> None:
    result = pdq_dihedral(photo)
    assert list(result) == [
        "original",
        "rotate90",
        "rotate180",
        "rotate270",
        "flip_x",
        "flip_y",
        "flip_plus1",
        "flip_minus1",
    ]
    assert result["original"] == (compute(photo).pdq, compute(photo).pdq_quality)


def test_compute_gives_the_dihedral_hashes_with_pdq_as_their_original(photo: Image.Image) -> None:
    """One PDQ computation gives the hash and its seven rotations and flips: the hash is
    pdqhash's own, and the eight are pdq_dihedral's."""
    prints = compute(photo)
    assert prints.pdq_dihedral == pdq_dihedral(photo)
    bits, quality = pdqhash.compute(np.asarray(photo.resize((512, 384), Image.Resampling.BILINEAR)))
    assert prints.pdq == BitHash(bits)
    assert prints.pdq_quality == quality
    assert prints.pdq_dihedral["original"] == (prints.pdq, quality)


def test_dihedral_hashes_round_trip_as_stored(photo: Image.Image) -> None:
    variants = pdq_dihedral(photo)
    data = dihedral_bytes(variants)
    assert len(data) == 8 * 32
    assert data[:32] == variants["original"][0].to_bytes()  # in PDQ_DIHEDRAL order
    assert data[5 * 32 : 6 * 32] == variants["flip_y"][0].to_bytes()
    quality = variants["original"][1]
    assert dihedral_from_bytes(data, quality) == variants
    with pytest.raises(ValueError, match="not 8 PDQ hashes"):
        dihedral_from_bytes(data[:-1], quality)


def test_dihedral_flip_y_is_the_left_right_mirror(photo: Image.Image) -> None:
    """PDQ names flips by axis: the mirror is flip_y; flip_x is upside down."""
    result = pdq_dihedral(photo)
    mirrored = compute(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)).pdq
    upside_down = compute(photo.transpose(Image.Transpose.FLIP_TOP_BOTTOM)).pdq
    assert result["flip_y"][0] - mirrored <= PDQ_MATCH
    assert result["flip_x"][0] - upside_down <= PDQ_MATCH
    assert result["flip_x"][0] - mirrored > 64


@pytest.mark.parametrize("name", list(PDQ_DIHEDRAL))
def test_each_dihedral_hash_matches_its_transpose_only(photo: Image.Image, name: str) -> None:
    op = PDQ_DIHEDRAL[name]
    transformed = compute(photo if op is None else photo.transpose(op)).pdq
    distances = {key: value[0] - transformed for key, value in pdq_dihedral(photo).items()}
    assert distances[name] <= PDQ_MATCH
    assert min(d for key, d in distances.items() if key != name) > 64


# -- BitHash ---------------------------------------------------------------------------------


@given(st.one_of(st.binary(min_size=8, max_size=8), st.binary(min_size=32, max_size=32)))
def test_hex_round_trip(data: bytes) -> None:
    value = BitHash.from_bytes(data)
    text = str(value)
    assert text == data.hex()
    assert len(text) == value.nbits // 4
    assert BitHash.from_hex(text) == value
    assert BitHash.from_hex(text.upper(), bits=value.nbits) == value
    assert BitHash(value.bits) == value
    assert value.to_bytes() == data
    assert value.to_int() == int(text, 16)
    assert value - value == 0


@given(same_size_triples)
def test_distance_is_a_metric(triple: tuple[BitHash, BitHash, BitHash]) -> None:
    a, b, c = triple
    assert a - b == b - a == a.distance(b)
    assert 0 <= a - b <= a.nbits
    assert (a - b == 0) == (a == b)
    assert a - c <= (a - b) + (b - c)


def test_distance_counts_differing_bits() -> None:
    a = BitHash.from_hex("0000000000000000")
    b = BitHash.from_hex("80000000000000ff")
    assert a - b == 9
    assert b.to_int() == 0x80000000000000FF
    assert b.bits[:2].tolist() == [True, False]


def test_sizes_must_match() -> None:
    with pytest.raises(ValueError, match="different sizes"):
        _ = BitHash.from_hex("00" * 8) - BitHash.from_hex("00" * 32)
    with pytest.raises(TypeError):
        _ = BitHash.from_hex("00" * 8) - "0000000000000000"  # type: ignore[operator]


@pytest.mark.parametrize("text", ["", "abc", "xyz0", "0x1234", "ab cd", "12\n", "١٢"])
def test_bad_hex_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="hex"):
        BitHash.from_hex(text)


def test_hex_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 256 bits"):
        BitHash.from_hex("00" * 8, bits=256)


@pytest.mark.parametrize(
    "bits",
    [
        np.zeros((8, 8), dtype=bool),
        np.zeros(7, dtype=bool),
        np.zeros(0, dtype=bool),
        np.array([0, 1, 2, 0, 0, 0, 0, 0]),
        np.full(8, 0.5),
    ],
)
def test_bad_bit_arrays_are_refused(bits: np.ndarray) -> None:
    with pytest.raises(ValueError, match="hash"):
        BitHash(bits)


def test_bithash_is_an_immutable_value() -> None:
    a = BitHash.from_hex("0123456789abcdef")
    b = BitHash(np.array([int(c) for c in f"{0x0123456789ABCDEF:064b}"]))
    assert a == b
    assert len({a, b}) == 1
    assert a != BitHash.from_hex("0123456789abcdee")
    assert a != "0123456789abcdef"
    assert len(a) == 64
    with pytest.raises(AttributeError):
        a._data = b"\0" * 8
    with pytest.raises(ValueError, match="read-only"):
        a.bits[0] = True
    assert eval(repr(a), {"BitHash": BitHash}) == a
    assert pickle.loads(pickle.dumps(a)) == a


# -- packing and numpy scans ------------------------------------------------------------------


@given(
    st.integers(min_value=1, max_value=40).flatmap(
        lambda width: st.tuples(
            st.binary(min_size=width, max_size=width),
            st.lists(st.binary(min_size=width, max_size=width), max_size=20),
        )
    )
)
def test_hamming_many_equals_pairwise(case: tuple[bytes, list[bytes]]) -> None:
    query_bytes, rows = case
    query = BitHash.from_bytes(query_bytes)
    stored = [BitHash.from_bytes(row) for row in rows]
    distances = hamming_many(query, pack(stored, nbits=query.nbits))
    assert distances.shape == (len(stored),)
    assert distances.tolist() == [query - h for h in stored]


def test_hamming_many_without_numpy_bitwise_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """The numpy < 2 fallback (no np.bitwise_count) gives the same distances."""
    rng = np.random.default_rng(1)
    stored = [BitHash.from_bytes(rng.bytes(width)) for width in (32,) * 50]
    query = BitHash.from_bytes(rng.bytes(32))
    expected = [query - h for h in stored]
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert hamming_many(query, pack(stored)).tolist() == expected
    odd = [BitHash.from_bytes(h.to_bytes()[:3]) for h in stored]
    assert hamming_many(odd[0], pack(odd)).tolist() == [odd[0] - h for h in odd]


@pytest.mark.parametrize("numpy_2", [True, False])
def test_popcount64(numpy_2: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set bits of 64-bit values, with np.bitwise_count and with the numpy < 2 table."""
    values = np.random.default_rng(2).integers(0, 2**63, (40, 4), dtype=np.uint64)
    values[0, 0], values[0, 1] = np.uint64(2**64 - 1), np.uint64(0)
    expected = [[bin(int(v)).count("1") for v in row] for row in values]
    if not numpy_2:
        monkeypatch.delattr(np, "bitwise_count", raising=False)
    counts = popcount64(values)
    assert counts.shape == values.shape
    assert counts.tolist() == expected
    assert popcount64(values[:, 2]).tolist() == [row[2] for row in expected]


def test_stored_pdq() -> None:
    """Stored hashes in one conversion; a damaged one is named by its image."""
    good = [(1, "ab" * 32), (2, "0f" * 32)]
    packed = stored_pdq(good)
    assert packed.shape == (2, 32)
    assert packed[1].tolist() == [15] * 32
    assert stored_pdq([]).shape == (0, 32)
    for bad in ("zz" * 32, "ab" * 31, "ab " * 21 + "a"):
        with pytest.raises(DamagedCatalogue, match=r"^image 7: its stored PDQ hash") as caught:
            stored_pdq([*good, (7, bad)])
        assert isinstance(caught.value, ValueError)


def test_pack_layout() -> None:
    hashes = [BitHash.from_hex("00ff00ff00ff00ff"), BitHash.from_hex("0102030405060708")]
    packed = pack(hashes)
    assert packed.dtype == np.uint8
    assert packed.shape == (2, 8)
    assert packed[1].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert pack([]).shape == (0, 0)
    assert pack([], nbits=256).shape == (0, 32)
    assert hamming_many(hashes[0], pack([], nbits=64)).shape == (0,)


def test_pack_refuses_mixed_sizes() -> None:
    with pytest.raises(ValueError, match="different sizes"):
        pack([BitHash.from_hex("00" * 8), BitHash.from_hex("00" * 32)])
    with pytest.raises(ValueError, match="different sizes"):
        pack([BitHash.from_hex("00" * 8)], nbits=256)


def test_hamming_many_refuses_bad_arrays() -> None:
    query = BitHash.from_hex("00" * 8)
    with pytest.raises(ValueError, match="64 bits"):
        hamming_many(query, np.zeros((3, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        hamming_many(query, np.zeros((3, 8), dtype=np.int64))
    with pytest.raises(ValueError, match="uint8"):
        hamming_many(query, np.zeros(8, dtype=np.uint8))


def test_hamming_many_on_fingerprints(photo: Image.Image) -> None:
    """The catalogue's use: pack stored PDQ hashes, scan, take the near ones."""
    stored = [compute(synthetic_photo(seed, (200, 150))).pdq for seed in range(20, 26)]
    resized = photo.resize((400, 300), Image.Resampling.LANCZOS)
    stored.insert(3, compute(resized).pdq)
    distances = hamming_many(compute(photo).pdq, pack(stored))
    assert np.flatnonzero(distances <= PDQ_MATCH).tolist() == [3]
