"""The provcat command: parses arguments, calls one library function, renders the result."""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from provcat.catalogue import Catalogue
from provcat.config import DATABASE_URL_ENV, database_url
from provcat.db import database_reason
from provcat.errors import CatalogueError
from provcat.matching import Lookup, SimilarMatch
from provcat.queries import ImageQuery
from provcat.reports.formats import FORMATS, PAGE_IMAGES, choose_format
from provcat.results import ImageRecord
from provcat.terminal import json_indented, json_printable, printable

if TYPE_CHECKING:
    import ssl

    from provcat.ingest import ProgressCallback
    from provcat.reports.writers import Pages
    from provcat.serve import LookUpServer

#: Exit status when an ingest or a look-up rejected something (1 is left for errors that stop
#: a command).
EXIT_REJECTED = 3

#: Said after a match that rests on global hashes alone (a low-information picture).
WEAK_NOTE = " - WEAK EVIDENCE: global hashes only, the picture has too little detail to verify"

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _echo_json(data: Any, *, lines: bool = False) -> None:
    """Print ``data`` as JSON: indented, or on one line (``lines``: JSON Lines); characters a
    terminal would obey are escaped (:func:`provcat.terminal.json_printable`)."""
    dumped = json.dumps(data, ensure_ascii=False, default=str) if lines else json_indented(data)
    click.echo(json_printable(dumped))


def _echo_json_items(items: Iterable[Any]) -> int:
    """Print what :func:`_echo_json` prints for ``list(items)``, an item at a time (a list of
    10^6 images' summaries held at once took gigabytes), written :data:`_ITEMS_WRITTEN` at
    once (``click.echo`` flushes each write); how many there were."""
    count = 0
    pieces: list[str] = []
    for item in items:
        text = json_indented(item)
        pieces.append(("[" if count == 0 else ",") + "\n  " + text.replace("\n", "\n  "))
        count += 1
        if len(pieces) == _ITEMS_WRITTEN:
            click.echo(json_printable("".join(pieces)), nl=False)
            pieces.clear()
    if pieces:
        click.echo(json_printable("".join(pieces)), nl=False)
    click.echo("[]" if count == 0 else "\n]")
    return count


#: Items of a JSON listing written to standard output at once (:func:`_echo_json_items`).
_ITEMS_WRITTEN = 100


#: Rows of a listing laid out as one table (:func:`_batched`).
_TABLE_ROWS = 200
#: The columns of `provcat images`'s tables.
_IMAGE_COLUMNS = ("sha256", "size", "articles", "captions")


def _print_tables(
    columns: Sequence[str], rows: Iterable[Sequence[str]], *, show_lines: bool = False
) -> int:
    """Print ``rows`` under ``columns`` as tables of _TABLE_ROWS rows, each as soon as its
    rows are at hand (one table of every row would hold them all and measure every cell
    before printing any); an empty table for none. Returns how many rows were printed.

    Every cell goes to rich as plain text (a ``str`` cell's markup would be parsed: a sixth
    of a table's time, and a caption holding "[bold]" must stay text)."""
    count = 0
    for batch in _batched(rows, _TABLE_ROWS):
        table = Table(*columns, show_lines=show_lines)
        for row in batch:
            table.add_row(*map(Text, row))
        _console().print(table)
        count += len(batch)
    if not count:
        _console().print(Table(*columns, show_lines=show_lines))
    return count


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last shorter)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _say(text: str, *, err: bool = False) -> None:
    """Print one line for people; the data in it (file names, reasons, captions) cannot
    command the terminal or break the line (:func:`provcat.terminal.printable`)."""
    click.echo(printable(text, one_line=True), err=err)


def _cell(text: str) -> str:
    """Data for a table cell (:func:`_print_tables`): no terminal commands."""
    return printable(text)


def _console() -> Console:
    # highlight=False: captions are data and must be shown as they are, not colourised guesses.
    return Console(highlight=False, soft_wrap=True)


class _Group(click.Group):
    """Turns provcat's own errors, and database errors, into one line on stderr and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CatalogueError as exc:
            raise click.ClickException(printable(str(exc), one_line=True)) from exc
        except SQLAlchemyError as exc:
            reason = printable(database_reason(exc), one_line=True)
            where = _shown_catalogue(ctx)
            raise click.ClickException(f"database error in {where}: {reason}") from exc


def _shown_catalogue(ctx: click.Context) -> str:
    """The catalogue a command works on, as the user may be shown it (no password): a full
    disk or a locked file says which catalogue it is about."""
    options = ctx.obj if isinstance(ctx.obj, _Options) else None
    try:
        url = make_url(database_url(options.db_url if options else None))
        return printable(url.render_as_string(hide_password=True), one_line=True)
    except (SQLAlchemyError, ValueError):
        return "the catalogue"


class _CountingHandler(logging.Handler):
    """Counts the warnings logged while a command runs (shown or not)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class _ShownLog(RichHandler):
    """Log lines on the terminal: their file names and decoders' messages cannot command it."""

    def render_message(self, record: logging.LogRecord, message: str) -> Any:
        return super().render_message(record, printable(message))


