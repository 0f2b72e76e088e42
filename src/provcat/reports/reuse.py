"""The reused-photo report's data: clusters of images that are one photo, and what it carried."""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from provcat import models as m
from provcat.duplicates import group_keys, parse_all
from provcat.reports.captions import credits_disagree

#: Relation kinds that make an image a lesser copy (it cannot be the cluster's root).
LESSER = frozenset(
    {
        "cropped",
        "padded",
        "overlaid",
        "mirrored",
        "rotated",
        "stretched",
        "perspective",
        "contained",
        "grayscale",
    }
)
#: The note every "earliest" carries.
EARLIEST_NOTE = "earliest in this catalogue, not necessarily the first appearance anywhere"

FLAG_WORDS = {
    "different_captions": "the same photo under different captions",
    "different_publishers": "reused by more than one publisher",
    "credit_conflict": "the credits disagree",
    "edited_copies": "edited copies (cropped, mirrored, overlaid, padded, rotated, stretched, "
    "photographed on a screen, inset or made grey)",
    "weak_evidence": "WEAK EVIDENCE: some members are joined by global hashes only (a "
    "low-information picture, too little detail to verify)",
}


@dataclass(frozen=True)
class Member:
    """One stored image of a photo, and how it relates to the cluster's root."""

    sha256: str
    relation: tuple[str, ...]
    crop_box: tuple[int, int, int, int] | None
    width: int
    height: int
    stand_in: bool
    paths: tuple[str, ...]
    #: The image the relation was measured against when it is not the root itself.
    via: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class Cluster:
    """A photo: its stored images, every caption and credit it carried, its earliest sighting."""

    root: str
    members: tuple[Member, ...]
    captions: tuple[dict[str, Any], ...]
    credits: tuple[dict[str, Any], ...]
    earliest: dict[str, Any]
    flags: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The cluster as docs/schemas/reuse.schema.json describes it."""
        return {
            "root": self.root,
            "members": [
                {
                    "sha256": x.sha256,
                    "relation": list(x.relation),
                    "crop_box": list(x.crop_box) if x.crop_box else None,
                    "width": x.width,
                    "height": x.height,
                    "stand_in": x.stand_in,
                    "via": x.via,
                    "score": round(x.score, 4) if x.score is not None else None,
                }
                for x in self.members
            ],
            "captions": list(self.captions),
            "credits": list(self.credits),
            "earliest": self.earliest,
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class ReuseReport:
    """Every photo that the catalogue holds more than one image of."""

    clusters: tuple[Cluster, ...]
    generated_at: str
    stand_ins: bool

    def to_dict(self) -> dict[str, Any]:
        """The whole report as plain data (the JSON format)."""
        return {
            "report": "reused-photos",
            "generated_at": self.generated_at,
            "contains_stand_ins": self.stand_ins,
            "clusters": [c.to_dict() for c in self.clusters],
        }


def _components(matches: Sequence[m.PhotoMatch]) -> list[set[int]]:
    graph: dict[int, set[int]] = {}
    for match in matches:
        graph.setdefault(match.reference_id, set()).add(match.copy_id)
        graph.setdefault(match.copy_id, set()).add(match.reference_id)
    seen: set[int] = set()
    out = []
    for start in sorted(graph):
        if start in seen:
            continue
        component = {start}
        queue = deque([start])
        while queue:
            for neighbour in graph[queue.popleft()]:
                if neighbour not in component:
                    component.add(neighbour)
                    queue.append(neighbour)
        seen |= component
        out.append(component)
    return out


def _root(members: set[int], images: dict[int, m.Image], matches: Sequence[m.PhotoMatch]) -> int:
    """The largest image that is nobody's edited copy (else simply the largest)."""
    lesser = {x.copy_id for x in matches if x.copy_id in members and LESSER & set(x.kinds.split())}
    pool = [i for i in members if i not in lesser] or list(members)
    return max(
        pool,
        key=lambda i: (images[i].width * images[i].height, -images[i].id),
    )


