"""Report writers: a report in, text out, one writer per format, chosen by name or file ending."""

from __future__ import annotations

import base64
import contextlib
import csv
import functools
import hashlib
import io
import json
from collections.abc import (
    Callable,
    Collection,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO, overload
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image, ImageDraw, ImageOps

from provcat import config
from provcat.errors import InputError
from provcat.files import read_regular
from provcat.reports.atomic import Part, folder_lock, remove_leftovers, sync_folder
from provcat.reports.captions import FLAG_WORDS, CaptionReport
from provcat.reports.formats import PAGE_IMAGES
from provcat.reports.reuse import FLAG_WORDS as REUSE_FLAG_WORDS
from provcat.reports.reuse import ReuseReport
from provcat.terminal import json_indented, json_printable, printable
from provcat.thumbnails import Stored as StoredThumbnail

#: Longest side of an inline thumbnail, in pixels.
THUMBNAIL_SIDE = 160


class Report(Protocol):
    """What every writer needs of a report."""

    def to_dict(self) -> dict[str, Any]: ...


def thumbnail_uri(
    paths: Sequence[str],
    *,
    sha256: str | None = None,
    boxes: Sequence[tuple[int, int, int, int]] = (),
    side: int = THUMBNAIL_SIDE,
) -> str | None:
    """A small JPEG data URI of the first of ``paths`` that can be read, or None.

    Args:
        paths: Candidate files of one image.
        sha256: The image's SHA-256: a file that holds other bytes now is passed over.
        boxes: Rectangles in the image's upright pixel coordinates to draw on the thumbnail
            (where crops of it came from).
        side: Longest side of the thumbnail.
    """
    for path in paths:
        try:
            # The file may have been replaced since it was catalogued (by a FIFO, a huge file,
            # another picture): read it the way ingest does, then decode from memory.
            data = read_regular(Path(path), limit=config.MAX_IMAGE_BYTES, what="image file")
            if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
                continue
            with Image.open(io.BytesIO(data)) as image:
                turned = image.getexif().get(0x0112) in (5, 6, 7, 8)
                full_width = image.height if turned else image.width
                image.draft("RGB", (side * 2, side * 2))
                small = ImageOps.exif_transpose(image).convert("RGB")
                small.thumbnail((side, side))
                return _jpeg_uri(small, boxes=boxes, full_width=full_width)
        except (InputError, OSError, ValueError, Image.DecompressionBombError):
            continue
    return None


def _jpeg_uri(
    small: Image.Image, *, boxes: Sequence[tuple[int, int, int, int]], full_width: int
) -> str:
    """``small`` as a JPEG data URI, with ``boxes`` (in the full picture's pixels, whose
    upright width is ``full_width``) drawn on it."""
    scale = small.width / full_width
    draw = ImageDraw.Draw(small)
    for left, top, right, bottom in boxes:
        draw.rectangle(
            (left * scale, top * scale, right * scale, bottom * scale),
            outline=(255, 40, 40),
            width=2,
        )
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=80)
    return _data_uri(buffer.getvalue())


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def stored_uri(
    stored: StoredThumbnail, *, boxes: Sequence[tuple[int, int, int, int]] = ()
) -> str | None:
    """The data URI of a thumbnail stored in the catalogue, with ``boxes`` drawn on it (it
    is then decoded and encoded again); None if it does not decode."""
    if not boxes:
        return _data_uri(stored.data)
    try:
        with Image.open(io.BytesIO(stored.data)) as image:
            if image.format != "JPEG":
                return None
            small = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return _jpeg_uri(small, boxes=boxes, full_width=stored.image_width)


