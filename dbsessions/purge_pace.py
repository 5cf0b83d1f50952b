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

#: Seconds one batch should take. A concurrent request waits at most about this long for a
#: lock the batch holds (plus, on SQLite, the pause below).
TARGET_SECONDS = {"sqlite": 0.03}
DEFAULT_TARGET_SECONDS = 0.05
#: The first batch's size, small enough to be quick on a cold cache.
START_SIZES = {"postgresql": 1000, "mysql": 500, "sqlite": 500}
DEFAULT_START_SIZE = 500
MIN_SIZE = 50
#: Oracle allows at most 1,000 items in an IN list.
MAX_SIZES = {"oracle": 1000}
DEFAULT_MAX_SIZE = 20_000
#: A batch grows by at most this factor at a time, so one fast batch cannot overshoot.
MAX_GROWTH = 2.0


@dataclass
class BatchSizer:
    """The next batch's size, from the last full batch's size and duration."""

    size: int
    target: float
    minimum: int = MIN_SIZE
    maximum: int = DEFAULT_MAX_SIZE
    fixed: bool = False

    @classmethod
    def for_connection(
        cls, connection: BaseDatabaseWrapper, batch_size: int | None = None
    ) -> "BatchSizer":
        """A fixed size when ``batch_size`` is given, else one adapting to the vendor's target."""
        vendor = connection.vendor
        target = TARGET_SECONDS.get(vendor, DEFAULT_TARGET_SECONDS)
        if batch_size is not None:
            return cls(size=batch_size, target=target, fixed=True)
        return cls(
            size=START_SIZES.get(vendor, DEFAULT_START_SIZE),
            target=target,
            maximum=MAX_SIZES.get(vendor, DEFAULT_MAX_SIZE),
        )

    def record(self, picked: int, seconds: float) -> None:
        """Adjust after a batch that picked ``picked`` sessions in ``seconds``."""
        if self.fixed or picked < self.size:
            return  # a short last batch says nothing about the rate
        scale = self.target / max(seconds, 1e-6)
        new = int(self.size * min(scale, MAX_GROWTH))
        self.size = max(self.minimum, min(self.maximum, new))


@contextmanager
def checkpoints(connection: BaseDatabaseWrapper) -> Iterator[Callable[[], float]]:
    """Yield a callable that checkpoints SQLite's WAL now and returns the seconds it took.

    By default the connection whose commit takes the WAL past 1,000 pages copies them into the
    database file; after a purge batch that is the purge, within its COMMIT, and the
    time is lost to the pause that follows. Checkpointing explicitly, after the batch released
    the write lock, lets the purge count that time as part of the pause (requests can write
    meanwhile). Elsewhere, or inside a transaction, the callable does nothing.
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield lambda: 0.0
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        (pages,) = cursor.fetchone()
        cursor.execute("PRAGMA wal_autocheckpoint = 0")

    def checkpoint() -> float:
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.fetchall()
        return time.monotonic() - started

    try:
        yield checkpoint
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")
