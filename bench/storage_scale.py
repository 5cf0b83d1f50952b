"""Bytes per session, per session row and per attribute row, for capacity planning.

    python -m bench.storage_scale [--vendors sqlite,postgresql,mysql] [--sessions 100000]

Not a timing benchmark: it fills the dbsessions tables with set-based INSERT ... SELECT
statements (``generate_series`` on PostgreSQL, MariaDB's ``seq_1_to_N`` table, a recursive
CTE on SQLite) with ``--sessions`` logged-in sessions of the five attributes a typical Django
login leaves, about 300 bytes of serialized values in all (``ATTRIBUTES``), then reads the size
of each table and index:

- PostgreSQL: ``pg_table_size`` and ``pg_relation_size`` of each index, after ``VACUUM
  ANALYZE``;
- MariaDB/MySQL: ``data_length`` and ``index_length`` of ``information_schema.TABLES``, and
  each index's pages from ``mysql.innodb_index_stats``, after ``ANALYZE TABLE``;
- SQLite: the pages of each table and index in the ``dbstat`` virtual table.

It measures twice: once freshly loaded, and once more after every session was touched once
(its ``last_access`` and ``expires_at`` moved, as ``TOUCH_INTERVAL`` does) and had one
attribute rewritten (as a save does), then vacuumed (plain ``VACUUM`` on PostgreSQL, which
keeps the freed space for reuse): what a table that has seen a round of writes occupies.

Each database runs in its own process on a database of its own (``--db-name``), created and
dropped by the run, as ``python -m bench`` does. Prints a Markdown table and, with ``--json``,
the figures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENDORS = ("sqlite", "postgresql", "mysql")

#: (name, serialized length in bytes) of a typical logged-in session's attributes, as
#: Django's JSONSerializer writes them: a quoted user id, the auth backend's dotted path, the
#: 64-hex-digit session auth hash, and two application values.
ATTRIBUTES = (
    ("_auth_user_id", 8),
    ("_auth_user_backend", 43),
    ("_auth_user_hash", 66),
    ("cart", 91),
    ("prefs", 92),
)
BACKEND = '"django.contrib.auth.backends.ModelBackend"'
#: Distinct users the sessions belong to (about 1.25 sessions per user).
USERS_PER_SESSION = 0.8
#: Spacing of the sessions' times: they were created over the last N x 6 ms.
STEP_MICROSECONDS = 6000


def _attribute_rows(vendor: str) -> str:
    """A derived table (name, len) of ``ATTRIBUTES``, in the vendor's spelling."""
    if vendor == "postgresql":
        rows = ", ".join(f"('{name}', {length})" for name, length in ATTRIBUTES)
        return f"(VALUES {rows}) AS a(name, len)"
    return (
        "("
        + " UNION ALL ".join(
            f"SELECT '{name}' AS name, {length} AS len" for name, length in ATTRIBUTES
        )
        + ") AS a"
    )


