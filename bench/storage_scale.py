"""Bytes per session, per session row and per attribute row, for capacity planning.

    python -m bench.storage_scale [--vendors sqlite,postgresql,mysql] [--sessions 100000]

Not a timing benchmark: it fills the dbsessions tables with set-based INSERT ... SELECT
statements (``bench.fill``: ``generate_series`` on PostgreSQL, MariaDB's ``seq_1_to_N``
table, a recursive CTE on SQLite) with ``--sessions`` logged-in sessions of the five attributes
a typical Django login leaves, about 300 bytes of serialized values in all (``ATTRIBUTES``),
then reads the size of each table and index:

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

from bench.fill import ATTRIBUTES, analyze, fill, sizes, total

ROOT = Path(__file__).resolve().parent.parent
VENDORS = ("sqlite", "postgresql", "mysql")


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
            fill(vendor, 1, sessions)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT SUM(LENGTH(value)), SUM(LENGTH(name)), COUNT(*) FROM dbsessions_attribute"
            )
            value_bytes, name_bytes, stored = (int(v) for v in cursor.fetchone())
        analyze(vendor)
        fresh = sizes(vendor)
        with transaction.atomic():
            churn(vendor)
        if vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        analyze(vendor)
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
            session_total = total(measured["dbsessions_session"], vendor)
            attribute_total = total(measured["dbsessions_attribute"], vendor)
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
