"""``manage.py session_stats``: what the session store holds now, and its last hour."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from dbsessions.conf import app_settings
from dbsessions.stats import REASONS, AppStats, store_stats

COLUMNS = (
    ("live", "live"),
    ("owners", "owners"),
    ("created_last_hour", "created 1h"),
    ("ended_total", "ended 1h"),
    ("expired_awaiting_purge", "expired"),
    ("bytes", "bytes"),
)


class Command(BaseCommand):
    help = (
        "Sessions per application: live sessions, distinct owners, created and ended in the "
        "last hour, expired sessions awaiting purge, and bytes of session data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            choices=tuple(connections),
            help="Database alias holding the sessions (default: DBSESSIONS['DATABASE']).",
        )
        parser.add_argument("--app", help="Only this application's sessions (default: all).")
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="One JSON object, for scripts and monitoring.",
        )

    def handle(
        self, *args: Any, database: str | None, app: str | None, as_json: bool, **options: Any
    ) -> None:
        alias = database or app_settings.DATABASE
        try:
            stats = store_stats(alias, app)
        except DatabaseError as exc:
            raise CommandError(
                f"Could not read the session tables on database {alias!r}: {exc} "
                "(are the dbsessions migrations applied?)"
            ) from exc
        if as_json:
            self.stdout.write(json.dumps(stats.as_json(), indent=2, sort_keys=True))
            return
        if not stats.apps:
            self.stdout.write(f"No sessions on database {alias!r}.")
            return
        self.stdout.write(self.style.MIGRATE_HEADING(f"Sessions on database {alias!r}"))
        rows = [(app.app_name or "", app) for app in stats.apps]
        if len(rows) > 1:
            rows.append(("total", stats.total))
        self.stdout.write(_table(rows))
        ended = stats.total.ended_last_hour
        if any(ended.values()):
            reasons = ", ".join(
                f"{ended[reason]:,} {reason}" for reason in REASONS if ended[reason]
            )
            self.stdout.write(f"Ended in the last hour: {reasons}.")


def _table(rows: list[tuple[str, AppStats]]) -> str:
    """Right-aligned figures under their headings, one ``(label, figures)`` per line."""
    cells = [[name, *(f"{getattr(row, a):,}" for a, _ in COLUMNS)] for name, row in rows]
    headings = ["app", *(heading for _, heading in COLUMNS)]
    widths = [max(len(line[i]) for line in [headings, *cells]) for i in range(len(headings))]
    lines = [headings, *cells]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )
