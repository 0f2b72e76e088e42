"""What queries return: plain, immutable records of articles, images, provenance and metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ArticleInfo:
    """An article as queries return it."""

    key: str
    title: str | None
    publisher: str | None
    url: str | None
    published: str | None
    published_precision: str
    published_note: str | None = None
    source: str | None = None
    appearances: int = 0


@dataclass(frozen=True)
class CaptionInfo:
    """A caption an image carried, with where it was printed or embedded."""

    text: str
    origin: str
    article: str | None = None
    position: int | None = None


@dataclass(frozen=True)
class AppearanceInfo:
    """One printing of an image in an article."""

    article: ArticleInfo
    position: int
    caption: str | None
    caption_origin: str
    credit: str | None


@dataclass(frozen=True)
class LinkInfo:
    """One link of a provenance chain."""

    agent: str | None
    role: str
    prov: str
    kind: str
    credit: str | None
    origin: str
    article: str | None
    chain: int


@dataclass(frozen=True)
class MetadataInfo:
    """One embedded metadata value."""

    standard: str
    key: str
    value: str
    property: str | None
    ordinal: int
    lang: str | None
    truncated: bool


@dataclass(frozen=True)
class PersonShown:
    """A person shown in an image and which record says so."""

    name: str
    cue: str | None
    source: str


@dataclass(frozen=True)
class ImageSummary:
    """An image in a listing."""

    sha256: str
    format: str
    width: int
    height: int
    stand_in: bool
    paths: list[str]
    captions: list[str]
    articles: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (what ``dataclasses.asdict`` gives, in a sixth of its time: a
        listing turns every image of the catalogue into one)."""
        return {
            "sha256": self.sha256,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "stand_in": self.stand_in,
            "paths": list(self.paths),
            "captions": list(self.captions),
            "articles": list(self.articles),
        }


@dataclass(frozen=True)
class PhotoLink:
    """Another stored image of the same photo.

    Attributes:
        sha256: The other image.
        role: "copy" when the other image is an edited copy of this one, "reference" when this
            image is a copy of the other.
        relation: The copy's edits relative to the reference.
        crop_box: Where the copy's picture lies in the reference's pixels, for crops.
    """

    sha256: str
    role: str
    relation: list[str]
    crop_box: tuple[int, int, int, int] | None


@dataclass(frozen=True)
class ImageRecord:
    """Everything the catalogue knows about one image."""

    sha256: str
    format: str
    mime: str | None
    width: int
    height: int
    file_size: int
    pixel_digest: str
    orientation: int | None
    stand_in: bool
    note: str | None
    paths: list[str]
    appearances: list[AppearanceInfo]
    captions: list[CaptionInfo]
    provenance: list[LinkInfo]
    people: list[PersonShown]
    metadata: list[MetadataInfo]
    fingerprints: dict[str, str]
    pdq_quality: int | None
    same_pixels: list[str] = field(default_factory=list)
    #: Other stored images found to be the same photo, with how they relate to this one.
    same_photo: list[PhotoLink] = field(default_factory=list)
    #: Why the picture has too little detail for local features (PDQ quality, keypoints), or
    #: None; copies of it are found by global hashes only, as weak evidence.
    low_information: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (what ``provcat show --json`` prints)."""
        return asdict(self)


@dataclass(frozen=True)
class AgentInfo:
    """An agent and how often each role was credited to it."""

    name: str
    kind: str
    anonymous: bool
    roles: dict[str, int]
    images: int
