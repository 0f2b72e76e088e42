"""pdq variants: each picture's PDQ hashes over its rotations and flips, stored

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 07:40:00.000000

A column on ``fingerprint`` for the "pdq" row: the PDQ hashes of the picture's 8 rotations
and flips (provcat.fingerprints.dihedral_bytes). A look-up that finds a stored picture
compares PDQ over them; with them stored it need not decode the picture to compute them.
Images stored before this revision keep NULL: their variants are computed from their
pixels when a look-up needs them, as before (their files may be anywhere, so the upgrade
does not read them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("fingerprint", sa.Column("variants", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("fingerprint") as batch:
        batch.drop_column("variants")
