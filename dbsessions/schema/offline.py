"""Django database backends of any vendor, configured but never connected.

A DBA asks for the DDL of a vendor whose server is nowhere near this machine, so the SQL comes
from that vendor's own Django backend (the same code ``migrate`` runs) with the few facts a
backend would otherwise ask its server for set to a documented target version instead.
SQLite is embedded: its backend works on a private in-memory database, no server involved.

The per-vendor code here is about Django's backends, not about our SQL: which backend each
``--vendor`` name loads, and which server facts that backend caches and must be given. It
cannot live in the dialects, which never touch a connection.
"""

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend

from dbsessions.dialects import DIALECTS, dialect_for


@dataclass(frozen=True)
class Vendor:
    name: str
    engine: str
    #: What the generated DDL targets; the backend would otherwise ask the server.
    target: str
    #: The pip package that brings the backend's driver, for the error message.
    package: str = ""


VENDORS: dict[str, Vendor] = {
    v.name: v
    for v in (
        Vendor("postgresql", "django.db.backends.postgresql", "PostgreSQL 13+", "psycopg"),
        # Two scripts, as the two servers share no NO PAD binary collation (see
        # dbsessions.models.exact_collation).
        Vendor("mysql", "django.db.backends.mysql", "MySQL 8.0.17+", "mysqlclient"),
        Vendor("mariadb", "django.db.backends.mysql", "MariaDB 10.6+", "mysqlclient"),
        Vendor("oracle", "django.db.backends.oracle", "Oracle 19c+", "oracledb"),
        Vendor("mssql", "mssql", "SQL Server 2019+", "mssql-django"),
        Vendor("sqlite", "django.db.backends.sqlite3", "SQLite 3.31+"),
    )
}

_MYSQL_SERVER: dict[str, Any] = {
    "version": "8.0.36",
    "sql_mode": "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION",
    "default_storage_engine": "InnoDB",
    "sql_auto_is_null": False,
    "lower_case_table_names": False,
    "has_zoneinfo_database": True,
}

_MARIADB_SERVER = {**_MYSQL_SERVER, "version": "10.6.0-MariaDB"}


def vendor_name(connection: BaseDatabaseWrapper) -> str:
    """Our vendor name (as in ``--vendor``) for a Django connection: its dialect's product.

    Telling MariaDB from MySQL takes a query to the server.
    """
    if connection.vendor not in DIALECTS:
        return connection.vendor
    return dialect_for(connection).product


def offline_connection(vendor: str) -> BaseDatabaseWrapper:
    """A ``DatabaseWrapper`` of ``vendor`` that refuses to reach a server."""
    spec = VENDORS[vendor]
    try:
        backend = load_backend(spec.engine)
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(
            f"The {vendor} DDL comes from Django's {vendor} backend, which cannot be "
            f"loaded here: {exc} (pip install {spec.package})."
        ) from exc
    settings_dict: dict[str, Any] = {
        "ENGINE": spec.engine,
        "NAME": ":memory:" if vendor == "sqlite" else "offline",
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "OPTIONS": {},
        "TIME_ZONE": None,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "AUTOCOMMIT": True,
        "ATOMIC_REQUESTS": False,
        "TEST": {},
    }
    connection: BaseDatabaseWrapper = backend.DatabaseWrapper(
        settings_dict, alias=f"dbsessions-offline-{vendor}"
    )
    if vendor == "sqlite":
        return connection
    _pin_server_facts(connection, vendor)
    # Replaced on this instance only, on purpose: the one way to keep it off the network.
    connection.connect = _refuse_to_connect(vendor)  # type: ignore[method-assign]
    return connection


def _pin_server_facts(connection: Any, vendor: str) -> None:
    """Fill the cached properties a backend fills from its server on first use."""
    facts = connection.__dict__
    if vendor == "postgresql":
        facts["pg_version"] = 130000
        # psycopg binds parameters through a live connection; our DDL has none to bind.
        connection.ops.compose_sql = _compose_without_params
    elif vendor in ("mysql", "mariadb"):
        server = _MARIADB_SERVER if vendor == "mariadb" else _MYSQL_SERVER
        facts["mysql_server_data"] = dict(server)
        facts["mysql_server_info"] = server["version"]
        facts["mysql_version"] = tuple(int(n) for n in server["version"].split("-")[0].split("."))
        facts["mysql_is_mariadb"] = vendor == "mariadb"
        # Deciding whether a foreign key needs its own index reads the table's storage
        # engine; InnoDB (the default everywhere) indexes foreign keys itself.
        connection.cursor = lambda: None
        connection.introspection.get_storage_engine = lambda cursor, table: "InnoDB"
    elif vendor == "oracle":
        facts["oracle_version"] = (19,)
    elif vendor == "mssql":
        facts["sql_server_version"] = 2019
        facts["to_azure_sql_db"] = False


def _compose_without_params(sql: str, params: Any) -> str:
    if params:
        raise ValueError("Offline DDL cannot bind parameters.")
    return sql


def _refuse_to_connect(vendor: str) -> Any:
    def connect() -> None:
        raise RuntimeError(f"The offline {vendor} backend must not connect to a server.")

    return connect
