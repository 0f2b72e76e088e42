"""Article manifests: TOML files describing an article and the images it printed."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provcat.config import MAX_MANIFEST_BYTES
from provcat.errors import ManifestError
from provcat.files import read_regular

#: The file name a folder's manifest must have to be found by a folder walk.
MANIFEST_NAME = "manifest.toml"


@dataclass(frozen=True)
class PersonEntry:
    """Someone the article names, with other spellings it uses."""

    name: str
    aliases: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class ShownPerson:
    """A person shown in one image, with the record's position cue ("left", "pictured")."""

    name: str
    cue: str | None = None


@dataclass(frozen=True)
class Printing:
    """One printing of an image in the article."""

    position: int
    caption: str | None
    credit: str | None
    note: str | None = None


@dataclass(frozen=True)
class ImageEntry:
    """One image of the article and every time it was printed."""

    file: Path
    printings: tuple[Printing, ...]
    people: tuple[ShownPerson, ...] = ()
    description: str | None = None
    stand_in: bool = False
    note: str | None = None


@dataclass(frozen=True)
class ArticleEntry:
    """The article itself."""

    id: str
    title: str | None
    publisher: str | None
    url: str | None
    published: dt.date | None
    published_until: dt.date | None
    published_precision: str
    published_note: str | None
    note: str | None


@dataclass(frozen=True)
class Manifest:
    """A parsed, validated manifest."""

    path: Path
    article: ArticleEntry
    people: tuple[PersonEntry, ...]
    images: tuple[ImageEntry, ...]


