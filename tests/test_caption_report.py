"""The duplicate-caption report: the demo's groups, flags, and every format."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from sqlalchemy import Connection, select

from provcat import models as m
from provcat.catalogue import Catalogue
from provcat.cli import cli
from provcat.errors import CatalogueError
from provcat.reports import captions as captions_report
from provcat.reports import writers
from provcat.reports.captions import diff_segments
from provcat.reports.formats import choose_format
from provcat.terminal import json_printable

from .imagegen import photo
from .paths import MONTENEGRO, REPO
from .records import write_record

SCHEMA = json.loads((REPO / "docs" / "schemas" / "captions.schema.json").read_text("utf-8"))
PLOTTERS = "'Plotters':Shishmakov, left, is pictured meeting Serbian agent"
DEADLY = "Deadly plans: The plot to kill then-Prime Minister Milo Djukanovic"


def render(catalogue: Catalogue, fmt: str) -> str:
    """The caption report as text in one format."""
    out = io.StringIO()
    catalogue.write_caption_report(out, fmt=fmt)
    return out.getvalue()


def test_demo_report_has_exactly_the_two_repeated_captions(montenegro: Catalogue) -> None:
    groups = montenegro.duplicate_captions()
    assert [g.text[:62] for g in groups] == [PLOTTERS, DEADLY[:62]]
    plotters, deadly = groups
    assert plotters.match == "exact"
    assert len(plotters.occurrences) == 2
    assert {o.caption[0] for o in plotters.occurrences} == {"'", "\u2018"}
    assert len({o.image for o in plotters.occurrences}) == 1
    assert plotters.flags == ("repeated_in_article",)
    assert len(deadly.occurrences) == 2
    assert deadly.flags == ("repeated_in_article",)
    report = montenegro.caption_report()
    assert report.photos == ()
    assert report.captions_considered == 5


def test_json_follows_the_schema(montenegro: Catalogue) -> None:
    data = json.loads(render(montenegro, "json"))
    jsonschema.validate(data, SCHEMA)
    assert [len(g["occurrences"]) for g in data["groups"]] == [2, 2]
    first = data["groups"][0]["occurrences"][0]
    assert first["article"]["publisher"] == "DailyMail.co.uk"
    assert first["article"]["url"] is None
    assert first["origin"] == "manifest"
    assert data["contains_stand_ins"] is True


def test_csv_has_one_row_per_occurrence(montenegro: Catalogue) -> None:
    rows = list(csv.DictReader(io.StringIO(render(montenegro, "csv"))))
    assert len(rows) == 4
    assert [r["group"] for r in rows] == ["1", "1", "2", "2"]
    assert rows[0]["caption"].startswith("'Plotters'")
    assert rows[0]["credit"] == "unnamed European security service via Sky News"
    assert rows[2]["credit"] == ""


def test_markdown_reads_in_a_terminal(montenegro: Catalogue) -> None:
    text = render(montenegro, "md")
    assert text.startswith("# Duplicate captions\n")
    assert "2 duplicated caption(s) among 5 printed caption(s)" in text
    assert "## 1. 'Plotters':Shishmakov" in text
    assert "- flag: printed more than once in one article" in text
    assert "stand-in" in text


def test_html_is_self_contained_and_escaped(catalogue: Catalogue, tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script> <img src=x onerror=alert(1)> & co'
    write_record(
        tmp_path / "a",
        article_id="hostile",
        publisher="<b>Paper</b>",
        images=[("a.png", photo(1), [(1, hostile, "=cmd|' /C calc'!A0"), (2, hostile, None)])],
    )
    catalogue.ingest([tmp_path / "a"])
    page = render(catalogue, "html")
    soup = BeautifulSoup(page, "lxml")
    assert soup.find_all("script") == []
    assert [tag.name for tag in soup.find_all(attrs={"onerror": True})] == []
    assert soup.find_all("b") == []
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;Paper&lt;/b&gt;" in page
    # Self-contained: every image is inline, nothing is fetched from anywhere.
    sources = [img["src"] for img in soup.find_all("img")]
    assert sources
    assert all(src.startswith("data:image/jpeg;base64,") for src in sources)
    assert soup.find_all("link") == []
    rows = list(csv.reader(io.StringIO(render(catalogue, "csv"))))
    assert rows[1][-1] == "'=cmd|' /C calc'!A0"


def test_flags_across_articles_photos_and_credits(catalogue: Catalogue, tmp_path: Path) -> None:
    caption = "Firefighters battle the blaze that tore through a warehouse in the docklands"
    write_record(
        tmp_path / "one",
        article_id="one",
        publisher="Daily Example",
        images=[("fire.png", photo(10), [(1, caption, "Reuters")])],
    )
    write_record(
        tmp_path / "two",
        article_id="two",
        publisher="Evening Sample",
        images=[
            ("other.png", photo(11), [(1, caption.replace("docklands", "docklans"), "AP")]),
            ("fire-again.png", photo(10), [(2, "A different claim about this photo", None)]),
        ],
    )
    catalogue.ingest([tmp_path])
    report = catalogue.caption_report()
    [group] = report.groups
    assert group.match == "near"
    assert set(group.flags) >= {
        "different_articles",
        "different_publishers",
        "different_photos",
        "credit_conflict",
        "text_differs",
    }
    assert "repeated_in_article" not in group.flags
    [photo_signal] = report.photos
    assert photo_signal.flags == ("different_captions",)
    assert len(photo_signal.captions) == 2
    jsonschema.validate(json.loads(render(catalogue, "json")), SCHEMA)


def test_truncated_and_sub_chain_credits_do_not_conflict(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    caption = "Protesters gather outside parliament demanding the resignation of the minister"
    write_record(
        tmp_path / "r",
        article_id="r",
        publisher="Paper",
        images=[
            (
                "p.png",
                photo(3),
                [
                    (1, caption, "unnamed European security service via Sky News"),
                    (2, caption, "Sky News"),
                    (3, caption, "unnamed European security servic"),
                ],
            ),
        ],
    )
    catalogue.ingest([tmp_path])
    [group] = catalogue.duplicate_captions()
    assert "credit_conflict" not in group.flags


def test_diff_segments_mark_only_the_changes() -> None:
    segments = diff_segments("Shishmakov meets Sindjelic", "Shishmakov meets Sindjelich")
    assert segments == (("Shishmakov meets ", False), ("Sindjelich", True))
    assert "".join(s for s, _ in segments) == "Shishmakov meets Sindjelich"


def test_format_choice() -> None:
    assert choose_format(None, Path("r.MD")) == "md"
    assert choose_format("csv", Path("r.html")) == "csv"
    assert choose_format(None, None) == "html"
    with pytest.raises(CatalogueError, match="cannot tell the format"):
        choose_format(None, Path("report.txt"))


def test_cli_report_writes_each_format(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["--db", db_url, "ingest", str(MONTENEGRO)], catch_exceptions=False)
    for suffix in ("html", "json", "csv", "md"):
        target = tmp_path / f"captions.{suffix}"
        result = runner.invoke(
            cli, ["--db", db_url, "report", "captions", "-o", str(target)], catch_exceptions=False
        )
        assert result.exit_code == 0
        assert result.stderr == f"wrote {target} ({suffix}): 2 duplicated caption group(s)\n"
        assert target.stat().st_size > 0
    result = runner.invoke(cli, ["--db", db_url, "report", "captions", "--format", "json"])
    assert json.loads(result.stdout)["groups"][0]["match"] == "exact"


def test_match_caption_finds_exact_and_near_printings(montenegro: Catalogue) -> None:
    curly = (
        "\u2018Plotters\u2019: Shishmakov, left, is pictured meeting Serbian agent Aleksandar "
        "Sindjelic in Belgrade at the time of the assassination attempt"
    )
    [match] = montenegro.match_caption(curly)
    assert match.match == "near"
    assert len(match.occurrences) == 2
    exact = montenegro.match_caption(
        "DEADLY PLANS: The plot to kill then-Prime Minister Milo Djukanovic, pictured, was meant "
        "to trigger a collapse of the government which would stop Montenegro from joining NATO."
    )
    assert [(m.match, m.similarity, len(m.occurrences)) for m in exact] == [("exact", 1.0, 2)]
    assert montenegro.match_caption("Popov leaves a bank in Moscow") == []


def test_match_caption_command(db_url: str) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["--db", db_url, "ingest", str(MONTENEGRO)], catch_exceptions=False)
    result = runner.invoke(
        cli,
        [
            "--db",
            db_url,
            "match-caption",
            "--json",
            "Accusations: Eduard Shishmakov, left, "
            "and Vladimir Popov, right, are two Russian nationals who have been implicated in a "
            "foiled attempt to assassinate the former Prime Minister of Montenegro as part of a "
            "plot to overthrow the government",
        ],
        catch_exceptions=False,
    )
    [match] = json.loads(result.stdout)["matches"]
    assert match["match"] == "exact"
    assert len(match["occurrences"]) == 1


def test_an_article_stored_after_the_others_were_read_is_read_when_its_printing_is(
    montenegro: Catalogue,
) -> None:
    """The printings are read after the articles, each in its own statement: an article an
    ingest commits in between (PostgreSQL's statements each see what was committed before
    them) is read when one of its printings names it, not a KeyError."""
    with montenegro.session() as session:
        refs = captions_report._ArticleRefs(session)
        known = dict(refs)
        with montenegro.session() as other:
            other.add(
                m.Article(
                    key="https://example.org/later",
                    title="Later",
                    publisher="Example",
                    published=dt.date(2017, 2, 20),
                    published_precision="month",
                    source_kind="manifest",
                    source="/x/later.toml",
                )
            )
            other.commit()
            later = other.scalar(select(m.Article.id).where(m.Article.title == "Later"))
        assert later is not None
        assert later not in known
        ref = refs[later]
    assert (ref.key, ref.title, ref.published) == ("https://example.org/later", "Later", "2017-02")
    assert all(refs[i] == known[i] for i in known)


FIRE = "Firefighters battle the blaze that tore through a warehouse in the docklands"
FLOOD = "Volunteers fill sandbags as the river rises above the old town bridge"


def _printed(
    article: str,
    image: str | None,
    position: int,
    caption: str,
    *,
    origin: str = "caption",
    photo: int | None = None,
) -> captions_report.Occurrence:
    return captions_report.Occurrence(
        article=captions_report.ArticleRef(
            key=article, title=None, url=None, publisher=None, published=None
        ),
        image=image,
        position=position,
        occurrence=position,
        caption=caption,
        origin=origin,
        credit=None,
        stand_in=False,
        photo=photo,
    )


def test_alt_text_repeating_its_image_s_caption_is_not_another_printing() -> None:
    echo = [_printed("one", "a" * 64, 1, FIRE), _printed("one", "a" * 64, 1, FIRE, origin="alt")]
    report = captions_report.build_report(echo)
    assert (report.groups, report.captions_considered) == ((), 1)
    # The same alt text in another article, or under another image, is another printing.
    elsewhere = [
        *echo,
        _printed("two", "a" * 64, 1, FIRE.upper(), origin="alt"),
        _printed("one", "b" * 64, 2, FIRE, origin="alt"),
    ]
    report = captions_report.build_report(elsewhere)
    [group] = report.groups
    assert report.captions_considered == 3
    assert [(o.article.key, o.image[0], o.origin) for o in group.occurrences] == [
        ("one", "a", "caption"),
        ("two", "a", "alt"),
        ("one", "b", "alt"),
    ]
    assert group.occurrences[0].key == group.key


def test_photos_under_several_captions_in_the_order_first_printed() -> None:
    printed = [
        _printed("one", "c" * 64, 1, FLOOD, photo=3),  # printed under one caption only
        _printed("one", "a" * 64, 2, FIRE, photo=7),
        _printed("two", "b" * 64, 1, FLOOD, photo=7),
        _printed("three", "d" * 64, 1, FLOOD, photo=5),
        _printed("three", "a" * 64, 2, FIRE.replace("warehouse", "warehose"), photo=7),
        _printed("four", "e" * 64, 1, FIRE.replace("docklands", "docklans"), photo=5),
        _printed("four", None, 2, FLOOD),
    ]
    report = captions_report.build_report(printed)
    assert [g.text for g in report.groups] == [FLOOD, FIRE]
    assert [(p.images, p.captions) for p in report.photos] == [
        # Each group's caption as the photo's last printing in it reads.
        (("a" * 64, "b" * 64), (FIRE.replace("warehouse", "warehose"), FLOOD)),
        (("d" * 64, "e" * 64), (FLOOD, FIRE.replace("docklands", "docklans"))),
    ]


@pytest.mark.parametrize("groups", [True, False], ids=["groups", "empty"])
def test_json_written_an_item_at_a_time_is_the_document_written_at_once(groups: bool) -> None:
    """The writer takes the report's long lists an item at a time; the text is what encoding
    the whole document at once gives, control characters escaped and all."""
    odd = FIRE + ' \u2028\x1b[31m \u00e9\u00e8 "quoted" \\ back'
    printed = [
        _printed("one", "a" * 64, 1, odd, photo=1),
        _printed("two", "b" * 64, 1, odd.replace("warehouse", "warehose"), photo=2),
        _printed("two", "b" * 64, 2, FLOOD, photo=1),
        _printed("three", None, 1, FLOOD),
    ]
    printed = printed if groups else printed[:1]
    report = captions_report.build_report(printed)
    assert bool(report.groups) == bool(report.photos) == groups
    out = io.StringIO()
    writers.write_json(report, out)
    whole = json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
    assert out.getvalue() == json_printable(whole) + "\n"
    assert json.loads(out.getvalue())["captions_considered"] == len(printed)
    pieces = list(writers._members(iter([("a", {"b": [1, {}]})])))
    assert "".join(pieces) == json.dumps({"a": {"b": [1, {}]}}, indent=2)
    # A report without json_parts: its to_dict, a member at a time, the same text.
    plain = SimpleNamespace(to_dict=report.to_dict)
    out = io.StringIO()
    writers.write_json(plain, out)  # type: ignore[arg-type]
    assert out.getvalue() == json_printable(whole) + "\n"


def test_a_printing_committed_while_the_report_reads_comes_with_its_article(
    montenegro: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the printings are read through a server-side cursor, after the articles
    in a statement of their own: a printing whose article another process committed in
    between is read, and its article with it, on the same connection while the cursor is
    open. (SQLite's reader keeps one snapshot, and a writer waits for it to end.)"""
    if not montenegro.url.startswith("postgresql"):
        pytest.skip("SQLite reads the report from one snapshot")
    pages = captions_report.driver_pages
    [deadly_text] = {g.occurrences[0].caption for g in montenegro.duplicate_captions()[1:]}

    def committed_first(
        connection: Connection, statement: Any, size: int, **given: Any
    ) -> Iterator[Any]:
        with montenegro.session() as other:
            article = m.Article(
                key="https://example.org/meanwhile",
                title="Meanwhile",
                source_kind="manifest",
                source="/x/meanwhile.toml",
            )
            other.add(article)
            other.flush()
            other.add(
                m.Appearance(
                    article_id=article.id,
                    position=1,
                    occurrence=1,
                    caption=deadly_text,
                    caption_origin="manifest",
                )
            )
            other.commit()
        assert given == {"on_server": True}
        # Pages of two: the cursor stays open while the late article is read.
        yield from pages(connection, statement, 2, **given)

    monkeypatch.setattr(captions_report, "driver_pages", committed_first)
    report = montenegro.caption_report()
    deadly = next(g for g in report.groups if g.text.startswith(DEADLY))
    assert "Meanwhile" in {o.article.title for o in deadly.occurrences}
    assert report.captions_considered == 6