class Shown(Sequence[str]):
    """SHA-256s in the order a page shows them, 32 bytes each (a list of the hex strings
    took about 120 bytes an image: 110 MB for the 900,000 members of a reused-photo report)."""

    def __init__(self, sha256s: Iterable[str] = ()) -> None:
        self._digests = bytearray()
        for sha in sha256s:
            self.append(sha)

    def append(self, sha256: str) -> None:
        """Show ``sha256`` next."""
        self._digests += bytes.fromhex(sha256)

    def __len__(self) -> int:
        return len(self._digests) // 32

    @overload
    def __getitem__(self, at: int) -> str: ...

    @overload
    def __getitem__(self, at: slice) -> list[str]: ...

    def __getitem__(self, at: int | slice) -> str | list[str]:
        if isinstance(at, slice):
            return [self[i] for i in range(len(self))[at]]
        if at < 0:
            at += len(self)
        if not 0 <= at < len(self):
            raise IndexError("shown image index out of range")
        return self._digests[at * 32 : at * 32 + 32].hex()


class Thumbnails(Mapping[str, str | None]):
    """Inline thumbnails of images by SHA-256, each made when a writer asks for it.

    A report of 10^6 printed captions shows about 340,000 images: their data URIs made up
    front and held while the page is written would take gigabytes. With ``stored``, an
    image's thumbnail is the one the catalogue keeps (provcat.thumbnails), read with those
    of the next images in ``order`` (the order the page shows them in), :data:`ROUND` at a
    time; an image stored without one gets one made from its file. The last few asked for
    are kept, for an image shown twice in a row.

    Args:
        paths: Where each image's file was seen (``Catalogue.image_paths``); the mapping's
            keys are the images it gives thumbnails of.
        find_paths: Instead of ``paths``: reads where the files of the SHA-256s it is given
            were seen, asked only for an image without a stored thumbnail (an image stored
            before revision 0013), so that a page of a million images holds no path.
        stored: Reads the stored thumbnails of the SHA-256s it is given.
        order: The SHA-256s in the order the page will ask for them (:class:`Shown` keeps
            them small).
        boxes: Rectangles to draw on an image's thumbnail (see :func:`thumbnail_uri`).
        side: Longest side of a thumbnail made from a file (a stored one is 240 pixels).
    """

    #: Stored thumbnails read in one round.
    ROUND = 500

    def __init__(
        self,
        paths: Mapping[str, Sequence[str]] | None = None,
        *,
        find_paths: Callable[[Sequence[str]], Mapping[str, Sequence[str]]] | None = None,
        stored: Callable[[Sequence[str]], Mapping[str, StoredThumbnail]] | None = None,
        order: Sequence[str] = (),
        boxes: Mapping[str, Sequence[tuple[int, int, int, int]]] | None = None,
        side: int = THUMBNAIL_SIDE,
    ) -> None:
        self._paths = paths
        self._find_paths = find_paths
        self._stored = stored
        self._order = order
        self._cursor = 0
        self._read: Mapping[str, StoredThumbnail] = {}
        self._asked: frozenset[str] = frozenset()
        self._boxes = boxes or {}
        self._side = side
        self._made = functools.lru_cache(maxsize=64)(self._make)

    def _stored_one(self, sha: str) -> StoredThumbnail | None:
        if self._stored is None:
            return None
        if sha not in self._asked:
            start = self._next_place(sha)
            if start is None:
                wanted = [sha]
            else:
                wanted = list(dict.fromkeys(self._order[start : start + self.ROUND]))
                self._cursor = start + 1
            self._read = self._stored(wanted)
            self._asked = frozenset(wanted)
        return self._read.get(sha)

    def _next_place(self, sha: str) -> int | None:
        """Where ``sha`` is in ``order`` shortly after the last round's start, as the page
        asks (None elsewhere: an image asked for out of the page's order is read alone)."""
        end = min(len(self._order), self._cursor + 2 * self.ROUND)
        for place in range(self._cursor, end):
            if self._order[place] == sha:
                return place
        return None

    def _make(self, sha: str) -> str | None:
        boxes = self._boxes.get(sha, ())
        stored = self._stored_one(sha)
        if stored is not None:
            uri = stored_uri(stored, boxes=boxes)
            if uri is not None:
                return uri
        if self._paths is not None:
            paths = self._paths[sha]
        elif self._find_paths is not None:
            paths = self._find_paths([sha]).get(sha, ())
        else:
            paths = ()
        return thumbnail_uri(paths, sha256=sha, boxes=boxes, side=self._side)

    def __getitem__(self, sha: str) -> str | None:
        if self._paths is not None and sha not in self._paths:
            raise KeyError(sha)
        return self._made(sha)

    def _keys(self) -> Collection[str]:
        return self._paths if self._paths is not None else dict.fromkeys(self._order)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


