"""The duplicate-caption report's data: caption groups with their printings, flags and photos."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Any, Final

import numpy as np
from rapidfuzz.distance import Indel
from sqlalchemy import ColumnElement, Connection, Select, case, null, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from provcat import models as m
from provcat.caption_keys import rules_current, stored_pair
from provcat.captions import CaptionParts, caption_parts, match_keys, normalise
from provcat.credits import credits_conflict
from provcat.db import driver_pages, driver_rows
from provcat.duplicates import NEAR_THRESHOLD, KeyGroup, group_keys, near_keys, parse_all
from provcat.photos import photo_ids
from provcat.reports.spill import Spill, rounds

#: Printings taken from the driver at once.
_PAGE = 50_000

#: What each flag code means, in words (the HTML and Markdown reports print these).
FLAG_WORDS = {
    "repeated_in_article": "printed more than once in one article",
    "different_articles": "printed in more than one article",
    "different_publishers": "printed by more than one publisher",
    "different_photos": "the same caption under different photos",
    "credit_conflict": "the credits disagree",
    "label_differs": "the leading label differs",
    "credit_differs": "the trailing credit differs",
    "text_differs": "the wording differs",
    "different_captions": "the same photo under different captions",
}


@dataclass(frozen=True, slots=True)
class ArticleRef:
    """The article an occurrence was printed in.

    ``key`` identifies the article (its url, or ``file:<sha256>`` of a scraped file without
    one); it is an id, not a name to show a person: ``name`` and ``source_name`` are.
    """

    key: str
    title: str | None
    url: str | None
    publisher: str | None
    published: str | None
    #: The file the article was read from (a scraped article, or a record's manifest).
    source: str | None = None

    @property
    def source_name(self) -> str | None:
        """The source file as a person reads it: its folder and name ("a-record/manifest.toml")."""
        if not self.source:
            return None
        return "/".join(PurePath(self.source).parts[-2:])

    @property
    def name(self) -> str:
        """What to call the article: its title, else its source file, else its url or key."""
        return self.title or self.source_name or self.url or self.key


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One printing of a caption."""

    article: ArticleRef
    image: str | None
    position: int
    occurrence: int
    caption: str
    origin: str
    credit: str | None
    stand_in: bool
    photo: int | None = field(default=None, compare=False)
    #: The caption's match key and body key (provcat.captions.match_keys), where known (a
    #: catalogue stores them with each printing); the body key None when not given.
    key: str = field(default="", compare=False)
    body_key: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Variant:
    """One distinct caption text of a group, with its differences from the group's text."""

    text: str
    count: int
    label: str | None
    credit: str | None
    similarity: float
    #: The text cut into (segment, differs from the group's text) pieces, for highlighting.
    segments: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class CaptionGroup:
    """Printings of one caption: identical after normalisation (exact) or nearly so (near)."""

    key: str
    text: str
    match: str
    similarity: float
    occurrences: tuple[Occurrence, ...]
    variants: tuple[Variant, ...]
    flags: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The group as docs/report-schemas.md describes it."""
        return {
            "key": self.key,
            "text": self.text,
            "match": self.match,
            "similarity": round(self.similarity, 4),
            "flags": list(self.flags),
            "occurrences": [_occurrence_dict(o) for o in self.occurrences],
            "variants": [
                {
                    "text": v.text,
                    "count": v.count,
                    "label": v.label,
                    "credit": v.credit,
                    "similarity": round(v.similarity, 4),
                }
                for v in self.variants
            ],
        }


@dataclass(frozen=True)
class PhotoCaptions:
    """A photo (one or more stored images) printed under more than one caption."""

    images: tuple[str, ...]
    captions: tuple[str, ...]
    flags: tuple[str, ...]


@dataclass(frozen=True)
class CaptionReport:
    """Every duplicated caption group and every photo under several captions."""

    #: Read back one group at a time from where the report keeps them once made
    #: (provcat.reports.spill): iterate it, or ``list()`` it to hold them all at once.
    groups: Sequence[CaptionGroup]
    photos: tuple[PhotoCaptions, ...]
    captions_considered: int
    threshold: float
    generated_at: str
    stand_ins: bool

    def to_dict(self) -> dict[str, Any]:
        """The whole report as plain data (the JSON format)."""
        return {
            name: list(value) if isinstance(value, Iterator) else value
            for name, value in self.json_parts()
        }

    def json_parts(self) -> Iterator[tuple[str, Any]]:
        """The JSON document's members in order; a long list as an iterator of its items, so
        that a writer can write it an item at a time (a million printings' groups as plain
        data took a third of a gigabyte)."""
        yield "report", "duplicate-captions"
        yield "generated_at", self.generated_at
        yield "threshold", self.threshold
        yield "captions_considered", self.captions_considered
        yield "contains_stand_ins", self.stand_ins
        yield "groups", (g.to_dict() for g in self.groups)
        yield "photos", (asdict(p) for p in self.photos)


def _occurrence_dict(o: Occurrence) -> dict[str, Any]:
    return {
        "article": {
            "title": o.article.title,
            "url": o.article.url,
            "publisher": o.article.publisher,
            "key": o.article.key,
            "published": o.article.published,
            "source": o.article.source,
        },
        "image": o.image,
        "stand_in": o.stand_in,
        "position": o.position,
        "caption": o.caption,
        "origin": o.origin,
        "credit": o.credit,
    }


def published_text(published: dt.date | None, precision: str) -> str | None:
    """A publication date written as precisely as it is known (2017-04-20, 2017-04, 2017)."""
    if published is None:
        return None
    digits = {"day": 10, "month": 7, "year": 4}.get(precision, 10)
    return published.isoformat()[:digits]


class _ArticleRefs(dict[int, ArticleRef]):
    """Every article's reference by id, read at once; one stored since (an ingest committed
    between two statements) is read when asked for."""

    def __init__(self, session: Session, *, read_all: bool = True) -> None:
        super().__init__()
        self._session = session
        if read_all:
            self._read(None)

    def __missing__(self, article_id: int) -> ArticleRef:
        self._read(article_id)
        return self[article_id]

    def _read(self, article_id: int | None) -> None:
        article = m.Article
        statement = select(
            article.id,
            article.key,
            article.title,
            article.url,
            article.publisher,
            article.published,
            article.published_precision,
            article.source,
        )
        if article_id is not None:
            statement = statement.where(article.id == article_id)
        for row in self._session.execute(statement):
            self[row.id] = ArticleRef(
                key=row.key,
                title=row.title,
                url=row.url,
                publisher=row.publisher,
                published=published_text(row.published, row.published_precision),
                source=row.source,
            )


def load_occurrences(*, session: Session, keys: Collection[str] | None = None) -> list[Occurrence]:
    """Every printed caption in the catalogue, with its article, image and photo, in the
    order printed (article, then position); or only those whose caption has one of ``keys``
    for a match key.

    Read through the driver a page at a time, each article's reference made once: a
    million printings took 70 s and 4 GB as ORM objects with their articles and images
    loaded beside them (docs/scale.md, session 36). Each printing comes with its caption's
    stored keys where the catalogue's are current (provcat.caption_keys), equal keys as
    one string.
    """
    connection = session.connection()
    photos = photo_ids(session=session)
    articles = _ArticleRefs(session, read_all=keys is None)
    keyed = rules_current(connection)
    printed = _printed(keyed)
    pages: Iterable[list[tuple[Any, ...]]]
    if keys is None:
        pages = driver_pages(connection, printed, _PAGE, on_server=True)
    else:
        if not keyed:
            raise ValueError("printings by key need the catalogue's stored keys current")
        pages = [_printed_with(connection, printed, keys)]
    return list(_occurrences(pages, articles, photos))


def _printed(keyed: bool) -> Select[*tuple[Any, ...]]:
    """The printings' rows as :func:`_occurrences` takes them, in the order printed."""
    a, image = m.Appearance, m.Image
    return (
        select(
            a.article_id,
            a.image_id,
            image.sha256,
            image.stand_in,
            a.position,
            a.occurrence,
            a.caption,
            a.caption_origin,
            a.credit,
            a.caption_key if keyed else null(),
            a.caption_body_key if keyed else null(),
        )
        .outerjoin(image, image.id == a.image_id)
        .where(a.caption.is_not(None))
        .order_by(a.article_id, a.position)
    )


