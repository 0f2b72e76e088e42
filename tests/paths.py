"""Paths tests share: the repository, its catalogue and the Montenegro record."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CATALOGUE_DIR = REPO / "catalogue"
MONTENEGRO = CATALOGUE_DIR / "montenegro-coup-2017"
