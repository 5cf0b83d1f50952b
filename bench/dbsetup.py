"""Create, migrate and drop the benchmark database, and say what server it is on."""

import sqlite3
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connections


def _params() -> dict[str, Any]:
    return settings.DATABASES["default"]


def _server_connection(vendor: str) -> Any:
    """An autocommit connection to the server itself, not to the benchmark database."""
    p = _params()
    if vendor == "postgresql":
        import psycopg

        return psycopg.connect(
            host=p["HOST"],
            port=p["PORT"],
            user=p["USER"],
            password=p["PASSWORD"],
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        )
    import MySQLdb

    kwargs: dict[str, Any] = {
        "host": p["HOST"],
        "port": int(p["PORT"]),
        "user": p["USER"],
        "password": p["PASSWORD"],
        "connect_timeout": 5,
    }
    if p["OPTIONS"].get("unix_socket"):
        kwargs["unix_socket"] = p["OPTIONS"]["unix_socket"]
    return MySQLdb.connect(**kwargs)


def unreachable(vendor: str) -> str | None:
    """None when the server answers, else a one-line reason."""
    if vendor == "sqlite":
        return None
    try:
        _server_connection(vendor).close()
    except Exception as exc:
        text = str(exc).strip().splitlines()
        return text[0] if text else type(exc).__name__
    return None


def _sqlite_files() -> list[Path]:
    name = Path(_params()["NAME"])
    return [name, name.with_name(name.name + "-wal"), name.with_name(name.name + "-shm")]


def drop(vendor: str) -> None:
    connections.close_all()
    name = _params()["NAME"]
    if vendor == "sqlite":
        for path in _sqlite_files():
            path.unlink(missing_ok=True)
        return
    if vendor == "postgresql":
        _on_server(vendor, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        _on_server(vendor, f"DROP DATABASE IF EXISTS `{name}`")


def _on_server(vendor: str, sql: str) -> None:
    """Run one statement on the server itself, outside the benchmark database."""
    server = _server_connection(vendor)
    try:
        server.cursor().execute(sql)
    finally:
        server.close()


def create(vendor: str) -> None:
    """A fresh, empty database holding both engines' tables."""
    drop(vendor)
    name = _params()["NAME"]
    if vendor == "sqlite":
        Path(name).parent.mkdir(parents=True, exist_ok=True)
    elif vendor == "postgresql":
        _on_server(vendor, f'CREATE DATABASE "{name}"')
    else:
        _on_server(
            vendor, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    call_command("migrate", verbosity=0, interactive=False)


def server_version(vendor: str) -> str:
    if vendor == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT version()")
        return str(cursor.fetchone()[0])


def truncate_all(vendor: str) -> None:
    """Empty both engines' tables (the storage phase starts from nothing)."""
    from django.contrib.sessions.models import Session as DjangoSession

    from dbsessions.models import Attribute, Session

    connection = connections["default"]
    tables = [Attribute._meta.db_table, Session._meta.db_table, DjangoSession._meta.db_table]
    quoted = [connection.ops.quote_name(t) for t in tables]
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(quoted)} RESTART IDENTITY")
        elif vendor == "mysql":
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            for table in quoted:
                cursor.execute(f"TRUNCATE TABLE {table}")
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
        else:
            for table in quoted:
                cursor.execute(f"DELETE FROM {table}")
