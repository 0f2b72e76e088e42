"""The wheel: it lists every sub-package, ships its migrations and templates, and works away
from the source checkout (.ci/run also installs it into a fresh virtual environment)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from .paths import MONTENEGRO, REPO

SCRIPT = """
import sys
from pathlib import Path
import provcat, provcat.db
from provcat import Catalogue
from provcat.reuse import compiled

here = Path(provcat.__file__).resolve()
assert compiled.built() and compiled.active, "the candidate stage's compiled passes"
assert here.is_relative_to(Path(sys.argv[1]).resolve()), here
assert provcat.db.migrations_dir() == provcat.db.PACKAGED_MIGRATIONS, provcat.db.migrations_dir()
with Catalogue(sys.argv[2]) as cat:
    result = cat.ingest([sys.argv[3]])
    assert result.images_added == 4 and not result.rejected, result
    with open("captions.html", "w", encoding="utf-8") as out:
        report = cat.write_caption_report(out, fmt="html")
    with open("reuse.json", "w", encoding="utf-8") as out:
        cat.write_reuse_report(out, fmt="json")
print(len(report.groups), "caption groups")
"""


def test_every_sub_package_is_listed() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    source = REPO / "src"
    found = {
        ".".join(init.parent.relative_to(source).parts)
        for init in source.rglob("__init__.py")
    }
    assert listed == found | {"provcat.migrations", "provcat.migrations.versions"}
    assert config["tool"]["setuptools"]["package-dir"]["provcat.migrations"] == "alembic"


def test_the_wheel_catalogues_away_from_the_checkout(tmp_path: Path, db_url: str) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("provcat-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in (
        "provcat/migrations/env.py",
        "provcat/migrations/script.py.mako",
        "provcat/migrations/versions/0001_catalogue_record.py",
        "provcat/templates/captions.html.j2",
        "provcat/py.typed",
    ):
        assert shipped in names
    assert any(name.startswith("provcat/reuse/_postings.") for name in names), names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    record = shutil.copytree(MONTENEGRO, tmp_path / "elsewhere" / "record")
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(site), db_url, str(record)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "caption groups" in done.stdout
    assert (work / "captions.html").stat().st_size > 1000
    assert (work / "reuse.json").is_file()
