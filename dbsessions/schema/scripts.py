"""The per-vendor SQL scripts: printed by ``install_session_schema --sql`` and shipped in
``dbsessions/sql/`` (generated with the default table names by the same code).

Regenerate the shipped scripts after a migration changes the schema::

    DJANGO_SETTINGS_MODULE=testproject.settings python -m dbsessions.schema.scripts
"""

import textwrap
from pathlib import Path

from dbsessions.conf import DEFAULTS
from dbsessions.schema.ddl import create_sql, drop_sql
from dbsessions.schema.offline import VENDORS, offline_connection

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def render_script(
    vendor: str,
    *,
    drop: bool = False,
    skip_indexes: bool = False,
    session_table: str | None = None,
    attribute_table: str | None = None,
) -> str:
    """The create (or drop) script for ``vendor``, generated without any server."""
    connection = offline_connection(vendor)
    try:
        target = VENDORS[vendor].target
        if drop:
            header = [f"-- dbsessions: drop the session tables ({target})."]
            body = [_tidy(s) for s in drop_sql(connection, session_table, attribute_table)]
        else:
            schema = create_sql(connection, session_table, attribute_table)
            header = [
                f"-- dbsessions: session tables for {target}.",
                "-- The statements `manage.py migrate` runs for this app. After running them,",
                "-- `manage.py install_session_schema` records the migrations as applied.",
            ]
            body = [_tidy(statement) for statement in schema.tables]
            indexes = [_tidy(statement) for statement in schema.indexes]
            if indexes and skip_indexes:
                body += ["", "-- Secondary indexes, to create later:"]
                body += [f"-- {statement}" for statement in indexes]
            else:
                body += indexes
    finally:
        connection.close()
    return "\n".join([*header, "", *body]) + "\n"


def _tidy(statement: str) -> str:
    """Dedent the PL/SQL and T-SQL blocks some drops run; a block ends with ``/`` alone."""
    statement = statement.strip().removesuffix(";").rstrip()
    first, _, rest = statement.partition("\n")
    statement = f"{first}\n{textwrap.dedent(rest)}".strip()
    return statement if statement.endswith("/") else f"{statement};"


def shipped_script_path(vendor: str, *, drop: bool = False) -> Path:
    return SQL_DIR / (f"{vendor}-drop.sql" if drop else f"{vendor}.sql")


def expected_shipped_scripts() -> dict[Path, str]:
    """Every shipped script as the current code generates it (default table names)."""
    tables = {
        "session_table": DEFAULTS["SESSION_TABLE"],
        "attribute_table": DEFAULTS["ATTRIBUTE_TABLE"],
    }
    return {
        shipped_script_path(vendor, drop=drop): render_script(vendor, drop=drop, **tables)
        for vendor in VENDORS
        for drop in (False, True)
    }


def write_shipped_scripts() -> list[Path]:
    paths = []
    for path, text in expected_shipped_scripts().items():
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    import django

    django.setup()
    for written in write_shipped_scripts():
        print(f"Wrote {written}")
