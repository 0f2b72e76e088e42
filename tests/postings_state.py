"""What the postings table holds, and what it should hold given the stored features."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.reuse import postings
from provcat.reuse.features import Features
from provcat.reuse.postings import KEPT_POSTINGS, posted, unpack

#: A word's count of images and its images (sorted), or None where they are no longer kept.
Postings = dict[int, tuple[int, list[int] | None]]


def stored_postings(session: Session) -> Postings:
    """``word_posting`` as a dict."""
    rows = session.execute(select(m.WordPosting.word, m.WordPosting.images, m.WordPosting.ids))
    return {
        int(word): (int(images), None if ids is None else sorted(unpack(ids).tolist()))
        for word, images, ids in rows
    }


def expected_postings(session: Session) -> Postings:
    """The postings every stored image's features call for."""
    images: defaultdict[int, list[int]] = defaultdict(list)
    for image_id, data in session.execute(select(m.Feature.image_id, m.Feature.data)):
        for word in posted(Features.from_bytes(data).descriptors).tolist():
            images[word].append(int(image_id))
    return {
        word: (len(ids), sorted(ids) if len(ids) <= KEPT_POSTINGS else None)
        for word, ids in images.items()
    }


def image_words(session: Session) -> set[tuple[int, int]]:
    """Every (image id, word) the postings table records."""
    return {
        (image_id, word)
        for word, (_, ids) in stored_postings(session).items()
        for image_id in ids or ()
    }


class Killed(BaseException):
    """A process killed while it posts words, for these tests (nothing catches it)."""


@contextmanager
def posting_killed_at(
    monkeypatch: pytest.MonkeyPatch, call: int, *, range_words: int, dies: bool = True
) -> Iterator[None]:
    """Within the block, words are posted a range of ``range_words`` at a time whatever the
    catalogue's size (provcat.reuse.postings.post_all_pending), and the posting dies at its
    ``call``-th range, which the block must then raise (unless not ``dies``: PostgreSQL
    posts no ranges). Posting is whole again after it."""
    monkeypatch.setattr(postings, "RANGE_WORDS", range_words)
    monkeypatch.setattr(postings, "_SPILL_BYTES", 0)  # as if the file were large
    posting = postings.post_words
    calls = [0]

    def dying(*args: Any) -> None:
        calls[0] += 1
        if calls[0] == call:
            raise Killed
        posting(*args)

    monkeypatch.setattr(postings, "post_words", dying)
    try:
        if dies:
            with pytest.raises(Killed):
                yield
        else:
            yield
    finally:
        monkeypatch.setattr(postings, "post_words", posting)
