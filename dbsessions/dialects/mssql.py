"""SQL Server (not live-tested: its SQL is checked offline)."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property

from dbsessions.dialects.base import Dialect


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

    @classmethod
    def is_conflict(cls, cause: BaseException) -> bool:
        """Error 1205 (chosen as deadlock victim) or SQLSTATE 40001; pyodbc's arguments are
        (SQLSTATE, "[40001] ... deadlock victim ... (1205)")."""
        args = getattr(cause, "args", ())
        return bool(args) and (args[0] in cls.conflict_sqlstates or "(1205)" in str(args[-1]))