@dataclass
class _Options:
    db_url: str | None
    verbose: bool
    #: The stderr console the progress bar and the shown log lines share.
    console: Console
    warnings: _CountingHandler


#: Marks the handlers this CLI installed, so a second invocation in one process replaces them.
_OURS = "_provcat_cli"


def _setup_logging(console: Console, verbose: bool, log_file: Path | None) -> _CountingHandler:
    """Send warnings (Python's too: Pillow's) to the log: counted always, shown with -v,
    written to ``log_file`` when given. Nothing is printed raw across the progress bar."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(handler)
    logging.captureWarnings(True)
    # exifread logs a warning for every file without EXIF; that is normal, not news.
    logging.getLogger("exifread").setLevel(logging.ERROR)
    # Alembic narrates every schema check at INFO; only its warnings are news here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    counter = _CountingHandler()
    handlers: list[logging.Handler] = [counter]
    if verbose:
        shown = _ShownLog(console=console, show_time=False, show_path=False, markup=False)
        shown.setLevel(logging.INFO)
        handlers.append(shown)
    if log_file is not None:
        written = logging.FileHandler(log_file, encoding="utf-8")
        written.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(written)
    for handler in handlers:
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    root.setLevel(logging.INFO if verbose or log_file else logging.WARNING)
    return counter


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_url",
    envvar=DATABASE_URL_ENV,
    metavar="URL",
    help=(
        "Catalogue database: an SQLAlchemy URL or an SQLite file's path. "
        f"Default: ${DATABASE_URL_ENV}, else ./provcat.db."
    ),
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Show warnings (odd EXIF, decoder notes) as they come."
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append warnings and progress notes to this file.",
)
@click.version_option(package_name="provcat")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, verbose: bool, log_file: Path | None) -> None:
    """provcat: an image caption and provenance catalogue."""
    console = Console(stderr=True, highlight=False)
    counter = _setup_logging(console, verbose, log_file)
    ctx.obj = _Options(db_url=db_url, verbose=verbose, console=console, warnings=counter)


@contextmanager
def _catalogue(ctx: click.Context, *, create: bool = False) -> Iterator[Catalogue]:
    """The catalogue the command works on. Only ingest creates one; a command that reads
    reports a missing catalogue instead of creating an empty one."""
    options: _Options = ctx.obj
    catalogue = Catalogue(options.db_url, create=create)
    try:
        yield catalogue
    finally:
        catalogue.close()


def _on_terminal() -> bool:
    """Whether standard error is a terminal (a progress bar there is seen, not logged)."""
    return sys.stderr.isatty()


@contextmanager
def _progress(
    enabled: bool, console: Console, doing: str = "ingesting"
) -> Iterator[ProgressCallback | None]:
    """A transient progress bar on the terminal: a callback given (files done, files in all
    or None when not known yet, the file just handled); None when not ``enabled``."""
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn(doing),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
    )
    task = bar.add_task("", total=None)

    def update(done: int, total: int | None, path: str) -> None:
        name = printable(Path(path).name, one_line=True)
        bar.update(task, completed=done, total=total, description=escape(name))

    with bar:
        yield update


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--images",
    "images_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding the images of scraped articles (default: beside the page).",
)
@click.option(
    "-j",
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that decode and fingerprint images (default: one per core).",
)
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    as_json: bool,
    images_dir: Path | None,
    workers: int | None,
) -> None:
    """Ingest manifests, folders of images, image files and scraped articles.

    A folder is walked for manifest.toml files and images; scraped articles (.txt, .html) are
    ingested when named. Exits with status 3 when anything was rejected; the rest is still
    catalogued.
    """
    options: _Options = ctx.obj
    show_bar = not as_json and _on_terminal()
    with (
        _catalogue(ctx, create=True) as catalogue,
        _progress(show_bar, options.console) as progress,
    ):
        result = catalogue.ingest(
            paths, progress=progress, images_dir=images_dir, workers=workers
        )
    if as_json:
        _echo_json(result.to_dict())
    else:
        _say(
            f"images: {result.images_added} added, {result.images_known} already known; "
            f"appearances: {result.appearances_added} added, {result.appearances_known} known; "
            f"articles: {result.articles_added} added, {result.articles_known} known; "
            f"skipped: {len(result.skipped)}; rejected: {len(result.rejected)}"
        )
        for rejected in result.rejected:
            where = f"{rejected.path}:{rejected.line}" if rejected.line else rejected.path
            _say(f"rejected {where}: {rejected.reason}", err=True)
        for warning in result.warnings:
            _say(f"warning {warning.path}: {warning.reason}", err=True)
        if options.verbose:
            for skipped in result.skipped:
                _say(f"skipped {skipped.path}: {skipped.reason}", err=True)
        elif result.skipped:
            _say(f"{len(result.skipped)} file(s) skipped; -v lists them", err=True)
    if options.warnings.count and not options.verbose:
        click.echo(
            f"{options.warnings.count} warning(s) logged; -v shows them, --log-file keeps them",
            err=True,
        )
    if result.rejected:
        ctx.exit(EXIT_REJECTED)


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


@cli.command()
@click.option("--article", help="Article key, URL, or text in its title.")
@click.option("--agent", help="Text in the name of a credited agent or publisher.")
@click.option("--person", help="Name or alias of a person shown.")
@click.option("--from", "date_from", callback=_date, help="Printed on or after (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=_date, help="Printed on or before (YYYY-MM-DD).")
@click.option("--caption", help="Text in a printed or embedded caption.")
@click.option("--limit", type=int, help="At most this many images.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def images(ctx: click.Context, /, as_json: bool, **filters: Any) -> None:
    """List catalogued images, filtered."""
    query = ImageQuery(**filters)
    with _catalogue(ctx) as catalogue:
        found = catalogue.iter_images(query)
        if as_json:
            _echo_json_items(image.to_dict() for image in found)
            return
        count = _print_tables(
            _IMAGE_COLUMNS,
            (
                (
                    image.sha256[:12],
                    f"{image.width}x{image.height} {image.format}"
                    + (" (stand-in)" if image.stand_in else ""),
                    _cell("\n".join(image.articles)),
                    _cell("\n".join(image.captions)),
                )
                for image in found
            ),
            show_lines=True,
        )
    _say(f"{count} image(s)")


@cli.command()
@click.argument("prefix")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@click.pass_context
def show(ctx: click.Context, prefix: str, as_json: bool) -> None:
    """Show everything about one image, by a prefix of its SHA-256."""
    with _catalogue(ctx) as catalogue:
        record = catalogue.image(prefix)
    if as_json:
        _echo_json(record.to_dict())
        return
    _print_record(record)


def _print_record(record: ImageRecord) -> None:
    console = _console()

    def out(text: str) -> None:
        # Data is printed without markup (a caption holding "[bold]" stays text) and without
        # the control characters a terminal would obey.
        console.print(printable(text), markup=False)

    def heading(text: str) -> None:
        console.print(f"\n{text}", style="bold", markup=False)

    stand_in = " - STAND-IN, not the original photograph" if record.stand_in else ""
    console.print(f"{record.sha256}{stand_in}", style="bold", markup=False)
    out(f"{record.format} {record.width}x{record.height}, {record.file_size} bytes")
    if record.note:
        out(f"note: {record.note}")
    if record.low_information:
        out(
            f"low-information image ({record.low_information}): too little detail to verify "
            "copies; matches rest on global hashes alone and are weak evidence"
        )
    for path in record.paths:
        out(f"seen at: {path}")
    if record.same_pixels:
        out("same pixels as: " + ", ".join(s[:12] for s in record.same_pixels))
    for twin in record.same_photo:
        box = f", crop box {twin.crop_box}" if twin.crop_box else ""
        edits = ", ".join(twin.relation)
        if "weak_global_hash" in twin.relation:
            edits += "; weak evidence"
        if twin.role == "copy":
            out(f"same photo: {twin.sha256[:12]} is a copy of this one ({edits}{box})")
        else:
            out(f"same photo: this is a copy of {twin.sha256[:12]} ({edits}{box})")
    heading("Appearances")
    for a in record.appearances:
        title = a.article.title or a.article.key
        out(
            f"  {title} ({a.article.publisher or 'publisher unknown'}, "
            f"{a.article.published or 'date unknown'}) #{a.position}"
        )
        out(f"    caption: {a.caption if a.caption else '(none printed)'}")
        out(f"    credit:  {a.credit if a.credit else '(none stated)'}")
    heading("Captions")
    for c in record.captions:
        where = f" - {c.article} #{c.position}" if c.article else ""
        out(f"  [{c.origin}{where}] {c.text}")
    heading("Provenance")
    chains: dict[int, list[str]] = {}
    heads: dict[int, str] = {}
    for link in record.provenance:
        name = link.agent if link.agent else "(unknown: no credit stated)"
        chains.setdefault(link.chain, []).append(f"{name} [{link.role}]")
        heads[link.chain] = f"{link.origin}" + (f" in {link.article}" if link.article else "")
    for number, links in chains.items():
        out(f"  {heads[number]}: " + " -> ".join(links))
    if record.people:
        heading("People shown")
        for p in record.people:
            cue = f" ({p.cue})" if p.cue else ""
            out(f"  {p.name}{cue} - {p.source}")
    heading("Embedded metadata")
    for f in record.metadata:
        flag = " [TRUNCATED]" if f.truncated else ""
        lang = f" ({f.lang})" if f.lang else ""
        out(f"  {f.standard:9} {f.key}{lang}: {f.value}{flag}")
    heading("Fingerprints")
    for name, value in record.fingerprints.items():
        quality = f" (quality {record.pdq_quality})" if name == "pdq" else ""
        out(f"  {name}: {value}{quality}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def articles(ctx: click.Context, as_json: bool) -> None:
    """List catalogued articles."""
    with _catalogue(ctx) as catalogue:
        found = catalogue.articles()
    if as_json:
        _echo_json([a.__dict__ for a in found])
        return
    _print_tables(
        ("key", "title", "publisher", "published", "printings"),
        (
            (
                _cell(a.key),
                _cell(a.title or ""),
                _cell(a.publisher or ""),
                a.published or "unknown",
                str(a.appearances),
            )
            for a in found
        ),
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def agents(ctx: click.Context, as_json: bool) -> None:
    """List agents: who has been credited for images, in which role."""
    with _catalogue(ctx) as catalogue:
        found = catalogue.agents()
    if as_json:
        _echo_json([a.__dict__ for a in found])
        return
    _print_tables(
        ("agent", "kind", "roles", "images"),
        (
            (
                _cell(a.name),
                a.kind,
                _cell(", ".join(f"{role} x{n}" for role, n in sorted(a.roles.items()))),
                str(a.images),
            )
            for a in found
        ),
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option(
    "--all", "show_all", is_flag=True, help="Also list files ingested successfully since."
)
@click.pass_context
def rejections(ctx: click.Context, as_json: bool, show_all: bool) -> None:
    """List files that could not be ingested, and why (one line per file)."""
    with _catalogue(ctx) as catalogue:
        found = catalogue.rejections(resolved=show_all)
    rows = [
        {
            "path": r.path,
            "reason": r.reason,
            "line": r.line,
            "last_at": r.last_at.isoformat(),
            "attempts": r.attempts,
            "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None,
        }
        for r in found
    ]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        where = f"{row['path']}:{row['line']}" if row["line"] else row["path"]
        resolved = f"; RESOLVED, ingested {row['resolved_at']}" if row["resolved_at"] else ""
        _say(
            f"{where}: {row['reason']} (seen {row['attempts']}x, last {row['last_at']}{resolved})"
        )


@cli.command()
@click.option("--full", is_flag=True, help="Make it anew from the postings table.")
@click.pass_context
def index(ctx: click.Context, full: bool) -> None:
    """Make, or bring up to date, what look-ups read besides the records: a SQLite
    catalogue's postings table (the words of images stored and not posted yet) and postings
    file, the stored PDQ variants and thumbnails of images stored before the catalogue kept
    them (decoded again from their files), and a PostgreSQL server's planner statistics of
    the tables.

    Ingest keeps both up to date by itself; this is for a catalogue filled otherwise or
    upgraded, or to make the file now rather than at the next ingest. Look-ups answer the
    same with or without either.
    """
    options: _Options = ctx.obj

    def waiting() -> None:
        _say("another process is writing the postings file; waiting for it", err=True)

    def writing(how: str, images: int) -> None:
        what = "merging" if how == "merged" else "making the postings file from"
        where = " into the postings file" if how == "merged" else ""
        _say(f"{what} {images:,} image{'' if images == 1 else 's'}{where}", err=True)

    with _catalogue(ctx) as catalogue:
        analysed = catalogue.refresh_statistics()
        if analysed:
            _say(f"planner statistics made for {len(analysed)} table(s): {', '.join(analysed)}")
        posted = catalogue.post_waiting_words()
        if posted:
            images = f"{posted:,} image{'' if posted == 1 else 's'}"
            _say(f"posted the visual words of {images} that were waiting for them")
        made = catalogue.index_postings(full=full, waiting=waiting, writing=writing)
        if made is None:
            _say("this catalogue keeps its postings in the database only: no file to make")
        else:
            cover = made.cover
            done = {
                "made": "made anew",
                "merged": "brought up to date",
                "current": "already up to date",
            }
            _say(
                f"postings file {done[made.how]} in {made.seconds:.1f} s: {cover.images} "
                f"images (up to id {cover.last_id}), {cover.words} words, "
                f"{cover.postings} postings"
            )
        with _progress(_on_terminal(), options.console, "PDQ variants") as progress:

            def shown(done: int, total: int) -> None:
                if progress is not None:
                    progress(done, total, "")

            filled = catalogue.fill_pdq_variants(progress=shown)
        with _progress(_on_terminal(), options.console, "thumbnails") as progress:

            def drawn(done: int, total: int) -> None:
                if progress is not None:
                    progress(done, total, "")

            pictures = catalogue.fill_thumbnails(progress=drawn)
    if filled.filled or filled.unreadable:
        left = f"; {filled.unreadable} left (file gone or changed)" if filled.unreadable else ""
        _say(f"PDQ variants stored for {filled.filled} images stored before revision 0009{left}")
    if pictures.made or pictures.unreadable:
        left = f"; {pictures.unreadable} left (file gone or changed)" if pictures.unreadable else ""
        _say(f"thumbnails stored for {pictures.made} images stored before revision 0013{left}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
    help="Port to listen on (0: a free one, said at start).",
)  # fmt: skip
@click.option(
    "--look-ups", type=click.IntRange(min=1), help="Look-ups answered at once (default: cores)."
)
@click.option(
    "--max-upload-mb", type=click.IntRange(min=1), default=128, show_default=True,
    help="Largest image file taken, in MiB.",
)  # fmt: skip
@click.option(
    "--token-file", type=click.Path(dir_okay=False, path_type=Path),
    help="Answer only requests carrying a token this file holds (Authorization: Bearer): a "
    "line NAME TOKEN for each holder (or NAME sha256:DIGEST: provcat token), or one token "
    "alone. SIGHUP reads it again (and the certificates).",
)  # fmt: skip
@click.option(
    "--certfile", type=click.Path(dir_okay=False, path_type=Path),
    help="Answer over TLS (https) with this PEM certificate chain.",
)  # fmt: skip
@click.option(
    "--keyfile", type=click.Path(dir_okay=False, path_type=Path),
    help="The certificate's private key (default: in --certfile).",
)  # fmt: skip
@click.option(
    "--client-ca", type=click.Path(dir_okay=False, path_type=Path),
    help="Answer only TLS clients presenting a certificate these PEM authorities signed "
    "(with --certfile; GET /health answers any); the log names each by its certificate's "
    "common name.",
)  # fmt: skip
@click.option(
    "--client-crl", type=click.Path(dir_okay=False, path_type=Path),
    help="Refuse client certificates these PEM revocation lists revoke (one from each "
    "--client-ca authority, kept up to date: an expired list refuses every client). SIGHUP "
    "reads it again.",
)  # fmt: skip
@click.option(
    "--no-auth", is_flag=True,
    help="Listen beyond this machine without a token (behind a proxy that authenticates).",
)  # fmt: skip
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    look_ups: int | None,
    max_upload_mb: int,
    token_file: Path | None,
    certfile: Path | None,
    keyfile: Path | None,
    client_ca: Path | None,
    client_crl: Path | None,
    no_auth: bool,
) -> None:
    """Answer look-ups over HTTP until stopped, the look-up index loaded once.

    POST an image file's bytes to /similar (?name=NAME names it in errors) for the JSON of
    `provcat similar --json`; GET /status says whether the catalogue answers (GET /health
    too, without a token or details). Nothing is stored or ingested. It listens on this
    machine only unless --host says otherwise, and beyond it only with --token-file (or
    --no-auth, or --client-ca); --certfile adds TLS (docs/queries.md, "A look-up server").
    """
    from provcat.serve import LookUpServer, is_loopback_name

    tokens = _read_tokens(token_file) if token_file is not None else None
    certificates = (certfile, keyfile, client_ca, client_crl)
    tls = _tls(*certificates)
    if no_auth and (tokens is not None or client_ca is not None):
        given = "--token-file" if tokens is not None else "--client-ca"
        raise click.UsageError(f"--no-auth and {given} say opposite things; give one")
    if not is_loopback_name(host) and tokens is None and client_ca is None and not no_auth:
        raise click.UsageError(
            f"listening on {host} would answer anyone who can reach it: give --token-file "
            "(and --certfile for TLS) or --client-ca, or --no-auth behind a proxy that "
            "authenticates"
        )
    if not is_loopback_name(host) and tokens is not None and tls is None:
        _say(f"warning: the tokens cross the network to {host} in clear (no --certfile)", err=True)
    with _catalogue(ctx) as catalogue:
        # The port is taken before the index is loaded (seconds at 10^5): a port in use is
        # said at once, and requests that come meanwhile wait in the listening queue.
        try:
            server = LookUpServer(
                (host, port),
                catalogue,
                look_ups=look_ups,
                max_upload=max_upload_mb << 20,
                tokens=tokens,
                tls=tls,
            )
        except OSError as error:
            reason = error.strerror or str(error)
            raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None
        with server:
            catalogue.load_look_ups()
            asked = f"; {_holders(tokens)} asked for" if tokens is not None else ""
            if client_ca is not None:
                asked += "; a client certificate asked for"
            if client_crl is not None:
                asked += ", checked against its authority's revocation list"
            _say(f"answering look-ups at {server.url} (Ctrl-C stops{asked})", err=True)
            # A service manager's stop (SIGTERM) ends it as Ctrl-C does: the answers under
            # way are dropped, the catalogue's connections closed. Its reload (SIGHUP) reads
            # the token file and the certificates again: a token revoked or added, or a
            # certificate renewed, without a restart.
            reload = _Reload(server, token_file, certificates)
            try:
                with _terminate_as_interrupt(), reload.on_sighup():
                    server.serve_forever()
            except KeyboardInterrupt:
                _say("stopped", err=True)


@cli.command()
@click.argument("holder")
@click.option(
    "--file", "token_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
    help="The token file of provcat serve --token-file (made, readable by you alone, if "
    "missing).",
)  # fmt: skip
def token(holder: str, token_file: Path) -> None:
    """Make a new token for HOLDER: print it once, and add its digest to the token file.

    The file keeps `HOLDER sha256:DIGEST`, never the token, so that reading the file gives
    no one access; the token goes to HOLDER. A running server takes it on SIGHUP
    (docs/queries.md, "A look-up server").
    """
    import os
    import secrets

    from provcat.serve import token_digest, tokens_from_text

    new = secrets.token_urlsafe(32)
    made = not token_file.exists()
    try:
        # Opened to add to, made readable by its owner alone if missing; the whole file,
        # the new line with it, is checked before the line is written.
        fd = os.open(token_file, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8", newline="") as file:
            text = file.read()
            line = ("\n" if text and not text.endswith("\n") else "") + (
                f"{holder} {token_digest(new)}\n"
            )
            tokens_from_text(text + line, str(token_file))
            file.write(line)
    except OSError as exc:
        raise click.ClickException(
            f"cannot add to the token file {token_file}: {exc.strerror or exc}"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        if made:
            token_file.unlink(missing_ok=True)
        raise click.ClickException(f"nothing added to the token file: {exc}") from None
    click.echo(new)
    _say(
        f"added {holder}'s token to {token_file} (its digest only); give {holder} the token "
        "above, and send the server SIGHUP",
        err=True,
    )


def _read_tokens(path: Path) -> dict[str, str]:
    """The holders and tokens of a token file (:func:`provcat.serve.read_tokens`); a file
    others may read is warned of."""
    from provcat.serve import read_tokens

    try:
        tokens = read_tokens(path)
        mode = path.stat().st_mode
    except OSError as exc:
        raise click.ClickException(
            f"cannot read the token file {path}: {exc.strerror or exc}"
        ) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    clear = any(not token.startswith("sha256:") for token in tokens.values())
    if mode & 0o077 and clear:
        _say(
            f"warning: other users may read the tokens in {path} (chmod 600 it, or keep "
            "their digests there: provcat token)",
            err=True,
        )
    return tokens


def _holders(tokens: dict[str, str]) -> str:
    return "a token" if len(tokens) == 1 else f"the tokens of {len(tokens)} holders"


class _Reload:
    """What SIGHUP does to a running server: read its token file and its certificates
    again, each kept as it was (and why said) when the files cannot serve."""

    def __init__(
        self,
        server: LookUpServer,
        token_file: Path | None,
        certificates: tuple[Path | None, Path | None, Path | None, Path | None],
    ) -> None:
        self.server = server
        self.token_file = token_file
        self.certificates = certificates

    def __call__(self, _signal: int, _frame: object) -> None:
        if self.token_file is not None:
            try:
                tokens = _read_tokens(self.token_file)
                self.server.set_tokens(tokens)
            except (click.ClickException, ValueError) as exc:
                reason = exc.format_message() if isinstance(exc, click.ClickException) else exc
                _say(f"warning: the tokens are kept as they were: {reason}", err=True)
            else:
                answered = _holders(tokens)
                _say(f"the token file read again: {answered} answered from now on", err=True)
        if self.certificates[0] is not None:
            try:
                tls = _tls(*self.certificates)
            except click.ClickException as exc:
                reason = exc.format_message()
                _say(f"warning: the certificates are kept as they were: {reason}", err=True)
            else:
                assert tls is not None
                self.server.set_tls(tls)
                _say("the certificates read again: new connections made with them", err=True)

    @contextmanager
    def on_sighup(self) -> Iterator[None]:
        """While this lasts, SIGHUP reloads (nothing to reload: the signal as it was; not
        in the main thread: nothing)."""
        if self.token_file is None and self.certificates[0] is None:
            yield
            return
        try:
            previous = signal.signal(signal.SIGHUP, self)
        except ValueError:  # not the main thread
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGHUP, previous)


def _tls(
    certfile: Path | None,
    keyfile: Path | None,
    client_ca: Path | None,
    client_crl: Path | None,
) -> ssl.SSLContext | None:
    """The TLS context of --certfile, --keyfile, --client-ca and --client-crl, or None
    without them."""
    if client_crl is not None and client_ca is None:
        raise click.UsageError("--client-crl goes with --client-ca")
    if certfile is None:
        for given, name in ((keyfile, "--keyfile"), (client_ca, "--client-ca")):
            if given is not None:
                raise click.UsageError(f"{name} goes with --certfile")
        return None
    import ssl

    from provcat.serve import tls_context

    files = (certfile, keyfile, client_ca, client_crl)
    try:
        return tls_context(certfile, keyfile, client_ca=client_ca, client_crl=client_crl)
    except ValueError as exc:  # a revocation list's file that holds something else
        raise click.ClickException(f"cannot use the revocation list {exc}") from None
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror or str(exc)
        named = exc.filename or ", ".join(str(p) for p in files if p is not None)
        raise click.ClickException(f"cannot use the certificate {named}: {reason}") from None


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, ``timeout``, a service manager's stop) raises KeyboardInterrupt
    while this lasts, as Ctrl-C does, so that what is under way is undone on the way out
    rather than left where the process stood."""
    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread: signals are not this code's to take
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


