"""``manage.py install_session_schema``: create, print or check the session tables."""

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from dbsessions.conf import app_settings
from dbsessions.schema.compare import schema_differences
from dbsessions.schema.install import (
    existing_tables,
    install_schema,
    record_migrations,
    table_names,
)
from dbsessions.schema.offline import VENDORS, vendor_name
from dbsessions.schema.scripts import render_script


class Command(BaseCommand):
    help = (
        "Create the session tables on the sessions database (as migrate would), print their "
        "DDL for a vendor (--sql), or compare the live schema with the expected one (--check)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            choices=tuple(connections),
            help="Database alias to use (default: DBSESSIONS['DATABASE']).",
        )
        parser.add_argument(
            "--sql",
            action="store_true",
            help=(
                "Print the DDL instead of running it; connects to no server (without --vendor, "
                "a MySQL database is asked whether it is MariaDB)."
            ),
        )
        parser.add_argument(
            "--vendor",
            choices=tuple(VENDORS),
            help="With --sql: the vendor to print DDL for (default: the database's vendor).",
        )
        parser.add_argument(
            "--drop", action="store_true", help="With --sql: print the drop script instead."
        )
        parser.add_argument(
            "--skip-indexes",
            action="store_true",
            help="Create the tables without secondary indexes and print those for later.",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Compare the live schema with the expected one; exit 1 if they differ.",
        )

    def handle(
        self,
        *args: Any,
        database: str | None,
        sql: bool,
        vendor: str | None,
        drop: bool,
        skip_indexes: bool,
        check: bool,
        **options: Any,
    ) -> None:
        alias = database or app_settings.DATABASE
        if (vendor or drop) and not sql:
            raise CommandError("--vendor and --drop only apply to --sql.")
        if sql and check:
            raise CommandError("--sql and --check cannot be combined.")
        if sql:
            self._print_sql(vendor or vendor_name(connections[alias]), drop, skip_indexes)
            return
        try:
            if check:
                self._check(alias)
            else:
                self._install(alias, skip_indexes)
        except DatabaseError as exc:
            raise CommandError(f"Database error on {alias!r}: {exc}") from exc

    def _print_sql(self, vendor: str, drop: bool, skip_indexes: bool) -> None:
        try:
            script = render_script(vendor, drop=drop, skip_indexes=skip_indexes)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(script, ending="")

    def _check(self, alias: str) -> None:
        problems = schema_differences(connections[alias])
        if problems:
            lines = "\n".join(f"  - {problem}" for problem in problems)
            raise CommandError(
                f"The session schema on database {alias!r} differs from the expected one:\n{lines}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"The session schema on database {alias!r} is as expected.")
        )

    def _install(self, alias: str, skip_indexes: bool) -> None:
        connection = connections[alias]
        existing = existing_tables(connection)
        expected = table_names()
        if len(existing) == len(expected):
            recorded = record_migrations(connection)
            self.stdout.write(f"The session tables are already installed on database {alias!r}.")
            if recorded:
                self.stdout.write(f"Recorded as applied: {', '.join(recorded)}.")
            return
        if existing:
            missing = ", ".join(name for name in expected if name not in existing)
            raise CommandError(
                f"{missing} missing on database {alias!r}: the schema is partly installed, or "
                "by an earlier version (`migrate dbsessions` upgrades it; `sqlmigrate` prints "
                "the SQL). Run install_session_schema --check to see what differs."
            )
        result = install_schema(connection, skip_indexes=skip_indexes)
        *others, last = result.created_tables
        self.stdout.write(
            self.style.SUCCESS(
                f"Installed {', '.join(others)} and {last} on database {alias!r} "
                f"({len(result.statements)} statements)."
            )
        )
        if result.skipped_indexes:
            self.stdout.write(
                f"Skipped {len(result.skipped_indexes)} secondary indexes; "
                "create them when convenient:"
            )
            for statement in result.skipped_indexes:
                self.stdout.write(f"    {statement}")