def write_json(report: Report, out: TextIO, **_: Any) -> None:
    """The report as one JSON document (docs/report-schemas.md); the characters a terminal
    would obey are escaped the JSON way, so the data reads back exactly. Written a piece at
    a time (a million captions' report is about 400 MB of JSON, which as one string, and
    its escaped copy, took as much memory again), and a report that gives its members as
    ``json_parts`` (long lists as iterators) an item at a time: the same text."""
    parts = getattr(report, "json_parts", None)
    members = parts() if parts is not None else iter(report.to_dict().items())
    for piece in _members(members):
        out.write(json_printable(piece))
    out.write("\n")


def _members(parts: Iterable[tuple[str, Any]]) -> Iterator[str]:
    """What ``json.dumps(dict(parts), indent=2)`` writes, with a member given as an iterator
    written as a list, an item at a time, each item's text as one piece (an indenting
    encoder makes a piece of every bracket, comma and value: a million printings' groups
    were 37 million pieces, each escaped and written on its own, two fifths of the
    writing's time), each by :func:`provcat.terminal.json_indented`. A JSON string holds
    no raw newline, so every newline is the indentation's, and deepening it indents an
    item's lines."""
    opened = False
    for name, value in parts:
        yield ("," if opened else "{") + "\n  " + json.dumps(name, ensure_ascii=False) + ": "
        opened = True
        if not isinstance(value, Iterator):
            yield json_indented(value).replace("\n", "\n  ")
            continue
        listed = False
        for item in value:
            yield ("," if listed else "[") + "\n    " + json_indented(item).replace("\n", "\n    ")
            listed = True
        yield "\n  ]" if listed else "[]"
    yield "\n}" if opened else "{}"


