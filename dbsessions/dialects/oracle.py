"""Oracle (not live-tested: its SQL is checked offline)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any, ClassVar

from dbsessions.dialects.base import Dialect, Params


def _oracle_quote(name: str) -> str:
    return f'"{name.upper()}"'


def as_bytes(value: Any) -> bytes:
    """A binary column's value as bytes, whatever the driver returned: oracledb returns a
    LOB to read, other drivers bytes or a memoryview."""
    if isinstance(value, bytes):
        return value
    if hasattr(value, "read"):  # an oracledb LOB
        value = value.read()
    return bytes(value)


@dataclass(frozen=True)
class OracleDialect(Dialect):
    """One MERGE per attribute: a BLOB cannot travel through a multi-row ``FROM dual``."""

    quote_name: Callable[[str], str] = _oracle_quote

    vendor: ClassVar[str] = "oracle"
    has_upsert = True
    upsert_batch = 1
    #: Oracle allows at most 1,000 items in an IN list.
    purge_max_size = 1000
    later_function: ClassVar[str | None] = "GREATEST"
    # OCTET_LENGTH does not take a BLOB.
    octet_length_template: ClassVar[str] = "DBMS_LOB.GETLENGTH(%(expressions)s)"
    # exact_collation stays None: VARCHAR2 compares without padding under the default
    # NLS_COMP=BINARY, and column collations would need MAX_STRING_SIZE=EXTENDED.

    def upsert_sql(self, count: int) -> str:
        if count != 1:
            raise ValueError("Oracle merges one attribute per statement.")
        quote = self.quote
        columns = f"{quote('session_id')}, {quote('name')}, {quote('value')}"
        return (
            f"MERGE INTO {self.quoted_attribute_table} t "
            f"USING (SELECT %s {quote('session_id')}, %s {quote('name')} "
            f"FROM dual) src ON (t.{quote('session_id')} = src.{quote('session_id')} "
            f"AND t.{quote('name')} = src.{quote('name')}) "
            f"WHEN MATCHED THEN UPDATE SET t.{quote('value')} = %s "
            f"WHEN NOT MATCHED THEN INSERT ({columns}) "
            f"VALUES (src.{quote('session_id')}, src.{quote('name')}, %s)"
        )

    def upsert_params(self, session_id: int, rows: Sequence[tuple[str, object]]) -> Params:
        ((name, value),) = rows
        return [session_id, name, value, value]

    # Oracle has no "=" for BLOBs.
    value_equals_template: ClassVar[str] = "DBMS_LOB.COMPARE({column}, %s) = 0"

    @cached_property
    def claim_attribute_sql(self) -> str:
        """The MERGE without AS, and with the BLOB in the INSERT's VALUES, not in the USING
        query."""
        quote = self.quote
        columns = f"{quote('session_id')}, {quote('name')}, {quote('value')}"
        return (
            f"MERGE INTO {self.quoted_attribute_table} t "
            f"USING (SELECT {quote('id')} {quote('session_id')}, %s {quote('name')} "
            f"FROM {self.quoted_session_table} "
            f"WHERE {quote('key_hash')} = %s AND {quote('app_name')} = %s "
            f"AND {quote('expires_at')} > %s) src "
            f"ON (t.{quote('session_id')} = src.{quote('session_id')} "
            f"AND t.{quote('name')} = src.{quote('name')}) "
            f"WHEN NOT MATCHED THEN INSERT ({columns}) "
            f"VALUES (src.{quote('session_id')}, src.{quote('name')}, %s)"
        )

    def claim_attribute_params(self, name: str, value: object, session: Params) -> Params:
        return [name, *session, value]

    @cached_property
    def lease_insert_sql(self) -> str:
        """Oracle names no table alias with AS and has no VALUES row constructor; two inserts
        at once may still raise ORA-00001, which means the row exists."""
        quote = self.quote
        columns = f"{quote('name')}, {quote('holder')}, {quote('expires_at')}"
        return (
            f"MERGE INTO {self.quoted_lease_table} t "
            f"USING (SELECT %s {quote('name')}, %s {quote('holder')}, %s {quote('expires_at')} "
            f"FROM dual) src ON (t.{quote('name')} = src.{quote('name')}) "
            f"WHEN NOT MATCHED THEN INSERT ({columns}) "
            f"VALUES (src.{quote('name')}, src.{quote('holder')}, src.{quote('expires_at')})"
        )

    @cache
    def expired_sessions_sql(self, limit: int) -> str:
        return (
            super()
            .expired_sessions_sql(limit)
            .replace(f" LIMIT {int(limit)}", f" FETCH FIRST {int(limit)} ROWS ONLY")
        )

    @classmethod
    def is_conflict(cls, cause: BaseException) -> bool:
        """ORA-00060 (deadlock detected) and ORA-08177 (cannot serialize access); oracledb
        puts an error object with the number first in the exception's arguments."""
        args = cause.args
        return bool(args) and getattr(args[0], "code", None) in (60, 8177)

    def reads_latest_in_transaction(self, connection: Any) -> bool:
        """Oracle's default READ COMMITTED reads are consistent per statement (Django's backend
        sets no other level)."""
        return True