def _relations(
    root: int, members: set[int], images: dict[int, m.Image], matches: Sequence[m.PhotoMatch]
) -> list[Member]:
    edges: dict[tuple[int, int], m.PhotoMatch] = {}
    for x in matches:
        if x.reference_id in members:
            edges[(x.reference_id, x.copy_id)] = x
    out = [_member(images[root], ("root",), None, None, None)]
    # Breadth first from the root, so each member is described from its nearest neighbour.
    parent: dict[int, int] = {root: root}
    queue = deque([root])
    while queue:
        here = queue.popleft()
        for (a, b), _x in edges.items():
            for near, far in ((a, b), (b, a)):
                if near == here and far not in parent:
                    parent[far] = here
                    queue.append(far)
    for image_id in sorted(members - {root}, key=lambda i: images[i].sha256):
        via = parent.get(image_id, root)
        edge = edges.get((via, image_id))
        score: float | None
        if edge is not None:
            kinds = tuple(edge.kinds.split())
            box = _box(edge)
            score = edge.score
        else:
            inverse = edges.get((image_id, via))
            # The member is the larger side of its match: it contains the other one.
            kinds = ("contains", *inverse.kinds.split()) if inverse else ()
            box = None
            score = inverse.score if inverse else None
        out.append(
            _member(
                images[image_id], kinds, box, images[via].sha256 if via != root else None, score
            )
        )
    return out


def _box(match: m.PhotoMatch) -> tuple[int, int, int, int] | None:
    values = (match.crop_left, match.crop_top, match.crop_right, match.crop_bottom)
    if any(v is None for v in values):
        return None
    return (int(values[0] or 0), int(values[1] or 0), int(values[2] or 0), int(values[3] or 0))


def _member(
    image: m.Image,
    kinds: tuple[str, ...],
    box: tuple[int, int, int, int] | None,
    via: str | None,
    score: float | None,
) -> Member:
    return Member(
        sha256=image.sha256,
        relation=kinds,
        crop_box=box,
        width=image.width,
        height=image.height,
        stand_in=image.stand_in,
        paths=tuple(p.path for p in image.paths),
        via=via,
        score=score,
    )


def _published(article: m.Article) -> str | None:
    if article.published is None:
        return None
    digits = {"day": 10, "month": 7, "year": 4}.get(article.published_precision, 10)
    return article.published.isoformat()[:digits]


def _captions(images: Iterable[m.Image]) -> list[dict[str, Any]]:
    out = []
    for image in images:
        for a in sorted(image.appearances, key=lambda a: (a.article_id, a.position)):
            if a.caption:
                out.append(
                    {
                        "text": a.caption,
                        "origin": a.caption_origin,
                        "article": a.article.title or a.article.key,
                        "publisher": a.article.publisher,
                        "position": a.position,
                        "image": image.sha256,
                    }
                )
        for f in image.metadata_fields:
            if f.property == "description":
                out.append(
                    {
                        "text": f.value,
                        "origin": f"{f.standard} {f.key}",
                        "article": None,
                        "publisher": None,
                        "position": None,
                        "image": image.sha256,
                    }
                )
    return out


def _credits(images: Iterable[m.Image]) -> list[dict[str, Any]]:
    out = []
    for image in images:
        for chain in image.chains:
            out.append(
                {
                    "credit": chain.credit_raw,
                    "origin": chain.origin,
                    "article": (chain.article.title or chain.article.key)
                    if chain.article
                    else None,
                    "chain": [
                        {"agent": link.agent.name if link.agent else None, "role": link.role}
                        for link in chain.links
                    ],
                    "image": image.sha256,
                }
            )
    return out


