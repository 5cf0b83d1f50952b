"""SQLite."""

from dbsessions.dialects.base import OnConflictUpsert


class SQLiteDialect(OnConflictUpsert):
    """SQLite locks the whole database for a write, so it has no row locks to ask for."""

    vendor = "sqlite"
    lock_suffix = ""
    # A request waiting for the write lock polls for it at growing intervals (up to 25 ms in
    # its first 130 ms); a purge that took the lock again at once would starve it.
    purge_pause = 0.025
    # The batch holds the database's write lock: what it picked stays expired.
    purge_locks_rows = False
    # The foreign key would look up each deleted session's attributes, which the batch
    # deletes itself under the write lock. (SQLite serialises writers itself, so it needs
    # no purge lock either: the base's None.)
    purge_without_constraint_checks = True
