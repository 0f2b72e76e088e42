"""long words: images post a long word beside each short word

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:10:00.000000

A look-up reads the long word of a descriptor whose short word is a stop word
(provcat.reuse.postings, "Long words"). Images stored before this revision post theirs here,
computed from their stored features in batches of images, so that they are found by their
long words like the images stored after it. The table does not change. Downgrading deletes
the long words' rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from provcat.reuse.features import Features
from provcat.reuse.postings import LONG_BASE, POSTED_DESCRIPTORS, long_words, post_words, sample

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500

_feature = sa.table("feature", sa.column("image_id", sa.Integer), sa.column("data", sa.LargeBinary))


def upgrade() -> None:
    """Apply this revision."""
    bind = op.get_bind()
    last = -1
    while True:
        batch = bind.execute(
            sa.select(_feature.c.image_id, _feature.c.data)
            .where(_feature.c.image_id > last)
            .order_by(_feature.c.image_id)
            .limit(_BATCH)
        ).all()
        if not batch:
            break
        post_words(
            bind,
            [
                (
                    image_id,
                    long_words(sample(Features.from_bytes(data).descriptors, POSTED_DESCRIPTORS)),
                )
                for image_id, data in batch
            ],
        )
        last = batch[-1][0]


def downgrade() -> None:
    """Revert this revision: the long words' rows deleted."""
    postings = sa.table("word_posting", sa.column("word", sa.Integer))
    op.execute(postings.delete().where(postings.c.word >= LONG_BASE))