def write_caption_csv(report: CaptionReport, out: TextIO, **_: Any) -> None:
    """One row per printed occurrence of a duplicated caption."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "group",
            "match",
            "similarity",
            "flags",
            "group_text",
            "caption",
            "origin",
            "position",
            "article_title",
            "article_url",
            "article_source",
            "publisher",
            "published",
            "image",
            "stand_in",
            "credit",
        ]
    )
    for number, group in enumerate(report.groups, start=1):
        for o in group.occurrences:
            writer.writerow(
                [
                    number,
                    group.match,
                    f"{group.similarity:.4f}",
                    " ".join(group.flags),
                    _cell(group.text),
                    _cell(o.caption),
                    o.origin,
                    o.position,
                    _cell(o.article.title or ""),
                    _cell(o.article.url or ""),
                    _cell(o.article.source or ""),
                    _cell(o.article.publisher or ""),
                    o.article.published or "",
                    o.image or "",
                    "yes" if o.stand_in else "no",
                    _cell(o.credit or ""),
                ]
            )


def _cell(text: str) -> str:
    # A cell starting with =, +, - or @ is run as a formula by spreadsheets: captions are
    # untrusted text, so such cells get a leading apostrophe.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _md(text: str) -> str:
    """Text safe inside a Markdown line: markup characters escaped, no line breaks, and no
    control characters a terminal showing the notes would obey (:mod:`provcat.terminal`)."""
    out = printable(" ".join(text.split()), one_line=True)
    for ch in "\\`*_[]<>|":
        out = out.replace(ch, "\\" + ch)
    return out


def write_caption_markdown(report: CaptionReport, out: TextIO, **_: Any) -> None:
    """Readable in a terminal and in a notes app."""
    out.write("# Duplicate captions\n\n")
    if report.stand_ins:
        out.write("Some images in this catalogue are stand-ins, not the original photographs.\n\n")
    out.write(
        f"{len(report.groups)} duplicated caption(s) among {report.captions_considered} printed "
        f"caption(s); near-duplicate threshold {report.threshold}.\n"
    )
    for number, group in enumerate(report.groups, start=1):
        out.write(f"\n## {number}. {_md(group.text)}\n\n")
        similarity = "" if group.match == "exact" else f", similarity {group.similarity:.2f}"
        out.write(f"- match: {group.match}{similarity}, {len(group.occurrences)} printings\n")
        for flag in group.flags:
            out.write(f"- flag: {FLAG_WORDS[flag]}\n")
        out.write("\nVariants:\n\n")
        for v in group.variants:
            out.write(f"- ({v.count}x) {_md(v.text)}\n")
        out.write("\nPrintings:\n\n")
        for o in group.occurrences:
            where = o.article.name
            if o.article.source_name and o.article.source_name != where:
                where = f"{where} [{o.article.source_name}]"
            image = (
                f", image {o.image[:12]}" + (" (stand-in)" if o.stand_in else "") if o.image else ""
            )
            credit = f", credit: {_md(o.credit)}" if o.credit else ""
            out.write(
                f"- {_md(where)} ({_md(o.article.publisher or 'publisher unknown')}), "
                f"#{o.position} [{o.origin}]{image}{credit}\n"
            )
    if report.photos:
        out.write("\n## Photos under different captions\n\n")
        for photo in report.photos:
            images = ", ".join(s[:12] for s in photo.images)
            out.write(f"- {images}:\n")
            for caption in photo.captions:
                out.write(f"  - {_md(caption)}\n")


_ENV = Environment(
    loader=PackageLoader("provcat", "templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def write_caption_html(
    report: CaptionReport,
    out: TextIO,
    *,
    thumbnails: Mapping[str, str | None] | None = None,
    pages: Pages | None = None,
) -> None:
    """Self-contained pages: groups, inline thumbnails, variants with differences marked.

    One page, written to ``out``; with ``pages``, as many as keep each to ``pages.images``
    thumbnails, the first to ``out`` and the rest to the files ``pages`` names, each linking
    to every other (the photos under different captions follow the groups).
    """
    template = _ENV.get_template("captions.html.j2")
    common = {"report": report, "flag_words": FLAG_WORDS, "thumbnails": thumbnails or {}}
    if pages is None:
        # Written as it is made: a report of 10^6 printings is a page of hundreds of MB.
        _write_pieces(template.generate(**common), out)
        return
    groups, photos = report.groups, report.photos
    sizes = [max(1, len({o.image for o in g.occurrences if o.image})) for g in groups]
    sizes += [max(1, len(p.images)) for p in photos]
    with contextlib.closing(pages.write(out, sizes)) as written:
        for page, shown, stream in written:
            first, last = shown.start, shown.stop
            picked = {
                "groups": groups[first : min(last, len(groups))],
                "first": first + 1,
                "photos": photos[max(0, first - len(groups)) : max(0, last - len(groups))],
                "page": page,
            }
            _write_pieces(template.generate(**common, **picked), stream)


def _write_pieces(pieces: Iterable[str], out: TextIO) -> None:
    for piece in pieces:
        out.write(piece)


@dataclass(frozen=True)
class Page:
    """Where a page of a split report stands: its number, and every page's link."""

    number: int
    hrefs: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.hrefs)

    @property
    def previous(self) -> str | None:
        return self.hrefs[self.number - 2] if self.number > 1 else None

    @property
    def next(self) -> str | None:
        return self.hrefs[self.number] if self.number < self.count else None


