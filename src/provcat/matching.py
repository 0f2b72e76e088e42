"""Reused photos in the catalogue: find and record which stored images are copies of one photo.

Each image's ORB features are stored when it is ingested. A :class:`Matcher` holds an in-memory
candidate index of every stored image (provcat.reuse.index) and their PDQ hashes; a new image
is looked up there (local-feature votes, plus PDQ near matches over all eight rotations and
flips, plus equal pixel digests), each candidate is verified geometrically
(provcat.reuse.verify), and every verified pair is recorded as a ``photo_match`` with the
relation of the copy to the reference. Adding images never recomputes the pairs already found.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.decode import DecodedImage, open_image
from provcat.errors import InputError
from provcat.fingerprints import BitHash, hamming_many, pack, pdq_dihedral
from provcat.reuse.features import Features, extract, mirrored
from provcat.reuse.index import FeatureIndex
from provcat.reuse.verify import RICH_INLIERS, Relation, verify
from provcat.reuse.weak import WEAK_PDQ, GlobalPrints, low_information, weak_relation

log = logging.getLogger(__name__)

#: PDQ distance within which a stored image is verified even without feature votes.
PDQ_CANDIDATE = 31
#: Candidates verified per new image at most (besides PDQ and pixel-digest candidates).
CANDIDATES = 20
#: Full feature sets kept in memory for re-use (the most recently stored or read).
RECENT_FEATURES = 512


@dataclass(frozen=True)
class Fresh:
    """A newly stored image waiting to be matched."""

    image_id: int
    sha256: str
    pixel_digest: str
    #: The file it was read from: its pixels are decoded again when it is matched, so that a
    #: manifest of a thousand images does not hold a thousand decoded pictures in memory.
    path: Path
    features: Features
    pdq: BitHash


@dataclass(frozen=True)
class Found:
    """A stored image that a query image is the same photo as."""

    image_id: int
    sha256: str
    relation: Relation
    pdq_distance: int | None
    #: True when the stored image is the copy and the query the reference.
    query_is_reference: bool


@dataclass(frozen=True)
class SimilarMatch:
    """A stored image that a queried file is the same photo as (``provcat similar``)."""

    sha256: str
    #: How the queried file relates to the stored image, or, when ``contains`` leads, how
    #: the stored image relates to the queried file (the file is the larger one).
    relation: tuple[str, ...]
    #: Smallest PDQ distance over the eight rotations and flips; None when not computed.
    distance: int | None
    crop_box: tuple[int, int, int, int] | None
    score: float
    inliers: int
    #: "features" (a verified geometric fit) or "weak" (global hashes of a low-information
    #: picture only; see provcat.reuse.weak).
    evidence: str = "features"

    @classmethod
    def from_found(cls, found: Found) -> SimilarMatch:
        """From a matcher result."""
        rel = found.relation
        kinds = ("contains", *rel.kinds) if found.query_is_reference else rel.kinds
        return cls(
            sha256=found.sha256,
            relation=kinds,
            distance=found.pdq_distance,
            crop_box=rel.crop_box,
            score=rel.score,
            inliers=rel.inliers,
            evidence=rel.evidence,
        )

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "sha256": self.sha256,
            "relation": list(self.relation),
            "distance": self.distance,
            "crop_box": list(self.crop_box) if self.crop_box else None,
            "score": round(self.score, 4),
            "inliers": self.inliers,
            "evidence": self.evidence,
        }


@dataclass
class _Stored:
    ids: list[int] = field(default_factory=list)
    shas: dict[int, str] = field(default_factory=dict)
    digests: dict[str, list[int]] = field(default_factory=dict)
    pdq: list[BitHash] = field(default_factory=list)
    pdq_ids: list[int] = field(default_factory=list)


def features_row(image_id: int, features: Features) -> m.Feature:
    """The database row that stores an image's features."""
    return m.Feature(
        image_id=image_id, algorithm="orb", count=len(features), data=features.to_bytes()
    )