def _occurrences(
    pages: Iterable[list[tuple[Any, ...]]],
    articles: Mapping[int, ArticleRef],
    photos: Mapping[int, int],
) -> Iterator[Occurrence]:
    # The driver makes a new string per row; origins and credits repeat (a few words each),
    # and so do keys (a reprinted caption's).
    same: dict[str, str] = {}
    pairs: dict[str, tuple[str, str]] = {}
    for page in pages:
        for article_id, image_id, sha, stand_in, position, occurrence, *text in page:
            caption, origin, credit, key, body = text[:5]
            pair = stored_pair(key, body)
            key, body = ("", None) if pair is None else pairs.setdefault(pair[0], pair)
            yield Occurrence(
                article=articles[article_id],
                image=sha,
                position=position,
                occurrence=occurrence,
                caption=caption,
                origin=same.setdefault(origin, origin),
                credit=credit if credit is None else same.setdefault(credit, credit),
                stand_in=bool(stand_in),
                photo=photos.get(image_id) if image_id is not None else None,
                key=key,
                body_key=body,
            )


#: Keys (or ids) asked for in one statement.
_KEYS_AT_ONCE = 1_000


def _printed_ids(
    connection: Connection, printed: Select[*tuple[Any, ...]], ids: Sequence[int]
) -> list[tuple[Any, ...]]:
    """The rows of ``printed`` of the appearances ``ids`` (in that order; one deleted since
    left out), each with its id last."""
    a = m.Appearance
    found = {row[-1]: row for row in _rows_in(connection, printed.add_columns(a.id), a.id, ids)}
    return [found[i] for i in ids if i in found]