def test_html_is_written_as_it_is_made_with_thumbnails_made_when_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page is written a piece at a time (the same text as rendering it whole), and a
    thumbnail is made only when the page shows its image: a report of 10^6 printings shows
    about 340,000 images."""
    made: list[tuple[str, ...]] = []

    def thumbnail(paths: list[str], **_: Any) -> str:
        made.append(tuple(paths))
        return f"data:image/jpeg;base64,{len(made)}"

    monkeypatch.setattr(writers, "thumbnail_uri", thumbnail)
    printed = [
        _printed("one", "a" * 64, 1, FIRE, photo=1),
        _printed("two", "b" * 64, 1, FIRE.replace("warehouse", "warehose"), photo=2),
    ]
    report = captions_report.build_report(printed)
    paths = {"a" * 64: ["/x/a.jpg"], "b" * 64: ["/x/b.jpg"], "c" * 64: ["/x/c.jpg"]}
    thumbnails = writers.Thumbnails(paths)
    assert (made, len(thumbnails), sorted(thumbnails)) == ([], 3, sorted(paths))
    out = io.StringIO()
    writers.write_caption_html(report, out, thumbnails=thumbnails)
    assert sorted(made) == [("/x/a.jpg",), ("/x/b.jpg",)]  # c is not shown
    assert 'src="data:image/jpeg;base64,1"' in out.getvalue()
    whole = writers._ENV.get_template("captions.html.j2").render(
        report=report, flag_words=captions_report.FLAG_WORDS, thumbnails=thumbnails
    )
    assert out.getvalue() == whole
    assert thumbnails.get("d" * 64) is None
