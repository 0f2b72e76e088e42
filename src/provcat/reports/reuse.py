"""The reused-photo report's data: clusters of images that are one photo, and what it carried."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from operator import attrgetter, itemgetter
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from provcat import models as m
from provcat.caption_keys import rules_current, stored_pair
from provcat.db import driver_pages
from provcat.duplicates import all_apart, group_keys, parse_all
from provcat.reports.captions import credits_disagree, published_text
from provcat.reports.spill import Spill, rounds

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
    """Every photo that the catalogue holds more than one image of.

    ``clusters`` is a sequence read back one cluster at a time from where the report keeps
    them while it is written (:mod:`provcat.reports.spill`): iterate it, or ``list()`` it to
    hold every cluster at once.
    """

    clusters: Sequence[Cluster]
    generated_at: str
    stand_ins: bool

    def to_dict(self) -> dict[str, Any]:
        """The whole report as plain data (the JSON format)."""
        return {
            name: list(value) if isinstance(value, Iterator) else value
            for name, value in self.json_parts()
        }

    def json_parts(self) -> Iterator[tuple[str, Any]]:
        """The JSON document's members in order, the clusters as an iterator of them, so that
        a writer can write them one at a time rather than hold all as plain data at once."""
        yield "report", "reused-photos"
        yield "generated_at", self.generated_at
        yield "contains_stand_ins", self.stand_ins
        yield "clusters", (c.to_dict() for c in self.clusters)


#: A recorded match as the report reads it: (reference id, copy id, kinds, crop box, score).
_Match = tuple[int, int, str, tuple[int, int, int, int] | None, float]

#: Images whose rows are read in one round: the clusters are made a round of images at a
#: time, so that the report never holds more than these images' rows besides what it shows.
_IMAGES_AT_ONCE: Final = 5_000
#: Ids asked for in one statement (SQLite's limit of bound parameters is 32,766).
_IDS_AT_ONCE: Final = 1_000


@dataclass
class _Printing:
    """One printing of an image, as the report shows it and dates it."""

    id: int
    article_id: int
    position: int
    caption: str | None
    origin: str
    keys: tuple[str, str] | None
    article: str
    publisher: str | None
    published: dt.date | None
    precision: str
    url: str | None


@dataclass
class _Stored:
    """One matched image with what the report shows of it, read a round at a time."""

    id: int
    sha256: str
    width: int
    height: int
    stand_in: bool
    paths: list[str] = field(default_factory=list)
    printings: list[_Printing] = field(default_factory=list)
    #: Its embedded descriptions and creation dates: (property, standard, key, value).
    fields: list[tuple[str, str, str, str]] = field(default_factory=list)
    credits: list[dict[str, Any]] = field(default_factory=list)


def _read_matches(session: Session) -> list[_Match]:
    """Every recorded match, in the order they were recorded."""
    x = m.PhotoMatch
    statement = select(
        x.reference_id,
        x.copy_id,
        x.kinds,
        x.crop_left,
        x.crop_top,
        x.crop_right,
        x.crop_bottom,
        x.score,
    ).order_by(x.id)
    out: list[_Match] = []
    # A few dozen distinct kinds: one string each rather than one a match (about 60 bytes
    # a match: 40 MB at 10^6 stored images, 675,000 of them matches).
    named: dict[str, str] = {}
    for page in driver_pages(session.connection(), statement, 50_000):
        for reference, copy, kinds, left, top, right, bottom, score in page:
            box = (left, top, right, bottom)
            crop = None if None in box else (int(left), int(top), int(right), int(bottom))
            out.append((reference, copy, named.setdefault(kinds, kinds), crop, float(score)))
    return out


def _components(matches: Sequence[_Match]) -> list[tuple[list[int], list[_Match]]]:
    """The connected groups of matched images, each with its matches in the order recorded,
    ordered by their smallest image id."""
    graph: dict[int, list[int]] = {}
    for reference, copy, *_ in matches:
        graph.setdefault(reference, []).append(copy)
        graph.setdefault(copy, []).append(reference)
    of_image: dict[int, int] = {}
    out: list[tuple[list[int], list[_Match]]] = []
    for start in sorted(graph):
        if start in of_image:
            continue
        number = len(out)
        of_image[start] = number
        component = [start]
        queue = deque([start])
        while queue:
            for neighbour in graph[queue.popleft()]:
                if neighbour not in of_image:
                    of_image[neighbour] = number
                    component.append(neighbour)
                    queue.append(neighbour)
        out.append((component, []))
    del graph
    for match in matches:
        out[of_image[match[0]]][1].append(match)
    return out


def _root(members: Iterable[int], images: Mapping[int, _Stored], matches: Sequence[_Match]) -> int:
    """The largest image that is nobody's edited copy (else simply the largest)."""
    lesser = {x[1] for x in matches if LESSER & set(x[2].split())}
    pool = [i for i in members if i not in lesser] or list(members)
    return max(pool, key=lambda i: (images[i].width * images[i].height, -images[i].id))