def _by_id(
    connection: Connection, columns: Select[*tuple[Any, ...]], ids: Iterable[int]
) -> dict[int, Any]:
    """``{id: value}`` of a two-column statement whose first column is an id, for ``ids``."""
    return dict(_rows_in(connection, columns, columns.selected_columns[0], sorted(set(ids))))


def _rows_in(
    connection: Connection,
    statement: Select[*tuple[Any, ...]],
    column: ColumnElement[Any] | InstrumentedAttribute[Any],
    values: Sequence[Any],
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``statement`` whose ``column`` is one of ``values``, asked for
    :data:`_KEYS_AT_ONCE` values at a time (each statement in the order it gives)."""
    for at in range(0, len(values), _KEYS_AT_ONCE):
        chunk = list(values[at : at + _KEYS_AT_ONCE])
        yield from driver_rows(connection, statement.where(column.in_(chunk)))


def report_from_catalogue(*, session: Session, threshold: float = NEAR_THRESHOLD) -> CaptionReport:
    """The report :func:`build_report` makes of :func:`load_occurrences`, holding for each
    printing a few numbers while it groups (its id, article, image, photo and caption key's
    number) rather than the printing itself, then reading the printings of the groups it
    reports and the captions it shows.

    From the catalogue's stored caption keys (provcat.caption_keys); where they are not
    current, every printing is read and parsed as :func:`build_report` does.
    """
    connection = session.connection()
    if not rules_current(connection):
        return build_report(load_occurrences(session=session), threshold=threshold)
    photos = photo_ids(session=session)
    a, image = m.Appearance, m.Image
    scan = (
        select(
            a.id,
            a.article_id,
            a.image_id,
            a.caption_origin,
            image.stand_in,
            a.caption_key,
            a.caption_body_key,
            case((a.caption_key.is_(None), a.caption), else_=null()),
        )
        .outerjoin(image, image.id == a.image_id)
        .where(a.caption.is_not(None))
        .order_by(a.article_id, a.position)
    )
    number: dict[str, int] = {}  # each distinct key's number, in the order first printed
    bodies: dict[str, str] = {}
    ids, articles, images, photo, keyno, first_id = (array("q") for _ in range(6))
    alt, stand_in = bytearray(), bytearray()
    for page in driver_pages(connection, scan, _PAGE, on_server=True):
        for row_id, article_id, image_id, origin, stand, key, body, text in page:
            key, body = stored_pair(key, body) or match_keys(text)
            n = number.get(key)
            if n is None:
                n = number[key] = len(number)
                bodies[key] = body
                first_id.append(row_id)
            ids.append(row_id)
            articles.append(article_id)
            images.append(-1 if image_id is None else image_id)
            photo.append(-1 if image_id is None else photos.get(image_id, -1))
            keyno.append(n)
            alt.append(origin == "alt")
            stand_in.append(bool(stand))
    keys = list(number)
    key_of = np.frombuffer(keyno, dtype=np.int64)
    kept = _kept_rows(
        np.frombuffer(articles, dtype=np.int64),
        np.frombuffer(images, dtype=np.int64),
        key_of,
        np.frombuffer(alt, dtype=np.bool_),
    )
    del articles
    tally = np.bincount(key_of[kept], minlength=len(keys))
    counts = {keys[n]: int(c) for n, c in enumerate(tally.tolist()) if c}
    groups = group_keys(counts, bodies, threshold=threshold)
    del bodies, counts, tally
    group_by_key = np.full(len(keys), -1, dtype=np.int64)
    for g, group in enumerate(groups):
        group_by_key[[number[k] for k in group.keys]] = g
    group_of = group_by_key[key_of[kept]]
    shared = list(_shared(kept, group_of, len(groups)))
    kept_photo = np.frombuffer(photo, dtype=np.int64)[kept]
    photo_rows = list(_photo_printings(kept_photo, kept, group_of))
    # Each shown key's caption as its first printing has it (as parse_all keeps it).
    shown = {k for g, _ in shared for k in groups[g].keys}
    shown.update(keys[key_of[p]] for _, last in photo_rows for p in last)
    key_at = {first_id[number[k]]: k for k in shown}
    del number
    raw = {
        key_at[i]: text for i, text in _by_id(connection, select(a.id, a.caption), key_at).items()
    }
    for key in shown - raw.keys():  # every printing of it deleted since the scan
        raw[key] = key
    # The printings of the groups to report, made as load_occurrences makes them, a round of
    # groups at a time, each group spilled once made (provcat.reports.spill). Another
    # process may have committed since the scan: a printing deleted since, or whose caption
    # was changed since (a re-ingested article), is left out of the group it was scanned in.
    refs = _ArticleRefs(session)
    reported: Spill[CaptionGroup] = Spill()
    for taken in rounds(shared, _printing_count, _PRINTINGS_AT_ONCE):
        wanted = sorted(p for _, positions in taken for p in positions)
        rows = _printed_ids(connection, _printed(True), [ids[p] for p in wanted])
        made = _occurrences([rows], refs, photos)
        at_id = {ids[p]: p for p in wanted}
        occurrence_at = {at_id[row[-1]]: o for row, o in zip(rows, made, strict=True)}
        del rows, at_id
        for g, positions in taken:
            printed = [
                _with_key(o, keys[key_of[p]])
                for p in positions
                if (o := occurrence_at.get(p)) is not None and o.key in ("", keys[key_of[p]])
            ]
            _add_group(reported, groups[g], printed, raw)
        del occurrence_at
    parsed = _Parsed(raw)
    image_ids = np.frombuffer(images, dtype=np.int64)
    sha_of = _by_id(
        connection,
        select(image.id, image.sha256),
        (int(image_ids[p]) for at, _ in photo_rows for p in at),
    )
    photos_found = [
        _photo(
            (sha_of.get(int(image_ids[p])) for p in at),
            [keys[key_of[p]] for p in last],
            parsed,
        )
        for at, last in photo_rows
    ]
    stand_ins = bool(np.frombuffer(stand_in, dtype=np.bool_)[kept].any())
    return _report(reported, photos_found, kept, threshold, stand_ins)


#: Printings of reported groups made as objects at once (:func:`report_from_catalogue`).
_PRINTINGS_AT_ONCE: Final = 20_000


def _printing_count(group: tuple[int, list[int]]) -> int:
    return len(group[1])


def _kept_rows(
    article: np.ndarray, image: np.ndarray, key: np.ndarray, alt: np.ndarray
) -> np.ndarray:
    """:func:`_kept` over arrays (each printing's article id, image id or -1, key number
    and whether its caption is alt text)."""

    def triples(at: np.ndarray) -> list[tuple[int, int, int]]:
        return list(zip(article[at].tolist(), image[at].tolist(), key[at].tolist(), strict=True))

    echo = np.flatnonzero(alt & (image >= 0))
    if not echo.size:
        return np.arange(article.size, dtype=np.int64)
    echoes = triples(echo)
    near = np.flatnonzero(~alt & (image >= 0) & np.isin(article, article[echo]))
    printed = set(echoes).intersection(triples(near))
    dropped = [at for at, found in zip(echo.tolist(), echoes, strict=True) if found in printed]
    return np.setdiff1d(np.arange(article.size, dtype=np.int64), dropped)


def _printed_with(
    connection: Connection, printed: Select[*tuple[Any, ...]], keys: Collection[str]
) -> list[tuple[Any, ...]]:
    """The rows of ``printed`` whose caption has one of ``keys`` for its stored key, or no
    stored key but makes one of them, in the order printed."""
    a = m.Appearance
    rows = list(_rows_in(connection, printed, a.caption_key, sorted(keys)))
    for row in driver_rows(connection, printed.where(a.caption_key.is_(None))):
        key, body = match_keys(row[6])
        if key in keys:
            rows.append((*row[:9], key, None if body == key else body))
    rows.sort(key=lambda row: (row[0], row[4]))
    return rows


def _kept(occurrences: Sequence[Occurrence], keys: Sequence[str]) -> np.ndarray:
    """The positions of the printings to group: alt text that repeats a caption printed
    with the same image is not another printing (the rule is :func:`_kept_rows`', here over
    the printings' article keys, images and caption keys, each numbered)."""

    def numbered(values: Iterable[Any]) -> np.ndarray:
        number: dict[Any, int] = {}
        found = (-1 if v is None else number.setdefault(v, len(number)) for v in values)
        return np.fromiter(found, dtype=np.int64, count=len(occurrences))

    return _kept_rows(
        numbered(o.article.key for o in occurrences),
        numbered(o.image or None for o in occurrences),
        numbered(keys),
        np.fromiter(
            (o.origin == "alt" for o in occurrences), dtype=np.bool_, count=len(occurrences)
        ),
    )


def build_report(
    occurrences: Sequence[Occurrence], *, threshold: float = NEAR_THRESHOLD
) -> CaptionReport:
    """Group printed captions and flag what a photo desk needs to see.

    A group is reported when it holds two or more distinct printings (article and caption
    occurrence); a photo is reported when its printings fall into two or more groups.

    What is held for every printing is kept small (a million printings: docs/scale.md): the
    printings are grouped by position, and only the printings of reported groups are copied
    with their keys; a caption is parsed in full only while its group is made.
    """
    parsed_set = parse_all((o.caption for o in occurrences), known=_known(occurrences))
    keys, raw = parsed_set.keys, parsed_set.raw
    kept = _kept(occurrences, keys)
    counts = Counter(keys[i] for i in kept.tolist())
    groups = group_keys(counts, parsed_set.bodies, threshold=threshold)
    del parsed_set, counts  # the bodies are not needed past grouping
    number_of = {key: number for number, group in enumerate(groups) for key in group.keys}
    group_of = np.fromiter(
        (number_of[keys[i]] for i in kept.tolist()), dtype=np.int64, count=kept.size
    )
    del number_of
    reported: Spill[CaptionGroup] = Spill()
    for number, positions in _shared(kept, group_of, len(groups)):
        printed = [_with_key(occurrences[i], keys[i]) for i in positions]
        _add_group(reported, groups[number], printed, raw)
    photo = np.fromiter(
        (-1 if (p := occurrences[i].photo) is None else p for i in kept.tolist()),
        dtype=np.int64,
        count=kept.size,
    )
    photos = []
    parsed = _Parsed(raw)
    for at, last in _photo_printings(photo, kept, group_of):
        images = {occurrences[i].image for i in at}
        photos.append(_photo(images, [keys[i] for i in last], parsed))
    stand_ins = any(occurrences[i].stand_in for i in kept.tolist())
    return _report(reported, photos, kept, threshold, stand_ins)


def _shared(kept: np.ndarray, group_of: np.ndarray, count: int) -> Iterator[tuple[int, list[int]]]:
    """Each group with two or more kept printings, and their positions in printing order."""
    by_group = np.argsort(group_of, kind="stable")
    bounds = np.searchsorted(group_of[by_group], np.arange(count + 1))
    for number in np.flatnonzero(np.diff(bounds) > 1).tolist():
        yield number, kept[by_group[bounds[number] : bounds[number + 1]]].tolist()


def _add_group(
    reported: Spill[CaptionGroup],
    group: KeyGroup,
    printed: list[Occurrence],
    raw: Mapping[str, str],
) -> None:
    """The group's entry, when its printings are two or more distinct ones (article and
    caption occurrence: a gallery's images share one), kept in the order reported: the
    most printed first."""
    if len({(o.article.key, o.occurrence) for o in printed}) >= 2:
        made = _group(group.keys, group.similarities, printed, _Parsed(raw))
        reported.add(made, (-len(made.occurrences), made.key))


def _report(
    reported: Spill[CaptionGroup],
    photos: list[PhotoCaptions],
    kept: np.ndarray,
    threshold: float,
    stand_ins: bool,
) -> CaptionReport:
    return CaptionReport(
        groups=reported.sorted(),
        photos=tuple(photos),
        captions_considered=int(kept.size),
        threshold=threshold,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        stand_ins=stand_ins,
    )


class _Parsed(dict[str, CaptionParts]):
    """The parts of the captions of keys, made only for the keys a report shows (one
    group's, or one photo's: each key is in one group, so none is kept past it)."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        super().__init__()
        self._raw = raw

    def __missing__(self, key: str) -> CaptionParts:
        parsed = self[key] = caption_parts(self._raw[key])
        return parsed


def _known(occurrences: Iterable[Occurrence]) -> Iterator[tuple[str, str] | None]:
    """Each printing's keys where it came with them (:func:`load_occurrences`)."""
    for o in occurrences:
        yield None if o.body_key is None else (o.key, o.body_key)


def _with_key(o: Occurrence, key: str) -> Occurrence:
    """The printing carrying its key (a copy only when it did not come with it)."""
    return o if o.key == key else dataclasses.replace(o, key=key)


def _group(
    keys: Sequence[str],
    similarities: Sequence[float],
    printed: list[Occurrence],
    parsed: dict[str, CaptionParts],
) -> CaptionGroup:
    lead = parsed[keys[0]]
    texts = Counter(o.caption for o in printed)
    key_of = {o.caption: o.key for o in printed}
    similarity_of = dict(zip(keys, similarities, strict=True))
    variants = tuple(
        Variant(
            text=text,
            count=n,
            label=parsed[key_of[text]].label,
            credit=parsed[key_of[text]].credit,
            similarity=similarity_of[key_of[text]],
            segments=diff_segments(lead.display, text),
        )
        for text, n in sorted(texts.items(), key=lambda item: (-item[1], item[0]))
    )
    flags = []
    per_article = Counter(
        o.article.key for o in {(o.article.key, o.occurrence): o for o in printed}.values()
    )
    if any(n > 1 for n in per_article.values()):
        flags.append("repeated_in_article")
    if len(per_article) > 1:
        flags.append("different_articles")
    if len({o.article.publisher for o in printed if o.article.publisher}) > 1:
        flags.append("different_publishers")
    if len({o.photo for o in printed if o.photo is not None}) > 1:
        flags.append("different_photos")
    if credits_disagree(sorted({o.credit for o in printed if o.credit})):
        flags.append("credit_conflict")
    if len(keys) > 1:
        members = [parsed[k] for k in keys]
        if len({p.label for p in members}) > 1:
            flags.append("label_differs")
        if len({p.credit for p in members}) > 1:
            flags.append("credit_differs")
        if len({normalise(p.body) for p in members}) > 1:
            flags.append("text_differs")
    return CaptionGroup(
        key=keys[0],
        text=lead.display,
        match="exact" if len(keys) == 1 else "near",
        similarity=min(similarities),
        occurrences=tuple(printed),
        variants=variants,
        flags=tuple(flags),
    )


#: Credits repeat across a catalogue's groups and photos (a few agencies' lines): each pair is
#: parsed and compared once a process (about a sixth of making a million printings' groups).
_conflict = functools.lru_cache(maxsize=1 << 16)(credits_conflict)


def credits_disagree(
    credits: Sequence[str], *, conflict: Callable[[str, str], bool] = _conflict
) -> bool:
    """True when two credits conflict and no third credit in the set reconciles them.

    "Sky News" and a 32-byte cut "unnamed European security servic" do not agree with each
    other, but both agree with "unnamed European security service via Sky News": no conflict.
    """
    for i, a in enumerate(credits):
        for b in credits[i + 1 :]:
            if conflict(a, b) and not any(
                not conflict(a, c) and not conflict(b, c) for c in credits
            ):
                return True
    return False


def _photo_printings(
    photo: np.ndarray, kept: np.ndarray, group_of: np.ndarray
) -> Iterator[tuple[list[int], list[int]]]:
    """Photos whose kept printings fall into two or more caption groups, in the order of
    their first printing: the positions of the photo's kept printings, and of its last
    printing in each group, in the order of the groups' first printings.

    ``photo`` is each kept printing's photo number, -1 for none."""
    placed = photo >= 0
    span = max(1, int(group_of.max(initial=0)) + 1)
    pairs = np.unique(photo[placed] * span + group_of[placed])
    photos, groups = np.unique(pairs // span, return_counts=True)
    by_photo: dict[int, tuple[list[int], dict[int, int]]] = {}
    for at in np.flatnonzero(np.isin(photo, photos[groups > 1])).tolist():
        printings, last = by_photo.setdefault(int(photo[at]), ([], {}))
        printings.append(int(kept[at]))
        last[int(group_of[at])] = int(kept[at])
    for printings, last in by_photo.values():
        yield printings, list(last.values())


def _photo(images: Iterable[str | None], keys: Iterable[str], parsed: _Parsed) -> PhotoCaptions:
    """A photo under several captions: its images, and each group's caption as the photo's
    last printing in it has it."""
    return PhotoCaptions(
        images=tuple(sorted({image for image in images if image})),
        captions=tuple(parsed[key].display for key in keys),
        flags=("different_captions",),
    )


_PIECE = re.compile(r"\s+|\w+|[^\w\s]")


def diff_segments(base: str, text: str) -> tuple[tuple[str, bool], ...]:
    """Cut ``text`` into pieces marked True where they differ from ``base`` (word by word:
    a longest common subsequence of the two texts' pieces, through rapidfuzz, which took a
    seventh of difflib's time on a million captions' groups)."""
    if text == base:
        return ((text, False),) if text else ()
    old, new = _PIECE.findall(base), _PIECE.findall(text)
    segments: list[tuple[str, bool]] = []
    for step in Indel.opcodes(old, new):
        piece = "".join(new[step.dest_start : step.dest_end])
        if piece:
            changed = step.tag != "equal" and bool(piece.strip())
            if segments and segments[-1][1] == changed:
                segments[-1] = (segments[-1][0] + piece, changed)
            else:
                segments.append((piece, changed))
    return tuple(segments)


@dataclass(frozen=True)
class CaptionMatch:
    """A caption in the catalogue that a given text is the same caption as."""

    text: str
    match: str
    similarity: float
    occurrences: tuple[Occurrence, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "text": self.text,
            "match": self.match,
            "similarity": round(self.similarity, 4),
            "occurrences": [_occurrence_dict(o) for o in self.occurrences],
        }


def match_caption(
    text: str, occurrences: Sequence[Occurrence], *, threshold: float = NEAR_THRESHOLD
) -> list[CaptionMatch]:
    """Every printed caption that ``text`` is the same caption as, exactly or nearly, best first.

    The text is compared with each distinct printed caption in turn (:func:`near_keys`):
    for one query that costs less than indexing them all.
    """
    parsed_set = parse_all((o.caption for o in occurrences), known=_known(occurrences))
    key, body = match_keys(text)
    found = near_keys(body, parsed_set.bodies, threshold=threshold)
    if key in parsed_set.bodies:
        found[key] = 1.0
    return _matches(key, found, occurrences, parsed_set.keys)


def find_caption(
    text: str, *, session: Session, threshold: float = NEAR_THRESHOLD
) -> list[CaptionMatch]:
    """:func:`match_caption` against the catalogue's printings, reading only the stored keys
    of every printing and then the printings found (a million printings: docs/scale.md).

    Where the catalogue's stored keys are not current (provcat.caption_keys), every printing
    is read and its caption parsed, as :func:`match_caption` does.
    """
    connection = session.connection()
    if not rules_current(connection):
        return match_caption(text, load_occurrences(session=session), threshold=threshold)
    a = m.Appearance
    stored = (
        select(
            a.caption_key,
            a.caption_body_key,
            case((a.caption_key.is_(None), a.caption), else_=null()),
        )
        .where(a.caption.is_not(None))
        .order_by(a.article_id, a.position)
    )
    # Each distinct key's body as its first printing has it, as parse_all keeps it.
    bodies: dict[str, str] = {}
    for page in driver_pages(connection, stored, _PAGE, on_server=True):
        for key, body, caption in page:
            pair = stored_pair(key, body) or match_keys(caption)
            if pair[0] not in bodies:
                bodies[pair[0]] = pair[1]
    key, body = match_keys(text)
    found = near_keys(body, bodies, threshold=threshold)
    if key in bodies:
        found[key] = 1.0
    del bodies
    occurrences = load_occurrences(session=session, keys=found)
    return _matches(key, found, occurrences, [o.key for o in occurrences])


def _matches(
    key: str, found: Mapping[str, float], occurrences: Sequence[Occurrence], keys: Sequence[str]
) -> list[CaptionMatch]:
    """The matches found, best first, each shown as its first printing has it."""
    by_key: dict[str, list[Occurrence]] = {k: [] for k in found}
    for o, k in zip(occurrences, keys, strict=True):
        if k in by_key:
            by_key[k].append(o)
    return [
        CaptionMatch(
            text=caption_parts(by_key[k][0].caption).display,
            match="exact" if k == key else "near",
            similarity=similarity,
            occurrences=tuple(by_key[k]),
        )
        for k, similarity in sorted(found.items(), key=lambda item: (-item[1], item[0]))
        if by_key[k]  # none when its printings were deleted between two reads
    ]
