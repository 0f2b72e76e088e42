"""Read-side queries over the catalogue: images by filter, one image in full, articles, agents."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.credits import PROV_TERMS, agent_key
from provcat.errors import AmbiguousPrefix, CatalogueError, NotFound
from provcat.results import (
    AgentInfo,
    AppearanceInfo,
    ArticleInfo,
    CaptionInfo,
    ImageRecord,
    ImageSummary,
    LinkInfo,
    MetadataInfo,
    PersonShown,
    PhotoLink,
)
from provcat.reuse.weak import FEW_KEYPOINTS, LOW_QUALITY, low_information

#: IPTC properties whose embedded values are captions.
CAPTION_PROPERTIES = ("description",)


@dataclass(frozen=True)
class ImageQuery:
    """Filters for :meth:`provcat.Catalogue.images`; every filter given must match.

    Attributes:
        article: An article's key or URL, or text contained in its title.
        agent: Text contained in the name of an agent credited anywhere in the image's chains.
        person: A person's name or alias (whole name, case-insensitive) shown in the image.
        date_from: Printed in an article whose publication period ends on or after this day.
        date_to: Printed in an article whose publication period starts on or before this day.
        caption: Text contained (case-insensitive) in a printed or embedded caption.
        limit: At most this many images: the first catalogued (the listing's order).
    """

    article: str | None = None
    agent: str | None = None
    person: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    caption: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("article", "agent", "person", "caption"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise CatalogueError(f"the {name} filter is empty")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise CatalogueError(
                f"date range is backwards: {self.date_from} is after {self.date_to}"
            )
        if self.limit is not None and self.limit < 1:
            raise CatalogueError("limit must be at least 1")


def _article_info(article: m.Article, appearances: int = 0) -> ArticleInfo:
    return ArticleInfo(
        key=article.key,
        title=article.title,
        publisher=article.publisher,
        url=article.url,
        published=_published(article),
        published_precision=article.published_precision,
        published_note=article.published_note,
        source=article.source,
        appearances=appearances,
    )


def _published(article: m.Article) -> str | None:
    if article.published is None:
        return None
    if article.published_precision == "month":
        return article.published.strftime("%Y-%m")
    if article.published_precision == "year":
        return article.published.strftime("%Y")
    return article.published.isoformat()


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(query: ImageQuery) -> Select[Any]:
    stmt = select(m.Image)
    if query.article is not None:
        pattern = _like(query.article.lower())
        stmt = stmt.where(
            exists()
            .where(m.Appearance.image_id == m.Image.id, m.Appearance.article_id == m.Article.id)
            .where(
                or_(
                    m.Article.key == query.article,
                    m.Article.url == query.article,
                    func.lower(m.Article.title).like(pattern, escape="\\"),
                )
            )
        )
    if query.agent is not None:
        pattern = _like(query.agent.lower())
        stmt = stmt.where(
            exists()
            .where(
                m.ProvenanceChain.image_id == m.Image.id,
                m.ProvenanceLink.chain_id == m.ProvenanceChain.id,
                m.Agent.id == m.ProvenanceLink.agent_id,
            )
            .where(
                or_(
                    func.lower(m.Agent.name).like(pattern, escape="\\"),
                    m.Agent.key == agent_key(query.agent),
                )
            )
        )
    if query.person is not None:
        key = agent_key(query.person)
        alias_of = select(m.PersonAlias.person_id).where(m.PersonAlias.key == key)
        stmt = stmt.where(
            exists()
            .where(m.Depiction.image_id == m.Image.id, m.Person.id == m.Depiction.person_id)
            .where(or_(m.Person.key == key, m.Person.id.in_(alias_of)))
        )
    if query.date_from is not None or query.date_to is not None:
        dated = exists().where(
            m.Appearance.image_id == m.Image.id, m.Appearance.article_id == m.Article.id
        )
        if query.date_from is not None:
            dated = dated.where(m.Article.published_until >= query.date_from)
        if query.date_to is not None:
            dated = dated.where(m.Article.published <= query.date_to)
        stmt = stmt.where(dated)
    if query.caption is not None:
        pattern = _like(query.caption.lower())
        printed = exists().where(
            m.Appearance.image_id == m.Image.id,
            func.lower(m.Appearance.caption).like(pattern, escape="\\"),
        )
        embedded = exists().where(
            m.MetadataField.image_id == m.Image.id,
            m.MetadataField.property.in_(CAPTION_PROPERTIES),
            func.lower(m.MetadataField.value).like(pattern, escape="\\"),
        )
        stmt = stmt.where(or_(printed, embedded))
    stmt = stmt.order_by(m.Image.first_seen_at, m.Image.id)
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    return stmt


#: Images read with their printings and fields at once while listing (:func:`iter_images`).
_LISTED_AT_ONCE = 1_000


def list_images(query: ImageQuery, *, session: Session) -> list[ImageSummary]:
    """Images matching ``query``, in the order they were first catalogued."""
    return list(iter_images(query, session=session))


def iter_images(query: ImageQuery, *, session: Session) -> Iterator[ImageSummary]:
    """:func:`list_images` one image at a time, holding a page of them at once.

    The matching images' ids are read first, in order (8 bytes each); the images are then
    read :data:`_LISTED_AT_ONCE` at a time as plain rows, in four statements a page (the
    images, their paths, their printings with the articles' names, their embedded captions),
    so that neither this process nor a SQLite catalogue's writers wait on one read of every
    image (listing 10^6 images took 10.4 GB at once; docs/scale.md, session 39), and no
    image becomes an ORM object with every embedded field it carries (125 s for 10^6
    images that way; session 41). An image deleted meanwhile is left out.
    """
    ids = session.scalars(_filtered(query).with_only_columns(m.Image.id)).all()
    for at in range(0, len(ids), _LISTED_AT_ONCE):
        page = ids[at : at + _LISTED_AT_ONCE]
        yield from _listed(page, session=session)


def _listed(page: Sequence[int], *, session: Session) -> Iterator[ImageSummary]:
    """The summaries of the images ``page`` (ids, in the order given) as plain rows."""
    image, path, a, article, field = m.Image, m.ImagePath, m.Appearance, m.Article, m.MetadataField
    found = {
        row.id: row
        for row in session.execute(
            select(
                image.id, image.sha256, image.format, image.width, image.height, image.stand_in
            ).where(image.id.in_(page))
        )
    }
    # Each statement's rows sorted here by their key, not by the database: ordered there, a
    # planner without statistics may walk a whole table in key order (docs/scale.md).
    paths: dict[int, list[str]] = {i: [] for i in found}
    rows = session.execute(select(path.id, path.image_id, path.path).where(path.image_id.in_(page)))
    for row in sorted(rows, key=_first):
        paths[row.image_id].append(row.path)
    printings: dict[int, list[Any]] = {i: [] for i in found}
    rows = session.execute(
        select(a.id, a.image_id, a.article_id, a.position, a.caption, article.title, article.key)
        .join(article, article.id == a.article_id)
        .where(a.image_id.in_(page))
    )
    for row in sorted(rows, key=_first):
        printings[row.image_id].append(row)
    embedded: dict[int, list[str]] = {i: [] for i in found}
    rows = session.execute(
        select(field.id, field.image_id, field.value).where(
            field.image_id.in_(page),
            # Not through the index on (property, value): SQLite would take it and read
            # every caption in the catalogue for each page.
            field.property.concat("").in_(CAPTION_PROPERTIES),
        )
    )
    for row in sorted(rows, key=_first):
        embedded[row.image_id].append(row.value)
    for image_id in page:
        image_row = found.get(image_id)
        if image_row is None:
            continue
        printed = sorted(printings[image_id], key=lambda x: (x.article_id, x.position))
        yield ImageSummary(
            sha256=image_row.sha256,
            format=image_row.format,
            width=image_row.width,
            height=image_row.height,
            stand_in=bool(image_row.stand_in),
            paths=paths[image_id],
            captions=_distinct([*(x.caption for x in printed if x.caption), *embedded[image_id]]),
            articles=_distinct(x.title or x.key for x in printings[image_id]),
        )


_first = itemgetter(0)


def _distinct(values: Any) -> list[str]:
    return list(dict.fromkeys(values))


def _captions(image: m.Image) -> list[CaptionInfo]:
    printed = [
        CaptionInfo(
            text=a.caption,
            origin=f"printed ({a.caption_origin})",
            article=a.article.title or a.article.key,
            position=a.position,
        )
        for a in sorted(image.appearances, key=lambda a: (a.article_id, a.position))
        if a.caption
    ]
    embedded = [
        CaptionInfo(text=f.value, origin=f"{f.standard} {f.key}")
        for f in image.metadata_fields
        if f.property in CAPTION_PROPERTIES
    ]
    return printed + embedded


def resolve_prefix(prefix: str, *, session: Session) -> m.Image:
    """The one image whose SHA-256 starts with ``prefix``.

    Raises:
        CatalogueError: The prefix is not hexadecimal or shorter than 4 characters.
        NotFound: No image matches.
        AmbiguousPrefix: More than one image matches.
    """
    prefix = prefix.strip().lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise CatalogueError(f"{prefix!r} is not a SHA-256 prefix (at least 4 hex digits)")
    matches = session.scalars(
        select(m.Image).where(m.Image.sha256.startswith(prefix)).limit(10)
    ).all()
    if not matches:
        raise NotFound(f"no image's SHA-256 starts with {prefix!r}")
    if len(matches) > 1:
        raise AmbiguousPrefix(prefix, [i.sha256 for i in matches])
    return matches[0]


def image_record(prefix: str, *, session: Session) -> ImageRecord:
    """Everything about the image whose SHA-256 starts with ``prefix``."""
    image = resolve_prefix(prefix, session=session)
    appearances = sorted(image.appearances, key=lambda a: (a.article_id, a.position))
    provenance: list[LinkInfo] = []
    for number, chain in enumerate(image.chains):
        for link in chain.links:
            provenance.append(
                LinkInfo(
                    agent=link.agent.name if link.agent else None,
                    role=link.role,
                    prov=PROV_TERMS[link.role],
                    kind=link.agent.kind if link.agent else "unknown",
                    credit=chain.credit_raw,
                    origin=chain.origin,
                    article=(chain.article.title or chain.article.key) if chain.article else None,
                    chain=number,
                )
            )
    same_pixels = session.scalars(
        select(m.Image.sha256).where(
            m.Image.pixel_digest == image.pixel_digest, m.Image.id != image.id
        )
    ).all()
    pdq = next((f for f in image.fingerprints if f.algorithm == "pdq"), None)
    return ImageRecord(
        sha256=image.sha256,
        format=image.format,
        mime=image.mime,
        width=image.width,
        height=image.height,
        file_size=image.file_size,
        pixel_digest=image.pixel_digest,
        orientation=image.orientation,
        stand_in=image.stand_in,
        note=image.note,
        paths=[p.path for p in image.paths],
        appearances=[
            AppearanceInfo(
                article=_article_info(a.article),
                position=a.position,
                caption=a.caption,
                caption_origin=a.caption_origin,
                credit=a.credit,
            )
            for a in appearances
        ],
        captions=_captions(image),
        provenance=provenance,
        people=[
            PersonShown(name=d.person.name, cue=d.cue, source=d.source) for d in image.depictions
        ],
        metadata=[
            MetadataInfo(
                standard=f.standard,
                key=f.key,
                value=f.value,
                property=f.property,
                ordinal=f.ordinal,
                lang=f.lang,
                truncated=f.truncated,
            )
            for f in image.metadata_fields
        ],
        fingerprints={f.algorithm: f.value for f in image.fingerprints},
        pdq_quality=pdq.quality if pdq else None,
        same_pixels=list(same_pixels),
        same_photo=_photo_links(image, session=session),
        low_information=_low_information(image, pdq.quality if pdq else None, session=session),
    )


def _low_information(image: m.Image, quality: int | None, *, session: Session) -> str | None:
    """Why an image is low-information (provcat.reuse.weak), from stored figures; or None."""
    count = session.scalar(select(m.Feature.count).where(m.Feature.image_id == image.id))
    if not low_information(quality, count):
        return None
    reasons = []
    if quality is not None and quality < LOW_QUALITY:
        reasons.append(f"PDQ quality {quality} < {LOW_QUALITY}")
    if count is not None and count < FEW_KEYPOINTS:
        reasons.append(f"{count} local features < {FEW_KEYPOINTS}")
    return ", ".join(reasons)


def _photo_links(image: m.Image, *, session: Session) -> list[PhotoLink]:
    matches = session.scalars(
        select(m.PhotoMatch)
        .where(or_(m.PhotoMatch.reference_id == image.id, m.PhotoMatch.copy_id == image.id))
        .order_by(m.PhotoMatch.id)
    ).all()
    links = []
    for match in matches:
        is_reference = match.reference_id == image.id
        other = match.copy if is_reference else match.reference
        left, top = match.crop_left, match.crop_top
        right, bottom = match.crop_right, match.crop_bottom
        box = None
        if left is not None and top is not None and right is not None and bottom is not None:
            box = (left, top, right, bottom)
        links.append(
            PhotoLink(
                sha256=other.sha256,
                role="copy" if is_reference else "reference",
                relation=match.kinds.split(),
                crop_box=box,
            )
        )
    return links


def list_articles(*, session: Session) -> list[ArticleInfo]:
    """Every article, oldest publication first (undated last)."""
    counts = (
        select(m.Appearance.article_id, func.count().label("n"))
        .group_by(m.Appearance.article_id)
        .subquery()
    )
    rows = session.execute(
        select(m.Article, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.article_id == m.Article.id)
        .order_by(m.Article.published.is_(None), m.Article.published, m.Article.key)
    ).all()
    return [_article_info(article, int(n)) for article, n in rows]


def list_agents(*, session: Session) -> list[AgentInfo]:
    """Every agent named in a credit or as a publisher, with the roles it was given."""
    rows = session.execute(
        select(
            m.Agent,
            m.ProvenanceLink.role,
            func.count(func.distinct(m.ProvenanceChain.image_id)),
        )
        .join(m.ProvenanceLink, m.ProvenanceLink.agent_id == m.Agent.id)
        .join(m.ProvenanceChain, m.ProvenanceChain.id == m.ProvenanceLink.chain_id)
        .group_by(m.Agent.id, m.ProvenanceLink.role)
        .order_by(m.Agent.name)
    ).all()
    by_agent: dict[int, tuple[m.Agent, dict[str, int]]] = {}
    for agent, role, n in rows:
        by_agent.setdefault(agent.id, (agent, {}))[1][role] = int(n)
    images = {
        agent_id: int(n)
        for agent_id, n in session.execute(
            select(m.ProvenanceLink.agent_id, func.count(func.distinct(m.ProvenanceChain.image_id)))
            .join(m.ProvenanceChain, m.ProvenanceChain.id == m.ProvenanceLink.chain_id)
            .where(m.ProvenanceLink.agent_id.is_not(None))
            .group_by(m.ProvenanceLink.agent_id)
        )
    }
    return [
        AgentInfo(
            name=agent.name,
            kind=agent.kind,
            anonymous=agent.anonymous,
            roles=roles,
            images=images.get(agent.id, 0),
        )
        for agent, roles in by_agent.values()
    ]


def list_rejections(*, resolved: bool = False, session: Session) -> Sequence[m.Rejection]:
    """Standing rejections (with ``resolved``, also those since ingested), newest first."""
    query = select(m.Rejection).order_by(m.Rejection.last_at.desc(), m.Rejection.id.desc())
    if not resolved:
        query = query.where(m.Rejection.resolved_at.is_(None))
    return session.scalars(query).all()