_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def parse_date(text: str) -> tuple[dt.date, dt.date, str]:
    """Parse ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` into (first day, last day, precision).

    Raises:
        ValueError: The text is not one of those forms or names no real date.
    """
    match = _DATE_RE.match(text.strip())
    if not match:
        raise ValueError(f"date {text!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = match.groups()
    if day is not None:
        date = dt.date(int(year), int(month), int(day))
        return date, date, "day"
    if month is not None:
        first = dt.date(int(year), int(month), 1)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        return first, last, "month"
    return dt.date(int(year), 1, 1), dt.date(int(year), 12, 31), "year"


class _Lines:
    """Finds the line a table or key of a TOML document is on, for error messages.

    tomllib keeps no positions, so this walks the text once, tracking table headers and the
    count of each array-of-tables, and records the line of every ``key =`` it sees.
    """

    _header = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?")
    _key = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        counts: dict[tuple[Any, ...], int] = {}
        current: tuple[Any, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._header.match(line)
            if header:
                parts = tuple(header.group(2).split("."))
                # Resolve parent arrays to their latest element: [[images.printings]] belongs
                # to the newest [[images]].
                resolved: tuple[Any, ...] = ()
                for part in parts[:-1]:
                    resolved += (part,)
                    if resolved in counts:
                        resolved += (counts[resolved] - 1,)
                resolved += (parts[-1],)
                if header.group(1) == "[[":
                    counts[resolved] = counts.get(resolved, 0) + 1
                    resolved += (counts[resolved] - 1,)
                current = resolved
                self.lines[current] = number
                continue
            key = self._key.match(line)
            if key:
                self.lines.setdefault((*current, key.group(1)), number)

    def find(self, path: tuple[Any, ...]) -> int | None:
        """The line of ``path`` or of its nearest enclosing table that was seen."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


class _Reader:
    """Validates the parsed TOML, raising ManifestError with the line of the offending entry."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = _Lines(text)

    def fail(self, where: tuple[Any, ...], reason: str) -> ManifestError:
        label = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in where)
        label = label.replace(".[", "[")
        return ManifestError(self.path, f"{label}: {reason}", line=self.lines.find(where))

    def table(self, data: Mapping[str, Any], where: tuple[Any, ...], allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail((*where, key), f"unknown key {key!r} (known: {known})")

    def text(
        self, data: Mapping[str, Any], key: str, where: tuple[Any, ...], *, required: bool = False
    ) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(where, f"missing required key {key!r}")
            return None
        if not isinstance(value, str):
            raise self.fail((*where, key), f"{key!r} must be a string, not {type(value).__name__}")
        if required and not value.strip():
            raise self.fail((*where, key), f"{key!r} must not be empty")
        return value if value.strip() else None

    def array(self, data: Mapping[str, Any], key: str, where: tuple[Any, ...]) -> list[Any]:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise self.fail((*where, key), f"{key!r} must be an array")
        return value


def load_manifest(path: Path) -> Manifest:
    """Read and validate a manifest.

    Args:
        path: The manifest file; image paths in it are relative to its folder.

    Returns:
        The validated manifest.

    Raises:
        ManifestError: The file cannot be read, is not TOML, or breaks docs/manifest.md; the
            message names the file, the line and the entry.
    """
    raw = read_regular(path, limit=MAX_MANIFEST_BYTES, error=ManifestError, what="manifest")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(path, f"cannot read manifest: not UTF-8 text ({exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        raise ManifestError(path, f"not valid TOML: {exc}", line=line) from exc
    reader = _Reader(path, text)
    reader.table(data, (), {"article", "people", "images"})
    article = _article(reader, data)
    people = tuple(
        _person(reader, entry, i) for i, entry in enumerate(reader.array(data, "people", ()))
    )
    images = tuple(
        _image(reader, entry, i) for i, entry in enumerate(reader.array(data, "images", ()))
    )
    if not images:
        raise reader.fail((), "a manifest needs at least one [[images]] entry")
    positions: dict[int, tuple[Any, ...]] = {}
    for i, image in enumerate(images):
        for j, printing in enumerate(image.printings):
            where = ("images", i, "printings", j, "position")
            if printing.position in positions:
                raise reader.fail(where, f"position {printing.position} is used twice")
            positions[printing.position] = where
    known = {p.name for p in people} | {a for p in people for a in p.aliases}
    for i, image in enumerate(images):
        for shown in image.people:
            if people and shown.name not in known:
                raise reader.fail(
                    ("images", i, "people"), f"person {shown.name!r} is not listed in [[people]]"
                )
    return Manifest(path=path, article=article, people=people, images=images)


def _article(reader: _Reader, data: Mapping[str, Any]) -> ArticleEntry:
    entry = data.get("article")
    if not isinstance(entry, dict):
        raise reader.fail((), "missing the [article] table")
    where = ("article",)
    reader.table(
        entry,
        where,
        {"id", "title", "publisher", "url", "published", "published_note", "note"},
    )
    article_id = reader.text(entry, "id", where, required=True)
    assert article_id is not None
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-]*", article_id):
        raise reader.fail((*where, "id"), "id may hold only letters, digits, '.', '_' and '-'")
    published_text = reader.text(entry, "published", where)
    first = last = None
    precision = "unknown"
    if published_text is not None:
        try:
            first, last, precision = parse_date(published_text)
        except ValueError as exc:
            raise reader.fail((*where, "published"), str(exc)) from exc
    url = reader.text(entry, "url", where)
    if url is not None and not re.match(r"^https?://", url):
        raise reader.fail((*where, "url"), "url must start with http:// or https://")
    return ArticleEntry(
        id=article_id,
        title=reader.text(entry, "title", where),
        publisher=reader.text(entry, "publisher", where),
        url=url,
        published=first,
        published_until=last,
        published_precision=precision,
        published_note=reader.text(entry, "published_note", where),
        note=reader.text(entry, "note", where),
    )


def _person(reader: _Reader, entry: Any, index: int) -> PersonEntry:
    where = ("people", index)
    if not isinstance(entry, dict):
        raise reader.fail(where, "each [[people]] entry must be a table")
    reader.table(entry, where, {"name", "aliases", "description"})
    name = reader.text(entry, "name", where, required=True)
    assert name is not None
    aliases = reader.array(entry, "aliases", where)
    if not all(isinstance(a, str) and a.strip() for a in aliases):
        raise reader.fail((*where, "aliases"), "aliases must be non-empty strings")
    return PersonEntry(
        name=name, aliases=tuple(aliases), description=reader.text(entry, "description", where)
    )


def _image(reader: _Reader, entry: Any, index: int) -> ImageEntry:
    where = ("images", index)
    if not isinstance(entry, dict):
        raise reader.fail(where, "each [[images]] entry must be a table")
    reader.table(entry, where, {"file", "printings", "people", "description", "stand_in", "note"})
    file = reader.text(entry, "file", where, required=True)
    assert file is not None
    relative = Path(file)
    if relative.is_absolute() or ".." in relative.parts:
        raise reader.fail((*where, "file"), "file must be a path inside the manifest's folder")
    stand_in = entry.get("stand_in", False)
    if not isinstance(stand_in, bool):
        raise reader.fail((*where, "stand_in"), "stand_in must be true or false")
    printings = []
    for j, printing in enumerate(reader.array(entry, "printings", where)):
        pwhere = (*where, "printings", j)
        if not isinstance(printing, dict):
            raise reader.fail(pwhere, "each [[images.printings]] entry must be a table")
        reader.table(printing, pwhere, {"position", "caption", "credit", "note"})
        position = printing.get("position")
        if isinstance(position, bool) or not isinstance(position, int) or position < 1:
            raise reader.fail((*pwhere, "position"), "position must be a whole number from 1")
        caption = printing.get("caption")
        if caption is not None and not isinstance(caption, str):
            raise reader.fail((*pwhere, "caption"), "caption must be a string")
        printings.append(
            Printing(
                position=position,
                # Captions are kept exactly as printed: no stripping, no folding.
                caption=caption if caption else None,
                credit=reader.text(printing, "credit", pwhere),
                note=reader.text(printing, "note", pwhere),
            )
        )
    if not printings:
        raise reader.fail(where, "an image needs at least one [[images.printings]] entry")
    people = []
    for shown in reader.array(entry, "people", where):
        if not isinstance(shown, dict) or not isinstance(shown.get("name"), str):
            raise reader.fail(
                (*where, "people"), 'people entries are { name = "...", cue = "..." }'
            )
        cue = shown.get("cue")
        if cue is not None and not isinstance(cue, str):
            raise reader.fail((*where, "people"), "cue must be a string")
        people.append(ShownPerson(name=shown["name"], cue=cue))
    return ImageEntry(
        file=relative,
        printings=tuple(printings),
        people=tuple(people),
        description=reader.text(entry, "description", where),
        stand_in=stand_in,
        note=reader.text(entry, "note", where),
    )
