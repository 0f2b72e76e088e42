"""Perceptual fingerprints (pHash, dHash, PDQ) as immutable hash values, and numpy Hamming scans.

Choices, so that stored images and queries are always hashed the same way:

- Every hash is computed from ``DecodedImage.pixels``: RGB, EXIF orientation applied, first
  frame, alpha flattened on white (see ``provcat.decode``). ``compute`` refuses other modes
  rather than converting silently, because a different conversion would shift the hashes.
- pHash and dHash are imagehash's own (``hash_size=8``, 64 bits) of the upright image's grey
  resized to 32x32 / 9x8 with Lanczos, as imagehash resizes it: the grey is converted once
  for both (and the features), and resized from the picture's working copy
  (``provcat.working``: a picture 2,048 pixels or more on a side is reduced once by a whole
  factor first; a smaller one is used as it is, so its hashes are imagehash's own, bit for bit).
- PDQ is computed on the image shrunk so its longer side is at most 512 px (aspect kept;
  smaller images are used as they are), as PDQ's reference implementations do. The shrink uses
  Pillow's BILINEAR, which in ``resize`` is an area-aware (antialiasing) filter: PDQ box-filters
  down to 64x64 afterwards, so Lanczos's extra sharpness is thrown away, and on test photos both
  gave the same hashes within a bit or two. PDQ's quality score (0-100) is kept; Meta discards
  hashes with quality < 50 (flat or tiny images).
- Bit order: bit 0 of a ``BitHash`` is the most significant bit of its first byte, and the hex
  form is the bytes in order. That makes ``str()`` equal to imagehash's hex for pHash/dHash and
  to the canonical PDQ hex of Meta's reference tools.
- Hamming search is a vectorised numpy scan over an ``(N, nbytes)`` uint8 array
  (:func:`pack`, :func:`hamming_many`), never a row-by-row loop in Python or SQL.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import imagehash
import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

from provcat.errors import DamagedCatalogue
from provcat.working import WorkingCopy

#: pHash and dHash bits a side (64-bit hashes), and the side of pHash's grey input (imagehash's
#: high-frequency factor of 4).
_HASH_SIZE: Final = 8
_PHASH_SIDE: Final = _HASH_SIZE * 4

#: Longest side, in pixels, of the image PDQ is computed from.
PDQ_MAX_SIDE: Final = 512

#: The 8 dihedral PDQ hashes in pdqhash.compute_dihedral's order, each with the Pillow transpose
#: that, applied to the image, gives (within a few bits) the same PDQ hash. PDQ names flips by
#: axis: "flip_x" flips across the horizontal (x) axis, i.e. top to bottom; the usual left-right
#: mirror is "flip_y". Pillow's ROTATE_90 turns counter-clockwise.
PDQ_DIHEDRAL: Final[Mapping[str, Image.Transpose | None]] = {
    "original": None,
    "rotate90": Image.Transpose.ROTATE_90,
    "rotate180": Image.Transpose.ROTATE_180,
    "rotate270": Image.Transpose.ROTATE_270,
    "flip_x": Image.Transpose.FLIP_TOP_BOTTOM,
    "flip_y": Image.Transpose.FLIP_LEFT_RIGHT,
    "flip_plus1": Image.Transpose.TRANSPOSE,
    "flip_minus1": Image.Transpose.TRANSVERSE,
}

_HEX = re.compile(r"[0-9a-fA-F]+")

BoolArray = npt.NDArray[np.bool_]
ByteMatrix = npt.NDArray[np.uint8]
IntArray = npt.NDArray[np.int64]


def _byte_popcount_table() -> npt.NDArray[np.uint8]:
    table: npt.NDArray[np.uint8] = np.unpackbits(
        np.arange(256, dtype=np.uint8)[:, np.newaxis], axis=1
    ).sum(axis=1, dtype=np.uint8)
    table.flags.writeable = False
    return table


#: Set bits of every byte value, for numpy versions without bitwise_count.
_BYTE_POPCOUNT: Final = _byte_popcount_table()


class BitHash:
    """An immutable hash of ``nbits`` bits (a multiple of 8).

    ``str()`` gives lowercase hex (16 characters for 64 bits, 64 for 256), :meth:`from_hex`
    parses it back, and ``a - b`` (or ``a.distance(b)``) is the Hamming distance.
    """

    __slots__ = ("_data", "_nbits")

    _data: bytes
    _nbits: int

    def __init__(self, bits: npt.ArrayLike) -> None:
        """Build a hash from its bits.

        Args:
            bits: A 1-D array of booleans (or of 0 and 1), most significant bit first; its
                length must be a positive multiple of 8.

        Raises:
            ValueError: The array is not 1-D, is empty, has a length that is not a multiple of
                8, or holds values other than 0 and 1.
        """
        array = np.asarray(bits)
        if array.ndim != 1:
            raise ValueError(f"hash bits must be a 1-D array, not {array.ndim}-D")
        if array.size == 0 or array.size % 8:
            raise ValueError(f"hash length must be a positive multiple of 8 bits, not {array.size}")
        if array.dtype != np.bool_:
            if array.dtype.kind not in "iu" or not np.isin(array, (0, 1)).all():
                raise ValueError("hash bits must be booleans or 0/1 integers")
            array = array.astype(np.bool_)
        object.__setattr__(self, "_data", np.packbits(array).tobytes())
        object.__setattr__(self, "_nbits", int(array.size))

    @classmethod
    def from_bytes(cls, data: bytes) -> BitHash:
        """Build a hash from its packed bytes (as :meth:`to_bytes` gives, e.g. a database BLOB).

        Args:
            data: One or more bytes, most significant bit first.

        Raises:
            ValueError: ``data`` is empty.
        """
        if not data:
            raise ValueError("hash length must be a positive multiple of 8 bits, not 0")
        # The bytes are the packed form already: no round trip through an array of bits
        # (most of the time of reading 10^5 stored hashes).
        found = cls.__new__(cls)
        object.__setattr__(found, "_data", bytes(data))
        object.__setattr__(found, "_nbits", len(data) * 8)
        return found

    @classmethod
    def from_hex(cls, text: str, bits: int | None = None) -> BitHash:
        """Parse the hex form given by ``str()``.

        Args:
            text: Hex digits, upper or lower case, two per byte, nothing else.
            bits: The size the hash must have (64 for pHash/dHash, 256 for PDQ), if known.

        Raises:
            ValueError: ``text`` is not an even number of hex digits, or not ``bits`` long.
        """
        if not _HEX.fullmatch(text) or len(text) % 2:
            raise ValueError(f"not a hex hash (an even number of hex digits): {text!r}")
        if bits is not None and len(text) * 4 != bits:
            raise ValueError(
                f"expected {bits} bits ({bits // 4} hex digits), got {len(text) * 4}: {text!r}"
            )
        return cls.from_bytes(bytes.fromhex(text))

    @property
    def nbits(self) -> int:
        """The number of bits."""
        return self._nbits

    @property
    def bits(self) -> BoolArray:
        """The bits as a read-only 1-D boolean array, most significant first."""
        array = np.unpackbits(np.frombuffer(self._data, dtype=np.uint8)).astype(np.bool_)
        array.flags.writeable = False
        return array

    def to_bytes(self) -> bytes:
        """The bits packed into ``nbits // 8`` bytes, most significant bit first."""
        return self._data

    def to_int(self) -> int:
        """The bits as an unsigned integer (the first bit is the most significant)."""
        return int.from_bytes(self._data, "big")

    def distance(self, other: BitHash) -> int:
        """The Hamming distance: how many bits differ.

        Raises:
            ValueError: The hashes have different sizes.
        """
        if not isinstance(other, BitHash):
            raise TypeError(f"cannot compare a BitHash with {type(other).__name__}")
        if other._nbits != self._nbits:
            raise ValueError(
                f"cannot compare hashes of different sizes: {self._nbits} and {other._nbits} bits"
            )
        return (self.to_int() ^ other.to_int()).bit_count()

    def __sub__(self, other: BitHash) -> int:
        """``a - b`` is the Hamming distance (see :meth:`distance`)."""
        if not isinstance(other, BitHash):
            return NotImplemented
        return self.distance(other)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BitHash):
            return NotImplemented
        return self._nbits == other._nbits and self._data == other._data

    def __hash__(self) -> int:
        return hash((self._nbits, self._data))

    def __str__(self) -> str:
        return self._data.hex()

    def __repr__(self) -> str:
        return f"BitHash.from_hex({str(self)!r})"

    def __len__(self) -> int:
        return self._nbits

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        # The default slot-by-slot unpickling would go through the refusing __setattr__.
        return (BitHash.from_bytes, (self._data,))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("BitHash is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("BitHash is immutable")


#: An image's PDQ hashes over its eight rotations and flips, with their quality
#: (:func:`pdq_dihedral`).
Dihedral = dict[str, tuple[BitHash, int]]


@dataclass(frozen=True)
class Fingerprints:
    """The global perceptual hashes of one upright RGB image.

    Attributes:
        phash: 64-bit DCT hash (imagehash.phash, hash_size=8).
        dhash: 64-bit difference hash (imagehash.dhash, hash_size=8).
        pdq_dihedral: The PDQ hashes of all 8 rotations and flips (:func:`pdq_dihedral`),
            with their quality. Stored with the image, so that a look-up that finds it need
            not decode it again to compare them; its "original" is :attr:`pdq`.
    """

    phash: BitHash
    dhash: BitHash
    pdq_dihedral: Dihedral

    @property
    def pdq(self) -> BitHash:
        """256-bit PDQ hash of the image shrunk to at most 512 px."""
        return self.pdq_dihedral["original"][0]

    @property
    def pdq_quality(self) -> int:
        """PDQ's quality score, 0-100; below 50 the PDQ hash is unreliable."""
        return self.pdq_dihedral["original"][1]


def compute(pixels: Image.Image, *, working: WorkingCopy | None = None) -> Fingerprints:
    """Compute pHash, dHash and PDQ of a decoded image.

    Args:
        pixels: ``DecodedImage.pixels``: RGB, upright.
        working: ``WorkingCopy.of(pixels)``, when the caller has it already.

    Returns:
        The fingerprints.

    Raises:
        ValueError: The image is not RGB or has no pixels.
    """
    _require_rgb(pixels)
    working = working or WorkingCopy.of(pixels)
    variants = pdq_dihedral(pixels, working=working)  # one PDQ computation gives all eight
    # imagehash converts to grey and resizes to these sizes itself; given them, it only copies.
    phash_input = working.resized((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.LANCZOS, grey=True)
    dhash_input = working.resized((_HASH_SIZE + 1, _HASH_SIZE), Image.Resampling.LANCZOS, grey=True)
    return Fingerprints(
        phash=_from_imagehash(imagehash.phash(phash_input, hash_size=_HASH_SIZE)),
        dhash=_from_imagehash(imagehash.dhash(dhash_input, hash_size=_HASH_SIZE)),
        pdq_dihedral=variants,
    )


def pdq_dihedral(pixels: Image.Image, *, working: WorkingCopy | None = None) -> Dihedral:
    """The PDQ hashes of all 8 rotations and flips of an image, from one computation.

    A query's dihedral hashes compared with stored ``Fingerprints.pdq`` find rotated and
    mirrored copies: ``result["flip_y"][0]`` is (within a few bits) the PDQ hash of the
    left-right mirror. :data:`PDQ_DIHEDRAL` gives the Pillow transpose behind each key.

    Args:
        pixels: ``DecodedImage.pixels``: RGB, upright.
        working: ``WorkingCopy.of(pixels)``, when the caller has it already.

    Returns:
        ``{name: (hash, quality)}`` keyed as :data:`PDQ_DIHEDRAL`, "original" first; the
        quality is the same for all eight.

    Raises:
        ValueError: The image is not RGB or has no pixels.
    """
    _require_rgb(pixels)
    hashes, quality = pdqhash.compute_dihedral(_pdq_input(working or WorkingCopy.of(pixels)))
    # strict: a pdqhash that returned other than 8 hashes would otherwise be misnamed silently.
    pairs = zip(PDQ_DIHEDRAL, hashes, strict=True)
    return {name: (BitHash(bits), int(quality)) for name, bits in pairs}


#: Bytes of one PDQ hash.
_PDQ_BYTES: Final = 32


def dihedral_bytes(variants: Dihedral) -> bytes:
    """The eight PDQ hashes of :func:`pdq_dihedral` as stored (``Fingerprint.variants``):
    32 bytes each, in :data:`PDQ_DIHEDRAL` order."""
    return b"".join(variants[name][0].to_bytes() for name in PDQ_DIHEDRAL)


def dihedral_from_bytes(data: bytes, quality: int) -> Dihedral:
    """The hashes :func:`dihedral_bytes` stored, each with the image's PDQ ``quality``.

    Raises:
        ValueError: ``data`` is not eight 256-bit hashes.
    """
    if len(data) != len(PDQ_DIHEDRAL) * _PDQ_BYTES:
        raise ValueError(f"{len(data)} bytes are not {len(PDQ_DIHEDRAL)} PDQ hashes")
    return {
        name: (BitHash.from_bytes(data[i * _PDQ_BYTES : (i + 1) * _PDQ_BYTES]), quality)
        for i, name in enumerate(PDQ_DIHEDRAL)
    }


def pack(hashes: Sequence[BitHash], *, nbits: int | None = None) -> ByteMatrix:
    """Pack hashes into the ``(N, nbytes)`` uint8 matrix :func:`hamming_many` scans.

    Args:
        hashes: Hashes of one size.
        nbits: Their size; only needed to give an empty matrix the right width.

    Returns:
        A C-contiguous ``(len(hashes), nbits // 8)`` uint8 array, row i holding hashes[i].

    Raises:
        ValueError: The hashes differ in size, or from ``nbits``.
    """
    sizes = {h.nbits for h in hashes}
    if nbits is not None:
        sizes.add(nbits)
    if len(sizes) > 1:
        raise ValueError(f"cannot pack hashes of different sizes: {sorted(sizes)} bits")
    width = sizes.pop() // 8 if sizes else 0
    if not hashes:
        return np.zeros((0, width), dtype=np.uint8)
    joined = b"".join(h.to_bytes() for h in hashes)
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(hashes), width).copy()


def hamming_many(query: BitHash, stored: ByteMatrix) -> IntArray:
    """Hamming distances from one hash to many packed hashes, in one vectorised pass.

    Args:
        query: The hash to look up.
        stored: An ``(N, nbytes)`` uint8 array as :func:`pack` makes; N may be 0.

    Returns:
        An ``(N,)`` int64 array: distance from ``query`` to each row.

    Raises:
        ValueError: ``stored`` is not a 2-D uint8 array with ``query.nbits // 8`` columns.
    """
    if stored.ndim != 2 or stored.dtype != np.uint8:
        raise ValueError(f"expected an (N, nbytes) uint8 array, got {stored.dtype} {stored.shape}")
    rows, width = stored.shape
    if rows == 0:
        return np.zeros(0, dtype=np.int64)
    if width * 8 != query.nbits:
        raise ValueError(f"query has {query.nbits} bits but stored rows have {width * 8}")
    stored = np.ascontiguousarray(stored)
    query_bytes = np.frombuffer(query.to_bytes(), dtype=np.uint8)
    counts: Iterator[npt.NDArray[np.uint8]]
    # Column by column: numpy reduces a short last axis (sum(axis=1) over 4 words) about ten
    # times slower than it adds whole columns. 1M 64-bit rows take about a millisecond.
    if hasattr(np, "bitwise_count"):
        words: npt.NDArray[np.unsignedinteger[Any]] = stored
        query_words: npt.NDArray[np.unsignedinteger[Any]] = query_bytes
        if width % 8 == 0:
            # One popcount per 64-bit word; byte order does not matter to a bit count.
            words, query_words = stored.view(np.uint64), query_bytes.view(np.uint64)
        counts = (np.bitwise_count(words[:, i] ^ query_words[i]) for i in range(words.shape[1]))
    else:
        # numpy < 2 has no bitwise_count: look each byte up in a 256-entry table.
        counts = (_BYTE_POPCOUNT[stored[:, i] ^ query_bytes[i]] for i in range(width))
    # Add in 16 bits (enough below 65536-bit hashes, and faster), widen once at the end.
    total: npt.NDArray[Any] = next(counts).astype(np.uint16 if query.nbits < 1 << 16 else np.int64)
    for count in counts:
        total += count
    distances: IntArray = total.astype(np.int64)
    return distances


def popcount64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
    """The set bits of each 64-bit value (an array of any shape)."""
    if hasattr(np, "bitwise_count"):
        counts: npt.NDArray[np.uint8] = np.bitwise_count(values)
        return counts
    # numpy < 2: each of the eight bytes looked up in a 256-entry table.
    as_bytes = np.ascontiguousarray(values).view(np.uint8).reshape(*values.shape, 8)
    summed: npt.NDArray[np.uint8] = _BYTE_POPCOUNT[as_bytes].sum(axis=-1, dtype=np.uint8)
    return summed


def stored_pdq(rows: Sequence[tuple[int, str]]) -> ByteMatrix:
    """The PDQ hashes of ``(image id, hexadecimal hash)`` rows as the catalogue stores them,
    packed ``(N, 32)`` in one conversion.

    Raises:
        DamagedCatalogue: A value is not 64 hexadecimal digits (the message names its image).
    """
    digits = _PDQ_BYTES * 2
    packed = b""
    if all(len(value) == digits for _image_id, value in rows):
        # fromhex skips spaces, so the length is checked after it as well.
        try:
            packed = bytes.fromhex("".join(value for _image_id, value in rows))
        except ValueError:
            packed = b""
    if len(packed) != len(rows) * _PDQ_BYTES:
        for image_id, value in rows:
            if len(value) != digits or not all(c in string.hexdigits for c in value):
                raise DamagedCatalogue(
                    f"image {image_id}: its stored PDQ hash {value[:80]!r} is not"
                    f" {digits} hexadecimal digits"
                )
    return np.frombuffer(packed, dtype=np.uint8).reshape(len(rows), _PDQ_BYTES)


def _from_imagehash(value: imagehash.ImageHash) -> BitHash:
    return BitHash(np.asarray(value.hash, dtype=np.bool_).reshape(-1))


def _require_rgb(pixels: Image.Image) -> None:
    if pixels.mode != "RGB":
        raise ValueError(
            f"fingerprints need the RGB image from provcat.decode, got mode {pixels.mode!r}"
        )
    if pixels.width == 0 or pixels.height == 0:
        raise ValueError(f"fingerprints need pixels, got a {pixels.width} x {pixels.height} image")


def _pdq_input(working: WorkingCopy) -> npt.NDArray[np.uint8]:
    width, height = working.width, working.height
    scale = PDQ_MAX_SIDE / max(width, height)
    pixels = working.pixels
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = working.resized(size, Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(pixels, dtype=np.uint8))