def _earliest(images: Iterable[m.Image]) -> dict[str, Any]:
    observed = None
    claimed = None
    for image in images:
        for a in image.appearances:
            article = a.article
            if article.published is None:
                continue
            if observed is None or article.published < observed[0]:
                observed = (article.published, article, image.sha256)
        for f in image.metadata_fields:
            day = claimed_day(f.value) if f.property == "date_created" else None
            if day is not None and (claimed is None or day < claimed[0]):
                claimed = (day, f, image.sha256)
    out: dict[str, Any] = {"note": EARLIEST_NOTE, "observed": None, "claimed": None}
    if observed is not None:
        _, article, sha = observed
        out["observed"] = {
            "evidence": "publication date",
            "published": _published(article),
            "precision": article.published_precision,
            "article": article.title or article.key,
            "publisher": article.publisher,
            "url": article.url,
            "image": sha,
        }
    if claimed is not None:
        day, f, sha = claimed
        out["claimed"] = {
            "evidence": "embedded metadata date (anyone can edit it)",
            "value": day,
            "as_written": f.value,
            "field": f"{f.standard} {f.key}",
            "image": sha,
        }
    return out


_DAY = re.compile(r"(\d{4})[:\-]?(\d{2})[:\-]?(\d{2})")


def claimed_day(value: str) -> str | None:
    """The day a metadata date names, as YYYY-MM-DD, whatever the standard's format.

    EXIF writes "2016:10:20 12:00:00", IIM "20161020", XMP "2016-10-20T12:00:00+01:00"; they
    are compared as days. None when the value names no valid day.
    """
    match = _DAY.search(value)
    if match is None:
        return None
    try:
        return dt.date(*map(int, match.groups())).isoformat()
    except ValueError:
        return None


def _flags(
    captions: list[dict[str, Any]], credits: list[dict[str, Any]], members: list[Member]
) -> tuple[str, ...]:
    flags = []
    printed = [c["text"] for c in captions if c["article"] is not None]
    if printed:
        parsed = parse_all(printed)
        if len(group_keys(parsed.counts, parsed.bodies)) > 1:
            flags.append("different_captions")
    if len({c["publisher"] for c in captions if c["publisher"]}) > 1:
        flags.append("different_publishers")
    if credits_disagree(sorted({c["credit"] for c in credits if c["credit"]})):
        flags.append("credit_conflict")
    if any(LESSER & set(x.relation) for x in members):
        flags.append("edited_copies")
    if any("weak_global_hash" in x.relation for x in members):
        flags.append("weak_evidence")
    return tuple(flags)


def build_reuse_report(*, session: Session) -> ReuseReport:
    """Cluster the recorded same-photo matches into photos and gather what each carried."""
    matches = session.scalars(select(m.PhotoMatch).order_by(m.PhotoMatch.id)).all()
    components = _components(matches)
    ids = {i for c in components for i in c}
    images = {
        image.id: image
        for image in session.scalars(
            select(m.Image)
            .where(m.Image.id.in_(ids))
            .options(
                selectinload(m.Image.paths),
                selectinload(m.Image.appearances).selectinload(m.Appearance.article),
                selectinload(m.Image.metadata_fields),
                selectinload(m.Image.chains).selectinload(m.ProvenanceChain.links),
            )
        )
    }
    clusters = []
    for component in components:
        root = _root(component, images, matches)
        members = _relations(root, component, images, matches)
        others = sorted((images[i] for i in component if i != root), key=lambda x: x.sha256)
        ordered = [images[root], *others]
        captions = _captions(ordered)
        credits = _credits(ordered)
        clusters.append(
            Cluster(
                root=images[root].sha256,
                members=tuple(members),
                captions=tuple(captions),
                credits=tuple(credits),
                earliest=_earliest(ordered),
                flags=_flags(captions, credits, members),
            )
        )
    clusters.sort(key=lambda c: (-len(c.members), c.root))
    return ReuseReport(
        clusters=tuple(clusters),
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        stand_ins=any(x.stand_in for c in clusters for x in c.members),
    )


def member_dicts(report: ReuseReport) -> list[dict[str, Any]]:
    """One flat row per member, for the CSV writer."""
    rows = []
    for number, cluster in enumerate(report.clusters, start=1):
        for member in cluster.members:
            row = asdict(member)
            row["cluster"] = number
            rows.append(row)
    return rows
