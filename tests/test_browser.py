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
