"""MySQL and MariaDB."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from dbsessions.dialects.base import Dialect

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
    # For the batch's own transaction only: InnoDB then locks the rows it deletes and no gaps
    # beside them, where a live session's new attribute would have to wait.
    purge_isolation_sql = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
    deletes_by_id_join = True

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

    def purge_lock_sql(self, database_name: str) -> tuple[str, list, str, list] | None:
        """GET_LOCK names are server-wide: the database's name is in it, so two databases of
        one server can be purged at the same time."""
        name = [f"dbsessions_purge:{database_name}"[:64]]
        return "SELECT GET_LOCK(%s, 0)", name, "SELECT RELEASE_LOCK(%s)", name

    @classmethod
    def is_conflict(cls, cause: BaseException) -> bool:
        """ER_LOCK_DEADLOCK (1213). A lock wait timeout (1205) is not one: the lock was held
        for ``innodb_lock_wait_timeout``, and the transaction is not even rolled back unless
        ``innodb_rollback_on_timeout`` is on."""
        args = getattr(cause, "args", ())
        return bool(args) and args[0] == 1213

    def reads_latest_in_transaction(self, connection: Any) -> bool:
        """READ COMMITTED (Django's default) reads afresh per statement; REPEATABLE READ (the
        server's default when Django's OPTIONS set none) keeps the first read's snapshot."""
        return getattr(connection, "isolation_level", None) in (
            "read committed",
            "read uncommitted",
        )
