"""stop word index: the words no look-up reads, found without reading the postings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 07:40:00.000000

A partial index on ``word_posting`` of the words whose images are no longer kept (``ids``
NULL: stop words at every catalogue size). A matcher reads them once, from the index alone,
and its look-ups do not ask for their rows (provcat.reuse.postings.StopWords).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index(
        "ix_word_posting_stop",
        "word_posting",
        ["word"],
        unique=False,
        sqlite_where=sa.text("ids IS NULL"),
        postgresql_where=sa.text("ids IS NULL"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(
        "ix_word_posting_stop",
        table_name="word_posting",
        sqlite_where=sa.text("ids IS NULL"),
        postgresql_where=sa.text("ids IS NULL"),
    )
