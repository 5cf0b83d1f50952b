"""``manage.py import_sessions``: copy live sessions from ``django.contrib.sessions``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from dbsessions.conf import app_settings
from dbsessions.importer import ImportResult, import_sessions


class Command(BaseCommand):
    help = (
        "Copy the live sessions of Django's db engine (the django_session table) into "
        "dbsessions, keeping their keys, data and expiry, so switching engines logs nobody out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--source-database",
            default="default",
            choices=tuple(connections),
            help="Database alias holding django_session (default: 'default').",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be imported; write nothing."
        )

    def handle(self, *args: Any, source_database: str, dry_run: bool, **options: Any) -> None:
        def progress(result: ImportResult, live: int) -> None:
            self.stdout.write(f"Read {result.seen:,} of {live:,} live sessions...")

        try:
            result = import_sessions(source_database, dry_run=dry_run, on_chunk=progress)
        except DatabaseError as exc:
            raise CommandError(
                f"Import failed (from {source_database!r} into {app_settings.DATABASE!r}): {exc}"
            ) from exc
        verb = "Would import" if dry_run else "Imported"
        self.stdout.write(
            f"{verb} {result.imported:,} sessions ({result.attributes:,} attributes); skipped "
            f"{result.expired:,} expired, {result.already_present:,} already imported, "
            f"{result.ended:,} ended after an earlier import and {result.undecodable:,} "
            "undecodable."
        )
