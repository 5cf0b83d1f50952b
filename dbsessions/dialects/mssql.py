"""SQL Server, through mssql-django (not live-tested: its SQL is checked offline)."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from dbsessions.dialects.base import Dialect


def _bracket(name: str) -> str:
    return f"[{name}]"


@dataclass(frozen=True)
class MSSQLDialect(Dialect):
    """MERGE needs HOLDLOCK on SQL Server, or two merges can both take the insert branch."""

    quote_name: Callable[[str], str] = _bracket

    vendor: ClassVar[str] = "mssql"
    lock_suffix = ""
    has_upsert = True
    octet_length_template: ClassVar[str] = "DATALENGTH(%(expressions)s)"
    # Without HOLDLOCK two MERGEs can both take the insert branch; T-SQL ends a MERGE with ";".
    merge_hint: ClassVar[str] = " WITH (HOLDLOCK)"
    merge_end: ClassVar[str] = ";"

    @property
    def exact_collation(self) -> str | None:
        """``_BIN2`` collations compare code points; ``=`` ignores trailing spaces under any
        collation."""
        return "Latin1_General_100_BIN2"

    @cache
    def upsert_sql(self, count: int) -> str:
        quote = self.quote
        rows = ", ".join(["(%s, %s, %s)"] * count)
        columns = f"{quote('session_id')}, {quote('name')}, {quote('value')}"
        return (
            f"MERGE INTO {self.quoted_attribute_table} WITH (HOLDLOCK) AS t "
            f"USING (VALUES {rows}) AS src ({columns}) "
            f"ON t.{quote('session_id')} = src.{quote('session_id')} "
            f"AND t.{quote('name')} = src.{quote('name')} "
            f"WHEN MATCHED THEN UPDATE SET {quote('value')} = src.{quote('value')} "
            f"WHEN NOT MATCHED THEN INSERT ({columns}) "
            f"VALUES (src.{quote('session_id')}, src.{quote('name')}, src.{quote('value')});"
        )

    @cache
    def expired_sessions_sql(self, limit: int) -> str:
        quote = self.quote
        return (
            f"SELECT TOP {int(limit)} {quote('id')}, {quote('key_hash')} "
            f"FROM {self.quoted_session_table} "
            f"WHERE {quote('app_name')} = %s AND {quote('expires_at')} < %s "
            f"ORDER BY {quote('expires_at')}"
        )

    def lock_hint(self, skip_locked: bool) -> str:
        return " WITH (UPDLOCK, ROWLOCK, READPAST)" if skip_locked else " WITH (UPDLOCK, ROWLOCK)"

    @classmethod
    def is_conflict(cls, cause: BaseException) -> bool:
        """Error 1205 (chosen as deadlock victim) or SQLSTATE 40001; pyodbc's arguments are
        (SQLSTATE, "[40001] ... deadlock victim ... (1205)")."""
        args = cause.args
        return bool(args) and (args[0] in cls.conflict_sqlstates or "(1205)" in str(args[-1]))
