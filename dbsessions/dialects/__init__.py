"""SQL per database vendor: ``dialect_for(connection)`` and one module per vendor.

A dialect builds SQL strings and holds flags and tunables as class attributes; it never
touches a connection, so the SQL for Oracle and SQL Server can be generated and checked where
no such server runs. Everything a vendor spells or tunes differently lives in its module.
"""

from typing import Any

from dbsessions.dialects.base import (
    MAX_BYTES_PER_STATEMENT,
    MAX_ROWS_PER_STATEMENT,
    Dialect,
    OnConflictUpsert,
    chunks,
    id_list,
    upsert_batches,
)
from dbsessions.dialects.mssql import SQLServerDialect
from dbsessions.dialects.mysql import MySQLDialect
from dbsessions.dialects.oracle import OracleDialect
from dbsessions.dialects.postgresql import PostgreSQLDialect
from dbsessions.dialects.sqlite import SQLiteDialect

__all__ = [
    "DIALECTS",
    "MAX_BYTES_PER_STATEMENT",
    "MAX_ROWS_PER_STATEMENT",
    "Dialect",
    "MySQLDialect",
    "OnConflictUpsert",
    "OracleDialect",
    "PostgreSQLDialect",
    "SQLServerDialect",
    "SQLiteDialect",
    "chunks",
    "dialect_for",
    "id_list",
    "upsert_batches",
]

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
