"""SQL per database vendor: ``dialect_for(connection)`` and one module per vendor.

A dialect builds SQL strings and holds flags and tunables as class attributes; it never
touches a connection, so the SQL for Oracle and SQL Server can be generated and checked where
no such server runs. Everything a vendor spells or tunes differently lives in its module;
``dialect_for`` is the one place that reads a connection to pick and configure a dialect.
"""

from functools import cache
from typing import Protocol, cast

from django.apps import apps
from django.db.backends.base.base import BaseDatabaseWrapper

from dbsessions.dialects.base import (
    LEASE_TABLE,
    MAX_BYTES_PER_STATEMENT,
    MAX_ROWS_PER_STATEMENT,
    Dialect,
    OnConflictUpsert,
    chunks,
    id_list,
    upsert_batches,
)
from dbsessions.dialects.mssql import MSSQLDialect
from dbsessions.dialects.mysql import MySQLDialect
from dbsessions.dialects.oracle import OracleDialect, as_bytes
from dbsessions.dialects.postgresql import PostgreSQLDialect
from dbsessions.dialects.sqlite import SQLiteDialect

__all__ = [
    "DIALECTS",
    "LEASE_TABLE",
    "MAX_BYTES_PER_STATEMENT",
    "MAX_ROWS_PER_STATEMENT",
    "Dialect",
    "MSSQLDialect",
    "MySQLDialect",
    "OnConflictUpsert",
    "OracleDialect",
    "PostgreSQLDialect",
    "SQLiteDialect",
    "as_bytes",
    "chunks",
    "dialect_for",
    "id_list",
    "upsert_batches",
]

#: Each dialect under Django's ``connection.vendor``, the one place that spells SQL Server
#: as mssql-django does ("microsoft"); everywhere else it is "mssql" (``Dialect.vendor``).
#: A vendor missing here gets the standard SQL of ``Dialect``.
DIALECTS: dict[str, type[Dialect]] = {
    "postgresql": PostgreSQLDialect,
    "sqlite": SQLiteDialect,
    "mysql": MySQLDialect,
    "oracle": OracleDialect,
    "microsoft": MSSQLDialect,
}


class _MySQLConnection(Protocol):
    """What Django's MySQL backend tells about its server (read once, then cached)."""

    mysql_is_mariadb: bool
    mysql_version: tuple[int, ...]


_cache: dict[tuple[str, str, str, str], Dialect] = {}


def dialect_for(connection: BaseDatabaseWrapper) -> Dialect:
    """The dialect for ``connection``, quoting names the way its backend does.

    Works on the offline connections of ``dbsessions.schema.offline`` too: the server facts
    read here are the ones they pin.
    """
    tables = _table_names()
    key = (connection.alias, connection.vendor, *tables)
    dialect = _cache.get(key)
    if dialect is None:
        cls = DIALECTS.get(connection.vendor, Dialect)
        quote_name = connection.ops.quote_name
        if issubclass(cls, MySQLDialect):
            server = cast(_MySQLConnection, connection)
            dialect = cls(
                *tables,
                quote_name=quote_name,
                mariadb=server.mysql_is_mariadb,
                server_version=server.mysql_version,
            )
        else:
            dialect = cls(*tables, quote_name=quote_name)
        _cache[key] = dialect
    return dialect


@cache
def _table_names() -> tuple[str, str]:
    """The session and attribute tables, as their models name them (fixed when the model
    classes were created, as ``dbsessions.conf`` explains, so kept once read: the registry
    costs more than the rest of ``dialect_for``). Looked up through the app registry:
    ``dbsessions.models`` asks its dialect for the exact collation, so this package imports
    nothing from it."""
    session = apps.get_model("dbsessions", "Session")
    attribute = apps.get_model("dbsessions", "Attribute")
    return session._meta.db_table, attribute._meta.db_table