def fill(vendor: str, sessions: int) -> None:
    """Insert ``sessions`` sessions and their attributes with two set-based statements."""
    from django.db import connection

    users = max(1, int(sessions * USERS_PER_SESSION))
    step = STEP_MICROSECONDS
    attrs = _attribute_rows(vendor)
    if vendor == "postgresql":
        series = f"generate_series(1, {sessions}) AS s(g)"
        session_sql = f"""
            INSERT INTO dbsessions_session
                (id, key_hash, app_name, principal, created_at, last_access, expires_at)
            SELECT g, encode(sha256(('s' || g)::text::bytea), 'hex'), 'default',
                   ((g * 7919) % {users} + 1)::text,
                   now() - ({sessions} - g) * interval '{step} microseconds',
                   now() - ({sessions} - g) * interval '{step} microseconds',
                   now() + interval '14 days' - ({sessions} - g) * interval '{step} microseconds'
            FROM {series}"""
        value = (
            f"CASE WHEN a.name = '_auth_user_backend' THEN '{BACKEND}' ELSE "
            "'\"' || substr(repeat(md5(g || a.name), 3), 1, a.len - 2) || '\"' END"
        )
        attribute_sql = f"""
            INSERT INTO dbsessions_attribute (session_id, name, value)
            SELECT g, a.name, convert_to({value}, 'UTF8')
            FROM {series} CROSS JOIN {attrs} ORDER BY g, a.name"""
    elif vendor == "mysql":
        series = f"seq_1_to_{sessions}"
        times = f"NOW(6) - INTERVAL ({sessions} - seq) * {step} MICROSECOND"
        session_sql = f"""
            INSERT INTO dbsessions_session
                (id, key_hash, app_name, principal, created_at, last_access, expires_at)
            SELECT seq, SHA2(CONCAT('s', seq), 256), 'default',
                   CAST((seq * 7919) % {users} + 1 AS CHAR),
                   {times}, {times}, {times} + INTERVAL 14 DAY
            FROM {series}"""
        value = (
            f"CASE WHEN a.name = '_auth_user_backend' THEN '{BACKEND}' ELSE "
            "CONCAT('\"', LEFT(REPEAT(MD5(CONCAT(seq, a.name)), 3), a.len - 2), '\"') END"
        )
        attribute_sql = f"""
            INSERT INTO dbsessions_attribute (session_id, name, value)
            SELECT seq, a.name, CAST({value} AS BINARY)
            FROM {series} CROSS JOIN {attrs} ORDER BY seq, a.name"""
    else:
        series = (
            f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {sessions})"
        )
        seconds = step / 1_000_000

        def at(offset: str) -> str:
            return (
                f"strftime('%Y-%m-%d %H:%M:%f', 'now', {offset}"
                f"printf('%.6f seconds', -({sessions} - g) * {seconds})) || '000'"
            )

        session_sql = f"""
            INSERT INTO dbsessions_session
                (id, key_hash, app_name, principal, created_at, last_access, expires_at)
            {series}
            SELECT g, lower(hex(randomblob(32))), 'default', CAST((g * 7919) % {users} + 1 AS TEXT),
                   {at("")}, {at("")}, {at("'+14 days', ")}
            FROM s"""
        value = (
            f"CASE WHEN a.name = '_auth_user_backend' THEN '{BACKEND}' ELSE "
            "'\"' || substr(lower(hex(randomblob(48))), 1, a.len - 2) || '\"' END"
        )
        attribute_sql = f"""
            INSERT INTO dbsessions_attribute (session_id, name, value)
            {series}
            SELECT g, a.name, CAST({value} AS BLOB) FROM s CROSS JOIN {attrs} ORDER BY g, a.name"""
    with connection.cursor() as cursor:
        cursor.execute(session_sql)
        cursor.execute(attribute_sql)


def churn(vendor: str) -> None:
    """Touch every session once and rewrite one attribute of each, as touches and saves do."""
    from django.db import connection

    later = {
        "postgresql": "{} + interval '1 minute'",
        "mysql": "{} + INTERVAL 1 MINUTE",
        "sqlite": "strftime('%Y-%m-%d %H:%M:%f', {}, '+1 minute') || '000'",
    }[vendor]
    flipped = {
        "postgresql": "convert_to(upper(convert_from(value, 'UTF8')), 'UTF8')",
        "mysql": "CAST(UPPER(CAST(value AS CHAR)) AS BINARY)",
        "sqlite": "CAST(upper(CAST(value AS TEXT)) AS BLOB)",
    }[vendor]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE dbsessions_session SET "
            f"last_access = {later.format('last_access')}, "
            f"expires_at = {later.format('expires_at')}"
        )
        cursor.execute(f"UPDATE dbsessions_attribute SET value = {flipped} WHERE name = 'cart'")


TABLES = ("dbsessions_session", "dbsessions_attribute")


def sizes(vendor: str) -> dict[str, Any]:
    """{table: {"data": bytes, "indexes": {index: bytes}}} of the two session tables."""
    from django.db import connection

    result: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            if vendor == "postgresql":
                cursor.execute(f"VACUUM ANALYZE {table}")
                cursor.execute("SELECT pg_table_size(%s)", [table])
                data = int(cursor.fetchone()[0])
                cursor.execute(
                    "SELECT indexname, pg_relation_size(indexname::regclass) FROM pg_indexes "
                    "WHERE tablename = %s ORDER BY indexname",
                    [table],
                )
                indexes = {name: int(size) for name, size in cursor.fetchall()}
            elif vendor == "mysql":
                cursor.execute(f"ANALYZE TABLE {table}")
                cursor.fetchall()
                cursor.execute(
                    "SELECT data_length, index_length FROM information_schema.TABLES "
                    "WHERE table_schema = DATABASE() AND table_name = %s",
                    [table],
                )
                data, index_total = (int(v) for v in cursor.fetchone())
                cursor.execute(
                    "SELECT index_name, stat_value * @@innodb_page_size "
                    "FROM mysql.innodb_index_stats WHERE database_name = DATABASE() "
                    "AND table_name = %s AND stat_name = 'size' ORDER BY index_name",
                    [table],
                )
                indexes = {
                    name: int(size) for name, size in cursor.fetchall() if name != "PRIMARY"
                }
                indexes["(all secondary, information_schema)"] = index_total
            else:
                cursor.execute(
                    "SELECT m.name, m.type, SUM(d.pgsize) FROM dbstat AS d "
                    "JOIN sqlite_master AS m ON m.name = d.name "
                    "WHERE m.tbl_name = %s GROUP BY m.name, m.type ORDER BY m.name",
                    [table],
                )
                data, indexes = 0, {}
                for name, kind, size in cursor.fetchall():
                    if kind == "table":
                        data += int(size)
                    else:
                        indexes[name] = int(size)
            result[table] = {"data": data, "indexes": indexes}
    return result


