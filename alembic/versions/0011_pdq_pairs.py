"""pdq pairs: what joins images into photos by their PDQ hashes, recorded as they are matched

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 16:00:00.000000

A table ``pdq_pair`` (provcat.models.PdqPair): pairs of images whose stored PDQ hashes are
within 31 bits, enough of them that any two such images are joined through them. Each
matching turn records its image's from now on (provcat.photos.link_matched); for the images
stored before, every pair of hashes is compared once here (provcat.photos.fill_pairs: about
20 seconds for a million hashes on two cores). Downgrading drops the table: grouping at 0010
compares every pair of hashes again each time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from provcat.photos import fill_pairs

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "pdq_pair",
        sa.Column("first_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("second_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.CheckConstraint("first_id < second_id", name=op.f("ck_pdq_pair_ordered")),
        sa.ForeignKeyConstraint(
            ["first_id"], ["image.id"], name=op.f("fk_pdq_pair_first_id_image"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["second_id"],
            ["image.id"],
            name=op.f("fk_pdq_pair_second_id_image"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("first_id", "second_id", name=op.f("pk_pdq_pair")),
    )
    with op.batch_alter_table("pdq_pair", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pdq_pair_second_id"), ["second_id"], unique=False)
    fill_pairs(op.get_bind())


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("pdq_pair", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pdq_pair_second_id"))
    op.drop_table("pdq_pair")
