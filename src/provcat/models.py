"""The catalogue's tables: articles, images, printings, metadata, provenance, people, hashes.

Every type here behaves the same on SQLite and PostgreSQL. The MetaData carries a naming
convention so that Alembic's SQLite batch migrations can find and alter constraints by name.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from provcat.captions import match_keys

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: How precisely an article's publication date is known.
DATE_PRECISIONS = ("day", "month", "year", "unknown")
#: Where a record came from.
SOURCE_KINDS = ("manifest", "text", "html", "folder")
#: Roles in a provenance chain (see provcat.credits.PROV_TERMS for the W3C PROV words).
ROLES = ("originator", "supplier", "credited", "publisher")
#: Agent kinds.
AGENT_KINDS = ("organisation", "person", "anonymous", "unknown")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every provcat table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: DateTime(timezone=True)}


class Article(Base):
    """A published page (or a scraped copy of one) that printed images."""

    __tablename__ = "article"
    __table_args__ = (
        CheckConstraint(
            "published_precision IN ('day', 'month', 'year', 'unknown')", name="precision"
        ),
        CheckConstraint(
            "source_kind IN ('manifest', 'text', 'html', 'folder')", name="source_kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Identity of the record: the manifest's id, the canonical URL, or the scraped file's hash.
    key: Mapped[str] = mapped_column(String(512), unique=True)
    url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    publisher: Mapped[str | None] = mapped_column(Text)
    #: First day of the publication period (the day itself when precision is "day").
    published: Mapped[dt.date | None] = mapped_column(Date)
    #: Last day of the publication period, so date-range queries can test overlap in SQL.
    published_until: Mapped[dt.date | None] = mapped_column(Date)
    published_precision: Mapped[str] = mapped_column(String(8), default="unknown")
    published_note: Mapped[str | None] = mapped_column(Text)
    source_kind: Mapped[str] = mapped_column(String(16))
    #: The file the record was read from.
    source: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)

    appearances: Mapped[list[Appearance]] = relationship(
        back_populates="article", order_by="Appearance.position"
    )


class Image(Base):
    """One distinct file content, identified by the SHA-256 of its bytes."""

    __tablename__ = "image"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    format: Mapped[str] = mapped_column(String(16))
    mime: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    file_size: Mapped[int] = mapped_column(BigInteger)
    #: SHA-256 of the decoded, orientation-corrected pixels: equal for re-saved copies.
    pixel_digest: Mapped[str] = mapped_column(String(64), index=True)
    orientation: Mapped[int | None] = mapped_column(Integer)
    #: True when a manifest says this file is a stand-in rendered in place of a missing original.
    stand_in: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)
    #: When reuse matching of this image finished: the value of the catalogue's match counter
    #: (see CatalogueState) it was given. None while matching is pending, so an ingest that was
    #: killed after storing the image but before matching it matches it on the next run.
    match_seq: Mapped[int | None] = mapped_column(BigInteger, index=True)

    paths: Mapped[list[ImagePath]] = relationship(
        back_populates="image", order_by="ImagePath.id", cascade="all, delete-orphan"
    )
    appearances: Mapped[list[Appearance]] = relationship(back_populates="image")
    metadata_fields: Mapped[list[MetadataField]] = relationship(
        back_populates="image", order_by="MetadataField.id", cascade="all, delete-orphan"
    )
    fingerprints: Mapped[list[Fingerprint]] = relationship(
        back_populates="image", order_by="Fingerprint.algorithm", cascade="all, delete-orphan"
    )
    chains: Mapped[list[ProvenanceChain]] = relationship(
        back_populates="image", order_by="ProvenanceChain.id", cascade="all, delete-orphan"
    )
    depictions: Mapped[list[Depiction]] = relationship(
        back_populates="image", order_by="Depiction.id", cascade="all, delete-orphan"
    )
    thumbnail: Mapped[Thumbnail | None] = relationship(
        back_populates="image", cascade="all, delete-orphan", passive_deletes=True
    )


class ImagePath(Base):
    """A place an image's bytes were seen at."""

    __tablename__ = "image_path"
    __table_args__ = (UniqueConstraint("image_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    #: The path as text; bytes of a file name that are not UTF-8 are written \xNN.
    path: Mapped[str] = mapped_column(Text)
    #: The path's exact bytes when its name is not UTF-8 (else None): provcat.files.stored_path.
    path_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)

    image: Mapped[Image] = relationship(back_populates="paths")


class Appearance(Base):
    """One printing of an image (or of a caption whose image we lack) in an article."""

    __tablename__ = "appearance"
    __table_args__ = (UniqueConstraint("article_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    #: NULL when the article printed a caption for an image that is not in the catalogue.
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("image.id", ondelete="SET NULL"), index=True
    )
    #: 1-based order of this printing in the article.
    position: Mapped[int] = mapped_column(Integer)
    #: The caption occurrence this printing belongs to: printings that share one are a single
    #: caption printed under a group of images (a gallery), not a repeated caption.
    occurrence: Mapped[int] = mapped_column(Integer)
    #: The caption exactly as printed there; NULL when none was printed.
    caption: Mapped[str | None] = mapped_column(Text)
    #: The caption's match key (provcat.captions.match_keys), made when the caption is set,
    #: so that grouping and look-ups need not parse every printed caption again (since
    #: revision 0012; provcat.caption_keys). NULL when no caption was printed, or for a row
    #: written without it (readers then make it).
    caption_key: Mapped[str | None] = mapped_column(Text)
    #: The caption's body key (label and trailing credit split off), NULL when it is the
    #: match key itself, as for most captions.
    caption_body_key: Mapped[str | None] = mapped_column(Text)
    #: Where the caption text came from: manifest, figcaption, alt, caption-paragraph, ...
    caption_origin: Mapped[str] = mapped_column(String(32))
    #: The credit line exactly as printed with this printing; NULL when none was stated.
    credit: Mapped[str | None] = mapped_column(Text)
    #: How the page referred to the image (its src URL or the manifest's file name).
    image_ref: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    chain_id: Mapped[int | None] = mapped_column(
        ForeignKey("provenance_chain.id", ondelete="SET NULL")
    )

    article: Mapped[Article] = relationship(back_populates="appearances")
    image: Mapped[Image | None] = relationship(back_populates="appearances")
    chain: Mapped[ProvenanceChain | None] = relationship()

    @validates("caption")
    def _keyed(self, _name: str, caption: str | None) -> str | None:
        """Keep the stored keys in step with the caption, however it is set."""
        if caption is None:
            self.caption_key = self.caption_body_key = None
        else:
            key, body = match_keys(caption)
            self.caption_key = key
            self.caption_body_key = None if body == key else body
        return caption


class MetadataField(Base):
    """One embedded metadata value, kept with the standard and key it was read from."""

    __tablename__ = "metadata_field"
    __table_args__ = (Index("ix_metadata_field_property_value", "property"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    standard: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(255))
    #: The IPTC property the value carries ("description", "credit_line", ...), if any.
    property: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    ordinal: Mapped[int] = mapped_column(Integer, default=0)
    lang: Mapped[str | None] = mapped_column(String(35))
    #: An IIM value cut to the dataset's byte limit, the full text being in XMP.
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)

    image: Mapped[Image] = relationship(back_populates="metadata_fields")


class Agent(Base):
    """A maker, supplier or publisher of images, as named in credits."""

    __tablename__ = "agent"
    __table_args__ = (
        CheckConstraint("kind IN ('organisation', 'person', 'anonymous', 'unknown')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Normalised name used for identity (see provcat.credits.agent_key).
    key: Mapped[str] = mapped_column(String(512), unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)


class ProvenanceChain(Base):
    """A credit as stated somewhere, parsed into ordered links; the raw text is kept."""

    __tablename__ = "provenance_chain"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Identity of the chain for idempotent ingest: hash of image, article, origin and raw text.
    signature: Mapped[str] = mapped_column(String(64), unique=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), index=True
    )
    #: The credit exactly as stated; NULL when none was stated (unknown, never guessed).
    credit_raw: Mapped[str | None] = mapped_column(Text)
    #: Where the credit was stated: "printed", "XMP photoshop:Credit", "IPTC-IIM 2:110", ...
    origin: Mapped[str] = mapped_column(String(64))

    image: Mapped[Image] = relationship(back_populates="chains")
    article: Mapped[Article | None] = relationship()
    links: Mapped[list[ProvenanceLink]] = relationship(
        back_populates="chain", order_by="ProvenanceLink.ordinal", cascade="all, delete-orphan"
    )


class ProvenanceLink(Base):
    """One agent in a chain, with its role (originator, supplier, credited, publisher)."""

    __tablename__ = "provenance_link"
    __table_args__ = (
        UniqueConstraint("chain_id", "ordinal"),
        CheckConstraint("role IN ('originator', 'supplier', 'credited', 'publisher')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(ForeignKey("provenance_chain.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    #: NULL when the credit did not name this link (an unknown originator).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))

    chain: Mapped[ProvenanceChain] = relationship(back_populates="links")
    agent: Mapped[Agent | None] = relationship()


class Person(Base):
    """Someone shown in images."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)

    aliases: Mapped[list[PersonAlias]] = relationship(
        back_populates="person", order_by="PersonAlias.id", cascade="all, delete-orphan"
    )


class PersonAlias(Base):
    """Another spelling of a person's name (for example "Alexsandar" for "Aleksandar")."""

    __tablename__ = "person_alias"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(String(512), unique=True)

    person: Mapped[Person] = relationship(back_populates="aliases")


class Depiction(Base):
    """A person shown in an image, with the position cue the record gives."""

    __tablename__ = "depiction"
    __table_args__ = (UniqueConstraint("image_id", "person_id", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    #: "left", "right", "pictured", ... or NULL when the record gives no position.
    cue: Mapped[str | None] = mapped_column(String(32))
    #: Which record says so: "manifest:<article key>", "XMP Iptc4xmpExt:PersonInImage", ...
    source: Mapped[str] = mapped_column(String(255))

    image: Mapped[Image] = relationship(back_populates="depictions")
    person: Mapped[Person] = relationship()


class Fingerprint(Base):
    """A perceptual hash of an image's upright pixels, stored as lowercase hex."""

    __tablename__ = "fingerprint"
    __table_args__ = (
        UniqueConstraint("image_id", "algorithm"),
        Index("ix_fingerprint_algorithm_value", "algorithm", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    #: "phash" and "dhash" (64 bits), "pdq" (256 bits).
    algorithm: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    #: PDQ's quality score (0-100); NULL for the other algorithms.
    quality: Mapped[int | None] = mapped_column(Integer)
    #: On the "pdq" row: the PDQ hashes of the picture's 8 rotations and flips, 32 bytes each
    #: (``provcat.fingerprints.dihedral_bytes``), so that a look-up that finds the picture
    #: compares them without decoding it again. NULL for the other algorithms, and for
    #: images stored before revision 0009 (computed from their pixels when needed).
    variants: Mapped[bytes | None] = mapped_column(LargeBinary)

    image: Mapped[Image] = relationship(back_populates="fingerprints")


class Thumbnail(Base):
    """A small JPEG of an image's upright pixels, for the reports' pages (provcat.thumbnails).

    Stored by ingest since revision 0013; images stored before have none until
    ``provcat index`` makes them from their files.
    """

    __tablename__ = "thumbnail"

    image_id: Mapped[int] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    #: JPEG bytes, provcat.thumbnails.SIDE pixels on the longer side (never enlarged).
    data: Mapped[bytes] = mapped_column(LargeBinary)

    image: Mapped[Image] = relationship(back_populates="thumbnail")


class Rejection(Base):
    """A file that could not be ingested, and why: one row per file, by its resolved path.

    A later failure of the same file replaces the reason and counts an attempt; a later
    success marks the row ``resolved_at`` (kept as history, listed only when asked for).
    """

    __tablename__ = "rejection"
    __table_args__ = (UniqueConstraint("path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The absolute path with symbolic links resolved (provcat.files.path_text).
    path: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    line: Mapped[int | None] = mapped_column(Integer)
    first_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)
    last_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    #: When the file was later ingested successfully; None while the rejection stands.
    resolved_at: Mapped[dt.datetime | None] = mapped_column()


class CatalogueState(Base):
    """Named counters shared by every process writing to the catalogue.

    ``match_seq`` counts finished reuse-matching turns. A turn takes its row lock first (an
    UPDATE), so turns of concurrent ingesters run one at a time and each sees every image
    committed before it: provcat.matching.

    ``words_posted_through`` (a SQLite catalogue's, since revision 0010): the postings table
    (``word_posting``) holds the words of every image up to this id, and of none after it.
    On SQLite an ingest stores its images without posting their words, and posts those of
    every image stored since the mark in one transaction, a thousand or so at a time, sorted
    by word (provcat.reuse.postings.post_pending): at 10^5 images a word's row lies on a
    page of its own, and posting 16 images a transaction wrote each page back for a handful
    of words. Until then a look-up that reads the table computes the words of the images
    after the mark from their stored features. Image ids grow with every commit on SQLite
    (one writer at a time, no deletions), so "after the mark" is exact. Since revision 0014
    such a posting commits its words a range at a time, in word order, so that no
    transaction changes more pages than the page cache holds (past it SQLite takes the
    exclusive lock, and readers wait): between two ranges ``words_posting_upto`` and
    ``words_posting_below`` say that the table holds the words below the second of the
    images after the mark up to the first (provcat.reuse.postings.Posted). A PostgreSQL
    catalogue posts each batch's words as it stores them (its writers run at once, and ids
    are not committed in order): it has no such row. Without it, every image's words are
    taken to be in the table.
    """

    __tablename__ = "catalogue_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Feature(Base):
    """An image's local features (ORB keypoints and descriptors), for finding edited copies."""

    __tablename__ = "feature"

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), unique=True)
    #: "orb" (provcat.reuse.features); the blob's own header carries its format version.
    algorithm: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class WordPosting(Base):
    """A visual word (provcat.reuse.postings): how many images post it, and which.

    The reuse candidate stage: a look-up reads the rows of its words by primary key, their
    counts first (to leave out the words posted everywhere and read the rarest first, within
    a budget), then their images. Each image that posts the word adds one to ``images`` and
    appends its id to ``ids`` (little-endian 32-bit integers), in one upsert. ``ids`` is NULL
    once more than ``provcat.reuse.postings.KEPT_POSTINGS`` images post the word: no look-up
    reads so common a word. Images are never deleted, so counts only grow. Those words (stop
    words at every catalogue size) have an index of their own, partial, so that a matcher can
    read them all at once and not ask for them again (``provcat.reuse.postings.StopWords``).
    """

    __tablename__ = "word_posting"
    __table_args__ = (
        Index(
            "ix_word_posting_stop",
            "word",
            sqlite_where=text("ids IS NULL"),
            postgresql_where=text("ids IS NULL"),
        ),
    )

    word: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    images: Mapped[int] = mapped_column(Integer, nullable=False)
    ids: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class PhotoMatch(Base):
    """Two stored images found to be the same photo, and how the copy relates to the reference."""

    __tablename__ = "photo_match"
    __table_args__ = (UniqueConstraint("reference_id", "copy_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The larger or less edited of the two; crop boxes are in its pixel coordinates.
    reference_id: Mapped[int] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), index=True
    )
    copy_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    #: Space-separated relation kinds: identical_file, same_pixels, reencoded, resized,
    #: cropped, mirrored, rotated, overlaid, padded.
    kinds: Mapped[str] = mapped_column(String(255))
    crop_left: Mapped[int | None] = mapped_column(Integer)
    crop_top: Mapped[int | None] = mapped_column(Integer)
    crop_right: Mapped[int | None] = mapped_column(Integer)
    crop_bottom: Mapped[int | None] = mapped_column(Integer)
    inliers: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    rotation_degrees: Mapped[float] = mapped_column(Float)
    scale: Mapped[float] = mapped_column(Float)
    #: Smallest Hamming distance between the two PDQ hashes over the 8 rotations and flips.
    pdq_distance: Mapped[int | None] = mapped_column(Integer)
    found_at: Mapped[dt.datetime] = mapped_column(default=_utcnow)

    reference: Mapped[Image] = relationship(foreign_keys=[reference_id])
    copy: Mapped[Image] = relationship(foreign_keys=[copy_id])


class PdqPair(Base):
    """Two stored images whose PDQ hashes, as stored and both of PDQ quality 50 or more, are
    within 31 bits of each other: one photo to photo grouping (:mod:`provcat.photos`).

    Not every such pair: enough of them that any two matched images within 31 bits are
    joined through them (``provcat.photos.link_matched``, in the matching turn of the later
    of the two; ``provcat.photos.fill_pairs`` for images stored before revision 0011), so
    that grouping reads them instead of comparing every pair of hashes. Images not matched
    yet are compared when grouping runs.
    """

    __tablename__ = "pdq_pair"
    __table_args__ = (CheckConstraint("first_id < second_id", name="ordered"),)

    first_id: Mapped[int] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    second_id: Mapped[int] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
        index=True,
    )
    #: Hamming distance between the two stored hashes (0 to 31).
    distance: Mapped[int] = mapped_column(Integer)