def _relations(
    root: int, members: Iterable[int], images: Mapping[int, _Stored], matches: Sequence[_Match]
) -> list[Member]:
    # The last match recorded between two images, in the order each pair was first seen.
    edges: dict[tuple[int, int], _Match] = {}
    for x in matches:
        edges[(x[0], x[1])] = x
    near: dict[int, list[int]] = {}
    for a, b in edges:
        near.setdefault(a, []).append(b)
        near.setdefault(b, []).append(a)
    out = [_member(images[root], ("root",), None, None, None)]
    # Breadth first from the root, so each member is described from its nearest neighbour.
    parent: dict[int, int] = {root: root}
    queue = deque([root])
    while queue:
        here = queue.popleft()
        for far in near.get(here, ()):
            if far not in parent:
                parent[far] = here
                queue.append(far)
    for image_id in sorted((i for i in members if i != root), key=lambda i: images[i].sha256):
        via = parent.get(image_id, root)
        edge = edges.get((via, image_id))
        score: float | None
        if edge is not None:
            kinds = tuple(edge[2].split())
            box = edge[3]
            score = edge[4]
        else:
            inverse = edges.get((image_id, via))
            # The member is the larger side of its match: it contains the other one.
            kinds = ("contains", *inverse[2].split()) if inverse else ()
            box = None
            score = inverse[4] if inverse else None
        out.append(
            _member(
                images[image_id], kinds, box, images[via].sha256 if via != root else None, score
            )
        )
    return out


def _member(
    image: _Stored,
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
        paths=tuple(image.paths),
        via=via,
        score=score,
    )


def _captions(images: Iterable[_Stored]) -> list[dict[str, Any]]:
    out = []
    for image in images:
        for a in sorted(image.printings, key=lambda a: (a.article_id, a.position)):
            if a.caption:
                out.append(
                    {
                        "text": a.caption,
                        "origin": a.origin,
                        "article": a.article,
                        "publisher": a.publisher,
                        "position": a.position,
                        "image": image.sha256,
                    }
                )
        for prop, standard, key, value in image.fields:
            if prop == "description":
                out.append(
                    {
                        "text": value,
                        "origin": f"{standard} {key}",
                        "article": None,
                        "publisher": None,
                        "position": None,
                        "image": image.sha256,
                    }
                )
    return out


