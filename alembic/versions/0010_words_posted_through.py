"""words posted through: a SQLite ingest posts its images' words in large sorted batches

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 08:00:00.000000

A ``catalogue_state`` row, ``words_posted_through``: the postings table holds the words of
every image up to this id, and of none after it (provcat.models.CatalogueState). Every image
stored before this revision has its words posted, so the mark starts at the largest image
id with stored features. SQLite only: a PostgreSQL catalogue posts each batch's words as it
stores them (its writers run at once, and ids are not committed in order), and has no such
row. Downgrading posts the words of the images after the mark first (a catalogue at 0009
takes every image's words to be in the table), then deletes the row.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from provcat.reuse.postings import POSTED_THROUGH, post_after

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_state = sa.table("catalogue_state", sa.column("key", sa.String), sa.column("value", sa.BigInteger))


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL posts each batch's words as it stores them: no mark
    feature = sa.table("feature", sa.column("image_id", sa.Integer))
    last = sa.select(sa.func.coalesce(sa.func.max(feature.c.image_id), 0)).scalar_subquery()
    op.execute(
        sa.insert(_state).from_select(["key", "value"], sa.select(sa.literal(POSTED_THROUGH), last))
    )


def downgrade() -> None:
    """Revert this revision: the words of the images after the mark posted, the mark deleted."""
    bind = op.get_bind()
    found = bind.execute(sa.select(_state.c.value).where(_state.c.key == POSTED_THROUGH)).scalar()
    if found is not None:
        post_after(bind, int(found))
    op.execute(_state.delete().where(_state.c.key == POSTED_THROUGH))
