"""Printed captions' match keys, stored with each printing so that readers need not make them.

Grouping the catalogue's captions and looking one up both work from each printed caption's
match key and body key (:func:`provcat.captions.match_keys`). Made for every printing on
each run they cost most of a minute of CPU at 10^6 printings (docs/scale.md). Since revision
0012 each ``appearance`` row keeps them (``caption_key``, and ``caption_body_key`` where the
body key differs), set whenever the caption is set (:class:`provcat.models.Appearance`).

The keys follow :data:`provcat.captions.KEY_RULES`. A catalogue records the version its
stored keys were made under (the ``caption_key_rules`` row of ``catalogue_state``); readers
trust them only when it is the running code's (:func:`rules_current`) and make a key
themselves for a row without one (a row written by other code). A change of rules comes with
a migration that makes every stored key again (:func:`rekey`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    String,
    Text,
    bindparam,
    column,
    delete,
    insert,
    select,
    table,
    update,
)

from provcat.captions import KEY_RULES
from provcat.db import driver_rows, execute_many
from provcat.duplicates import keying

__all__ = ["RULES_ROW", "rekey", "rules_current", "stored_pair"]

#: The ``catalogue_state`` row holding the rules version of the stored keys.
RULES_ROW: Final = "caption_key_rules"

#: Printings keyed a page at a time (their captions read, keyed and written back).
_PAGE = 20_000
#: A page with at least this many distinct captions is keyed on every core.
_PARALLEL_FROM = 5_000

# The columns this module reads and writes, named here rather than through the models so
# that a migration calling it sees the table as that revision left it.
_appearance = table(
    "appearance",
    column("id", Integer),
    column("caption", Text),
    column("caption_key", Text),
    column("caption_body_key", Text),
)
_state = table("catalogue_state", column("key", String), column("value", BigInteger))


def stored_pair(key: str | None, body_key: str | None) -> tuple[str, str] | None:
    """A row's stored keys as ``(key, body key)``, or None when the row has none."""
    if key is None:
        return None
    return key, key if body_key is None else body_key


def rules_current(connection: Connection) -> bool:
    """Whether the catalogue's stored keys were made under the running code's rules."""
    found = driver_rows(connection, select(_state.c.value).where(_state.c.key == RULES_ROW))
    return bool(found) and int(found[0][0]) == KEY_RULES


def rekey(connection: Connection, *, workers: int | None = None) -> int:
    """Make every printed caption's stored keys under the running code's rules, and record
    the rules; the caller commits. Returns how many printings were keyed.

    The printings are read a page at a time in id order (each page read whole before it is
    written back), their distinct captions keyed on every core when a page holds many.
    """
    keyed = 0
    with keying(workers, parallel_from=_PARALLEL_FROM) as keys_of:
        for page in _pages(connection):
            texts = list(dict.fromkeys(caption for _, caption in page))
            pairs = dict(zip(texts, keys_of(texts), strict=True))
            rows = []
            for row_id, caption in page:
                key, body = pairs[caption]
                rows.append((key, None if body == key else body, row_id))
            execute_many(
                connection,
                update(_appearance)
                .where(_appearance.c.id == bindparam("row_id"))
                .values(caption_key=bindparam("key"), caption_body_key=bindparam("body")),
                ["key", "body", "row_id"],
                rows,
            )
            keyed += len(rows)
    connection.execute(delete(_state).where(_state.c.key == RULES_ROW))
    connection.execute(insert(_state).values(key=RULES_ROW, value=KEY_RULES))
    return keyed


def _pages(connection: Connection) -> Iterator[list[tuple[int, str]]]:
    after = 0
    while True:
        page = driver_rows(
            connection,
            select(_appearance.c.id, _appearance.c.caption)
            .where(_appearance.c.caption.is_not(None), _appearance.c.id > after)
            .order_by(_appearance.c.id)
            .limit(_PAGE),
        )
        if not page:
            return
        yield [(int(row_id), caption) for row_id, caption in page]
        after = int(page[-1][0])
