"""The reused-photo report of a catalogue: what each cluster shows, made a round of images at a
time from the recorded matches, against a plain reading of the ORM's records."""

from __future__ import annotations

import datetime as dt
import random
from collections import deque
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from provcat import models as m
from provcat.caption_keys import RULES_ROW
from provcat.captions import KEY_RULES
from provcat.catalogue import Catalogue
from provcat.reports import reuse, spill
from provcat.reports.captions import credits_disagree
from provcat.reports.reuse import LESSER, claimed_day

CAPTIONS = [
    "Plotters: Shishmakov, left, is pictured meeting Serbian agent Aleksandar Sindjelic",
    "Shishmakov, left, is pictured meeting Serbian agent Aleksandar Sindjelich",
    "The plot to kill then-Prime Minister Milo Djukanovic was foiled in October 2016",
    "Crowds outside the parliament in Podgorica on election night",
    "",
    None,
]
CREDITS = [
    "unnamed European security service via Sky News",
    "Sky News",
    "Reuters",
    "AFP/Getty Images",
    None,
]
KINDS = [
    "reencoded",
    "resized reencoded",
    "cropped",
    "cropped resized",
    "mirrored",
    "overlaid",
    "padded",
    "same_pixels",
    "weak_global_hash",
    "stretched",
]
DATES = ["2016:10:20 12:00:00", "20161019", "2017-02-20T09:00:00+01:00", "2016:13:40", "soon"]


