"""PostgreSQL."""

from collections.abc import Sequence
from functools import cache
from typing import Any, ClassVar, cast

from dbsessions.dialects.base import OnConflictUpsert, Params, id_list, kept_cursor


class PostgreSQLDialect(OnConflictUpsert):
    vendor: ClassVar[str] = "postgresql"
    has_touch_and_upsert = True
    has_purge_lock_and_delete = True
    purge_start_size = 1000
    # A touch commits without waiting for its WAL flush: a crash may lose the last moments'
    # touches (an expiry a little earlier than it would be), never session data. set_config()
    # with is_local is SET LOCAL inside the UPDATE itself: one round trip, where SET LOCAL
    # would need BEGIN, the SET and COMMIT around it. It runs for the matched row only; a
    # touch that matches none writes nothing, and has nothing to flush.
    skip_flush_condition: ClassVar[str | None] = (
        "set_config('synchronous_commit', 'off', true) IS NOT NULL"
    )
    later_function: ClassVar[str | None] = "GREATEST"
    read_committed_sql: ClassVar[str | None] = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"

    @cache
    def touch_and_upsert_sql(self, count: int, client: bool = False) -> str:
        """The session row's UPDATE feeding the upsert: one round trip, no transaction.

        When the session is gone the UPDATE returns no id, nothing is inserted, and a row
        count of zero tells the engine to raise UpdateError.
        """
        quote = self.quote
        rows = ", ".join(["(%s, %s)"] * count)
        return (
            f"WITH touched AS ({self.touch_session_sql(client)} RETURNING {quote('id')}) "
            f"INSERT INTO {self.quoted_attribute_table} "
            f"({quote('session_id')}, {quote('name')}, {quote('value')}) "
            f"SELECT touched.{quote('id')}, v.name, v.value FROM touched, (VALUES {rows}) "
            f"v (name, value) {self.on_conflict}"
        )

    has_touch_and_update_if = True

    @cache
    def touch_and_update_if_sql(self, client: bool = False, digest: bool = False) -> str:
        """The session row's UPDATE feeding the attribute's, which changes it only where it
        still holds the loaded value: one round trip, in the lock order of every save (session
        row, then attribute), and the attribute's condition is checked again on the latest row
        after any lock wait. Its row count is the attributes written."""
        quote = self.quote
        value = self.loaded_value_condition(f"a.{quote('value')}", digest)
        return (
            f"WITH touched AS ({self.touch_session_sql(client)} RETURNING {quote('id')}) "
            f"UPDATE {self.quoted_attribute_table} a SET {quote('value')} = %s "
            f"FROM touched WHERE a.{quote('session_id')} = touched.{quote('id')} "
            f"AND a.{quote('name')} = %s AND {value}"
        )

    @cache
    def purge_lock_expired_sql(self, limit: int) -> str:
        """Lock up to ``limit`` expired sessions of one app, skipping those a request holds.

        PostgreSQL locks tuples, not index entries: finding them through the expiry index takes
        no lock a save could hold in the other order.
        """
        quote = self.quote
        return (
            f"SELECT {quote('id')} FROM {self.quoted_session_table} "
            f"WHERE {quote('app_name')} = %s AND {quote('expires_at')} < %s "
            f"ORDER BY {quote('expires_at')} LIMIT {int(limit)} FOR UPDATE SKIP LOCKED"
        )

    def purge_delete_sql(self, ids: Sequence[int]) -> str:
        """Delete locked sessions ``ids`` and their attributes; returns (sessions, attributes).

        A statement of its own, after the lock: its snapshot then holds every attribute a save
        committed before the lock (the locking statement's may not, and the foreign key,
        checked at commit, would refuse the batch). The foreign key is DEFERRABLE INITIALLY
        DEFERRED, so sessions and attributes can go in the same statement.
        """
        quote = self.quote
        return (
            f"WITH gone AS (DELETE FROM {self.quoted_session_table} "
            f"WHERE {quote('id')} IN ({id_list(ids)}) RETURNING {quote('id')}), "
            f"attrs AS (DELETE FROM {self.quoted_attribute_table} WHERE {quote('session_id')} IN "
            f"(SELECT {quote('id')} FROM gone) RETURNING 1) "
            "SELECT (SELECT COUNT(*) FROM gone), (SELECT COUNT(*) FROM attrs)"
        )

    def fetch_all(self, connection: Any, sql: str, params: Params) -> list[tuple[Any, ...]]:
        """The rows of a SELECT, in binary where the driver is psycopg 3.

        Text results send a bytea value as twice as many hex digits, which the driver then
        decodes: a 200 KB session loads in less than half the time in binary. Binary times
        come back aware whatever ``USE_TZ`` says (``dbsessions.backends.db.as_datetime``
        makes them naive).
        """
        cursor = _server_cursor(connection, binary=True)
        if cursor is None:
            return super().fetch_all(connection, sql, params)
        cursor.execute(sql, params)
        return cast(list[tuple[Any, ...]], cursor.fetchall())

    def execute(self, connection: Any, sql: str, params: Params) -> int:
        """Run a write; its row count. Through a server-binding cursor where the driver is
        psycopg 3, which sends the values apart from the SQL instead of quoting them into
        it in Python (Django's cursors bind on the client)."""
        cursor = _server_cursor(connection, binary=False)
        if cursor is None:
            return super().execute(connection, sql, params)
        cursor.execute(sql, params)
        return cast(int, cursor.rowcount)

    def reads_latest_in_transaction(self, connection: Any) -> bool:
        """READ COMMITTED (Django's default; READ UNCOMMITTED behaves so) takes a snapshot
        per statement; REPEATABLE READ and SERIALIZABLE keep the first one."""
        from django.db.backends.postgresql.psycopg_any import IsolationLevel

        levels = (IsolationLevel.READ_COMMITTED, IsolationLevel.READ_UNCOMMITTED)
        return getattr(connection, "isolation_level", None) in levels


def _server_cursor(connection: Any, binary: bool) -> Any:
    """A server-binding psycopg 3 cursor of ``connection`` in Django's cursor wrapper; None
    under psycopg2.

    Django's own cursors bind on the client, which cannot return binary results and quotes
    every value in Python. The cursor never prepares a statement unless the settings'
    ``prepare_threshold`` asks psycopg to (connection poolers in transaction mode do not all
    support prepared statements).
    """
    psycopg = _psycopg3()
    if psycopg is None:
        return None

    def make(raw_connection: Any) -> Any:
        cursor = psycopg.Cursor(raw_connection)
        if binary:
            cursor.format = psycopg.pq.Format.BINARY
        return cursor

    return kept_cursor(connection, f"psycopg-{'binary' if binary else 'text'}", make)


@cache
def _psycopg3() -> Any:
    """The psycopg 3 module, or None where Django runs on psycopg2 (looked up once: the load
    asks on every call)."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return None
    import psycopg

    return psycopg
