"""caption keys: every printing keeps its caption's match key and body key

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 22:00:00.000000

Two columns of ``appearance``: ``caption_key`` (provcat.captions.match_keys' match key) and
``caption_body_key`` (its body key, NULL where it is the match key), set whenever a caption
is set, so that the duplicate-caption report and caption look-ups read them instead of
parsing every printed caption on each run (provcat.caption_keys). Every caption stored
before is keyed here, and a ``catalogue_state`` row, ``caption_key_rules``, records the
rules they were made under. Downgrading drops both columns and the row.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from provcat.caption_keys import RULES_ROW, rekey

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("appearance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("caption_key", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("caption_body_key", sa.Text(), nullable=True))
    rekey(op.get_bind())


def downgrade() -> None:
    """Revert this revision."""
    state = sa.table("catalogue_state", sa.column("key", sa.String))
    op.execute(sa.delete(state).where(state.c.key == RULES_ROW))
    with op.batch_alter_table("appearance", schema=None) as batch_op:
        batch_op.drop_column("caption_body_key")
        batch_op.drop_column("caption_key")
