"""The documentation's examples run: every python block of docs/queries.md, in order."""

from __future__ import annotations

import re

import pytest

from provcat.catalogue import Catalogue

from .paths import REPO


def python_blocks(name: str) -> list[str]:
    """The ```python blocks of a document under docs/."""
    text = (REPO / "docs" / name).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_queries_doc_examples_run(
    montenegro: Catalogue, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROVCAT_DATABASE_URL", montenegro.url)
    blocks = python_blocks("queries.md")
    assert len(blocks) >= 5
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/queries.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "4 images" in out
    assert "DailyMail.co.uk 2017-04 month" in out
    assert "exact 2 ('repeated_in_article',) 'Plotters':Shishmakov" in out
    assert "0 photos held as more than one image" in out
