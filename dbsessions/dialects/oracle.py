"""Oracle (not live-tested: its SQL is checked offline)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from dbsessions.dialects.base import Dialect


def _oracle_quote(name: str) -> str:
    return f'"{name.upper()}"'


@dataclass(frozen=True)
class OracleDialect(Dialect):
    """One MERGE per attribute: a BLOB cannot travel through a multi-row ``FROM dual``."""

    quote_name: Callable[[str], str] = _oracle_quote

    vendor = "oracle"
    has_upsert = True
    upsert_batch = 1
    #: Oracle allows at most 1,000 items in an IN list.
    purge_max_size = 1000

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

    @classmethod
    def is_conflict(cls, cause: BaseException) -> bool:
        """ORA-00060 (deadlock detected) and ORA-08177 (cannot serialize access); oracledb
        puts an error object with the number first in the exception's arguments."""
        args = getattr(cause, "args", ())
        return bool(args) and getattr(args[0], "code", None) in (60, 8177)

    def reads_latest_in_transaction(self, connection: Any) -> bool:
        """Oracle's default READ COMMITTED reads are consistent per statement (Django's backend
        sets no other level)."""
        return True
