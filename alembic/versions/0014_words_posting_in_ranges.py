"""words posted in ranges: a SQLite posting of many images' words commits a range at a time

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 01:00:00.000000

No table changes: what changes is what the ``catalogue_state`` rows may say. A SQLite
ingest posts the words of a thousand or so images at once (revision 0010); it now commits
them a range of words at a time, in word order, so that no transaction changes more pages
of the postings table than SQLite's page cache holds (past it, SQLite takes the file's
exclusive lock until the commit, and every reader waits: provcat.reuse.postings.RANGE_WORDS).
Between two ranges two more rows, ``words_posting_upto`` and ``words_posting_below``, say
that the table holds the words below the second of the images after the mark up to the
first (provcat.reuse.postings.Posted), and every reader of the table allows for that. A
provcat at 0013 reads neither row and would count those words twice, so a catalogue that
may hold them is marked by this revision, which such a provcat refuses to open.

Upgrading changes nothing (no such posting is under way in a catalogue at 0013).
Downgrading finishes a posting left under way (a process killed between its ranges): the
words it had not posted are posted and the mark moved past its images, as 0013 expects.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from provcat.reuse.postings import finish_under_way

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision: nothing to change (see the module's docstring)."""


def downgrade() -> None:
    """Revert this revision: a posting left under way finished."""
    finish_under_way(op.get_bind())
