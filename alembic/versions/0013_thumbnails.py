"""thumbnails: a small JPEG of every image, kept for the reports' pages

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 03:00:00.000000

A table ``thumbnail`` (provcat.models.Thumbnail): one JPEG per image, 240 pixels on its
longer side, stored by ingest from now on (provcat.thumbnails), so that a report's HTML page
reads it instead of decoding the image's file, which may have moved. Images stored before
get none here (that needs their files): ``provcat index`` makes them from their files, and
until then a page makes theirs from the files as before. Downgrading drops the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "thumbnail",
        sa.Column("image_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_thumbnail_image_id_image"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_thumbnail")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("thumbnail")
