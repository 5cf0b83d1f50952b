"""How big each purge batch is: sized by how long the last one took, not by a fixed count.

A batch holds locks (on SQLite, the database's only write lock) for as long as it runs, so
what must stay bounded is its duration, not its row count: the same 2,000 sessions take 20 ms
on an idle server and 200 ms on one that is flushing its buffers. The sizer aims every batch
at a target duration, growing the batch while batches finish early and shrinking it at once
when one runs long.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper

from dbsessions.dialects import dialect_for

#: The vendor's target duration, first and largest sizes are its dialect's ``purge_*``.
MIN_SIZE = 50
#: A batch grows by at most this factor at a time, so one fast batch cannot overshoot.
MAX_GROWTH = 2.0


@dataclass
class BatchSizer:
    """The next batch's size, from the last full batch's size and duration."""

    size: int
    target: float
    minimum: int = MIN_SIZE
    maximum: int = 20_000
    fixed: bool = False

    @classmethod
    def for_connection(
        cls, connection: BaseDatabaseWrapper, batch_size: int | None = None
    ) -> "BatchSizer":
        """A fixed size when ``batch_size`` is given, else one adapting to the vendor's target."""
        dialect = dialect_for(connection)
        target = dialect.purge_target_seconds
        if batch_size is not None:
            return cls(size=batch_size, target=target, fixed=True)
        return cls(size=dialect.purge_start_size, target=target, maximum=dialect.purge_max_size)

    def record(self, picked: int, seconds: float) -> None:
        """Adjust after a batch that picked ``picked`` sessions in ``seconds``."""
        if self.fixed or picked < self.size:
            return  # a short last batch says nothing about the rate
        scale = self.target / max(seconds, 1e-6)
        new = int(self.size * min(scale, MAX_GROWTH))
        self.size = max(self.minimum, min(self.maximum, new))


@contextmanager
def checkpoints(connection: BaseDatabaseWrapper) -> Iterator[Callable[[], float]]:
    """Yield a callable that checkpoints the WAL now (SQLite's, where the dialect has the
    statements) and returns the seconds it took.

    By default the connection whose commit takes the WAL past 1,000 pages copies them into the
    database file; after a purge batch that is the purge, within its COMMIT, and the
    time is lost to the pause that follows. Checkpointing explicitly, after the batch released
    the write lock, lets the purge count that time as part of the pause (requests can write
    meanwhile). Elsewhere, or inside a transaction, the callable does nothing.
    """
    dialect = dialect_for(connection)
    # A dialect has the three statements or none of them.
    read_sql = dialect.wal_autocheckpoint_sql
    checkpoint_sql = dialect.wal_checkpoint_sql
    set_sql = dialect.set_wal_autocheckpoint_sql
    if read_sql is None or checkpoint_sql is None or set_sql is None or connection.in_atomic_block:
        yield lambda: 0.0
        return
    with connection.cursor() as cursor:
        cursor.execute(read_sql)
        (pages,) = cursor.fetchone()
        cursor.execute(set_sql.format(pages=0))

    def checkpoint() -> float:
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute(checkpoint_sql)
            cursor.fetchall()
        return time.monotonic() - started

    try:
        yield checkpoint
    finally:
        with connection.cursor() as cursor:
            cursor.execute(set_sql.format(pages=int(pages)))
