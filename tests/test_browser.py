"""The HTML caption report in a real browser (Debian's headless Chromium, driven by Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from provcat.catalogue import Catalogue

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
    ),
]

# Flags for a closed network: no background connections, no updates, no sync.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium shared by the tests of this module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def test_caption_report_renders_with_thumbnails(
    montenegro: Catalogue, tmp_path: Path, browser: object
) -> None:
    target = tmp_path / "captions.html"
    with target.open("w", encoding="utf-8") as out:
        montenegro.write_caption_report(out, fmt="html")
    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(target.as_uri())
    assert page.locator("section.group").count() == 2
    headings = page.locator("section.group h2").all_inner_texts()
    assert headings[0].startswith("1. 'Plotters':Shishmakov")
    assert headings[1].startswith("2. Deadly plans:")
    assert page.locator("section.group").nth(0).locator(".variant").count() == 2
    assert page.locator("mark").count() >= 1
    images = page.evaluate(
        "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) == 2
    assert all(done and width > 0 and height > 0 for done, width, height in images)
    assert page.locator(".badge").all_inner_texts() == ["stand-in", "stand-in"]
    assert errors == []
    page.screenshot(path=str(tmp_path / "captions.png"), full_page=True)
    page.close()


def test_reuse_report_renders_roots_and_crop_boxes(
    catalogue: Catalogue, tmp_path: Path, browser: object
) -> None:
    from .paths import CATALOGUE_DIR

    catalogue.ingest([CATALOGUE_DIR])
    target = tmp_path / "reuse.html"
    with target.open("w", encoding="utf-8") as out:
        catalogue.write_reuse_report(out, fmt="html")
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(target.as_uri())
    assert page.locator("section.cluster").count() == 4
    assert page.locator("figure.root").count() == 4
    images = page.evaluate(
        "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) == 9
    assert all(done and width > 0 and height > 0 for done, width, height in images)
    relations = page.locator("figure.member:not(.root) .relation").all_inner_texts()
    assert any("cropped" in r for r in relations)
    assert any("mirrored" in r for r in relations)
    assert any("padded" in r for r in relations)
    # The crop boxes are drawn on the roots: their thumbnails hold the red outline colour.
    roots_with_boxes = page.evaluate(
        """Array.from(document.querySelectorAll('figure.root img')).map(img => {
             const c = document.createElement('canvas');
             c.width = img.naturalWidth; c.height = img.naturalHeight;
             const g = c.getContext('2d'); g.drawImage(img, 0, 0);
             const d = g.getImageData(0, 0, c.width, c.height).data;
             let red = 0;
             for (let i = 0; i < d.length; i += 4)
               if (d[i] > 200 && d[i + 1] < 90 && d[i + 2] < 90) red++;
             return red;
           })"""
    )
    assert sum(1 for red in roots_with_boxes if red > 50) == 2
    page.screenshot(path=str(tmp_path / "reuse.png"), full_page=True)
    page.close()


def test_a_report_in_pages_is_read_by_following_its_links(
    catalogue: Catalogue, tmp_path: Path, browser: object
) -> None:
    from provcat.reports.writers import Pages

    from .paths import CATALOGUE_DIR

    catalogue.ingest([CATALOGUE_DIR])
    first = tmp_path / "reused photos #1.html"  # a name a link must escape
    pages = Pages(first, images=3)
    with first.open("w", encoding="utf-8") as out:
        catalogue.write_reuse_report(out, fmt="html", pages=pages)
    assert len(pages.written) > 2
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(first.as_uri())
    seen = []
    for number in range(1, len(pages.written) + 1):
        assert page.locator("nav.pages strong").first.inner_text() == str(number)
        seen += page.locator("section.cluster h2").all_inner_texts()
        images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth)")
        assert images
        assert all(images)
        if number < len(pages.written):
            page.locator('nav.pages a[rel="next"]').first.click()
            page.wait_for_load_state()
    assert not page.locator('a[rel="next"]').count()
    assert [int(title.split(".")[0]) for title in seen] == list(range(1, len(seen) + 1))
    assert len(seen) == len(catalogue.reused_photos())
    page.close()
