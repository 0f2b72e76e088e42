"""word frequency: each visual word's count of images, instead of remembered stop words

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:05:00.000000

A look-up reads its words' counts first and then the postings of the rarest of them
(provcat.reuse.postings). The counts of the words already posted are taken from the postings
table. The stop words that look-ups used to remember are now told by their counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "word_frequency",
        sa.Column("word", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_word_frequency")),
    )
    op.execute(
        "INSERT INTO word_frequency (word, images) "
        "SELECT word, count(*) FROM feature_word GROUP BY word"
    )
    op.drop_table("stop_word")


def downgrade() -> None:
    """Revert this revision (the stop words are found again by later look-ups)."""
    op.create_table(
        "stop_word",
        sa.Column("word", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_stop_word")),
    )
    op.drop_table("word_frequency")