@cli.command("match-caption")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def match_caption_command(ctx: click.Context, text: str, as_json: bool) -> None:
    """Find where a caption (or a near variant of it) was printed before."""
    with _catalogue(ctx) as catalogue:
        found = catalogue.match_caption(text)
    if as_json:
        _echo_json({"matches": [match.to_dict() for match in found]})
        return
    console = _console()
    if not found:
        _say("no printed caption matches")
    for match in found:
        console.print(
            printable(f"{match.match} ({match.similarity:.2f}): {match.text}"), markup=False
        )
        for o in match.occurrences:
            title = o.article.title or o.article.key
            publisher = o.article.publisher or "publisher unknown"
            console.print(
                printable(f"  {title} ({publisher}) #{o.position} [{o.origin}]"), markup=False
            )


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the matches as JSON.")
@click.option(
    "--json-lines",
    is_flag=True,
    help="Print one JSON object per file as it is answered (for a pipe).",
)
@click.pass_context
def similar(ctx: click.Context, images: tuple[Path, ...], as_json: bool, json_lines: bool) -> None:
    """Find stored images that show the same photo as each of IMAGES (none is ingested).

    Finds copies through crops, mirrors, banners, borders, rotation and re-encoding, and says
    how each file relates to each stored image. A folder is walked for image files; "-"
    reads file and folder paths from standard input, one a line, each looked up as it comes.

    With one image file, prints its matches and exits with status 1 if it cannot be read.
    With a folder, several files or "-", the catalogue's look-up index is loaded once and
    each file is answered in turn; exits with status 3 when any file was rejected (the
    others are still answered).
    """
    if as_json and json_lines:
        raise click.UsageError("--json and --json-lines: choose one")
    if len(images) == 1 and images[0] != _STDIN and not images[0].is_dir():
        with _catalogue(ctx) as catalogue:
            found = catalogue.similar(images[0])
        if as_json or json_lines:
            _echo_json({"matches": [match.to_dict() for match in found]}, lines=json_lines)
            return
        for line in [_match_line(match) for match in found] or [_NONE_FOUND]:
            _say(line)
        return
    options: _Options = ctx.obj
    counts = dict.fromkeys(("answered", "rejected", "skipped"), 0)
    # Only --json keeps the answers (it prints them at the end); a pipe may run for days.
    kept: dict[str, list[Lookup]] = {kind: [] for kind in counts}
    # Only --json prints nothing until the end: it shows how far it has got meanwhile.
    show_bar = as_json and _on_terminal()
    with (
        _catalogue(ctx) as catalogue,
        _progress(show_bar, options.console, "looking up") as progress,
    ):
        for lookup in catalogue.similar_files(_given_paths(images)):
            counts[lookup.status] += 1
            if progress is not None:
                progress(counts["answered"] + counts["rejected"], None, lookup.path)
            if as_json:
                kept[lookup.status].append(lookup)
            elif json_lines:
                _echo_json(lookup.to_dict(), lines=True)
            elif lookup.status == "rejected":
                _say(f"rejected {lookup.path}: {lookup.reason}", err=True)
            elif lookup.status == "skipped":
                if options.verbose:
                    _say(f"skipped {lookup.path}: {lookup.reason}", err=True)
            else:
                count = len(lookup.matches)
                _say(
                    f"{lookup.path}: "
                    + (f"{count} match{'es' if count > 1 else ''}" if count else _NONE_FOUND)
                )
                for match in lookup.matches:
                    _say(f"  {_match_line(match)}")
    if as_json:
        _echo_json({kind: [lookup.to_dict() for lookup in each] for kind, each in kept.items()})
    elif not json_lines:
        if counts["skipped"] and not options.verbose:
            _say(f"{counts['skipped']} file(s) skipped; -v lists them", err=True)
        if not counts["answered"] + counts["rejected"]:
            _say("no image file to look up in the paths given", err=True)
    if counts["rejected"]:
        ctx.exit(EXIT_REJECTED)


