"""The SQL the engine runs, one dialect per database vendor.

Statements are built once per (vendor, tables) and cached. They use ``%s`` placeholders, which
every Django backend accepts. A dialect needs no connection, so the SQL for Oracle and SQL
Server can be generated and checked where no such server runs.

Every write to a session's attributes happens after an UPDATE (or a locking SELECT) of the
session row in the same transaction, so concurrent writers of one session queue on that row
lock; the upserts below only have to be correct, not race-free on their own.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

# SQL Server allows 2,100 parameters per statement, Oracle 1,000 items in an IN list.
MAX_ROWS_PER_STATEMENT = 500
# Keeps a multi-row upsert well under MySQL's default 16 MiB max_allowed_packet.
MAX_BYTES_PER_STATEMENT = 4 * 1024 * 1024


def _double_quote(name: str) -> str:
    return f'"{name}"'


@dataclass(frozen=True)
class Dialect:
    """Standard SQL; subclasses change what their vendor spells differently."""

    session_table: str
    attribute_table: str
    quote_name: Callable[[str], str] = _double_quote

    vendor = "generic"
    #: Appended to a SELECT that must lock the rows it returns.
    lock_suffix = " FOR UPDATE"
    #: Whether ``upsert_sql`` exists; otherwise the engine updates, then inserts.
    has_upsert = False
    #: Most attribute rows one upsert statement may carry.
    upsert_batch = MAX_ROWS_PER_STATEMENT
    #: Whether ``touch_and_upsert_sql`` exists: a save of changed keys in one statement.
    has_touch_and_upsert = False

    def q(self, name: str) -> str:
        return self.quote_name(name)

    def value_wire_size(self, value: bytes) -> int:
        """Bytes a serialized value takes in the statement the driver sends."""
        return len(value)

    @cached_property
    def s(self) -> str:
        return self.q(self.session_table)

    @cached_property
    def a(self) -> str:
        return self.q(self.attribute_table)

    # Reads ---------------------------------------------------------------------------

    @cached_property
    def load_sql(self) -> str:
        """The whole session in one round trip: its row joined to its attributes."""
        q = self.q
        return (
            f"SELECT s.{q('id')}, a.{q('name')}, a.{q('value')} "
            f"FROM {self.s} s LEFT JOIN {self.a} a ON a.{q('session_id')} = s.{q('id')} "
            f"WHERE s.{q('key_hash')} = %s AND s.{q('app_name')} = %s "
            f"AND s.{q('expires_at')} > %s"
        )

    @cached_property
    def load_with_expiry_sql(self) -> str:
        """``load_sql`` with the session's expiry as the second column (for the cache)."""
        q = self.q
        return self.load_sql.replace(
            f"SELECT s.{q('id')}, ", f"SELECT s.{q('id')}, s.{q('expires_at')}, ", 1
        )

    @cached_property
    def exists_sql(self) -> str:
        q = self.q
        return f"SELECT 1 FROM {self.s} WHERE {q('key_hash')} = %s AND {q('app_name')} = %s"

    @cached_property
    def lock_session_sql(self) -> str:
        """Lock a session row by its key; returns (id, expires_at)."""
        q = self.q
        return (
            f"SELECT {q('id')}, {q('expires_at')} FROM {self.s} "
            f"WHERE {q('key_hash')} = %s AND {q('app_name')} = %s{self.lock_suffix}"
        )

    @cached_property
    def attribute_names_sql(self) -> str:
        q = self.q
        return f"SELECT {q('name')} FROM {self.a} WHERE {q('session_id')} = %s"

    # Session row writes --------------------------------------------------------------

    @cache
    def touch_session_sql(self, client: bool = False) -> str:
        """Refresh the row on save; matching the key makes a deleted session fail here.

        With ``client``, the client's IP address and user agent are written too.
        """
        q = self.q
        client_columns = f", {q('client_ip')} = %s, {q('user_agent')} = %s" if client else ""
        return (
            f"UPDATE {self.s} SET {q('last_access')} = %s, {q('expires_at')} = %s, "
            f"{q('principal')} = %s{client_columns} "
            f"WHERE {q('key_hash')} = %s AND {q('app_name')} = %s"
        )

    @cached_property
    def rekey_session_sql(self) -> str:
        q = self.q
        return (
            f"UPDATE {self.s} SET {q('key_hash')} = %s "
            f"WHERE {q('id')} = %s AND {q('key_hash')} = %s AND {q('app_name')} = %s"
        )

    @cached_property
    def delete_session_sql(self) -> str:
        return f"DELETE FROM {self.s} WHERE {self.q('id')} = %s"

    # Attribute writes ----------------------------------------------------------------

    @cached_property
    def delete_all_attributes_sql(self) -> str:
        return f"DELETE FROM {self.a} WHERE {self.q('session_id')} = %s"

    @cache
    def delete_attributes_sql(self, count: int) -> str:
        q = self.q
        marks = ", ".join(["%s"] * count)
        return f"DELETE FROM {self.a} WHERE {q('session_id')} = %s AND {q('name')} IN ({marks})"

    @cached_property
    def update_attribute_sql(self) -> str:
        q = self.q
        return (
            f"UPDATE {self.a} SET {q('value')} = %s "
            f"WHERE {q('session_id')} = %s AND {q('name')} = %s"
        )

    @cached_property
    def insert_attribute_sql(self) -> str:
        q = self.q
        return (
            f"INSERT INTO {self.a} ({q('session_id')}, {q('name')}, {q('value')}) "
            "VALUES (%s, %s, %s)"
        )

    def upsert_sql(self, count: int) -> str:
        """One statement that inserts or overwrites ``count`` (session, name, value) rows."""
        raise NotImplementedError

    def upsert_params(self, session_id: int, rows: Sequence[tuple[str, object]]) -> list:
        params: list = []
        for name, value in rows:
            params.extend((session_id, name, value))
        return params

    # Expired sessions ----------------------------------------------------------------

    @cache
    def expired_sessions_sql(self, limit: int) -> str:
        """Up to ``limit`` (id, key_hash) of expired sessions of one app, locking nothing."""
        q = self.q
        return (
            f"SELECT {q('id')}, {q('key_hash')} FROM {self.s} "
            f"WHERE {q('app_name')} = %s AND {q('expires_at')} < %s "
            f"ORDER BY {q('expires_at')} LIMIT {int(limit)}"
        )

    # Locking several sessions -------------------------------------------------------

    @cache
    def lock_sessions_sql(
        self, count: int, expired: bool = False, skip_locked: bool = False
    ) -> str:
        """Lock ``count`` sessions by key hash, in key hash order; (id, app_name, key_hash).

        A save locks its session through the key_hash index, then the row; InnoDB (and SQL
        Server) lock index entries, so ends and purges take the same path or deadlock with it.
        With ``expired``, the last parameter is a time the sessions must still expire before.
        """
        q = self.q
        marks = ", ".join(["%s"] * count)
        expiry = f" AND {q('expires_at')} < %s" if expired else ""
        return (
            f"SELECT {q('id')}, {q('app_name')}, {q('key_hash')} "
            f"FROM {self.s}{self.lock_hint(skip_locked)} "
            f"WHERE {q('key_hash')} IN ({marks}){expiry} "
            f"ORDER BY {q('key_hash')}{self.lock_clause(skip_locked)}"
        )

    def lock_sessions_params(self, key_hashes: Sequence[str], expired_before: object) -> list:
        """Parameters of ``lock_sessions_sql`` (with ``expired`` when ``expired_before``)."""
        return [*key_hashes, *([] if expired_before is None else [expired_before])]

    def lock_hint(self, skip_locked: bool) -> str:
        """Table hint of a locking SELECT (SQL Server's way)."""
        return ""

    def lock_clause(self, skip_locked: bool) -> str:
        """Trailing clause of a locking SELECT."""
        return self.lock_suffix + (" SKIP LOCKED" if skip_locked and self.lock_suffix else "")

    # Session ids come from the database itself, so they travel as integer literals: no
    # vendor's parameter limit applies (Oracle still allows 1,000 items in an IN list).

    def delete_attributes_of_sessions_sql(self, ids: Sequence[int]) -> str:
        return f"DELETE FROM {self.a} WHERE {self.q('session_id')} IN ({id_list(ids)})"

    def delete_sessions_sql(self, ids: Sequence[int]) -> str:
        return f"DELETE FROM {self.s} WHERE {self.q('id')} IN ({id_list(ids)})"


