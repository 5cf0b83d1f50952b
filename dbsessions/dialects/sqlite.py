"""SQLite."""

from typing import Any, ClassVar

from dbsessions.dialects.base import OnConflictUpsert


class SQLiteDialect(OnConflictUpsert):
    """SQLite locks the whole database for a write, so it has no row locks to ask for."""

    vendor: ClassVar[str] = "sqlite"
    # Django's sqlite3 connections parse every datetime column a query returns
    # (PARSE_DECLTYPES): 600 parses in the load of a 200-key session, most of its time.
    loaded_time_template: ClassVar[str] = "CAST({column} AS TEXT)"
    # OCTET_LENGTH came with SQLite 3.43; the length of a BLOB is its size in bytes.
    octet_length_template: ClassVar[str] = "LENGTH(CAST(%(expressions)s AS BLOB))"
    lock_suffix = ""
    purge_target_seconds = 0.03
    # Two-argument MAX() is SQLite's GREATEST: Django stores datetimes as ISO 8601 text, in
    # UTC, which sorts in time order.
    later_function: ClassVar[str | None] = "MAX"
    wal_autocheckpoint_sql = "PRAGMA wal_autocheckpoint"
    wal_checkpoint_sql = "PRAGMA wal_checkpoint(PASSIVE)"
    set_wal_autocheckpoint_sql = "PRAGMA wal_autocheckpoint = {pages}"
    # A request waiting for the write lock polls for it at growing intervals (up to 25 ms in
    # its first 130 ms); a purge that took the lock again at once would starve it.
    purge_pause = 0.025
    # The batch holds the database's write lock: what it picked stays expired.
    purge_locks_rows = False
    # The foreign key would look up each deleted session's attributes, which the batch
    # deletes itself under the write lock.
    purge_without_constraint_checks = True

    def reads_latest_in_transaction(self, connection: Any) -> bool:
        """Only a transaction that holds the write lock from its BEGIN sees the latest data: a
        deferred one reads from the snapshot of its first read."""
        return getattr(connection, "transaction_mode", None) in ("IMMEDIATE", "EXCLUSIVE")