def _total(table: dict[str, Any], vendor: str) -> int:
    indexes = table["indexes"]
    if vendor == "mysql":
        return int(table["data"]) + int(indexes["(all secondary, information_schema)"])
    return int(table["data"]) + sum(int(v) for v in indexes.values())


def measure(vendor: str, sessions: int) -> dict[str, Any]:
    """The figures of one database, in this process (``DJANGO_SETTINGS_MODULE=bench.settings``)."""
    from django.db import connection, transaction

    from bench import dbsetup

    reason = dbsetup.unreachable(vendor)
    if reason:
        return {"skipped": reason}
    dbsetup.create(vendor)
    try:
        with transaction.atomic():
            fill(vendor, sessions)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT SUM(LENGTH(value)), SUM(LENGTH(name)), COUNT(*) FROM dbsessions_attribute"
            )
            value_bytes, name_bytes, stored = (int(v) for v in cursor.fetchone())
        fresh = sizes(vendor)
        with transaction.atomic():
            churn(vendor)
        if vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        written = sizes(vendor)
        attributes = sessions * len(ATTRIBUTES)
        result: dict[str, Any] = {
            "server_version": dbsetup.server_version(vendor),
            "sessions": sessions,
            "attributes": attributes,
            "attribute_rows_stored": stored,
            "value_bytes_per_session": value_bytes / sessions,
            "name_bytes_per_session": name_bytes / sessions,
        }
        for label, measured in (("fresh", fresh), ("after_writes", written)):
            session_total = _total(measured["dbsessions_session"], vendor)
            attribute_total = _total(measured["dbsessions_attribute"], vendor)
            result[label] = {
                "tables": measured,
                "bytes_per_session_row": session_total / sessions,
                "bytes_per_attribute_row": attribute_total / attributes,
                "bytes_per_session": (session_total + attribute_total) / sessions,
            }
        return result
    finally:
        dbsetup.drop(vendor)


def launch(vendor: str, sessions: int, db_name: str, workdir: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "BENCH_DB": vendor,
        "BENCH_DB_NAME": db_name,
        "BENCH_WORKDIR": str(workdir),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
    }
    output = workdir / f"{vendor}.json"
    command = [sys.executable, "-m", "bench.storage_scale", "--child", vendor, str(sessions)]
    subprocess.run([*command, str(output)], cwd=ROOT, env=env, check=True)
    return dict(json.loads(output.read_text()))


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| database | state | bytes per session row | bytes per attribute row "
        "| bytes per session (5 attributes) |",
        "|---|---|---|---|---|",
    ]
    for vendor, result in results.items():
        if "skipped" in result:
            lines.append(f"| {vendor} | skipped: {result['skipped']} | | | |")
            continue
        for state in ("fresh", "after_writes"):
            figures = result[state]
            lines.append(
                f"| {result['server_version'][:40]} | {state} "
                f"| {figures['bytes_per_session_row']:,.0f} "
                f"| {figures['bytes_per_attribute_row']:,.0f} "
                f"| {figures['bytes_per_session']:,.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--child":
        import django

        django.setup()
        vendor, sessions, output = args[1], int(args[2]), Path(args[3])
        output.write_text(json.dumps(measure(vendor, sessions)))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.storage_scale", description=__doc__)
    parser.add_argument("--vendors", default=",".join(VENDORS))
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--db-name", default="bench_storage_scale")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    options = parser.parse_args(args)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as workdir:
        for vendor in options.vendors.split(","):
            if vendor not in VENDORS:
                parser.error(f"unknown database {vendor!r} (known: {', '.join(VENDORS)})")
            results[vendor] = launch(vendor, options.sessions, options.db_name, Path(workdir))
    print(table(results))
    if options.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