class _OnConflictUpsert(Dialect):
    has_upsert = True

    @cached_property
    def on_conflict(self) -> str:
        q = self.q
        return (
            f"ON CONFLICT ({q('session_id')}, {q('name')}) "
            f"DO UPDATE SET {q('value')} = excluded.{q('value')}"
        )

    @cache
    def upsert_sql(self, count: int) -> str:
        q = self.q
        rows = ", ".join(["(%s, %s, %s)"] * count)
        return (
            f"INSERT INTO {self.a} ({q('session_id')}, {q('name')}, {q('value')}) "
            f"VALUES {rows} {self.on_conflict}"
        )


class PostgreSQLDialect(_OnConflictUpsert):
    vendor = "postgresql"
    has_touch_and_upsert = True

    @cache
    def touch_and_upsert_sql(self, count: int, client: bool = False) -> str:
        """The session row's UPDATE feeding the upsert: one round trip, no transaction.

        When the session is gone the UPDATE returns no id, nothing is inserted, and a row
        count of zero tells the engine to raise UpdateError.
        """
        q = self.q
        rows = ", ".join(["(%s, %s)"] * count)
        return (
            f"WITH touched AS ({self.touch_session_sql(client)} RETURNING {q('id')}) "
            f"INSERT INTO {self.a} ({q('session_id')}, {q('name')}, {q('value')}) "
            f"SELECT touched.{q('id')}, v.name, v.value FROM touched, (VALUES {rows}) "
            f"v (name, value) {self.on_conflict}"
        )

    def values_params(self, rows: Sequence[tuple[str, object]]) -> list:
        """Parameters of the ``VALUES`` list of ``touch_and_upsert_sql``."""
        params: list = []
        for name, value in rows:
            params.extend((name, value))
        return params