#: The IMAGES argument that means "read the paths from standard input".
_STDIN = Path("-")


def _given_paths(images: tuple[Path, ...]) -> Iterator[Path]:
    """The paths named, with "-" read from standard input a line at a time, as they come."""
    for image in images:
        if image != _STDIN:
            yield image
            continue
        for line in sys.stdin:
            if line.strip():
                yield Path(line.rstrip("\r\n"))


#: What `provcat similar` says of a file that is no stored image's photo.
_NONE_FOUND = "no stored image is the same photo"


def _match_line(match: SimilarMatch) -> str:
    """One match of `provcat similar`, in words."""
    box = f", crop box {match.crop_box}" if match.crop_box else ""
    distance = f", PDQ distance {match.distance}" if match.distance is not None else ""
    side = ", the file is the reference" if match.reference == "query" else ""
    return (
        f"{match.sha256[:12]}: {', '.join(match.relation) or 'same photo'}{box}"
        f" (score {match.score:.2f}, {match.inliers} inliers{distance}{side})"
        + (WEAK_NOTE if match.evidence == "weak" else "")
    )


def _report_options(command: F) -> F:
    """The options every report command takes: format, output file, pages."""
    command = click.option(
        "--images-per-page",
        type=click.IntRange(min=0),
        default=PAGE_IMAGES,
        show_default=True,
        help="An HTML report written to a file is split into pages of about this many "
        "thumbnails (FILE, then FILE-2 and on beside it); 0 writes one page.",
    )(command)
    command = click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write to this file (default: standard output).",
    )(command)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        help="Default: from -o's ending, else html.",
    )(command)


