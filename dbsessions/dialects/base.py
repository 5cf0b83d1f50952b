"""Standard SQL for the session tables; each vendor's module overrides what it spells differently.

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
from hashlib import sha256
from typing import Any, ClassVar, TypeVar, cast

T = TypeVar("T")

#: Parameters of a statement, as Django's cursors take them.
Params = list[Any]

#: The table of leases (``dbsessions.models.PurgeLease``): one row per lease name, whatever the
#: session tables are called.
LEASE_TABLE = "dbsessions_lease"

# SQL Server allows 2,100 parameters per statement, Oracle 1,000 items in an IN list.
MAX_ROWS_PER_STATEMENT = 500
# Keeps a multi-row upsert well under MySQL's default 16 MiB max_allowed_packet.
MAX_BYTES_PER_STATEMENT = 4 * 1024 * 1024
#: Loaded values of at least this many bytes are checked by their SHA-256 where the database
#: computes one (``Dialect.compares_digest``).
DIGEST_FROM = 1024


def _double_quote(name: str) -> str:
    return f'"{name}"'


@dataclass(frozen=True)
class Dialect:
    """Standard SQL; subclasses change what their vendor spells differently."""

    session_table: str
    attribute_table: str
    quote_name: Callable[[str], str] = _double_quote

    #: Our name for the vendor: Django's ``connection.vendor``, except SQL Server's "mssql".
    vendor: ClassVar[str] = "generic"
    #: Appended to a SELECT that must lock the rows it returns.
    lock_suffix = " FOR UPDATE"
    #: Whether ``upsert_sql`` exists; otherwise the engine updates, then inserts.
    has_upsert = False
    #: Most attribute rows one upsert statement may carry.
    upsert_batch = MAX_ROWS_PER_STATEMENT
    #: Whether ``touch_and_upsert_sql`` exists: a save of changed keys in one statement.
    has_touch_and_upsert = False
    #: The function that returns the later of two datetimes (GREATEST, or SQLite's
    #: two-argument MAX) for ``touch_only_sql``; None: a CASE, with the parameter twice.
    later_function: ClassVar[str | None] = None
    #: A condition, true for every row, that lets a touch in its own transaction (never a
    #: caller's) commit without waiting for its flush to disk, or None: a touch may be lost
    #: in a crash, and need not wait for its commit to be durable.
    skip_flush_condition: ClassVar[str | None] = None

    # Purge tunables and flags (``purge_pace`` sizes the batches with the first three).
    #: Seconds one purge batch should take: a concurrent request waits at most about this long
    #: for a lock the batch holds (plus the pause below).
    purge_target_seconds = 0.05
    #: The first batch's size, small enough to be quick on a cold cache.
    purge_start_size = 500
    #: The largest batch.
    purge_max_size = 20_000
    #: Seconds to pause between purge batches, so that requests get the database in between.
    purge_pause = 0.0
    #: Whether a purge batch locks the expired rows it picked before deleting them.
    purge_locks_rows = True
    #: Whether a purge batch runs with the foreign-key checks off (outside a transaction).
    purge_without_constraint_checks = False
    #: Run first in a purge batch's own transaction (never inside a caller's), or None.
    purge_isolation_sql: ClassVar[str | None] = None
    #: Whether a purge batch is ``purge_lock_expired_sql`` then ``purge_delete_sql``.
    has_purge_lock_and_delete = False
    #: Whether purges delete rows by id through ``delete_by_ids_sql`` (a JSON array of ids).
    deletes_by_id_join = False

    def quote(self, name: str) -> str:
        """A table or column name as the vendor quotes it."""
        return self.quote_name(name)

    def fetch_all(self, connection: Any, sql: str, params: Params) -> list[tuple[Any, ...]]:
        """The rows of a SELECT on ``connection`` (a Django connection), through its cursor."""
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cast(list[tuple[Any, ...]], cursor.fetchall())

    def execute(self, connection: Any, sql: str, params: Params) -> int:
        """Run a write on ``connection`` (a Django connection); its row count."""
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cast(int, cursor.rowcount)

    def value_wire_size(self, value: bytes) -> int:
        """Bytes a serialized value takes in the statement the driver sends."""
        return len(value)

    @property
    def product(self) -> str:
        """The server product, as ``install_session_schema --vendor`` names its DDL."""
        return self.vendor

    # Columns -------------------------------------------------------------------------

    @property
    def exact_collation(self) -> str | None:
        """The collation under which ``=`` compares text byte for byte, for the names that
        must stay distinct (``ExactCharField``); None where the default already does, as
        PostgreSQL's deterministic collations and SQLite's BINARY do."""
        return None

    #: Each column's collation (name, collation) of the table given as parameter, where
    #: Django's introspection does not tell it; None where it does.
    column_collations_sql: ClassVar[str | None] = None

    #: How the load query selects each of the session row's times, which it repeats on every
    #: attribute row: as the column itself, or as text where the driver would otherwise
    #: convert every copy (``dbsessions.backends.db.as_datetime`` converts the first row's,
    #: and only when the lifetime settings need them).
    loaded_time_template: ClassVar[str] = "{column}"

    #: Size in bytes of a binary value (``dbsessions.expressions.OctetLength``), as a
    #: template of Django's ``Func``.
    octet_length_template: ClassVar[str] = "OCTET_LENGTH(%(expressions)s)"

    @cached_property
    def quoted_session_table(self) -> str:
        return self.quote(self.session_table)

    @cached_property
    def quoted_attribute_table(self) -> str:
        return self.quote(self.attribute_table)

    # Reads ---------------------------------------------------------------------------

    @cached_property
    def load_sql(self) -> str:
        """The whole session in one round trip: its row (id, created_at, last_access,
        expires_at) joined to its attributes (name, value)."""
        quote = self.quote
        times = ", ".join(
            self.loaded_time_template.format(column=f"s.{quote(name)}")
            for name in ("created_at", "last_access", "expires_at")
        )
        return (
            f"SELECT s.{quote('id')}, {times}, a.{quote('name')}, a.{quote('value')} "
            f"FROM {self.quoted_session_table} s LEFT JOIN {self.quoted_attribute_table} a "
            f"ON a.{quote('session_id')} = s.{quote('id')} "
            f"WHERE s.{quote('key_hash')} = %s AND s.{quote('app_name')} = %s "
            f"AND s.{quote('expires_at')} > %s"
        )

    @cached_property
    def exists_sql(self) -> str:
        quote = self.quote
        return (
            f"SELECT 1 FROM {self.quoted_session_table} "
            f"WHERE {quote('key_hash')} = %s AND {quote('app_name')} = %s"
        )

    @cached_property
    def lock_session_sql(self) -> str:
        """Lock a session row by its key; returns (id, expires_at, created_at)."""
        quote = self.quote
        return (
            f"SELECT {quote('id')}, {quote('expires_at')}, {quote('created_at')} "
            f"FROM {self.quoted_session_table}{self.lock_hint(False)} "
            f"WHERE {quote('key_hash')} = %s AND {quote('app_name')} = %s"
            f"{self.lock_clause(False)}"
        )

    @cached_property
    def attribute_names_sql(self) -> str:
        quote = self.quote
        return (
            f"SELECT {quote('name')} FROM {self.quoted_attribute_table} "
            f"WHERE {quote('session_id')} = %s"
        )

    # Session row writes --------------------------------------------------------------

    @cache
    def touch_session_sql(self, client: bool = False) -> str:
        """Refresh the row on save; matching the key makes a deleted session fail here.

        With ``client``, the client's IP address and user agent are written too.
        """
        quote = self.quote
        client_columns = (
            f", {quote('client_ip')} = %s, {quote('user_agent')} = %s" if client else ""
        )
        return (
            f"UPDATE {self.quoted_session_table} "
            f"SET {quote('last_access')} = %s, {quote('expires_at')} = %s, "
            f"{quote('principal')} = %s{client_columns} "
            f"WHERE {quote('key_hash')} = %s AND {quote('app_name')} = %s"
        )

    @cached_property
    def rekey_session_sql(self) -> str:
        quote = self.quote
        return (
            f"UPDATE {self.quoted_session_table} SET {quote('key_hash')} = %s "
            f"WHERE {quote('id')} = %s AND {quote('key_hash')} = %s "
            f"AND {quote('app_name')} = %s"
        )

    @cached_property
    def rekey_and_restart_sql(self) -> str:
        """``rekey_session_sql`` that also sets ``created_at`` (the second parameter): with an
        absolute timeout, a rotation (a fresh authentication) starts a new lifetime."""
        key_hash = f"SET {self.quote('key_hash')} = %s"
        return self.rekey_session_sql.replace(
            key_hash, f"{key_hash}, {self.quote('created_at')} = %s", 1
        )

    @cache
    def touch_only_sql(self, client: bool = False) -> str:
        """A touch: ``last_access`` and ``expires_at`` move forward, never back, whatever order
        concurrent touches commit in. The row must still have this id and key: a session
        ended or rotated meanwhile matches nothing, and nothing is re-created. Parameters:
        ``touch_only_params``."""
        quote = self.quote
        client_columns = (
            f", {quote('client_ip')} = %s, {quote('user_agent')} = %s" if client else ""
        )
        return (
            f"UPDATE {self.quoted_session_table} "
            f"SET {quote('last_access')} = {self.later_of('last_access')}, "
            f"{quote('expires_at')} = {self.later_of('expires_at')}{client_columns} "
            f"WHERE {quote('id')} = %s AND {quote('key_hash')} = %s "
            f"AND {quote('app_name')} = %s"
        )

    def touch_sql(self, client: bool, own_transaction: bool) -> str:
        """``touch_only_sql``; in a transaction of its own, also ``skip_flush_condition``."""
        sql = self.touch_only_sql(client)
        if own_transaction and self.skip_flush_condition is not None:
            return f"{sql} AND {self.skip_flush_condition}"
        return sql

    def touch_only_params(self, last_access: object, expires_at: object, rest: Params) -> Params:
        """Parameters of ``touch_only_sql``: the two times, then ``rest`` (the client's
        address and agent if any, the row id, the key hash and the app name)."""
        return [*self.later_params(last_access), *self.later_params(expires_at), *rest]

    def later_of(self, column: str) -> str:
        """The later of ``column`` and a parameter (``later_params``)."""
        column = self.quote(column)
        if self.later_function is not None:
            return f"{self.later_function}({column}, %s)"
        return f"CASE WHEN {column} < %s THEN %s ELSE {column} END"

    def later_params(self, value: object) -> Params:
        return [value] if self.later_function is not None else [value, value]

    @cached_property
    def delete_session_sql(self) -> str:
        return f"DELETE FROM {self.quoted_session_table} WHERE {self.quote('id')} = %s"

    # Attribute writes ----------------------------------------------------------------

    @cached_property
    def delete_all_attributes_sql(self) -> str:
        quote = self.quote
        return f"DELETE FROM {self.quoted_attribute_table} WHERE {quote('session_id')} = %s"

    @cache
    def delete_attributes_sql(self, count: int) -> str:
        quote = self.quote
        marks = ", ".join(["%s"] * count)
        return (
            f"DELETE FROM {self.quoted_attribute_table} "
            f"WHERE {quote('session_id')} = %s AND {quote('name')} IN ({marks})"
        )

    @cached_property
    def update_attribute_sql(self) -> str:
        quote = self.quote
        return (
            f"UPDATE {self.quoted_attribute_table} SET {quote('value')} = %s "
            f"WHERE {quote('session_id')} = %s AND {quote('name')} = %s"
        )

    @cached_property
    def insert_attribute_sql(self) -> str:
        quote = self.quote
        return (
            f"INSERT INTO {self.quoted_attribute_table} "
            f"({quote('session_id')}, {quote('name')}, {quote('value')}) VALUES (%s, %s, %s)"
        )

    # One attribute under a row lock (``atomic_update``) and writes that must find the
    # value they loaded (``SAME_KEY_WRITES = "detect"``) -------------------------------

    #: Whether the database locks single rows; SQLite locks the whole database for a write,
    #: so an atomic update there takes that lock first (with its claim) and reads after.
    locks_rows: ClassVar[bool] = True
    #: Run first in an atomic update's own transaction where the connection's reads keep
    #: one snapshot (REPEATABLE READ): the lock then waits for the row a concurrent update
    #: committed and reads it, where PostgreSQL would fail the transaction instead. None:
    #: the vendor's default isolation already reads the latest row.
    read_committed_sql: ClassVar[str | None] = None
    #: The value column compared with a parameter (Oracle compares BLOBs with a function).
    value_equals_template: ClassVar[str] = "{column} = %s"
    #: The value column's SHA-256 compared with a parameter (``value_digest``), where the
    #: database computes one; None: values are always compared whole.
    value_digest_template: ClassVar[str | None] = None

    def compares_digest(self, loaded: bytes) -> bool:
        """Whether a write checks ``loaded`` by its digest, where sending a long value back
        whole costs more than the database's hashing of the stored one."""
        return self.value_digest_template is not None and len(loaded) >= DIGEST_FROM

    def value_digest(self, loaded: bytes) -> Any:
        """The parameter ``value_digest_template`` compares with: the SHA-256 of ``loaded``, in
        hexadecimal digits."""
        return sha256(loaded).hexdigest()

    def loaded_value_condition(self, column: str, digest: bool) -> str:
        """The condition that ``column`` (quoted) still holds the loaded value: by its digest
        when asked and the database computes one."""
        template = (digest and self.value_digest_template) or self.value_equals_template
        return template.format(column=column)

    #: Whether ``touch_and_update_if_sql`` exists: a "detect" save of one changed attribute
    #: in one statement.
    has_touch_and_update_if = False

    def touch_and_update_if_sql(self, client: bool = False, digest: bool = False) -> str:
        """``touch_session_sql`` feeding ``update_attribute_if_sql`` in one statement, where
        ``has_touch_and_update_if``; its row count is the attributes written. Parameters: the
        touch's, then the new value, the name and the loaded value (or its digest)."""
        raise NotImplementedError

    @cached_property
    def live_session_id_sql(self) -> str:
        """The id of a key's session if it has not expired. Parameters: key hash, app name,
        now."""
        quote = self.quote
        return (
            f"SELECT {quote('id')} FROM {self.quoted_session_table} "
            f"WHERE {quote('key_hash')} = %s AND {quote('app_name')} = %s "
            f"AND {quote('expires_at')} > %s"
        )

    @cached_property
    def claim_attribute_sql(self) -> str:
        """Give a key's live session the attribute (name, value) unless it has one of that
        name; a row count of one says it was inserted. Parameters: ``claim_attribute_params``.
        Standard SQL's MERGE."""
        quote = self.quote
        columns = f"{quote('session_id')}, {quote('name')}, {quote('value')}"
        return (
            f"MERGE INTO {self.quoted_attribute_table}{self.merge_hint} AS t "
            f"USING (SELECT {quote('id')} AS {quote('session_id')}, %s AS {quote('name')}, "
            f"%s AS {quote('value')} FROM {self.quoted_session_table} "
            f"WHERE {quote('key_hash')} = %s AND {quote('app_name')} = %s "
            f"AND {quote('expires_at')} > %s) AS src "
            f"ON t.{quote('session_id')} = src.{quote('session_id')} "
            f"AND t.{quote('name')} = src.{quote('name')} "
            f"WHEN NOT MATCHED THEN INSERT ({columns}) "
            f"VALUES (src.{quote('session_id')}, src.{quote('name')}, src.{quote('value')})"
            f"{self.merge_end}"
        )

    def claim_attribute_params(self, name: str, value: object, session: Params) -> Params:
        """Parameters of ``claim_attribute_sql``; ``session`` are ``live_session_id_sql``'s."""
        return [name, value, *session]

    @cached_property
    def lock_attribute_sql(self) -> str:
        """Lock one attribute of a key's live session, and only that row; returns
        (session_id, value). Parameters: the name, then ``live_session_id_sql``'s."""
        quote = self.quote
        return (
            f"SELECT {quote('session_id')}, {quote('value')} "
            f"FROM {self.quoted_attribute_table}{self.lock_hint(False)} "
            f"WHERE {quote('name')} = %s AND {quote('session_id')} = "
            f"({self.live_session_id_sql}){self.lock_clause(False)}"
        )

    @cache
    def update_attribute_if_sql(self, digest: bool = False) -> str:
        """``update_attribute_sql`` that changes the row only while it holds the value given
        last (or, with ``digest``, one of that SHA-256): a row count of zero says another
        request changed (or removed) it."""
        value = self.loaded_value_condition(self.quote("value"), digest)
        return f"{self.update_attribute_sql} AND {value}"

    @cache
    def delete_attribute_if_sql(self, digest: bool = False) -> str:
        """Delete one attribute (session id, name) only while it holds the value given last."""
        quote = self.quote
        value = self.loaded_value_condition(quote("value"), digest)
        return (
            f"DELETE FROM {self.quoted_attribute_table} "
            f"WHERE {quote('session_id')} = %s AND {quote('name')} = %s AND {value}"
        )

    @cached_property
    def attribute_exists_sql(self) -> str:
        quote = self.quote
        return (
            f"SELECT 1 FROM {self.quoted_attribute_table} "
            f"WHERE {quote('session_id')} = %s AND {quote('name')} = %s"
        )

    def upsert_sql(self, count: int) -> str:
        """One statement that inserts or overwrites ``count`` (session, name, value) rows."""
        raise NotImplementedError

    def upsert_params(self, session_id: int, rows: Sequence[tuple[str, object]]) -> Params:
        params: Params = []
        for name, value in rows:
            params.extend((session_id, name, value))
        return params

    def touch_and_upsert_sql(self, count: int, client: bool = False) -> str:
        """``touch_session_sql`` and the upsert of ``count`` rows in one statement, where
        ``has_touch_and_upsert``. Parameters: the touch's, then ``values_params``."""
        raise NotImplementedError

    def values_params(self, rows: Sequence[tuple[str, object]]) -> Params:
        """Parameters of the ``VALUES`` list of ``touch_and_upsert_sql``."""
        params: Params = []
        for name, value in rows:
            params.extend((name, value))
        return params

    # Expired sessions ----------------------------------------------------------------

    @cache
    def expired_sessions_sql(self, limit: int) -> str:
        """Up to ``limit`` (id, key_hash) of expired sessions of one app, locking nothing."""
        quote = self.quote
        return (
            f"SELECT {quote('id')}, {quote('key_hash')} FROM {self.quoted_session_table} "
            f"WHERE {quote('app_name')} = %s AND {quote('expires_at')} < %s "
            f"ORDER BY {quote('expires_at')} LIMIT {int(limit)}"
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
        quote = self.quote
        marks = ", ".join(["%s"] * count)
        expiry = f" AND {quote('expires_at')} < %s" if expired else ""
        return (
            f"SELECT {quote('id')}, {quote('app_name')}, {quote('key_hash')} "
            f"FROM {self.quoted_session_table}{self.lock_hint(skip_locked)} "
            f"WHERE {quote('key_hash')} IN ({marks}){expiry} "
            f"ORDER BY {quote('key_hash')}{self.lock_clause(skip_locked)}"
        )

    #: Sessions one ``lock_sessions_sql`` locks at most.
    lock_batch = MAX_ROWS_PER_STATEMENT

    def lock_sessions_params(self, key_hashes: Sequence[str], expired_before: object) -> Params:
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
        return (
            f"DELETE FROM {self.quoted_attribute_table} "
            f"WHERE {self.quote('session_id')} IN ({id_list(ids)})"
        )

    def delete_sessions_sql(self, ids: Sequence[int]) -> str:
        return (
            f"DELETE FROM {self.quoted_session_table} WHERE {self.quote('id')} IN ({id_list(ids)})"
        )

    def attribute_keys_sql(self, ids: Sequence[int]) -> str:
        """The primary keys (session_id, name) of the attributes of sessions ``ids``."""
        quote = self.quote
        return (
            f"SELECT {quote('session_id')}, {quote('name')} FROM {self.quoted_attribute_table} "
            f"WHERE {quote('session_id')} IN ({id_list(ids)})"
        )

    @cached_property
    def count_expired_sql(self) -> str:
        """Expired sessions of one app and their attributes; the second count uses the
        (session_id, name) index. Parameters: app name and now, twice."""
        quote = self.quote
        sessions = self.quoted_session_table
        expired = (
            f"SELECT {quote('id')} FROM {sessions} "
            f"WHERE {quote('app_name')} = %s AND {quote('expires_at')} < %s"
        )
        return (
            f"SELECT (SELECT COUNT(*) FROM {sessions} WHERE {quote('app_name')} = %s "
            f"AND {quote('expires_at')} < %s), "
            f"(SELECT COUNT(*) FROM {self.quoted_attribute_table} "
            f"WHERE {quote('session_id')} IN ({expired}))"
        )

    def purge_lock_expired_sql(self, limit: int) -> str:
        """Lock up to ``limit`` expired sessions of one app, where ``has_purge_lock_and_delete``;
        returns their ids."""
        raise NotImplementedError

    def purge_delete_sql(self, ids: Sequence[int]) -> str:
        """Delete the sessions ``ids`` that ``purge_lock_expired_sql`` locked, and their
        attributes; returns (sessions, attributes)."""
        raise NotImplementedError

    def delete_by_ids_sql(self, table: str) -> str:
        """Delete the rows of ``table`` (quoted) whose ids the one parameter lists as a JSON
        array, where ``deletes_by_id_join``."""
        raise NotImplementedError

    #: Attribute keys one ``delete_attributes_by_key_sql`` takes.
    attribute_keys_per_delete = MAX_ROWS_PER_STATEMENT

    def delete_attributes_by_key_sql(self, count: int) -> str:
        """Delete ``count`` attributes by primary key, where ``deletes_by_id_join``; the one
        parameter is a JSON array of (session_id, name) pairs."""
        raise NotImplementedError

    @cached_property
    def app_names_sql(self) -> str:
        return f"SELECT DISTINCT {self.quote('app_name')} FROM {self.quoted_session_table}"

    #: Statements of a purge that checkpoints a write-ahead log itself between batches: read
    #: the automatic checkpoint setting, checkpoint now, and set it (``{pages}``); or None.
    wal_autocheckpoint_sql: ClassVar[str | None] = None
    wal_checkpoint_sql: ClassVar[str | None] = None
    set_wal_autocheckpoint_sql: ClassVar[str | None] = None

    # The purge lease (``dbsessions.purge.purge_lock``) --------------------------------------
    # One row per lease name: a holder token and an expiry, compared with the application's
    # clock. Every statement is a single-row write by primary key, so two nodes of a
    # cluster that take the lease at once conflict on that row, and one of them loses.

    @cached_property
    def quoted_lease_table(self) -> str:
        return self.quote(LEASE_TABLE)

    @cached_property
    def lease_insert_sql(self) -> str:
        """Insert the lease row (name, holder, expires_at) unless it exists. Standard SQL's
        MERGE; a concurrent insert of the same name may still raise an integrity error,
        which means the row exists."""
        quote = self.quote
        columns = f"{quote('name')}, {quote('holder')}, {quote('expires_at')}"
        return (
            f"MERGE INTO {self.quoted_lease_table}{self.merge_hint} AS t "
            f"USING (VALUES (%s, %s, %s)) AS src ({columns}) "
            f"ON t.{quote('name')} = src.{quote('name')} "
            f"WHEN NOT MATCHED THEN INSERT ({columns}) "
            f"VALUES (src.{quote('name')}, src.{quote('holder')}, src.{quote('expires_at')})"
            f"{self.merge_end}"
        )

    #: Table hint of the lease's MERGE, and what ends a MERGE statement.
    merge_hint: ClassVar[str] = ""
    merge_end: ClassVar[str] = ""

    @cached_property
    def lease_take_sql(self) -> str:
        """Take the lease if it is free, expired or already ours; one row updated says it is
        ours. Parameters: holder, new expiry, name, now, holder."""
        quote = self.quote
        return (
            f"UPDATE {self.quoted_lease_table} "
            f"SET {quote('holder')} = %s, {quote('expires_at')} = %s "
            f"WHERE {quote('name')} = %s "
            f"AND ({quote('expires_at')} <= %s OR {quote('holder')} = %s)"
        )

    @cached_property
    def lease_hold_sql(self) -> str:
        """Move our lease's expiry (forward to renew it, to now to release it), only while the
        row still names us; no row updated: another holder took it. Parameters: the expiry,
        name, holder."""
        quote = self.quote
        return (
            f"UPDATE {self.quoted_lease_table} SET {quote('expires_at')} = %s "
            f"WHERE {quote('name')} = %s AND {quote('holder')} = %s"
        )

    # Transactions ------------------------------------------------------------------------

    def reads_latest_in_transaction(self, connection: Any) -> bool:
        """Whether every query of a transaction on ``connection`` sees all changes committed
        before it started (a fresh snapshot per statement), as configured in its settings:
        only then may ``cached_db`` cache what a load read inside a transaction. Reads the
        connection's configuration, never the connection itself. Unknown: no."""
        return False

    # Conflicts a retry can resolve (``dbsessions.retry``) ---------------------------------

    #: SQLSTATEs of a serialization failure and of a detected deadlock.
    conflict_sqlstates: ClassVar[frozenset[str]] = frozenset({"40001", "40P01"})

    def cluster_reads_wait(self, connection: Any) -> bool | None:
        """On a multi-primary cluster, whether ``connection``'s reads wait until its node has
        applied what the cluster committed before them; None where the server is no such
        cluster."""
        return None

    @classmethod
    def is_conflict(cls, cause: BaseException) -> bool:
        """Whether the driver's exception (Django's error's ``__cause__``) says the database
        rolled the transaction back as a deadlock victim or for a serialization failure."""
        sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        return sqlstate in cls.conflict_sqlstates


class OnConflictUpsert(Dialect):
    """``INSERT ... ON CONFLICT DO UPDATE`` (PostgreSQL, SQLite)."""

    has_upsert = True

    @cached_property
    def on_conflict(self) -> str:
        quote = self.quote
        return (
            f"ON CONFLICT ({quote('session_id')}, {quote('name')}) "
            f"DO UPDATE SET {quote('value')} = excluded.{quote('value')}"
        )

    @cache
    def upsert_sql(self, count: int) -> str:
        quote = self.quote
        rows = ", ".join(["(%s, %s, %s)"] * count)
        return (
            f"INSERT INTO {self.quoted_attribute_table} "
            f"({quote('session_id')}, {quote('name')}, {quote('value')}) "
            f"VALUES {rows} {self.on_conflict}"
        )

    @cached_property
    def claim_attribute_sql(self) -> str:
        """An INSERT ... SELECT from the live session that does nothing on a conflict (the
        SELECT's WHERE keeps SQLite from reading ON CONFLICT as a join's ON)."""
        quote = self.quote
        return (
            f"INSERT INTO {self.quoted_attribute_table} "
            f"({quote('session_id')}, {quote('name')}, {quote('value')}) "
            f"SELECT {quote('id')}, %s, %s FROM {self.quoted_session_table} "
            f"WHERE {quote('key_hash')} = %s AND {quote('app_name')} = %s "
            f"AND {quote('expires_at')} > %s "
            f"ON CONFLICT ({quote('session_id')}, {quote('name')}) DO NOTHING"
        )

    @cached_property
    def lease_insert_sql(self) -> str:
        quote = self.quote
        return (
            f"INSERT INTO {self.quoted_lease_table} "
            f"({quote('name')}, {quote('holder')}, {quote('expires_at')}) VALUES (%s, %s, %s) "
            f"ON CONFLICT ({quote('name')}) DO NOTHING"
        )


def id_list(ids: Sequence[int]) -> str:
    """Integer ids as SQL literals, for an ``IN (...)`` list."""
    return ", ".join(str(int(i)) for i in ids)


def chunks(items: Sequence[T], size: int = MAX_ROWS_PER_STATEMENT) -> Iterable[Sequence[T]]:
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


#: Attribute of a Django connection: {name: (driver connection, its kept cursor)}.
_KEPT_CURSORS = "_dbsessions_kept_cursors"


def kept_cursor(connection: Any, name: str, make: Callable[[Any], Any]) -> Any:
    """A driver cursor of ``connection`` (a Django connection), made by ``make(driver
    connection)`` once and kept under ``name`` until the connection is replaced, in Django's
    cursor wrapper: its error translation, query logging and ``execute_wrapper`` hooks.

    For the hot statements whose driver cursor Django's would slow down; the rest of the
    engine's SQL goes through ``connection.cursor()``.
    """
    # What connection.cursor() does before it makes a cursor.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw_connection = connection.connection
    kept = connection.__dict__.setdefault(_KEPT_CURSORS, {})
    entry = kept.get(name)
    if entry is None or entry[0] is not raw_connection:
        with connection.wrap_database_errors:
            entry = kept[name] = (raw_connection, make(raw_connection))
    return connection._prepare_cursor(entry[1])
