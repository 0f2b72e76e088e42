"""resumable matching, lossless paths, one rejection per file

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 03:57:44.347931

Images already in the catalogue get no ``match_seq``: whether their matching finished before
this revision cannot be told (an interrupted ingest lost matches for good), so the next ingest
matches them again. Matching is idempotent; pairs already recorded are not recorded twice.

Rejections become one row per path: of several rows for one path (one per reason before), the
most recent is kept and the attempts are added up.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    state = op.create_table(
        "catalogue_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_catalogue_state")),
    )
    op.bulk_insert(state, [{"key": "match_seq", "value": 0}])
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.add_column(sa.Column("match_seq", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_image_match_seq"), ["match_seq"], unique=False)

    with op.batch_alter_table("image_path", schema=None) as batch_op:
        batch_op.add_column(sa.Column("path_bytes", sa.LargeBinary(), nullable=True))

    _merge_rejections_by_path()
    with op.batch_alter_table("rejection", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_rejection_path_reason"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_rejection_path"), ["path"])


def _merge_rejections_by_path() -> None:
    rejection = sa.table(
        "rejection",
        sa.column("id", sa.Integer),
        sa.column("path", sa.Text),
        sa.column("last_at", sa.DateTime(timezone=True)),
        sa.column("attempts", sa.Integer),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(rejection.c.id, rejection.c.path, rejection.c.attempts).order_by(
            rejection.c.path, rejection.c.last_at.desc(), rejection.c.id.desc()
        )
    ).all()
    keep: dict[str, tuple[int, int]] = {}
    drop: list[int] = []
    for row_id, path, attempts in rows:
        if path in keep:
            kept_id, total = keep[path]
            keep[path] = (kept_id, total + attempts)
            drop.append(row_id)
        else:
            keep[path] = (row_id, attempts)
    for start in range(0, len(drop), 500):
        bind.execute(sa.delete(rejection).where(rejection.c.id.in_(drop[start : start + 500])))
    for kept_id, total in keep.values():
        bind.execute(
            sa.update(rejection).where(rejection.c.id == kept_id).values(attempts=total)
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("rejection", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_rejection_path"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_rejection_path_reason"), ["path", "reason"]
        )
        batch_op.drop_column("resolved_at")

    with op.batch_alter_table("image_path", schema=None) as batch_op:
        batch_op.drop_column("path_bytes")

    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_match_seq"))
        batch_op.drop_column("match_seq")

    op.drop_table("catalogue_state")