@cli.group()
def report() -> None:
    """Write reports: duplicate captions, reused photos."""


@report.command("captions")
@_report_options
@click.option(
    "--threshold", type=click.FloatRange(0.5, 1.0), help="Near-duplicate similarity (0.5-1)."
)
@click.pass_context
def report_captions(
    ctx: click.Context,
    fmt: str | None,
    output: Path | None,
    images_per_page: int,
    threshold: float | None,
) -> None:
    """Duplicate captions: groups of printings of one caption, with flags.

    Exact duplicates differ only in quotes, dashes, spacing or case; near duplicates differ by
    a few letters, a dropped word, a label or a credit (docs/duplicates.md).
    """
    _write_report(
        ctx,
        fmt,
        output,
        images_per_page,
        lambda cat, out, chosen, pages: cat.write_caption_report(
            out, fmt=chosen, threshold=threshold, pages=pages
        ),
        lambda report: f"{len(report.groups)} duplicated caption group(s)",
    )


def _write_report(
    ctx: click.Context,
    fmt: str | None,
    output: Path | None,
    images_per_page: int,
    write: Callable[[Catalogue, TextIO, str, Pages | None], Any],
    summary: Callable[[Any], str],
) -> None:
    """Write a report to ``output`` (or standard output) in the chosen format; an HTML
    report to a file in pages of ``images_per_page`` thumbnails (0: one page)."""
    chosen = choose_format(fmt, output)
    with _catalogue(ctx) as catalogue:
        if output is None:
            write(catalogue, sys.stdout, chosen, None)
            return
        from provcat.reports.atomic import Part, destination, remove_leftovers
        from provcat.reports.writers import Pages

        target = destination(output)
        if target is None:
            # A device or a pipe is written to as it is, and gets one page.
            with _opened(output) as stream:
                report = write(catalogue, stream, chosen, None)
            _say(f"wrote {output} ({chosen}): {summary(report)}", err=True)
            return
        # One page for 0: still through Pages, which removes what a longer report left.
        most = images_per_page or sys.maxsize
        html = chosen == "html"
        leftovers: list[Path] = [] if html else remove_leftovers(target.parent, target.name.__eq__)
        # The report takes its name once written whole: one that fails part way, or is
        # killed, leaves an earlier report under that name as it was (and one stopped by
        # SIGTERM, as by Ctrl-C, its hidden files removed). An HTML report's first page is
        # named with its others, one report's pages at a time.
        with _terminate_as_interrupt(), Part(target) as part:
            pages = Pages(target, images=most, first_file=part) if html else None
            report = write(catalogue, part.stream, chosen, pages)
            part.publish()
    more = ""
    if pages is not None and len(pages.written) > 1:
        more = f"; {len(pages.written)} pages, {pages.written[1].name} to {pages.written[-1].name}"
    if pages is not None and pages.removed:
        more += f"; removed {len(pages.removed)} page(s) an earlier report left after the last"
    leftovers += pages.leftovers if pages else []
    if leftovers:
        more += f"; removed {len(leftovers)} unfinished file(s) a killed report left"
    _say(f"wrote {output} ({chosen}): {summary(report)}{more}", err=True)


@report.command("reuse")
@_report_options
@click.pass_context
def report_reuse(
    ctx: click.Context, fmt: str | None, output: Path | None, images_per_page: int
) -> None:
    """Reused photos: images that are one photo, how each copy relates to the root.

    Each photo lists its copies (cropped with the crop box, mirrored, resized, overlaid,
    padded, rotated, re-encoded), every caption and credit it carried, and its earliest
    appearance in the catalogue with the kind of evidence that dates it.
    """
    _write_report(
        ctx,
        fmt,
        output,
        images_per_page,
        lambda cat, out, chosen, pages: cat.write_reuse_report(out, fmt=chosen, pages=pages),
        lambda report: f"{len(report.clusters)} reused photo(s)",
    )


@contextmanager
def _opened(path: Path) -> Iterator[TextIO]:
    """A device or pipe named as a report's output, opened for the report's text."""
    from provcat.reports.atomic import cannot_write

    try:
        stream = path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise cannot_write(path, exc) from exc
    with stream:
        yield stream


def main() -> None:
    """Entry point of the ``provcat`` console script."""
    cli()