class SQLiteDialect(_OnConflictUpsert):
    """SQLite locks the whole database for a write, so it has no row locks to ask for."""

    vendor = "sqlite"
    lock_suffix = ""


_MYSQL_ESCAPED = (b"\\", b"'", b'"', b"\0", b"\n", b"\r", b"\x1a")


def _backquote(name: str) -> str:
    return f"`{name}`"


@dataclass(frozen=True)
class MySQLDialect(Dialect):
    """MySQL 8.0.19+ names the new row with an alias; MariaDB keeps ``VALUES(col)``."""

    quote_name: Callable[[str], str] = _backquote
    row_alias: bool = False

    vendor = "mysql"
    has_upsert = True

    def value_wire_size(self, value: bytes) -> int:
        """mysqlclient sends values inline, escaping NUL, CR, LF, Ctrl-Z, quotes and
        backslashes with a backslash each: a value of quotes travels at twice its size."""
        return len(value) + sum(value.count(byte) for byte in _MYSQL_ESCAPED)

    @cached_property
    def rekey_session_sql(self) -> str:
        """Found by its key, like a save: through the primary key (the optimizer's choice on
        a small table) the UPDATE would lock the row first, then the key's index entry."""
        return super().rekey_session_sql.replace(
            f"UPDATE {self.s} SET", f"UPDATE {self.s} IGNORE INDEX (PRIMARY) SET", 1
        )

    @cache
    def lock_sessions_sql(
        self, count: int, expired: bool = False, skip_locked: bool = False
    ) -> str:
        """One key lookup per session, in the order given: on a small table (or for most of
        its rows) the optimizer would scan an IN list's rows through the primary key."""
        q = self.q
        expiry = f" AND {q('expires_at')} < %s" if expired else ""
        one = (
            f"(SELECT {q('id')}, {q('app_name')}, {q('key_hash')} FROM {self.s} "
            f"WHERE {q('key_hash')} = %s{expiry}{self.lock_clause(skip_locked)})"
        )
        return " UNION ALL ".join([one] * count)

    def lock_sessions_params(self, key_hashes: Sequence[str], expired_before: object) -> list:
        if expired_before is None:
            return list(key_hashes)
        return [param for key_hash in key_hashes for param in (key_hash, expired_before)]

    @cache
    def upsert_sql(self, count: int) -> str:
        q = self.q
        rows = ", ".join(["(%s, %s, %s)"] * count)
        insert = (
            f"INSERT INTO {self.a} ({q('session_id')}, {q('name')}, {q('value')}) VALUES {rows}"
        )
        if self.row_alias:
            return f"{insert} AS new ON DUPLICATE KEY UPDATE {q('value')} = new.{q('value')}"
        return f"{insert} ON DUPLICATE KEY UPDATE {q('value')} = VALUES({q('value')})"


def _oracle_quote(name: str) -> str:
    return f'"{name.upper()}"'


@dataclass(frozen=True)
class OracleDialect(Dialect):
    """One MERGE per attribute: a BLOB cannot travel through a multi-row ``FROM dual``."""

    quote_name: Callable[[str], str] = _oracle_quote

    vendor = "oracle"
    has_upsert = True
    upsert_batch = 1

    def upsert_sql(self, count: int) -> str:
        if count != 1:
            raise ValueError("Oracle merges one attribute per statement.")
        q = self.q
        return (
            f"MERGE INTO {self.a} t USING (SELECT %s {q('session_id')}, %s {q('name')} "
            f"FROM dual) src ON (t.{q('session_id')} = src.{q('session_id')} "
            f"AND t.{q('name')} = src.{q('name')}) "
            f"WHEN MATCHED THEN UPDATE SET t.{q('value')} = %s "
            f"WHEN NOT MATCHED THEN INSERT ({q('session_id')}, {q('name')}, {q('value')}) "
            f"VALUES (src.{q('session_id')}, src.{q('name')}, %s)"
        )

    def upsert_params(self, session_id: int, rows: Sequence[tuple[str, object]]) -> list:
        ((name, value),) = rows
        return [session_id, name, value, value]

    @cache
    def expired_sessions_sql(self, limit: int) -> str:
        return (
            super()
            .expired_sessions_sql(limit)
            .replace(f" LIMIT {int(limit)}", f" FETCH FIRST {int(limit)} ROWS ONLY")
        )