def _fill(catalogue: Catalogue, seed: int) -> None:
    """A random catalogue of 40 images, most of them matched, with everything the report
    shows: paths, printings in dated and undated articles, embedded descriptions and dates,
    credits with chains, and matches recorded both ways round, some with partial boxes."""
    rng = random.Random(seed)
    with catalogue.session() as session:
        agents = [
            m.Agent(key=f"agent {n}", name=f"Agent {n}", kind="organisation") for n in range(4)
        ]
        articles = [
            m.Article(
                key=f"https://example.org/{seed}/{n}",
                url=rng.choice([None, f"https://example.org/{seed}/{n}"]),
                title=rng.choice([None, "", f"Article {n}"]),
                publisher=rng.choice([None, "Daily Mail", "Sky News", "Reuters"]),
                published=rng.choice([None, dt.date(2017, 2, 20), dt.date(2016, 10, 1 + n)]),
                published_precision=rng.choice(m.DATE_PRECISIONS),
                source_kind="manifest",
                source=f"stand-in/{n}.toml",
            )
            for n in range(8)
        ]
        session.add_all(agents + articles)
        images = []
        for n in range(40):
            image = m.Image(
                sha256=f"{rng.getrandbits(256):064x}",
                format="JPEG",
                width=rng.choice([400, 800, 1200]),
                height=rng.choice([300, 600]),
                file_size=1,
                pixel_digest=f"{n:064x}",
                stand_in=rng.random() < 0.5,
                paths=[
                    m.ImagePath(path=f"/photos/{seed}/{n}-{k}.jpg") for k in range(rng.randrange(3))
                ],
            )
            for k in range(rng.randrange(4)):
                prop = rng.choice(["description", "date_created", "creator"])
                value = rng.choice(DATES) if prop == "date_created" else f"embedded {n} {k}"
                image.metadata_fields.append(
                    m.MetadataField(
                        standard=rng.choice(["EXIF", "XMP"]),
                        key=f"k{k}",
                        property=prop,
                        value=value,
                    )
                )
            images.append(image)
        session.add_all(images)
        session.flush()
        taken: set[tuple[int, int]] = set()
        for image in images:
            for _ in range(rng.randrange(4)):
                article = rng.choice(articles)
                position = rng.randrange(12)
                if (article.id, position) in taken:
                    continue
                taken.add((article.id, position))
                session.add(
                    m.Appearance(
                        article=article,
                        image=image,
                        position=position,
                        occurrence=0,
                        caption=rng.choice(CAPTIONS),
                        caption_origin=rng.choice(["figcaption", "alt", "manifest"]),
                        credit=rng.choice(CREDITS),
                    )
                )
            for k in range(rng.randrange(3)):
                chain = m.ProvenanceChain(
                    signature=f"{rng.getrandbits(256):064x}",
                    image=image,
                    article=rng.choice([None, *articles]),
                    credit_raw=rng.choice(CREDITS),
                    origin=f"origin {k}",
                )
                for ordinal in rng.sample(range(5), rng.randrange(4)):
                    chain.links.append(
                        m.ProvenanceLink(
                            ordinal=ordinal,
                            agent=rng.choice([None, *agents]),
                            role=rng.choice(m.ROLES),
                        )
                    )
                session.add(chain)
        pool = images[:34]  # the last six are matched to nothing
        rng.shuffle(pool)
        pairs = []
        while len(pool) >= 2:
            size = rng.choice([2, 3, 4, 7])
            photo, pool = pool[:size], pool[size:]
            pairs += [(photo[rng.randrange(k)], photo[k]) for k in range(1, len(photo))]
            pairs += [tuple(rng.sample(photo, 2)) for _ in range(len(photo) // 2)]
        matched: set[tuple[int, int]] = set()
        for reference, copy in pairs:
            if (reference.id, copy.id) in matched:  # one match a pair each way round
                continue
            matched.add((reference.id, copy.id))
            box = [rng.randrange(100) for _ in range(4)]
            if rng.random() < 0.3:
                box[rng.randrange(4)] = None
            session.add(
                m.PhotoMatch(
                    reference=reference,
                    copy=copy,
                    kinds=rng.choice(KINDS),
                    crop_left=box[0],
                    crop_top=box[1],
                    crop_right=box[2],
                    crop_bottom=box[3],
                    inliers=50,
                    score=rng.random(),
                    rotation_degrees=0.0,
                    scale=1.0,
                )
            )
        session.commit()


def _plain(catalogue: Catalogue) -> list[dict[str, Any]]:
    """The report's clusters as the records say them, read through the ORM's relationships
    one cluster at a time (what the report did before it read rows in rounds)."""
    with catalogue.session() as session:
        matches = session.scalars(select(m.PhotoMatch).order_by(m.PhotoMatch.id)).all()
        joined: dict[int, set[int]] = {}
        for x in matches:
            joined.setdefault(x.reference_id, set()).add(x.copy_id)
            joined.setdefault(x.copy_id, set()).add(x.reference_id)
        clusters = []
        seen: set[int] = set()
        for start in sorted(joined):
            if start in seen:
                continue
            members, queue = {start}, deque([start])
            while queue:
                for other in joined[queue.popleft()] - members:
                    members.add(other)
                    queue.append(other)
            seen |= members
            clusters.append(
                _plain_cluster(session, members, [x for x in matches if x.copy_id in members])
            )
    return sorted(clusters, key=lambda c: (-len(c["members"]), c["root"]))


def _plain_cluster(session: Any, ids: set[int], matches: list[m.PhotoMatch]) -> dict[str, Any]:
    images = {i: session.get(m.Image, i) for i in ids}
    lesser = {x.copy_id for x in matches if LESSER & set(x.kinds.split())}
    root = max(
        [i for i in ids if i not in lesser] or ids,
        key=lambda i: (images[i].width * images[i].height, -i),
    )
    last = {(x.reference_id, x.copy_id): x for x in matches}
    parent, queue = {root: root}, deque([root])
    while queue:
        here = queue.popleft()
        for a, b in last:
            far = b if a == here else a if b == here else None
            if far is not None and far not in parent:
                parent[far] = here
                queue.append(far)

    def member(i: int) -> dict[str, Any]:
        image, via = images[i], parent[i]
        out = {"sha256": image.sha256, "width": image.width, "height": image.height}
        out |= {"stand_in": image.stand_in, "via": None, "score": None, "crop_box": None}
        if i == root:
            return out | {"relation": ["root"]}
        out["via"] = images[via].sha256 if via != root else None
        if (via, i) in last:
            x = last[(via, i)]
            box = [x.crop_left, x.crop_top, x.crop_right, x.crop_bottom]
            out |= {"relation": x.kinds.split(), "crop_box": None if None in box else box}
        else:
            x = last[(i, via)]
            out["relation"] = ["contains", *x.kinds.split()]
        return out | {"score": round(x.score, 4)}

    ordered = [images[root], *sorted((images[i] for i in ids if i != root), key=lambda x: x.sha256)]
    captions, credits, observed, claimed = [], [], None, None
    for image in ordered:
        printings = sorted(image.appearances, key=lambda a: a.id)
        for a in sorted(printings, key=lambda a: (a.article_id, a.position)):
            if a.caption:
                captions.append(
                    {
                        "text": a.caption,
                        "origin": a.caption_origin,
                        "article": a.article.title or a.article.key,
                    }
                    | {
                        "publisher": a.article.publisher,
                        "position": a.position,
                        "image": image.sha256,
                    }
                )
        for f in image.metadata_fields:
            if f.property == "description":
                captions.append(
                    {"text": f.value, "origin": f"{f.standard} {f.key}", "article": None}
                    | {"publisher": None, "position": None, "image": image.sha256}
                )
        for chain in image.chains:
            credits.append(
                {
                    "credit": chain.credit_raw,
                    "origin": chain.origin,
                    "article": (chain.article.title or chain.article.key)
                    if chain.article
                    else None,
                    "chain": [
                        {"agent": k.agent.name if k.agent else None, "role": k.role}
                        for k in chain.links
                    ],
                    "image": image.sha256,
                }
            )
        for a in printings:
            published = a.article.published
            if published and (observed is None or published < observed[0].published):
                observed = (a.article, image.sha256)
        for f in image.metadata_fields:
            day = claimed_day(f.value) if f.property == "date_created" else None
            if day and (claimed is None or day < claimed[0]):
                claimed = (day, f, image.sha256)
    members = [
        member(root),
        *(member(i) for i in sorted(ids - {root}, key=lambda i: images[i].sha256)),
    ]
    return {
        "root": images[root].sha256,
        "members": members,
        "captions": captions,
        "credits": credits,
        "observed": observed
        and (observed[0].title or observed[0].key, observed[1], observed[0].published_precision),
        "claimed": claimed and (claimed[0], claimed[1].value, claimed[2]),
        "flags": _plain_flags(ordered, captions, credits, members),
    }


def _plain_flags(
    ordered: list[m.Image], captions: list[Any], credits: list[Any], members: list[Any]
) -> list[str]:
    from provcat.duplicates import are_near

    printed = [a.caption for image in ordered for a in image.appearances if a.caption]
    flags = []
    # Different captions: some printed caption is not the same caption as the first printed.
    if any(not are_near(printed[0], text) for text in printed):
        flags.append("different_captions")
    if len({c["publisher"] for c in captions if c["publisher"]}) > 1:
        flags.append("different_publishers")
    if credits_disagree(sorted({c["credit"] for c in credits if c["credit"]})):
        flags.append("credit_conflict")
    if any(LESSER & set(x["relation"]) for x in members):
        flags.append("edited_copies")
    if any("weak_global_hash" in x["relation"] for x in members):
        flags.append("weak_evidence")
    return flags


def _shown(catalogue: Catalogue) -> list[dict[str, Any]]:
    """The report's clusters in the form :func:`_plain` gives."""
    out = []
    for cluster in catalogue.reused_photos():
        data = cluster.to_dict()
        observed, claimed = data.pop("earliest")["observed"], None
        observed = observed and (observed["article"], observed["image"], observed["precision"])
        claimed = cluster.earliest["claimed"]
        claimed = claimed and (claimed["value"], claimed["as_written"], claimed["image"])
        out.append(data | {"observed": observed, "claimed": claimed})
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("at_once", "held"), [(3, 0), (5_000, 0), (3, None)])
def test_the_report_shows_what_the_records_say(
    catalogue: Catalogue,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    at_once: int,
    held: int | None,
) -> None:
    """Every cluster's members, relations, boxes, captions, credits, earliest sightings and
    flags are what a plain reading of the records gives, in its order, whether its images
    are read in one round or in rounds of three images, and its clusters wait in memory or
    in the spill's file."""
    monkeypatch.setattr(reuse, "_IMAGES_AT_ONCE", at_once)
    if held is not None:
        monkeypatch.setattr(spill, "IN_MEMORY", held)
    _fill(catalogue, seed)
    expected = _plain(catalogue)
    assert len(expected) >= 3
    assert _shown(catalogue) == expected


def test_each_cluster_is_made_from_its_own_matches(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster is made from the matches among its images alone, each match once: the
    report grows with the matched images, not with clusters times matches (at 10^5 stored
    images it took 87 s when every cluster looked at every match; docs/scale.md)."""
    _fill(catalogue, 4)
    given: list[list[Any]] = []
    made = reuse._cluster

    def counted(ids: list[int], matches: list[Any], *rest: Any) -> reuse.Cluster:
        assert all(x[0] in ids and x[1] in ids for x in matches)
        given.append(matches)
        return made(ids, matches, *rest)

    monkeypatch.setattr(reuse, "_cluster", counted)
    clusters = catalogue.reused_photos()
    with catalogue.session() as session:
        recorded = session.scalars(select(m.PhotoMatch)).all()
    assert len(given) == len(clusters) >= 3
    assert sorted((x[0], x[1]) for matches in given for x in matches) == sorted(
        (x.reference_id, x.copy_id) for x in recorded
    )


@pytest.mark.parametrize("at_once", [3, 5_000])
def test_an_image_deleted_while_the_report_reads_leaves_its_cluster_as_the_records_do(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch, at_once: int
) -> None:
    """An image deleted (its matches with it) after the report read the matches and before it
    read the images: the report is the one made after the deletion, the cluster split in
    two or gone, rather than an error or a member that no longer exists."""
    monkeypatch.setattr(reuse, "_IMAGES_AT_ONCE", at_once)
    _fill(catalogue, 5)
    with catalogue.session() as session:
        joined = session.execute(select(m.PhotoMatch.reference_id, m.PhotoMatch.copy_id)).all()
    # The image matched to the most others: a hub, whose cluster falls apart without it.
    degree: dict[int, int] = {}
    for pair in joined:
        for image_id in pair:
            degree[image_id] = degree.get(image_id, 0) + 1
    hub = max(degree, key=lambda i: (degree[i], i))
    assert degree[hub] >= 3
    read = reuse._read_matches

    def then_delete(session: Any) -> Any:
        matches = read(session)
        with catalogue.session() as other:
            other.execute(delete(m.Image).where(m.Image.id == hub))
            other.commit()
        return matches

    monkeypatch.setattr(reuse, "_read_matches", then_delete)
    during = [c.to_dict() for c in catalogue.reused_photos()]
    monkeypatch.setattr(reuse, "_read_matches", read)
    assert during == [c.to_dict() for c in catalogue.reused_photos()]


def test_printed_captions_are_told_apart_by_their_stored_keys(catalogue: Catalogue) -> None:
    """With the catalogue's keys made under the running code's rules the report reads them
    rather than parsing each caption; under other rules it parses the captions."""
    _fill(catalogue, 6)
    assert "different_captions" in {f for c in catalogue.reused_photos() for f in c.flags}
    with catalogue.session() as session:
        # Every printing stored under one key: to these keys, one caption.
        session.execute(update(m.Appearance).values(caption_key="one", caption_body_key=None))
        session.commit()
    assert "different_captions" not in {f for c in catalogue.reused_photos() for f in c.flags}
    with catalogue.session() as session:
        session.execute(
            update(m.CatalogueState)
            .where(m.CatalogueState.key == RULES_ROW)
            .values(value=KEY_RULES + 1)
        )
        session.commit()
    assert _shown(catalogue) == _plain(catalogue)
