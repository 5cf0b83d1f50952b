"""Lock several sessions the way a save locks one: by key hash, in key hash order.

A save locks its session through the unique ``key_hash`` index, then the row. InnoDB (and SQL
Server) lock index entries, so ends and purges that locked rows through another index (the
owner's, the expiry's, the primary key) would deadlock with such a save.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbsessions.dialects import Dialect, chunks

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper


def lock_sessions(
    cursor: "CursorWrapper",
    dialect: Dialect,
    key_hashes: Sequence[str],
    *,
    expired_before: object = None,
    skip_locked: bool = False,
) -> list[tuple[int, str, str]]:
    """Lock the sessions with these sorted key hashes; their (id, app_name, key_hash).

    With ``expired_before``, only sessions still expired by then; with ``skip_locked``, none
    that a request holds at the moment.
    """
    rows: list[tuple[int, str, str]] = []
    expired = expired_before is not None
    for batch in chunks(key_hashes, dialect.lock_batch):
        cursor.execute(
            dialect.lock_sessions_sql(len(batch), expired=expired, skip_locked=skip_locked),
            dialect.lock_sessions_params(batch, expired_before),
        )
        rows += cursor.fetchall()
    return rows