@dataclass
class Pages:
    """An HTML report split into pages: the first is written where the report is asked for
    (the file ``first``), the others beside it as ``<stem>-2<suffix>``, ``<stem>-3<suffix>``
    and so on, each showing at most ``images`` thumbnails. The pages after the first are
    written under hidden names and take theirs together once the last is written
    (:class:`provcat.reports.atomic.Part`): a report that fails part way leaves an earlier
    report's pages as they were. ``written`` names every page once the report is written;
    the pages an earlier, longer report left after the last (files in a row whose head says
    they are a provcat report's pages) are removed, and named in ``removed``.

    The pages take their names, and those an earlier report left are removed, while the
    report holds its folder (:func:`provcat.reports.atomic.folder_lock`); given the first
    page's own hidden file (``first_file``, the :class:`Part` its stream writes), it is
    named there too, so that two reports written at once to one name end as one of them,
    all its pages, never some of each."""

    first: Path
    images: int = PAGE_IMAGES
    #: The first page's file, when it is a :class:`Part`: named with the other pages.
    first_file: Part | None = None
    written: list[Path] = field(default_factory=list)
    #: Pages of an earlier, longer report found after the last and removed.
    removed: list[Path] = field(default_factory=list)
    #: Hidden files of these pages that a killed writer left, found and removed.
    leftovers: list[Path] = field(default_factory=list)

    def path(self, number: int) -> Path:
        """The file of page ``number`` (from 1)."""
        if number == 1:
            return self.first
        return self.first.with_name(f"{self.first.stem}-{number}{self.first.suffix}")

    def write(
        self, out: TextIO, sizes: Sequence[int]
    ) -> Generator[tuple[Page, range, TextIO], None, None]:
        """Split items of the given sizes (thumbnails each shows) into pages; yields each
        page, the items on it and the stream to write it to (``out`` for the first, a
        hidden file for each other, named when the last page is done). Close the iterator
        (``contextlib.closing``) if it is left before its end: that drops the pages."""
        ranges = _split(sizes, self.images)
        hrefs = tuple(quote(self.path(n).name) for n in range(1, len(ranges) + 1))
        self.written = []
        self.leftovers = remove_leftovers(self.first.parent, self._is_page)
        parts: list[Part] = []
        try:
            for number, shown in enumerate(ranges, start=1):
                page = Page(number, hrefs)
                if number == 1:
                    yield page, shown, out
                    continue
                part = Part(self.path(number))
                parts.append(part)
                yield page, shown, part.stream
                part.set_aside()  # not a descriptor held for each of a thousand pages
            named = [*parts, self.first_file] if self.first_file else parts
            with folder_lock(self.first):
                for part in named:
                    part.publish(sync=False)
                if named:
                    sync_folder(self.first)  # the pages' names, in one sync of their folder
                self.written = [self.first] + [part.path for part in parts]
                self._remove_stale(len(ranges) + 1)
        finally:
            for part in parts:
                part.discard()

    def _is_page(self, name: str) -> bool:
        """Whether ``name`` is the name of one of these pages' files."""
        stem, suffix = self.first.stem, self.first.suffix
        if name == self.first.name:
            return True
        number = name[len(stem) + 1 : len(name) - len(suffix)]
        return (
            name.startswith(f"{stem}-")
            and name.endswith(suffix)
            and number.isascii()
            and number.isdigit()
            and not number.startswith("0")
        )

    def _remove_stale(self, number: int) -> None:
        """Remove the pages after the last that an earlier, longer report left beside it:
        those files in a row from page ``number`` that are a split report's pages."""
        self.removed = []
        while True:
            path = self.path(number)
            try:
                if not path.is_file() or path.is_symlink():
                    return
                with path.open("rb") as file:
                    if _PAGE_MARK not in file.read(4096):
                        return
                path.unlink()
            except OSError:
                return
            self.removed.append(path)
            number += 1


#: What the head of every page of a split report holds (the templates' generator tag).
_PAGE_MARK = b'<meta name="generator" content="provcat, page '


def _split(sizes: Sequence[int], most: int) -> list[range]:
    """Consecutive runs of items whose sizes add up to at most ``most`` (an item larger than
    that alone); one empty run when there are no items."""
    runs: list[range] = []
    start = total = 0
    for index, size in enumerate(sizes):
        if index > start and total + size > most:
            runs.append(range(start, index))
            start, total = index, 0
        total += size
    runs.append(range(start, len(sizes)))
    return runs


Writer = Callable[..., None]

CAPTION_WRITERS: dict[str, Writer] = {
    "json": write_json,
    "csv": write_caption_csv,
    "md": write_caption_markdown,
    "html": write_caption_html,
}