class Matcher:
    """Finds stored images that show the same photo as a given one.

    Args:
        session_factory: New sessions on the catalogue.
        pixels_of: Loads a stored image's upright pixels by id (for overlay checks); default:
            decode the first of its paths that can still be read.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        pixels_of: Callable[[int], Image.Image | None] | None = None,
    ) -> None:
        self._sessions = session_factory
        self._pixels_of = pixels_of or self._load_pixels
        self._index = FeatureIndex()
        # Full feature sets are read from the database for the few candidates a query verifies;
        # the index keeps only a sample of each image's descriptors in memory.
        self._with_features: set[int] = set()
        self._recent: dict[int, Features] = {}
        self._stored = _Stored()
        self._load()

    def _load(self) -> None:
        with self._sessions() as session:
            prints: dict[int, str] = {
                row[0]: row[1]
                for row in session.execute(
                    select(m.Fingerprint.image_id, m.Fingerprint.value).where(
                        m.Fingerprint.algorithm == "pdq"
                    )
                ).all()
            }
            rows = session.execute(
                select(m.Image.id, m.Image.sha256, m.Image.pixel_digest, m.Feature.data)
                .outerjoin(m.Feature, m.Feature.image_id == m.Image.id)
                .order_by(m.Image.id),
                execution_options={"yield_per": 500},
            )
            for image_id, sha, digest, data in rows:
                features = Features.from_bytes(data) if data is not None else None
                pdq = BitHash.from_hex(prints[image_id], 256) if image_id in prints else None
                self._remember(image_id, sha, digest, features, pdq)

    def _features_of(self, image_id: int) -> Features:
        found = self._recent.get(image_id)
        if found is not None:
            return found
        with self._sessions() as session:
            data = session.scalar(select(m.Feature.data).where(m.Feature.image_id == image_id))
        assert data is not None, f"image {image_id} is indexed but has no stored features"
        features = Features.from_bytes(data)
        self._keep(image_id, features)
        return features

    def _keep(self, image_id: int, features: Features) -> None:
        if len(self._recent) >= RECENT_FEATURES:
            self._recent.pop(next(iter(self._recent)))
        self._recent[image_id] = features

    def _remember(
        self,
        image_id: int,
        sha: str,
        digest: str,
        features: Features | None,
        pdq: BitHash | None,
    ) -> None:
        stored = self._stored
        if image_id in stored.shas:
            return  # loaded from the database already (it was committed before the matcher)
        stored.ids.append(image_id)
        stored.shas[image_id] = sha
        stored.digests.setdefault(digest, []).append(image_id)
        if pdq is not None:
            stored.pdq.append(pdq)
            stored.pdq_ids.append(image_id)
        if features is not None:
            self._with_features.add(image_id)
            self._keep(image_id, features)
            self._index.add(image_id, features)

    def __len__(self) -> int:
        return len(self._stored.ids)

    def _load_pixels(self, image_id: int) -> Image.Image | None:
        with self._sessions() as session:
            paths = session.scalars(
                select(m.ImagePath.path).where(m.ImagePath.image_id == image_id)
            ).all()
        for path in paths:
            try:
                return open_image(Path(path)).pixels
            except InputError:
                continue
        return None

    def find(
        self,
        pixels: Image.Image,
        features: Features,
        *,
        sha256: str | None = None,
        pixel_digest: str | None = None,
        exclude: int | None = None,
    ) -> list[Found]:
        """Stored images that show the same photo as ``pixels``, best first."""
        flipped = mirrored(pixels)
        pdq_near, query_low = self._pdq_near(pixels, len(features))
        same_digest = set(self._stored.digests.get(pixel_digest or "", ()))
        voted = self._index.candidates(
            features, limit=CANDIDATES, mirrored=flipped, extra=[*same_digest, *pdq_near]
        )
        found: list[Found] = []
        for image_id, _votes in voted:
            if image_id == exclude or image_id not in self._with_features:
                continue
            stored = self._features_of(image_id)
            identical = sha256 is not None and self._stored.shas[image_id] == sha256
            same = image_id in same_digest
            if not (identical or same):
                # Features alone settle most candidates; only a likely match is worth
                # decoding the stored file for the pixel checks (overlays, borders).
                first = verify(stored, features, b_mirrored=flipped)
                # A stretched or keystoned copy is confirmed by its pixels: a fit with enough
                # inliers is worth decoding the stored file for, even if features alone refused.
                if not first.same_photo and first.inliers < RICH_INLIERS:
                    weak = self._weak(image_id, pixels, query_low) if image_id in pdq_near else None
                    if weak is not None:
                        found.append(
                            Found(
                                image_id=image_id,
                                sha256=self._stored.shas[image_id],
                                relation=weak,
                                pdq_distance=pdq_near[image_id],
                                query_is_reference=False,
                            )
                        )
                    continue
            stored_pixels = self._pixels_of(image_id)
            relation = verify(
                stored,
                features,
                a_pixels=stored_pixels,
                b_pixels=pixels,
                b_mirrored=flipped,
                identical_file=identical,
                same_pixels=same,
            )
            query_is_reference = False
            framed = {"padded", "contained"} & set(relation.kinds)
            larger_picture = relation.direction == "b_contains_a" and not framed
            if relation.same_photo and larger_picture:
                # The new image shows more of the picture than the stored one (not just added
                # borders, nor other material around it as in a collage or a social-media
                # card): describe the pair from its side, the stored image being a crop.
                swapped = verify(features, stored, a_pixels=pixels, b_pixels=stored_pixels)
                if swapped.same_photo:
                    relation, query_is_reference = swapped, True
            if relation.same_photo:
                found.append(
                    Found(
                        image_id=image_id,
                        sha256=self._stored.shas[image_id],
                        relation=relation,
                        pdq_distance=pdq_near.get(image_id),
                        query_is_reference=query_is_reference,
                    )
                )
        found.sort(key=lambda f: (-f.relation.score, f.image_id))
        return found

    def _pdq_near(self, pixels: Image.Image, keypoints: int) -> tuple[dict[int, int], bool]:
        """Stored images whose PDQ is near any rotation or flip of ``pixels``, and whether the
        query is low-information.

        Near is within PDQ_CANDIDATE, or within the weak-evidence guard's looser PDQ limit
        when the query is low-information (its PDQ hash is noisy; the guard also asks pHash
        and dHash, see provcat.reuse.weak).
        """
        variants = pdq_dihedral(pixels)
        quality = next(iter(variants.values()))[1]
        low = low_information(quality, keypoints)
        stored = self._stored
        if not stored.pdq:
            return {}, low
        limit = max(PDQ_CANDIDATE, WEAK_PDQ) if low else PDQ_CANDIDATE
        matrix = pack(stored.pdq)
        best = np.full(len(stored.pdq), 256, dtype=np.int64)
        for hash_, _quality in variants.values():
            best = np.minimum(best, hamming_many(hash_, matrix))
        near = {stored.pdq_ids[i]: int(best[i]) for i in np.flatnonzero(best <= limit)}
        return near, low

    def _weak(self, image_id: int, pixels: Image.Image, query_low: bool) -> Relation | None:
        """Weak evidence (global hashes) that ``pixels`` shows stored image ``image_id``, asked
        only when one of the two is low-information."""
        with self._sessions() as session:
            image = session.get(m.Image, image_id)
            if image is None:
                return None
            prints = {
                row.algorithm: row
                for row in session.scalars(
                    select(m.Fingerprint).where(m.Fingerprint.image_id == image_id)
                )
            }
            count = session.scalar(select(m.Feature.count).where(m.Feature.image_id == image_id))
            size = (image.width, image.height)
        if not {"phash", "dhash", "pdq"} <= prints.keys():
            return None
        if not (query_low or low_information(prints["pdq"].quality, count)):
            return None
        stored = GlobalPrints(
            phash=BitHash.from_hex(prints["phash"].value, 64),
            dhash=BitHash.from_hex(prints["dhash"].value, 64),
            pdq=BitHash.from_hex(prints["pdq"].value, 256),
            width=size[0],
            height=size[1],
        )
        return weak_relation(stored, pixels)

    def add_and_match(self, fresh: Sequence[Fresh], *, session: Session) -> int:
        """Match each new image against everything stored (and the new ones before it), record
        the matches in ``session``, and add the images to the index. Returns matches recorded."""
        recorded = 0
        for item in fresh:
            try:
                pixels = open_image(item.path).pixels
            except InputError:
                # Gone or changed since it was ingested: it is still indexed for later images.
                log.warning("cannot read %s again to match it; not matched", item.path)
                pixels = None
            found = (
                []
                if pixels is None
                else self.find(
                    pixels,
                    item.features,
                    sha256=item.sha256,
                    pixel_digest=item.pixel_digest,
                    exclude=item.image_id,
                )
            )
            for match in found:
                recorded += _record(item.image_id, match, session=session)
            self._remember(item.image_id, item.sha256, item.pixel_digest, item.features, item.pdq)
        return recorded


def _record(new_id: int, match: Found, *, session: Session) -> int:
    reference, copy = (
        (new_id, match.image_id)
        if match.query_is_reference
        else (
            match.image_id,
            new_id,
        )
    )
    exists = session.scalar(
        select(m.PhotoMatch.id).where(
            ((m.PhotoMatch.reference_id == reference) & (m.PhotoMatch.copy_id == copy))
            | ((m.PhotoMatch.reference_id == copy) & (m.PhotoMatch.copy_id == reference))
        )
    )
    if exists is not None:
        return 0
    rel = match.relation
    box = rel.crop_box or (None, None, None, None)
    session.add(
        m.PhotoMatch(
            reference_id=reference,
            copy_id=copy,
            kinds=" ".join(rel.kinds),
            crop_left=box[0],
            crop_top=box[1],
            crop_right=box[2],
            crop_bottom=box[3],
            inliers=rel.inliers,
            score=rel.score,
            rotation_degrees=rel.rotation_degrees,
            scale=rel.scale,
            pdq_distance=match.pdq_distance,
        )
    )
    return 1


def fresh_from(image: m.Image, decoded: DecodedImage, features: Features, pdq: BitHash) -> Fresh:
    """What matching needs of an image just stored."""
    return Fresh(
        image_id=image.id,
        sha256=image.sha256,
        pixel_digest=image.pixel_digest,
        path=decoded.path,
        features=features,
        pdq=pdq,
    )


def extract_features(decoded: DecodedImage) -> Features:
    """The local features of a decoded image."""
    return extract(decoded.pixels)
