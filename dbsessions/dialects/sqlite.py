"""SQLite."""

import sqlite3
from functools import cache
from typing import Any, ClassVar, cast

from dbsessions.dialects.base import OnConflictUpsert, Params, kept_cursor


class SQLiteDialect(OnConflictUpsert):
    """SQLite locks the whole database for a write, so it has no row locks to ask for."""

    vendor: ClassVar[str] = "sqlite"
    # Django's sqlite3 connections parse every datetime column a query returns
    # (PARSE_DECLTYPES): 600 parses in the load of a 200-key session, most of its time.
    loaded_time_template: ClassVar[str] = "CAST({column} AS TEXT)"
    # OCTET_LENGTH came with SQLite 3.43; the length of a BLOB is its size in bytes.
    octet_length_template: ClassVar[str] = "LENGTH(CAST(%(expressions)s AS BLOB))"
    lock_suffix = ""
    locks_rows: ClassVar[bool] = False
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

    def fetch_all(self, connection: Any, sql: str, params: Params) -> list[tuple[Any, ...]]:
        """The rows of a SELECT through a kept sqlite3 cursor (inside Django's wrapper), with
        the SQL's placeholders turned into SQLite's once: Django's cursor rewrites them with
        a regular expression on every call, a third of a small session's load."""
        cursor = kept_cursor(connection, "sqlite3", lambda raw: raw.cursor(factory=_QmarkCursor))
        cursor.execute(sql, params)
        return cast(list[tuple[Any, ...]], cursor.fetchall())

    def reads_latest_in_transaction(self, connection: Any) -> bool:
        """Only a transaction that holds the write lock from its BEGIN sees the latest data: a
        deferred one reads from the snapshot of its first read."""
        return getattr(connection, "transaction_mode", None) in ("IMMEDIATE", "EXCLUSIVE")


@cache
def _qmark(sql: str) -> str:
    """``sql`` with SQLite's ``?`` for each ``%s`` (the engine's SQL has no other ``%``)."""
    return sql.replace("%s", "?")


class _QmarkCursor(sqlite3.Cursor):
    """Takes the engine's ``%s`` SQL, as Django's wrapper logs it, and runs it with ``?``."""

    def execute(self, sql: str, parameters: Any = (), /) -> "_QmarkCursor":
        return super().execute(_qmark(sql), parameters)