def _earliest(images: Iterable[_Stored]) -> dict[str, Any]:
    observed: tuple[dt.date, _Printing, str] | None = None
    claimed: tuple[str, tuple[str, str, str, str], str] | None = None
    for image in images:
        for a in image.printings:
            if a.published is None:
                continue
            if observed is None or a.published < observed[0]:
                observed = (a.published, a, image.sha256)
        for f in image.fields:
            day = claimed_day(f[3]) if f[0] == "date_created" else None
            if day is not None and (claimed is None or day < claimed[0]):
                claimed = (day, f, image.sha256)
    out: dict[str, Any] = {"note": EARLIEST_NOTE, "observed": None, "claimed": None}
    if observed is not None:
        _, printing, sha = observed
        out["observed"] = {
            "evidence": "publication date",
            "published": published_text(printing.published, printing.precision),
            "precision": printing.precision,
            "article": printing.article,
            "publisher": printing.publisher,
            "url": printing.url,
            "image": sha,
        }
    if claimed is not None:
        day, (_, standard, key, value), sha = claimed
        out["claimed"] = {
            "evidence": "embedded metadata date (anyone can edit it)",
            "value": day,
            "as_written": value,
            "field": f"{standard} {key}",
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


#: A photo's distinct captions up to which they are compared pair by pair before grouping.
_PAIRWISE: Final = 8


def _different_captions(images: Sequence[_Stored], keyed: bool) -> bool:
    """Whether the cluster's printed captions are more than one caption (as the
    duplicate-caption report groups them), from their stored keys where ``keyed``."""
    known = [a.keys if keyed else None for image in images for a in image.printings if a.caption]
    if None in known:
        printed = (a.caption or "" for image in images for a in image.printings if a.caption)
        parsed = parse_all(printed, known=known)
        counts, bodies = parsed.counts, parsed.bodies
    else:
        counts = Counter(pair[0] for pair in known if pair)
        bodies = {}
        for pair in known:
            if pair:
                bodies.setdefault(*pair)
    if len(bodies) < 2:
        return False  # one key is one caption
    if len(bodies) <= _PAIRWISE and all_apart(list(bodies.values())):
        return True  # no caption near another: each is a group of its own
    return len(group_keys(counts, bodies)) > 1


def _flags(
    images: Sequence[_Stored],
    captions: list[dict[str, Any]],
    credits: list[dict[str, Any]],
    members: list[Member],
    keyed: bool,
) -> tuple[str, ...]:
    flags = []
    if _different_captions(images, keyed):
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


def _in_parts(
    session: Session,
    statement: Select[*tuple[Any, ...]],
    column: InstrumentedAttribute[int] | InstrumentedAttribute[int | None],
    ids: list[int],
    order: Callable[[Any], Any] | None = None,
) -> list[Any]:
    """The rows of ``statement`` whose ``column`` is one of ``ids``, sorted by ``order`` here
    rather than by the database: an ORDER BY on a table's key lets a planner that has no
    statistics yet walk the whole table in key order (PostgreSQL before its first ANALYZE:
    130 ms a statement at 10^6 images, where reading through the ``column``'s index took 2)."""
    rows: list[Any] = []
    # Through the connection: the session's ORM layer would handle each row again (about a
    # quarter of the report's time at 10^6 stored images, for rows that are plain columns),
    # and each part's rows fetched at once (one row at a time cost a call through the
    # driver's result for each: about 5% of the report at 10^5, session 44).
    connection = session.connection()
    for at in range(0, len(ids), _IDS_AT_ONCE):
        rows += connection.execute(statement.where(column.in_(ids[at : at + _IDS_AT_ONCE]))).all()
    if order is not None:
        rows.sort(key=order)
    return rows


_first = itemgetter(0)


def _image_count(component: tuple[list[int], list[_Match]]) -> int:
    return len(component[0])


def _read_images(session: Session, ids: list[int], keyed: bool) -> dict[int, _Stored]:
    """The images ``ids`` with what the report shows of each, in a few statements."""
    image, path, a, article = m.Image, m.ImagePath, m.Appearance, m.Article
    field_, chain, link, agent = m.MetadataField, m.ProvenanceChain, m.ProvenanceLink, m.Agent
    images = {
        row.id: _Stored(row.id, row.sha256, row.width, row.height, bool(row.stand_in))
        for row in _in_parts(
            session,
            select(image.id, image.sha256, image.width, image.height, image.stand_in),
            image.id,
            ids,
        )
    }
    paths = select(path.id, path.image_id, path.path)
    for row in _in_parts(session, paths, path.image_id, ids, order=_first):
        images[row.image_id].paths.append(row.path)
    printings = select(
        a.image_id,
        a.id,
        a.article_id,
        a.position,
        a.caption,
        a.caption_origin,
        a.caption_key,
        a.caption_body_key,
        article.title,
        article.key,
        article.publisher,
        article.published,
        article.published_precision,
        article.url,
    ).join(article, article.id == a.article_id)
    for row in _in_parts(session, printings, a.image_id, ids, order=attrgetter("id")):
        keys = stored_pair(row.caption_key, row.caption_body_key) if keyed else None
        images[row.image_id].printings.append(
            _Printing(
                row.id,
                row.article_id,
                row.position,
                row.caption,
                row.caption_origin,
                keys,
                row.title or row.key,
                row.publisher,
                row.published,
                row.published_precision,
                row.url,
            )
        )
    fields = (
        select(
            field_.id, field_.image_id, field_.property, field_.standard, field_.key, field_.value
        )
        # Not through the index on (property, value): SQLite would take it and read every
        # description and date in the catalogue for each round (90 ms a statement at 10^6).
        .where(field_.property.concat("").in_(("description", "date_created")))
    )
    for row in _in_parts(session, fields, field_.image_id, ids, order=_first):
        images[row.image_id].fields.append((row.property, row.standard, row.key, row.value))
    chains = select(
        chain.id,
        chain.image_id,
        chain.credit_raw,
        chain.origin,
        article.title,
        article.key,
    ).outerjoin(article, article.id == chain.article_id)
    credits: dict[int, dict[str, Any]] = {}
    for row in _in_parts(session, chains, chain.image_id, ids, order=_first):
        credit = {
            "credit": row.credit_raw,
            "origin": row.origin,
            # An outer join: no article, no key.
            "article": row.title or row.key,
            "chain": [],
            "image": images[row.image_id].sha256,
        }
        credits[row.id] = credit
        images[row.image_id].credits.append(credit)
    links = select(link.chain_id, link.ordinal, agent.name, link.role).outerjoin(
        agent, agent.id == link.agent_id
    )
    for row in _in_parts(session, links, link.chain_id, list(credits), order=itemgetter(0, 1)):
        credits[row.chain_id]["chain"].append({"agent": row.name, "role": row.role})
    return images


def _cluster(
    ids: list[int], matches: list[_Match], images: Mapping[int, _Stored], keyed: bool
) -> Cluster:
    root = _root(ids, images, matches)
    members = _relations(root, ids, images, matches)
    others = sorted((images[i] for i in ids if i != root), key=lambda x: x.sha256)
    ordered = [images[root], *others]
    captions = _captions(ordered)
    credits = [credit for image in ordered for credit in image.credits]
    return Cluster(
        root=images[root].sha256,
        members=tuple(members),
        captions=tuple(captions),
        credits=tuple(credits),
        earliest=_earliest(ordered),
        flags=_flags(ordered, captions, credits, members, keyed),
    )


def build_reuse_report(*, session: Session) -> ReuseReport:
    """Cluster the recorded same-photo matches into photos and gather what each carried.

    The matches are read once (a few numbers each) and joined into clusters; the clusters'
    images are then read a round of a few thousand at a time, each round's clusters made and
    its rows let go, so that the work grows with the matched images, not with their square;
    the clusters made wait in a spill (a temporary file past a few tens of MB) until they
    are written, largest first, so that the memory does not grow with them (docs/scale.md).
    """
    keyed = rules_current(session.connection())
    components = _components(_read_matches(session))
    clusters: Spill[Cluster] = Spill()
    stand_ins = False
    for taken in rounds(components, _image_count, _IMAGES_AT_ONCE):
        images = _read_images(session, [i for ids, _ in taken for i in ids], keyed)
        made: list[Cluster] = []
        for ids, matches in taken:
            if all(i in images for i in ids):
                made.append(_cluster(ids, matches, images, keyed))
                continue
            # An image deleted since the matches were read (its matches with it): what is
            # left of its cluster, which may now be two, or none.
            kept = [x for x in matches if x[0] in images and x[1] in images]
            made.extend(_cluster(*part, images, keyed) for part in _components(kept))
        for cluster in made:
            clusters.add(cluster, (-len(cluster.members), cluster.root))
            stand_ins = stand_ins or any(x.stand_in for x in cluster.members)
    return ReuseReport(
        clusters=clusters.sorted(),
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        stand_ins=stand_ins,
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
