"""feature words: the reuse candidate stage as postings in the database, and stop words

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:30:00.000000

Images already in the catalogue post their words here, computed from their stored features
(provcat.reuse.postings), in batches, so an existing catalogue keeps finding its copies.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from provcat.reuse.features import Features
from provcat.reuse.postings import posting_rows

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500


def upgrade() -> None:
    """Apply this revision."""
    words = op.create_table(
        "feature_word",
        sa.Column("word", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
            name=op.f("fk_feature_word_image_id_image"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("word", "image_id", name=op.f("pk_feature_word")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "stop_word",
        sa.Column("word", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_stop_word")),
    )
    feature = sa.table(
        "feature", sa.column("image_id", sa.Integer), sa.column("data", sa.LargeBinary)
    )
    bind = op.get_bind()
    last = -1
    while True:
        batch = bind.execute(
            sa.select(feature.c.image_id, feature.c.data)
            .where(feature.c.image_id > last)
            .order_by(feature.c.image_id)
            .limit(_BATCH)
        ).all()
        if not batch:
            break
        rows = []
        for image_id, data in batch:
            rows.extend(posting_rows(image_id, Features.from_bytes(data).descriptors))
        if rows:
            op.bulk_insert(words, rows)
        last = batch[-1][0]


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("stop_word")
    op.drop_table("feature_word")
