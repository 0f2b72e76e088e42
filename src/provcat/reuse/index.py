"""Candidate retrieval over stored ORB descriptors: hash tables on descriptor bytes, vote per image.

How it works (docs/reuse.md has the measurements):

- Each stored image contributes up to :data:`INDEX_FEATURES` of its descriptors (spread over the
  whole keypoint list), not all of them, to bound memory.
- :data:`TABLES` hash tables each key a descriptor by 16 of its bits (bytes 2t and 2t+1 of the
  256-bit ORB descriptor; ORB's first bits are its least correlated). Two descriptors of the
  same corner in a copy differ in a few tens of bits, so they share at least one 16-bit key
  with good probability (multi-index hashing by pigeonhole, relaxed).
- A query descriptor's table hits are checked with the full 256-bit Hamming distance
  (<= :data:`MAX_DISTANCE`), so colliding keys do not vote. An image's votes are how many query
  descriptors found one of its descriptors that way, leaving out "stop words": query
  descriptors close to something in many images (see :data:`STOP_SHARE`).
- Storage is a list of immutable sorted segments (numpy arrays: per table, keys sorted with a
  row order), plus a pending buffer. ``add`` only appends to the buffer; the next query seals
  it into a segment, and segments of similar size are merged (as a log-structured merge
  tree does), so adding after querying never rebuilds the whole index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from provcat.reuse.features import Features

#: Descriptors indexed per stored image.
INDEX_FEATURES: Final = 256

#: Hash tables, each keyed by 16 bits of the descriptor.
TABLES: Final = 6

#: A table hit counts when the full descriptors are at most this many bits apart (of 256).
MAX_DISTANCE: Final = 48

#: A query descriptor close to descriptors of more than this share of the stored images (and
#: more than STOP_MIN images) is a stop word and does not vote.
STOP_SHARE: Final = 0.01
STOP_MIN: Final = 3

#: Images with fewer votes are not returned (unless the caller named them).
MIN_VOTES: Final = 2

#: A segment is merged with the previous one when that one is at most this many times larger.
_MERGE_RATIO: Final = 4

IntArray = npt.NDArray[np.int64]
ByteMatrix = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class _Segment:
    """Sealed, sorted postings of some stored descriptors."""

    descriptors: npt.NDArray[np.uint64]  # (M, 4) descriptor words
    images: IntArray  # (M,) image id per row
    keys: tuple[npt.NDArray[np.uint16], ...]  # per table: sorted keys
    rows: tuple[npt.NDArray[np.int32], ...]  # per table: row of each sorted key

    @classmethod
    def build(cls, descriptors: ByteMatrix, images: IntArray) -> _Segment:
        keys: list[npt.NDArray[np.uint16]] = []
        rows: list[npt.NDArray[np.int32]] = []
        for table_keys in _keys(descriptors):
            order = np.argsort(table_keys, kind="stable").astype(np.int32)
            keys.append(table_keys[order])
            rows.append(order)
        words = np.ascontiguousarray(descriptors).view(np.uint64).reshape(-1, 4)
        return cls(words, images, tuple(keys), tuple(rows))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def raw(self) -> ByteMatrix:
        return self.descriptors.view(np.uint8).reshape(-1, 32)

    def hits(self, query: ByteMatrix) -> tuple[IntArray, IntArray]:
        """(query descriptor index, image id) for each close stored descriptor (may repeat)."""
        query_words = np.ascontiguousarray(query).view(np.uint64).reshape(-1, 4)
        found_q: list[IntArray] = []
        found_r: list[IntArray] = []
        for table, table_keys in enumerate(_keys(query)):
            lo = np.searchsorted(self.keys[table], table_keys, side="left")
            hi = np.searchsorted(self.keys[table], table_keys, side="right")
            counts = hi - lo
            total = int(counts.sum())
            if total == 0:
                continue
            q_index = np.repeat(np.arange(len(table_keys), dtype=np.int64), counts)
            # Positions lo[i] .. hi[i]-1 for every query i, without a Python loop.
            starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
            positions = starts + np.arange(total, dtype=np.int64)
            found_q.append(q_index)
            found_r.append(self.rows[table][positions].astype(np.int64))
        if not found_q:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        q_all = np.concatenate(found_q)
        r_all = np.concatenate(found_r)
        # Word by word: numpy adds whole columns far faster than it reduces a short axis.
        distance = np.zeros(q_all.shape[0], dtype=np.uint16)
        for word in range(4):
            stored = self.descriptors[r_all, word]
            distance += np.bitwise_count(query_words[q_all, word] ^ stored).astype(np.uint16)
        close = distance <= MAX_DISTANCE
        # Duplicates (one pair hit in several tables) are removed by the caller's unique.
        return q_all[close], self.images[r_all[close]]


class FeatureIndex:
    """An in-memory index from ORB descriptors to the stored images that hold them.

    Not thread-safe: queries seal pending additions. Build it from stored features at start-up
    (``add`` for each image) and keep adding as images are ingested.
    """

    def __init__(self) -> None:
        """An empty index."""
        self._segments: list[_Segment] = []
        self._pending_desc: list[ByteMatrix] = []
        self._pending_ids: list[IntArray] = []
        self._ids: set[int] = set()

    def __len__(self) -> int:
        """How many images have been added."""
        return len(self._ids)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._ids

    def add(self, image_id: int, features: Features) -> None:
        """Store an image's descriptors; takes effect for the next query.

        Args:
            image_id: The caller's id for the image (a database key).
            features: Its features. An image with no keypoints is counted but never voted for.

        Raises:
            ValueError: ``image_id`` was added before.
        """
        if image_id in self._ids:
            raise ValueError(f"image {image_id} is already in the index")
        self._ids.add(image_id)
        chosen = _subset(features.descriptors, INDEX_FEATURES)
        if chosen.shape[0]:
            self._pending_desc.append(chosen)
            self._pending_ids.append(np.full(chosen.shape[0], image_id, dtype=np.int64))

    def candidates(
        self,
        features: Features,
        *,
        limit: int = 20,
        mirrored: Features | None = None,
        extra: Iterable[int] = (),
    ) -> list[tuple[int, int]]:
        """Stored images likely to show the same photo, best first, for :func:`verify`.

        Args:
            features: The query's features (all of them: the query side is not subsampled).
            limit: How many voted images to return at most.
            mirrored: The query's mirror-image features; an image's votes are then the larger
                of its two counts, so mirrored copies are found too.
            extra: Image ids found another way (PDQ or pHash near matches, including the
                dihedral PDQ variants); each is returned even beyond ``limit``, with its
                votes (0 if none), after the voted images.

        Returns:
            ``(image_id, votes)`` pairs, most votes first (ties by id), then the extra ids not
            already listed, in the order given.
        """
        self._seal()
        votes = self._votes(features.descriptors)
        if mirrored is not None:
            for image_id, count in self._votes(mirrored.descriptors).items():
                votes[image_id] = max(votes.get(image_id, 0), count)
        ranked = sorted(
            ((i, v) for i, v in votes.items() if v >= MIN_VOTES), key=lambda p: (-p[1], p[0])
        )[: max(0, limit)]
        listed = {image_id for image_id, _ in ranked}
        for image_id in extra:
            if image_id not in listed:
                listed.add(image_id)
                ranked.append((image_id, votes.get(image_id, 0)))
        return ranked

    def _votes(self, descriptors: ByteMatrix) -> dict[int, int]:
        if descriptors.shape[0] == 0 or not self._segments:
            return {}
        found_q: list[IntArray] = []
        found_i: list[IntArray] = []
        for segment in self._segments:
            q_index, image_ids = segment.hits(descriptors)
            found_q.append(q_index)
            found_i.append(image_ids)
        q_all = np.concatenate(found_q)
        i_all = np.concatenate(found_i)
        if q_all.size == 0:
            return {}
        # One vote per (query descriptor, image), however many of its descriptors were close.
        count = descriptors.shape[0]
        pairs = np.unique(i_all * count + q_all)
        # Stop words: a descriptor close to something in many images (smooth gradients, plain
        # edges) says nothing about which image; it votes for none.
        spread = np.bincount(pairs % count, minlength=count)
        limit = max(STOP_MIN, int(STOP_SHARE * len(self._ids)))
        pairs = pairs[spread[pairs % count] <= limit]
        ids, counts = np.unique(pairs // count, return_counts=True)
        return dict(zip(ids.tolist(), counts.tolist(), strict=True))

    def _seal(self) -> None:
        if not self._pending_desc:
            return
        descriptors = np.concatenate(self._pending_desc)
        images = np.concatenate(self._pending_ids)
        self._pending_desc, self._pending_ids = [], []
        # Merge with the newest segments while they are not much larger: amortised
        # O(n log n) over all additions, and only a logarithmic number of segments.
        while self._segments and len(self._segments[-1]) <= _MERGE_RATIO * len(images):
            last = self._segments.pop()
            descriptors = np.concatenate([last.raw(), descriptors])
            images = np.concatenate([last.images, images])
        self._segments.append(_Segment.build(descriptors, images))


def _keys(descriptors: ByteMatrix) -> list[npt.NDArray[np.uint16]]:
    """Per table, the 16-bit key of every descriptor (bytes 2t and 2t+1, big-endian)."""
    high = descriptors[:, 0 : 2 * TABLES : 2].astype(np.uint16) << 8
    keys = high | descriptors[:, 1 : 2 * TABLES : 2].astype(np.uint16)
    return [np.ascontiguousarray(keys[:, t]) for t in range(TABLES)]


def _subset(descriptors: ByteMatrix, limit: int) -> ByteMatrix:
    """At most ``limit`` rows, evenly spaced, so that the subset spans every grid cell."""
    count = descriptors.shape[0]
    if count <= limit:
        return np.ascontiguousarray(descriptors)
    rows = np.linspace(0, count - 1, limit).round().astype(np.int64)
    return np.ascontiguousarray(descriptors[rows])
