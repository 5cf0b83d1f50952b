"""MySQL and MariaDB."""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any, ClassVar

from dbsessions.dialects.base import Dialect, Params

#: The name the model's Meta gives the key hash's unique index (``dbsessions.models``).
KEY_HASH_INDEX = "dbsessions_session_key_hash"

_MYSQL_ESCAPED = (b"\\", b"'", b'"', b"\0", b"\n", b"\r", b"\x1a")


def _backquote(name: str) -> str:
    return f"`{name}`"


@dataclass(frozen=True)
class MySQLDialect(Dialect):
    """MySQL and MariaDB share a dialect; the two facts below tell their spellings apart."""

    quote_name: Callable[[str], str] = _backquote
    #: Whether the server is MariaDB (Django's ``connection.mysql_is_mariadb``).
    mariadb: bool = False
    #: The server's version (Django's ``connection.mysql_version``); by default the oldest
    #: MySQL that Django supports, so that every supported server accepts the SQL.
    server_version: tuple[int, ...] = (8, 0, 11)

    vendor: ClassVar[str] = "mysql"
    # mysqlclient converts every DATETIME a query returns, in Python: 600 conversions in the
    # load of a 200-key session.
    loaded_time_template: ClassVar[str] = "CAST({column} AS CHAR)"
    has_upsert = True
    # For the batch's own transaction only: InnoDB then locks the rows it deletes and no gaps
    # beside them, where a live session's new attribute would have to wait.
    purge_isolation_sql = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
    deletes_by_id_join = True
    later_function: ClassVar[str | None] = "GREATEST"
    read_committed_sql: ClassVar[str | None] = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
    # mysqlclient sends values inline, escaped in Python: a long loaded value is checked by its
    # SHA-256 instead (SHA2() returns hexadecimal digits). A 64 KB value's "detect" save went
    # from 0.81x of a plain save to about 1.0x; on PostgreSQL, which receives values in
    # binary, the server's sha256() measured slower than the value itself.
    value_digest_template: ClassVar[str | None] = "SHA2({column}, 256) = %s"
    # Django's introspection reports NULL for a column under the table's default collation,
    # whatever that is; the server says which collation each column actually has.
    column_collations_sql = (
        "SELECT column_name, collation_name FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = %s"
    )

    @property
    def product(self) -> str:
        """MySQL and MariaDB share no NO PAD binary collation: each has its own DDL."""
        return "mariadb" if self.mariadb else "mysql"

    @property
    def exact_collation(self) -> str | None:
        """The defaults ignore case and accents, and ``utf8mb4_bin`` still ignores trailing
        spaces (PAD SPACE): the NO PAD binary collations compare exactly."""
        return "utf8mb4_nopad_bin" if self.mariadb else "utf8mb4_0900_bin"

    @cached_property
    def row_alias(self) -> bool:
        """MySQL 8.0.19+ names the upsert's new row with an alias (``VALUES(col)`` is
        deprecated there); MariaDB only knows ``VALUES(col)``."""
        return not self.mariadb and self.server_version >= (8, 0, 19)

    def value_wire_size(self, value: bytes) -> int:
        """mysqlclient sends values inline, escaping NUL, CR, LF, Ctrl-Z, quotes and
        backslashes with a backslash each: a value of quotes travels at twice its size."""
        return len(value) + sum(value.count(byte) for byte in _MYSQL_ESCAPED)

    @cached_property
    def rekey_session_sql(self) -> str:
        """Found by its key, like a save: through the primary key (the optimizer's choice on
        a small table) the UPDATE would lock the row first, then the key's index entry."""
        update = f"UPDATE {self.quoted_session_table}"
        return super().rekey_session_sql.replace(
            f"{update} SET", f"{update} IGNORE INDEX (PRIMARY) SET", 1
        )

    @cache
    def lock_sessions_sql(
        self, count: int, expired: bool = False, skip_locked: bool = False
    ) -> str:
        """One key lookup per session, in the order given, whatever the count: the key hashes
        travel as a JSON array (``lock_sessions_params``) joined first (STRAIGHT_JOIN), each
        to its session through the key's unique index (FORCE INDEX: on a small table the
        optimizer would rather scan the primary key, locking every row in id order). A UNION
        of one SELECT per key locked the same way, at 45 us a session in a purge, most of it
        spent parsing the statement."""
        quote = self.quote
        expiry = f" AND s.{quote('expires_at')} < %s" if expired else ""
        return (
            f"SELECT s.{quote('id')}, s.{quote('app_name')}, s.{quote('key_hash')} "
            f"FROM JSON_TABLE(%s, '$[*]' COLUMNS ({quote('key_hash')} VARCHAR(64) PATH '$')) "
            f"AS d STRAIGHT_JOIN {self.quoted_session_table} AS s "
            f"FORCE INDEX ({quote(KEY_HASH_INDEX)}) "
            f"ON s.{quote('key_hash')} = d.{quote('key_hash')}{expiry}"
            f"{self.lock_clause(skip_locked)}"
        )

    #: A purge's largest batch in one statement (64 bytes a key hash).
    lock_batch = Dialect.purge_max_size

    def lock_sessions_params(self, key_hashes: Sequence[str], expired_before: object) -> Params:
        keys = json.dumps(list(key_hashes))
        return [keys] if expired_before is None else [keys, expired_before]

    @cache
    def upsert_sql(self, count: int) -> str:
        quote = self.quote
        rows = ", ".join(["(%s, %s, %s)"] * count)
        insert = (
            f"INSERT INTO {self.quoted_attribute_table} "
            f"({quote('session_id')}, {quote('name')}, {quote('value')}) VALUES {rows}"
        )
        value = quote("value")
        if self.row_alias:
            return f"{insert} AS new ON DUPLICATE KEY UPDATE {value} = new.{value}"
        return f"{insert} ON DUPLICATE KEY UPDATE {value} = VALUES({value})"

    @cached_property
    def claim_attribute_sql(self) -> str:
        """INSERT IGNORE ... SELECT: a duplicate name is skipped with a row count of zero (an
        upsert's no-op update would count one, as Django asks for found rows), and so is an
        attribute for a session ended meanwhile, whose lock then finds nothing."""
        quote = self.quote
        return (
            f"INSERT IGNORE INTO {self.quoted_attribute_table} "
            f"({quote('session_id')}, {quote('name')}, {quote('value')}) "
            f"SELECT {quote('id')}, %s, %s FROM {self.quoted_session_table} "
            f"WHERE {quote('key_hash')} = %s AND {quote('app_name')} = %s "
            f"AND {quote('expires_at')} > %s"
        )

    def delete_by_ids_sql(self, table: str) -> str:
        """InnoDB deletes by primary-key lookups, never by scan; ``%s`` is a JSON array of ids.

        Left to itself the optimizer may scan a small table (or one whose rows are mostly in the
        batch) and wait on a row a concurrent request holds, or range-scan the (session_id,
        name) index one record past the batch into a request's fresh insert while that request
        waits on the purge's foreign-key check: a stall or a deadlock. Joining from a JSON_TABLE
        of the ids (MySQL 8, MariaDB 10.6) with STRAIGHT_JOIN makes every row an ``eq_ref``
        lookup.
        """
        return (
            "DELETE t FROM JSON_TABLE(%s, '$[*]' COLUMNS (`id` BIGINT PATH '$')) AS d "
            f"STRAIGHT_JOIN {table} AS t ON t.`id` = d.`id`"
        )

    #: Attribute keys one ``delete_attributes_by_key_sql`` takes (a JSON array of them).
    attribute_keys_per_delete = 10_000

    @cache
    def delete_attributes_by_key_sql(self, count: int) -> str:
        """Every (session_id, name) pair of the JSON array parameter an equality lookup of the
        primary key (STRAIGHT_JOIN from the array): InnoDB then locks those records alone,
        where a range of one session's keys would also lock the record after it, perhaps a
        live session's attribute a request holds. The names are compared under the column's
        own collation, or the lookup would not use the key; FORCE INDEX keeps the optimizer
        from scanning a small table instead."""
        quote = self.quote
        name = quote("name")
        return (
            "DELETE a FROM JSON_TABLE(%s, '$[*]' COLUMNS "
            f"({quote('session_id')} BIGINT PATH '$[0]', {name} VARCHAR(200) PATH '$[1]')) "
            f"AS d STRAIGHT_JOIN {self.quoted_attribute_table} AS a FORCE INDEX (PRIMARY) "
            f"ON a.{quote('session_id')} = d.{quote('session_id')} "
            f"AND a.{name} = d.{name} COLLATE {self.exact_collation}"
        )

    @cached_property
    def lease_insert_sql(self) -> str:
        """IGNORE skips the duplicate name (and would turn bad values into warnings: ours are
        a fixed name, a token and a time)."""
        quote = self.quote
        return (
            f"INSERT IGNORE INTO {self.quoted_lease_table} "
            f"({quote('name')}, {quote('holder')}, {quote('expires_at')}) VALUES (%s, %s, %s)"
        )

    @classmethod
    def is_conflict(cls, cause: BaseException) -> bool:
        """ER_LOCK_DEADLOCK (1213), which Galera also raises for a transaction that lost a
        certification conflict with another node's (at a statement or at COMMIT). A lock wait
        timeout (1205) is not one: the lock was held for ``innodb_lock_wait_timeout``, and the
        transaction is not even rolled back unless ``innodb_rollback_on_timeout`` is on."""
        args = cause.args
        return bool(args) and args[0] == 1213

    def cluster_reads_wait(self, connection: Any) -> bool | None:
        """A Galera node (``wsrep_on``): reads wait with bit 1 of ``wsrep_sync_wait``."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SHOW SESSION VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_sync_wait')"
            )
            values = {str(name).lower(): str(value) for name, value in cursor.fetchall()}
        if values.get("wsrep_on", "OFF").upper() != "ON":
            return None
        return int(values.get("wsrep_sync_wait", "0")) & 1 == 1

    def reads_latest_in_transaction(self, connection: Any) -> bool:
        """READ COMMITTED (Django's default) reads afresh per statement; REPEATABLE READ (the
        server's default when Django's OPTIONS set none) keeps the first read's snapshot."""
        return getattr(connection, "isolation_level", None) in (
            "read committed",
            "read uncommitted",
        )