def _bracket(name: str) -> str:
    return f"[{name}]"


@dataclass(frozen=True)
class SQLServerDialect(Dialect):
    """MERGE needs HOLDLOCK on SQL Server, or two merges can both take the insert branch."""

    quote_name: Callable[[str], str] = _bracket

    vendor = "microsoft"
    lock_suffix = ""
    has_upsert = True

    @cached_property
    def lock_session_sql(self) -> str:
        q = self.q
        return (
            f"SELECT {q('id')}, {q('expires_at')} FROM {self.s} WITH (UPDLOCK, ROWLOCK) "
            f"WHERE {q('key_hash')} = %s AND {q('app_name')} = %s"
        )

    @cache
    def upsert_sql(self, count: int) -> str:
        q = self.q
        rows = ", ".join(["(%s, %s, %s)"] * count)
        return (
            f"MERGE INTO {self.a} WITH (HOLDLOCK) AS t USING (VALUES {rows}) "
            f"AS src ({q('session_id')}, {q('name')}, {q('value')}) "
            f"ON t.{q('session_id')} = src.{q('session_id')} AND t.{q('name')} = src.{q('name')} "
            f"WHEN MATCHED THEN UPDATE SET {q('value')} = src.{q('value')} "
            f"WHEN NOT MATCHED THEN INSERT ({q('session_id')}, {q('name')}, {q('value')}) "
            f"VALUES (src.{q('session_id')}, src.{q('name')}, src.{q('value')});"
        )

    @cache
    def expired_sessions_sql(self, limit: int) -> str:
        q = self.q
        return (
            f"SELECT TOP {int(limit)} {q('id')}, {q('key_hash')} FROM {self.s} "
            f"WHERE {q('app_name')} = %s AND {q('expires_at')} < %s "
            f"ORDER BY {q('expires_at')}"
        )

    def lock_hint(self, skip_locked: bool) -> str:
        return " WITH (UPDLOCK, ROWLOCK, READPAST)" if skip_locked else " WITH (UPDLOCK, ROWLOCK)"


DIALECTS: dict[str, type[Dialect]] = {
    "postgresql": PostgreSQLDialect,
    "sqlite": SQLiteDialect,
    "mysql": MySQLDialect,
    "oracle": OracleDialect,
    "microsoft": SQLServerDialect,
}


_cache: dict[tuple[str, str, str, str], Dialect] = {}


def dialect_for(connection: Any) -> Dialect:
    """The dialect for a live connection, quoting names the way its backend does."""
    from dbsessions.models import Attribute, Session

    tables = (Session._meta.db_table, Attribute._meta.db_table)
    key = (connection.alias, connection.vendor, *tables)
    dialect = _cache.get(key)
    if dialect is None:
        cls = DIALECTS.get(connection.vendor, Dialect)
        options: dict[str, Any] = {"quote_name": connection.ops.quote_name}
        if cls is MySQLDialect:
            options["row_alias"] = (
                not connection.mysql_is_mariadb and connection.mysql_version >= (8, 0, 19)
            )
        dialect = _cache[key] = cls(*tables, **options)
    return dialect


def id_list(ids: Sequence[int]) -> str:
    """Integer ids as SQL literals, for an ``IN (...)`` list."""
    return ", ".join(str(int(i)) for i in ids)


def chunks(items: Sequence, size: int = MAX_ROWS_PER_STATEMENT) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert_batches(
    rows: Sequence[tuple[str, bytes]], dialect: Dialect
) -> Iterable[list[tuple[str, bytes]]]:
    """Split (name, value) rows by count and by the size they travel at; a huge value
    travels alone."""
    batch: list[tuple[str, bytes]] = []
    size = 0
    for name, value in rows:
        value_size = dialect.value_wire_size(value)
        if batch and (
            len(batch) >= dialect.upsert_batch or size + value_size > MAX_BYTES_PER_STATEMENT
        ):
            yield batch
            batch, size = [], 0
        batch.append((name, value))
        size += value_size
    if batch:
        yield batch