def write_reuse_csv(report: ReuseReport, out: TextIO, **_: Any) -> None:
    """One row per stored image of a reused photo."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "cluster",
            "root",
            "sha256",
            "relation",
            "crop_box",
            "via",
            "score",
            "width",
            "height",
            "stand_in",
            "flags",
            "earliest_published",
            "earliest_publisher",
        ]
    )
    for number, cluster in enumerate(report.clusters, start=1):
        observed = cluster.earliest.get("observed") or {}
        for member in cluster.members:
            writer.writerow(
                [
                    number,
                    cluster.root,
                    member.sha256,
                    " ".join(member.relation),
                    " ".join(map(str, member.crop_box)) if member.crop_box else "",
                    member.via or "",
                    f"{member.score:.4f}" if member.score is not None else "",
                    member.width,
                    member.height,
                    "yes" if member.stand_in else "no",
                    " ".join(cluster.flags),
                    observed.get("published") or "",
                    _cell(observed.get("publisher") or ""),
                ]
            )


def write_reuse_markdown(report: ReuseReport, out: TextIO, **_: Any) -> None:
    """Readable in a terminal and in a notes app."""
    out.write("# Reused photos\n\n")
    if report.stand_ins:
        out.write("Some images in this catalogue are stand-ins, not the original photographs.\n\n")
    out.write(f"{len(report.clusters)} photo(s) held as more than one image.\n")
    for number, cluster in enumerate(report.clusters, start=1):
        out.write(f"\n## {number}. Photo {cluster.root[:12]} ({len(cluster.members)} images)\n\n")
        for flag in cluster.flags:
            out.write(f"- flag: {REUSE_FLAG_WORDS[flag]}\n")
        out.write("\nImages:\n\n")
        for member in cluster.members:
            box = f", crop box {member.crop_box}" if member.crop_box else ""
            via = f", measured against {member.via[:12]}" if member.via else ""
            stand_in = " (stand-in)" if member.stand_in else ""
            relation = ", ".join(member.relation) or "same photo"
            out.write(
                f"- {member.sha256[:12]}{stand_in} {member.width}x{member.height}: "
                f"{relation}{box}{via}\n"
            )
        observed = cluster.earliest.get("observed")
        if observed:
            out.write(
                f"\nEarliest in this catalogue: {observed['published']} "
                f"({observed['evidence']}), {_md(observed['publisher'] or 'publisher unknown')}, "
                f"{_md(observed['article'] or '')}\n"
            )
        claimed = cluster.earliest.get("claimed")
        if claimed:
            out.write(f"Earliest claimed: {_md(claimed['value'])} ({claimed['field']})\n")
        if cluster.captions:
            out.write("\nCaptions:\n\n")
            for caption in cluster.captions:
                out.write(f"- [{caption['origin']}] {_md(caption['text'])}\n")
        if cluster.credits:
            out.write("\nCredits:\n\n")
            for credit in cluster.credits:
                chain = " -> ".join(
                    (link["agent"] or "(unknown)") + f" [{link['role']}]"
                    for link in credit["chain"]
                )
                out.write(f"- [{credit['origin']}] {_md(chain)}\n")


def write_reuse_html(
    report: ReuseReport,
    out: TextIO,
    *,
    thumbnails: Mapping[str, str | None] | None = None,
    pages: Pages | None = None,
) -> None:
    """Self-contained pages: each photo's images, crop boxes drawn on the root; one page to
    ``out``, or split as ``pages`` says (see :func:`write_caption_html`)."""
    template = _ENV.get_template("reuse.html.j2")
    common = {"report": report, "flag_words": REUSE_FLAG_WORDS, "thumbnails": thumbnails or {}}
    if pages is None:
        _write_pieces(template.generate(**common), out)
        return
    clusters = report.clusters
    with contextlib.closing(pages.write(out, [len(c.members) for c in clusters])) as written:
        for page, shown, stream in written:
            picked = {"clusters": clusters[shown.start : shown.stop], "first": shown.start + 1}
            _write_pieces(template.generate(**common, **picked, page=page), stream)


REUSE_WRITERS: dict[str, Writer] = {
    "json": write_json,
    "csv": write_reuse_csv,
    "md": write_reuse_markdown,
    "html": write_reuse_html,
}
