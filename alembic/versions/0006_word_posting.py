"""word posting: each visual word's images packed in one row with its count

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:00:00.000000

A look-up read one row per posting (tens of thousands of rows); it now reads one row per
word (provcat.reuse.postings). The rows are built from the postings and counts already
stored: a word keeps its images while at most KEPT_POSTINGS images post it. Downgrading
rebuilds the postings from the stored features, as revision 0004 did, since the images of
the commonest words are no longer kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

from provcat.reuse.features import Features
from provcat.reuse.postings import KEPT_POSTINGS, pack, posting_rows

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000

_feature_word = sa.table(
    "feature_word", sa.column("word", sa.Integer), sa.column("image_id", sa.Integer)
)


def _grouped(bind: sa.Connection) -> Iterator[dict[str, object]]:
    """One row of ``word_posting`` per word of ``feature_word``, in word order.

    Read in pages of :data:`_BATCH` postings, each after the last (word, image) read, so
    that no read is open while the caller inserts.
    """
    word_column, image_column = _feature_word.c.word, _feature_word.c.image_id
    word: int | None = None
    ids: list[int] = []
    after: tuple[int, int] | None = None
    while True:
        query = sa.select(word_column, image_column).order_by(word_column, image_column)
        if after is not None:
            query = query.where(sa.tuple_(word_column, image_column) > sa.tuple_(*after))
        page = bind.execute(query.limit(_BATCH)).all()
        for posted, image_id in page:
            if posted != word:
                if word is not None:
                    yield _row(word, ids)
                word, ids = posted, []
            ids.append(image_id)
        if len(page) < _BATCH:
            break
        after = (page[-1][0], page[-1][1])
    if word is not None:
        yield _row(word, ids)


def _row(word: int, ids: list[int]) -> dict[str, object]:
    return {
        "word": word,
        "images": len(ids),
        "ids": pack(ids) if len(ids) <= KEPT_POSTINGS else None,
    }


def upgrade() -> None:
    """Apply this revision."""
    postings = op.create_table(
        "word_posting",
        sa.Column("word", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("ids", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_word_posting")),
    )
    bind = op.get_bind()
    batch: list[dict[str, object]] = []
    for row in _grouped(bind):
        batch.append(row)
        if len(batch) == _BATCH:
            op.bulk_insert(postings, batch)
            batch = []
    if batch:
        op.bulk_insert(postings, batch)
    op.drop_table("word_frequency")
    op.drop_table("feature_word")


def downgrade() -> None:
    """Revert this revision: the postings rebuilt from the stored features, then counted."""
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
        "word_frequency",
        sa.Column("word", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_word_frequency")),
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
            .limit(500)
        ).all()
        if not batch:
            break
        rows = []
        for image_id, data in batch:
            rows.extend(posting_rows(image_id, Features.from_bytes(data).descriptors))
        if rows:
            op.bulk_insert(words, rows)
        last = batch[-1][0]
    op.execute(
        "INSERT INTO word_frequency (word, images) "
        "SELECT word, count(*) FROM feature_word GROUP BY word"
    )
    op.drop_table("word_posting")
